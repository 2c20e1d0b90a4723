package merchant_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/merchant"
)

// The verifier takes an event signed by the workers' key under any of the listed public
// keys (a rotation), and nothing else: no headers, another key, a changed body, another
// id or timestamp, a v1 (HMAC) signature where v1a is due; a bad public key is refused.
func TestEventVerifierTakesOnlyTheWorkersSignature(t *testing.T) {
	newSigner := func() events.Signer {
		s, err := events.NewSigner()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	workers, old, stranger := newSigner(), newSigner(), newSigner()
	v, err := merchant.NewEventVerifier(old.PublicKey(), workers.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"specversion":"1.0","id":"191111111-2"}`)
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		return h
	}
	good := workers.Sign("191111111-2", 1722232257, body)
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
		want error
	}{
		"the workers'":            {headers("191111111-2", "1722232257", good), body, nil},
		"the previous key's":      {headers("191111111-2", "1722232257", old.Sign("191111111-2", 1722232257, body)), body, nil},
		"one of two signatures":   {headers("191111111-2", "1722232257", "v1a,AAAA "+good), body, nil},
		"no headers":              {http.Header{}, body, merchant.ErrEventUnsigned},
		"a bad timestamp":         {headers("191111111-2", "soon", good), body, merchant.ErrEventUnsigned},
		"another key":             {headers("191111111-2", "1722232257", stranger.Sign("191111111-2", 1722232257, body)), body, merchant.ErrEventSignature},
		"the body changed":        {headers("191111111-2", "1722232257", good), []byte(strings.Replace(string(body), "-2", "-3", 1)), merchant.ErrEventSignature},
		"another id":              {headers("191111111-3", "1722232257", good), body, merchant.ErrEventSignature},
		"another timestamp":       {headers("191111111-2", "1722232258", good), body, merchant.ErrEventSignature},
		"v1 where v1a is due":     {headers("191111111-2", "1722232257", "v1"+strings.TrimPrefix(good, "v1a")), body, merchant.ErrEventSignature},
		"the signature cut short": {headers("191111111-2", "1722232257", good[:len(good)-4]), body, merchant.ErrEventSignature},
	} {
		id, err := v.Verify(c.h, c.body)
		if !errors.Is(err, c.want) || (c.want == nil && id != "191111111-2") {
			t.Errorf("%s: %q %v, want %v", name, id, err, c.want)
		}
	}
	for _, k := range []string{"", "whpk_", "whsec_" + strings.TrimPrefix(workers.PublicKey(), "whpk_"), "whpk_AAAA"} {
		if _, err := merchant.NewEventVerifier(k); !errors.Is(err, merchant.ErrEventKey) {
			t.Errorf("public key %q: %v, want ErrEventKey", k, err)
		}
	}
}
