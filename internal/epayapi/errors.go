package epayapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/epayflow/epayflow/internal/jsonscan"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrUnauthorized: ePay refused the client credentials (or the bearer token).
	ErrUnauthorized = errors.New("epay: credentials refused")
	// ErrEPayUnavailable: network errors or 5xx on every attempt.
	ErrEPayUnavailable = errors.New("epay: unavailable")
	// ErrTimeout: the last attempt, or the caller's deadline, timed out.
	ErrTimeout = errors.New("epay: timed out")
	// ErrBadResponse: a 2xx answer that is not what the API documents.
	ErrBadResponse = errors.New("epay: malformed response")
)

// APIError is a 4xx answer of ePay. Code and Message come from its JSON body
// ({"code","message"} or OAuth's {"error","error_description"}) or, failing that, the
// body's text; credentials are scrubbed from both.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("epay: HTTP %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is makes a 401, a 403 and OAuth's invalid_client match ErrUnauthorized.
func (e *APIError) Is(target error) bool {
	if target != ErrUnauthorized {
		return false
	}
	return e.Status == 401 || e.Status == 403 || strings.EqualFold(e.Code, "invalid_client")
}

const maxMessageLen = 200

// newAPIError reads a 4xx body; scrub removes credentials from what it keeps.
func newAPIError(status int, body []byte, scrub func(string) string) *APIError {
	e := &APIError{Status: status}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil {
		e.Code = firstText(obj, "code", "error", "resultCode")
		e.Message = firstText(obj, "message", "error_description", "resultMessage", "description")
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	e.Code = clip(scrub(e.Code))
	e.Message = clip(scrub(e.Message))
	return e
}

func firstText(obj map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			if s, err := jsonscan.ScalarText(v); err == nil && s != "" {
				return s
			}
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) <= maxMessageLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessageLen], "") + "…"
}
