package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/epayflow/epayflow/internal/events"
)

// ErrInvalid is wrapped by the errors of a request the API refuses (400).
var ErrInvalid = errors.New("invalid")

// ErrNotFound is returned for an endpoint or dead letter that does not exist (404).
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped by the errors of a request refused because of the state it
// found: an endpoint other requests kept changing while this one tried to change it, or
// a dead letter that cannot be replayed (409).
var ErrConflict = errors.New("conflict")

// SecretPrefix starts every endpoint secret, as Standard Webhooks recommends.
const SecretPrefix = "whsec_"

// Endpoint is a merchant's registered receiver.
type Endpoint struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// EventTypes are the CloudEvent types delivered (kz.epay.payment.paid, ...); empty: all.
	EventTypes  []string `json:"eventTypes,omitempty"`
	Description string   `json:"description,omitempty"`
	// CreatedAt is when the bucket stored the endpoint, by the NATS server's clock; it
	// gets the events PAYMENT_EVENTS stored from then on. Stored zero by the API: read
	// back as the time of its entry (Store.PutEndpoint).
	CreatedAt time.Time `json:"createdAt,omitzero"`
	// Secrets sign every delivery. The first is current; the others were rotated out
	// and keep signing until their ExpiresAt. Never shown by the API after creation.
	Secrets []Secret `json:"secrets"`
}

// Secret is a signing secret: "whsec_" and the base64 of its key.
type Secret struct {
	Value     string    `json:"value"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"` // zero: current
}

// View is an endpoint as the API shows it: everything but its secrets.
type View struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	EventTypes  []string  `json:"eventTypes,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// View hides the secrets.
func (e Endpoint) View() View {
	return View{ID: e.ID, URL: e.URL, EventTypes: e.EventTypes, Description: e.Description, CreatedAt: e.CreatedAt}
}

// Matches reports whether an event of CloudEvent type t goes to e.
func (e Endpoint) Matches(t string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, t)
}

// Signing returns the secrets that sign at now: the current one and those rotated out
// less than their overlap ago.
func (e Endpoint) Signing(now time.Time) []string {
	var out []string
	for _, s := range e.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s.Value)
		}
	}
	return out
}

// Rotate makes a new current secret; the old current one signs alongside until now+overlap,
// and expired ones are dropped.
func (e *Endpoint) Rotate(now time.Time, overlap time.Duration) (string, error) {
	s, err := NewSecret()
	if err != nil {
		return "", err
	}
	kept := []Secret{{Value: s}}
	for _, old := range e.Secrets {
		if old.ExpiresAt.IsZero() {
			old.ExpiresAt = now.Add(overlap)
		}
		if now.Before(old.ExpiresAt) {
			kept = append(kept, old)
		}
	}
	if len(kept) > maxSecrets {
		return "", ErrTooManySecrets
	}
	e.Secrets = kept
	return s, nil
}

// NewSecret is a new random secret of 32 bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// newID is "ep_" and 16 random hex digits: a KV key and a bounded metric label.
func newID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand)
	return "ep_" + hex.EncodeToString(b)
}

// validID reports whether id could be an endpoint id (checked before it becomes a key).
func validID(id string) bool {
	if len(id) != 19 || !strings.HasPrefix(id, "ep_") {
		return false
	}
	_, err := hex.DecodeString(id[3:])
	return err == nil
}

// NewEndpoint is the request to register an endpoint.
type NewEndpoint struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"eventTypes,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Validate refuses anything but an https URL without user info, unknown event types and
// a long description (ErrInvalid). insecure allows http:// too (local development).
func (n NewEndpoint) Validate(insecure bool) error {
	u, err := url.Parse(n.URL)
	switch {
	case err != nil || u.Hostname() == "":
		return fmt.Errorf("%w: url must be an absolute https URL with a host", ErrInvalid)
	case u.Scheme != "https" && !(insecure && u.Scheme == "http"):
		return fmt.Errorf("%w: url must be https", ErrInvalid)
	case u.User != nil:
		return fmt.Errorf("%w: url must not carry credentials", ErrInvalid)
	case len(n.URL) > 2048:
		return fmt.Errorf("%w: url longer than 2048 bytes", ErrInvalid)
	case len(n.Description) > 256:
		return fmt.Errorf("%w: description longer than 256 bytes", ErrInvalid)
	case len(n.EventTypes) > 32:
		return fmt.Errorf("%w: more than 32 event types", ErrInvalid)
	case strings.ContainsFunc(n.Description, unicode.IsControl) || strings.ContainsFunc(n.Description, bidi):
		// shown to operators in the API, logs and terminals
		return fmt.Errorf("%w: description holds control or bidirectional formatting characters", ErrInvalid)
	}
	for _, t := range n.EventTypes {
		if !slices.Contains(events.Types, t) {
			// a mistyped type would be registered and never match: refused, with the list
			return fmt.Errorf("%w: event type %q: want one of %s", ErrInvalid, clip(t), strings.Join(events.Types, ", "))
		}
	}
	return nil
}

// bidi reports Unicode's bidirectional formatting characters (U+202A..U+202E,
// U+2066..U+2069), which make a text read otherwise than it is.
func bidi(r rune) bool { return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 }

// reachable refuses, at registration, a URL deliveries could never reach: a literal
// address g does not permit (loopback, private, link-local: every delivery would be
// refused and the endpoint dead-lettered after 28 hours), and with publicOnly (prod,
// whose NetworkPolicy lets deliveries out on 443 only) a port other than 443.
func reachable(rawURL string, g Guard, publicOnly bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: url: %v", ErrInvalid, err)
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !g.Permit(ip) {
		return fmt.Errorf("%w: url: %s is not a public address; deliveries never reach it", ErrInvalid, ip)
	}
	if p := u.Port(); publicOnly && p != "" && p != "443" {
		return fmt.Errorf("%w: url: port %s; deliveries go out on 443 only", ErrInvalid, clip(p))
	}
	return nil
}

// maxSecrets bounds the secrets that sign an endpoint's deliveries at once: every one
// is in each delivery's webhook-signature header (rotations piled up 200 of them, 9.6 KB,
// past a receiver's header buffer: every delivery failed).
const maxSecrets = 3

// ErrTooManySecrets: a rotation while maxSecrets still sign (a ErrConflict: 409).
var ErrTooManySecrets = fmt.Errorf("%w: the endpoint has %d secrets signing already; rotate again once the oldest expires", ErrConflict, maxSecrets)

// clip bounds a caller's text quoted in an error.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
