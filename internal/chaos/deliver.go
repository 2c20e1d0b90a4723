package chaos

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
)

// post is the outcome of one callback POST (with all its retries).
type post struct {
	MsgID    string // inbox.CallbackMsgID of the body
	Invoice  string
	Status   int // the last answer; 0 when none came
	Attempts int
	Body     []byte
}

// ledger records every POST the senders made.
type ledger struct {
	mu    sync.Mutex
	posts []post
	first map[string][]byte // per invoice, the first body answered 200
}

func newLedger() *ledger { return &ledger{first: map[string][]byte{}} }

func (l *ledger) add(p post) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.posts = append(l.posts, p)
	if _, ok := l.first[p.Invoice]; !ok && p.Status == http.StatusOK {
		l.first[p.Invoice] = p.Body
	}
}

// firstOK is the first body of invoiceID answered 200, or nil.
func (l *ledger) firstOK(invoiceID string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first[invoiceID]
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func (l *ledger) all() []post {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]post(nil), l.posts...)
}

// deliverer is an http.RoundTripper that delivers a callback the way ePay does: it
// retries, with a growing backoff, on anything that is not an answer the receiver meant
// as final (no answer at all, 5xx, 429), until the per-callback deadline. A 200 or a
// 4xx ends it. Every POST is written to the ledger.
type deliverer struct {
	base     http.RoundTripper
	attempt  time.Duration // timeout of one attempt
	deadline time.Duration // of one callback, all attempts
	ledger   *ledger
}

func (d *deliverer) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	p := post{Body: body}
	if cb, err := epay.DecodeCallback(body); err == nil {
		p.MsgID, p.Invoice = inbox.CallbackMsgID(cb.InvoiceID, cb.ID, cb.Code), cb.InvoiceID
	}
	start, backoff := time.Now(), 50*time.Millisecond
	var lastErr error
	for {
		p.Attempts++
		status, answer, err := d.try(req, body)
		if err == nil {
			p.Status = status
			if status == http.StatusOK || (status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout) {
				d.ledger.add(p)
				return response(req, status, answer), nil
			}
		}
		lastErr = err
		if time.Since(start)+backoff > d.deadline || req.Context().Err() != nil {
			d.ledger.add(p)
			if lastErr != nil {
				return nil, lastErr
			}
			return response(req, status, answer), nil
		}
		select {
		case <-req.Context().Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// try makes one attempt and reads the whole answer.
func (d *deliverer) try(req *http.Request, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), d.attempt)
	defer cancel()
	r := req.Clone(ctx)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := d.base.RoundTrip(r)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, err // the connection died mid-answer: no answer
	}
	return resp.StatusCode, answer, nil
}

func response(req *http.Request, status int, body []byte) *http.Response {
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}
}
