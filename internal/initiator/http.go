package initiator

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/epayapi"
)

// errorBody is every error answer: a message, and for 400 the problems by field.
type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
	Cause  string            `json:"cause,omitempty"`
}

// apiKeys are the merchant API keys, hashed: equal length, constant-time compare.
type apiKeys [][sha256.Size]byte

func hashKeys(keys []string) apiKeys {
	out := make(apiKeys, len(keys))
	for i, k := range keys {
		out[i] = sha256.Sum256([]byte(k))
	}
	return out
}

// authorized compares the bearer key with every configured key in constant time.
func (keys apiKeys) authorized(r *http.Request) bool {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(key)))
	match := 0
	for _, k := range keys {
		match |= subtle.ConstantTimeCompare(got[:], k[:])
	}
	return match == 1
}

// keyID names the bearer key of r in logs without revealing it: the first 8 hex digits
// of its SHA-256 (`printf %s KEY | sha256sum` shows which key it was).
func keyID(r *http.Request) string {
	_, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return hex.EncodeToString(sum[:4])
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="epayflow"`)
	writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing or unknown API key: send Authorization: Bearer <key>"})
}

// payments serves POST /v1/payments.
type payments struct {
	svc  *Service
	keys apiKeys
	m    *Metrics
	log  *slog.Logger
}

// paymentWrite is how long a payment's answer may take to be written: creating one waits
// for ePay's token (its attempts and backoff), an idempotency record another request
// holds, an invoice id and a PubAck, which together can pass the server's 15 s write
// timeout; the merchant would then get a broken connection for an invoice made.
const paymentWrite = 2 * time.Minute

// allowSlowAnswer lets the answer of this request be written for paymentWrite from now.
func allowSlowAnswer(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(paymentWrite))
}

func (p *payments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.keys.authorized(r) {
		unauthorized(w)
		return
	}
	allowSlowAnswer(w)
	key, given := "", r.Header.Values(IdempotencyKeyHeader)
	if len(given) > 0 {
		key = given[0]
		if msg := ValidIdempotencyKey(key); len(given) > 1 || msg != "" {
			if msg == "" {
				msg = "give it once"
			}
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid Idempotency-Key header: " + msg})
			return
		}
	}
	req, ok := readPaymentRequest(w, r, nil)
	if !ok {
		return
	}
	if errs := p.svc.CheckLinks(req); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid request", Fields: errs})
		return
	}
	created, replayed, err := p.svc.CreateOnce(r.Context(), req, key)
	switch {
	case errors.Is(err, ErrIdempotencyConflict):
		p.m.idempotency.WithLabelValues("conflict").Inc()
		p.log.Warn("Idempotency-Key reused with another request", "err", err)
		writeJSON(w, http.StatusConflict, errorBody{Error: "this Idempotency-Key was used with another request body; use a new key for a new payment"})
		return
	case errors.Is(err, ErrForgedRecord):
		// Somebody else wrote the bucket (the initiator's NATS password): nothing is
		// replayed from it, and an SRE is told (EpayflowIdempotencyRecordForged).
		p.m.idempotency.WithLabelValues("forged").Inc()
		p.log.Error("payment not created: its Idempotency-Key's record is not signed with the initiator's keys", "status", http.StatusServiceUnavailable, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "this Idempotency-Key's record could not be verified; nothing was created; retry later"})
		return
	case err != nil:
		p.fail(w, r, err)
		return
	case replayed:
		p.m.idempotency.WithLabelValues("replayed").Inc()
		p.log.Info("payment replayed for its Idempotency-Key", "invoiceId", created.InvoiceID, "kind", created.Kind)
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, http.StatusOK, created)
		return
	}
	if key != "" {
		p.m.idempotency.WithLabelValues("new").Inc()
	}
	p.m.created.WithLabelValues(created.Kind).Inc()
	// orderId is safe in a log line (no spaces, quotes or control characters); metadata
	// is not logged: the merchant may have put personal data in it.
	p.log.Info("payment created", "invoiceId", created.InvoiceID, "kind", created.Kind,
		"amount", req.Amount.String(), "currency", req.Currency, "orderId", req.OrderID)
	writeJSON(w, http.StatusCreated, created)
}

// readPaymentRequest reads and parses the body, or answers 413/400 and returns false.
func readPaymentRequest(w http.ResponseWriter, r *http.Request, only map[string]bool) (*PaymentRequest, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "request body is larger than 16 KiB"})
		return nil, false
	}
	req, err := parsePaymentRequest(body, only)
	if err != nil {
		var fields FieldErrors
		errors.As(err, &fields)
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid request", Fields: fields})
		return nil, false
	}
	return req, true
}

// fail maps a Create error to its status: the one table of error kinds at the edge.
func (p *payments) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	cause := ""
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		status, msg = 499, "client went away"
	case errors.Is(err, ErrToken) && errors.Is(err, epayapi.ErrTimeout):
		status, msg, cause = http.StatusGatewayTimeout, "ePay did not answer the token request in time; nothing was created, retry later", epayapi.CauseTimeout
	case errors.Is(err, ErrToken):
		cause = epayapi.Cause(err)
		status, msg = http.StatusBadGateway, "ePay refused or failed the token request; nothing was created: "+tokenReason(err)
	case errors.Is(err, ErrInvoiceIDTaken):
		// Someone else's invoice.created holds the id: never hand out a payment the
		// worker would build from another message. Logged at error: it needs a look.
		p.m.idTaken.Inc()
		status, msg = http.StatusServiceUnavailable, "the allocated invoiceId was already taken on the message bus; nothing was created, retry (a new invoiceId is allocated)"
	case errors.Is(err, ErrAllocate), errors.Is(err, ErrBus):
		status, msg = http.StatusServiceUnavailable, "payment could not be recorded (message bus unavailable); nothing was created, retry later"
	}
	level := slog.LevelWarn
	if status == http.StatusInternalServerError || errors.Is(err, ErrInvoiceIDTaken) {
		level = slog.LevelError
	}
	p.log.Log(r.Context(), level, "payment not created", "status", status, "err", err)
	writeJSON(w, status, errorBody{Error: msg, Cause: cause})
}

// tokenReason says what ePay answered, without internals (the error carries no secret).
func tokenReason(err error) string {
	var api *epayapi.APIError
	switch {
	case errors.Is(err, epayapi.ErrUnauthorized):
		return "the merchant credentials were refused"
	case errors.As(err, &api):
		return api.Error()
	case errors.Is(err, epayapi.ErrBadResponse):
		return "ePay's answer was malformed"
	}
	return "ePay is unavailable"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
