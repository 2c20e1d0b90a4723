package epaytest

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
	"time"
)

// Deliverer is an http.RoundTripper that delivers a callback the way ePay does: it
// retries, with a backoff growing from 50 ms to 1 s, on anything that is not an answer
// the receiver meant as final (no answer at all, 5xx, 408, 429), until the callback's
// Deadline. A 200 or another 4xx ends it. As the Transport of TriggerOptions.Client it
// makes Trigger send as ePay sends.
type Deliverer struct {
	Base     http.RoundTripper // http.DefaultTransport when nil
	Attempt  time.Duration     // timeout of one attempt; 10 s when 0
	Deadline time.Duration     // of one callback, all its attempts; 1 min when 0
	// Delivered, when set, is called once a callback is over with its body, the last
	// status that came back (0: none) and how many attempts were made.
	Delivered func(body []byte, status, attempts int)
}

// RoundTrip delivers req's body. Its answer is the last one that came; its error the
// last attempt's when no answer came at the end.
func (d *Deliverer) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	deadline := cmp.Or(d.Deadline, time.Minute)
	start, backoff := time.Now(), 50*time.Millisecond
	last, attempts := 0, 0
	done := func() {
		if d.Delivered != nil {
			d.Delivered(body, last, attempts)
		}
	}
	for {
		attempts++
		status, answer, err := d.try(req, body)
		if err == nil {
			last = status
			if final(status) {
				done()
				return response(req, status, answer), nil
			}
		}
		if time.Since(start)+backoff > deadline || req.Context().Err() != nil {
			done()
			if err != nil {
				return nil, err
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

// final reports whether the receiver meant status as its last word on the callback.
func final(status int) bool {
	return status == http.StatusOK ||
		status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout
}

// try makes one attempt and reads the whole answer.
func (d *Deliverer) try(req *http.Request, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), cmp.Or(d.Attempt, 10*time.Second))
	defer cancel()
	r := req.Clone(ctx)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	base := d.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
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
