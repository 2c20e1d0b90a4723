package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nuid"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
)

// Routes of the two callbacks. Both are handled the same way; the route is recorded on
// the message, the outcome is read from the callback's code.
const (
	RoutePostlink        = "/epay/postlink"
	RouteFailurePostlink = "/epay/failure-postlink"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// handler serves one callback route. Its fields are set once and only read after.
type handler struct {
	route     string
	keys      *epay.Keyring
	policy    Policy
	msgs      *inbox.Builder
	deadlines *deadlines // of each publish
	pub       publisher
	guard     *guard         // nil: every source, no rate limit
	budget    *invoiceBudget // nil: no bound per invoice; shared by both routes
	m         *Metrics
	log       *slog.Logger
}

type handlerConfig struct {
	Keys           *epay.Keyring
	Policy         Policy
	Msgs           *inbox.Builder
	PublishTimeout time.Duration
	Guard          *guard
	Budget         *invoiceBudget
}

func newHandler(route string, cfg handlerConfig, pub publisher, m *Metrics, log *slog.Logger) *handler {
	return &handler{
		route: route, keys: cfg.Keys, policy: cfg.Policy, msgs: cfg.Msgs,
		deadlines: newDeadlines(cfg.PublishTimeout), pub: pub, guard: cfg.Guard, budget: cfg.Budget, m: m, log: log,
	}
}

var okBody = []byte("OK")

// textPlain is the Content-Type of a 200, one slice shared by every answer (net/http
// only reads header values).
var textPlain = []string{"text/plain; charset=utf-8"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.ServeHTTPStatus(w, r) }

// ServeHTTPStatus handles one callback and returns the status it answered, for
// httpmetrics.HandleStatus.
func (h *handler) ServeHTTPStatus(w http.ResponseWriter, r *http.Request) int {
	h.m.inFlight.Inc()
	defer h.m.inFlight.Dec()
	receivedAt := time.Now()
	reqID := requestID(r.Header.Get(RequestIDHeader))
	w.Header()[RequestIDHeader] = []string{reqID}
	return h.serve(w, r, reqID, receivedAt)
}

// serve handles one callback and returns the status it answered.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, reqID string, receivedAt time.Time) int {
	if h.guard != nil {
		if rej, wait, ok := h.guard.admit(r); !ok {
			if rej == rejRateLimited {
				w.Header().Set("Retry-After", retryAfter(wait))
				return h.reject(w, rej, "too many requests from this source, try again later")
			}
			return h.reject(w, rej, "source address not allowed")
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.reject(w, rejMethod, "use POST")
	}
	if r.ContentLength > MaxBodyBytes {
		return h.reject(w, rejTooLarge, tooLargeText)
	}
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := readBody(http.MaxBytesReader(w, r.Body, MaxBodyBytes), (*buf)[:0])
	*buf = body
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			return h.reject(w, rejTooLarge, tooLargeText)
		}
		return h.reject(w, rejReadError, "could not read the body")
	}
	cb, err := epay.DecodeCallback(body)
	if err != nil {
		return h.reject(w, decodeRejection(err), err.Error())
	}
	if err := cb.Validate(); err != nil {
		return h.reject(w, validateRejection(err), err.Error())
	}
	if !validCode(cb.Code) {
		return h.reject(w, rejBadCode, "code must be at most 32 letters, digits, '-', '_' or '.'")
	}
	verified := true
	if err := h.keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash); err != nil {
		if h.policy == PolicyRequire {
			rej, text := secretHashRejection(err), err.Error()
			if rej == rejSecretHashMismatch {
				text += " for this terminal and invoiceId"
			}
			return h.reject(w, rej, text)
		}
		h.m.unverified.WithLabelValues(epay.SecretHashReason(err)).Inc()
		verified = false
	}
	if h.budget != nil && !h.budget.reserve(cb.InvoiceID, len(body)) {
		w.Header().Set("Retry-After", invoiceBudgetRetry)
		return h.reject(w, rejInvoiceBudget, "too many callbacks stored for this invoice today, try again later")
	}
	return h.publish(w, r, cb, reqID, receivedAt, verified)
}

// invoiceBudgetRetry is the Retry-After of a callback past its invoice's budget: an hour.
const invoiceBudgetRetry = "3600"

const tooLargeText = "body larger than 65536 bytes"

func (h *handler) reject(w http.ResponseWriter, rej rejection, text string) int {
	h.m.rejected[rej].Inc()
	status := rej.status()
	http.Error(w, text, status)
	return status
}

// publish stores the callback on the inbox and answers 200 once JetStream has it.
func (h *handler) publish(w http.ResponseWriter, r *http.Request, cb *epay.Callback, reqID string, receivedAt time.Time, verified bool) int {
	msg := h.msgs.Callback(cb, inbox.Receipt{Route: h.route, RemoteAddr: r.RemoteAddr, RequestID: reqID, At: receivedAt, Verified: verified})
	start := time.Now()
	ack, err := h.pub.PublishMsg(h.deadlines.after(start), msg)
	if err == nil || !errors.Is(err, errNATSDown) {
		h.m.publishDuration.Observe(time.Since(start).Seconds())
	}
	if err != nil || ack.Duplicate { // not stored now: what it reserved is given back
		if h.budget != nil {
			h.budget.refund(cb.InvoiceID, len(msg.Data))
		}
	}
	if err != nil {
		return h.unavailable(w, cb, reqID, err)
	}
	if ack.Duplicate {
		h.m.duplicates.Inc()
	}
	w.Header()["Content-Type"] = textPlain
	w.Write(okBody)
	return http.StatusOK
}

// unavailable answers 503: the callback is not stored, the sender should try again.
func (h *handler) unavailable(w http.ResponseWriter, cb *epay.Callback, reqID string, err error) int {
	c := classify(err)
	h.m.failed[c].Inc()
	level := slog.LevelWarn
	if c == causeNATSDown || c == causeCanceled || c == causeShardsDiffer {
		level = slog.LevelDebug // the connection's own log, the keeper's and /readyz already say so
	}
	h.log.Log(context.Background(), level, "callback not stored",
		"cause", c.String(), "err", err, "invoice_id", cb.InvoiceID, "request_id", reqID)
	w.Header().Set("Retry-After", c.retryAfter())
	http.Error(w, "callback not stored, try again: "+c.String(), http.StatusServiceUnavailable)
	return http.StatusServiceUnavailable
}

// requestID keeps a sane incoming id (1 to 64 of [A-Za-z0-9._:-]) or makes a new one.
func requestID(in string) string {
	if len(in) == 0 || len(in) > 64 {
		return nuid.Next()
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return nuid.Next()
		}
	}
	return in
}

// Bodies are read into pooled buffers: a buffer is free again once the publish returned,
// as NATS has copied the data by then and the decoded callback is dropped.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= 2*MaxBodyBytes {
		bufferPool.Put(b)
	}
}

// readBody reads r to its end into buf, growing it as needed.
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
