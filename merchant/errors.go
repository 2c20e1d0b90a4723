package merchant

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The kinds of refusal, for errors.Is on an *APIError.
var (
	// ErrInvalid: 400, the request is not valid (APIError.Fields names each field).
	ErrInvalid = errors.New("invalid request")
	// ErrUnauthorized: 401, no key or an unknown one.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: 403, the key's scope does not allow it (Resolve needs scope operator).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: 404, no such invoice.
	ErrNotFound = errors.New("not found")
	// ErrConflict: 409, an Idempotency-Key used before with another request.
	ErrConflict = errors.New("conflict")
	// ErrRefused: 422, an operation refused by the invoice's rules or by ePay.
	ErrRefused = errors.New("refused")
	// ErrUnavailable: 5xx, the service or ePay could not answer now; retry later (with
	// the same Idempotency-Key for a payment).
	ErrUnavailable = errors.New("unavailable")
)

// APIError is an answer of 4xx or 5xx with the API's error body
// ({"error": ..., "fields": {...}, "cause": ...}).
type APIError struct {
	Method string `json:"-"`
	Path   string `json:"-"`
	Status int    `json:"-"`
	// Message is the body's "error"; Fields its "fields" (400: a message per field);
	// Cause its "cause" (502, 504: what ePay did: rejected, unauthorized, unavailable,
	// bad_response, timeout).
	Message string            `json:"error"`
	Fields  map[string]string `json:"fields,omitempty"`
	Cause   string            `json:"cause,omitempty"`
	// RetryAfter is the answer's Retry-After in seconds, zero when absent.
	RetryAfter time.Duration `json:"-"`
	body       []byte
}

func newAPIError(method, path string, resp *http.Response, raw []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode, body: raw}
	if json.Unmarshal(raw, e) != nil || e.Message == "" {
		// Not the API's body (a proxy's page): keep its start, one line.
		e.Message = strings.Join(strings.Fields(string(raw[:min(len(raw), 200)])), " ")
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// Error is one line: the request, the status, the message, the fields and the cause.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "; %s: %s", k, e.Fields[k])
	}
	if e.Cause != "" {
		b.WriteString(" (cause " + e.Cause + ")")
	}
	return b.String()
}

// Is matches the kind of refusal by status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrRefused:
		return e.Status == http.StatusUnprocessableEntity
	case ErrUnavailable:
		return e.Status >= 500
	}
	return false
}
