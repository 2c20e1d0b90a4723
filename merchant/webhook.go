package merchant

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers of a delivery.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// Why a webhook does not verify.
var (
	ErrWebhookHeaders   = errors.New("webhook: missing or malformed webhook-id, webhook-timestamp or webhook-signature")
	ErrWebhookTimestamp = errors.New("webhook: timestamp outside the tolerance")
	ErrWebhookSignature = errors.New("webhook: no signature matches")
	ErrWebhookSecret    = errors.New("webhook: secret is not whsec_<base64>")
	ErrWebhookTooLarge  = errors.New("webhook: body too large")
)

// DefaultTolerance is how far a webhook's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// WebhookVerifier checks the signature of the webhooks service's deliveries, as the
// Standard Webhooks specification says: webhook-signature lists "v1,<base64>"
// signatures, separated by spaces, each the HMAC-SHA256 of "id.timestamp.body" keyed by a
// secret's bytes. A signature is compared as the exact text: one with anything else around
// it (a tab, a newline) is not it.
//
// Secrets are the endpoint's secrets as the API returned them ("whsec_..."). While you
// roll out a rotated secret, give both: a delivery verifies when any of its signatures
// matches any of them.
type WebhookVerifier struct {
	keys      [][]byte
	Tolerance time.Duration    // default DefaultTolerance
	Now       func() time.Time // default time.Now
}

// NewWebhookVerifier returns a verifier for the endpoint's secrets, or an error wrapping
// ErrWebhookSecret.
func NewWebhookVerifier(secrets ...string) (*WebhookVerifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrWebhookSecret)
	}
	v := &WebhookVerifier{}
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(key) == 0 {
			return nil, fmt.Errorf("%w: secret %d", ErrWebhookSecret, i+1)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify checks a delivery's headers against its raw body (as received, before any JSON
// parsing) and returns its webhook-id, the key to deduplicate by. Errors wrap
// ErrWebhookHeaders, ErrWebhookTimestamp or ErrWebhookSignature.
func (v *WebhookVerifier) Verify(h http.Header, body []byte) (string, error) {
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || sigs == "" || err != nil {
		return "", ErrWebhookHeaders
	}
	now, tol := time.Now, v.Tolerance
	if v.Now != nil {
		now = v.Now
	}
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if d := now().Sub(time.Unix(sec, 0)); d > tol || d < -tol {
		return "", fmt.Errorf("%w: %s from now", ErrWebhookTimestamp, d.Round(time.Second))
	}
	for _, key := range v.keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		for s := range strings.SplitSeq(sigs, " ") { // space-delimited, as the specification and its libraries split
			version, sig, ok := strings.Cut(s, ",")
			if ok && version == "v1" && hmac.Equal([]byte(sig), want) {
				return id, nil
			}
		}
	}
	return "", ErrWebhookSignature
}

// VerifyRequest reads r's body (at most maxBody bytes: more is ErrWebhookTooLarge),
// verifies it and decodes it as a payment event (DecodeEvent): what a webhook handler
// does first. The body is returned too, for a log of what came.
func (v *WebhookVerifier) VerifyRequest(r *http.Request, maxBody int64) (Event, []byte, error) {
	body, err := readBody(r, maxBody)
	if err != nil {
		return Event{}, nil, err
	}
	if _, err := v.Verify(r.Header, body); err != nil {
		return Event{}, body, err
	}
	ev, err := DecodeEvent(body)
	return ev, body, err
}

// readBody reads at most maxBody bytes of r's body; more is ErrWebhookTooLarge.
func readBody(r *http.Request, maxBody int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("webhook body: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("%w: over %d bytes", ErrWebhookTooLarge, maxBody)
	}
	return body, nil
}
