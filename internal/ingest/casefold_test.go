package ingest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
)

// caseVariants returns spellings of a known key that encoding/json would read as it and
// that are not known keys themselves: all upper, all lower, every letter flipped, the first
// or the last letter flipped, and "ſ"/the Kelvin sign for an s/k (they fold to it).
func caseVariants(known string, isKnown map[string]bool) []string {
	flip := func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}
	last := len(known) - 1
	names := []string{strings.ToUpper(known), strings.ToLower(known), strings.Map(flip, known),
		string(flip(rune(known[0]))) + known[1:], known[:last] + string(flip(rune(known[last])))}
	if strings.ContainsAny(known, "sS") {
		names = append(names, strings.Replace(strings.Replace(known, "s", "ſ", 1), "S", "ſ", 1))
	}
	if strings.Contains(known, "k") {
		names = append(names, strings.Replace(known, "k", "\u212a", 1))
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if !isKnown[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// A signed callback carrying a case variant of any known key (InvoiceId, AMOUNT,
// Secret_Hash, cardtype, ...) is answered 400 naming the key, counted as
// case_variant_key, and not stored, under both secret_hash policies; CardType alone is
// ePay's own spelling and is taken.
func TestCaseVariantKeysAreRefusedWith400AndNotStored(t *testing.T) {
	t.Parallel()
	for _, policy := range []Policy{PolicyRequire, PolicyAcceptUnverified} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			ti := mustStartIngest(t, func(c *Config) { c.Policy = policy })
			isKnown := map[string]bool{}
			for _, k := range epay.KnownKeys() {
				isKnown[k] = true
			}
			good := signed(t, "success.json", ti.Keys)
			refused := 0
			for _, known := range epay.KnownKeys() {
				variants := caseVariants(known, isKnown)
				if len(variants) < 3 {
					t.Fatalf("%s: only variants %q", known, variants)
				}
				for i, v := range variants {
					route := RoutePostlink
					if i%2 == 1 {
						route = RouteFailurePostlink
					}
					res := post(t, ti.URL, route, withField(good, v, `"1"`))
					if res.status != http.StatusBadRequest || !strings.Contains(res.body, strconv.Quote(v)) ||
						!strings.Contains(res.body, "only in case") {
						t.Errorf("%q (of %q) on %s: %d %q, want 400 naming the key", v, known, route, res.status, res.body)
					}
					refused++
				}
			}
			// An unsigned callback that spells secret_hash otherwise: refused, never
			// published as unverified either.
			unsigned := []byte(`{"id":"tx-1","invoiceId":"123456789","code":"ok","terminal":"` + testTerminal +
				`","Secret_Hash":"` + ti.Keys.Sign(testTerminal, "123456789") + `"}`)
			if res := post(t, ti.URL, RoutePostlink, unsigned); res.status != http.StatusBadRequest {
				t.Errorf("unsigned with Secret_Hash: %d %q, want 400", res.status, res.body)
			}
			refused++
			if n := len(ti.storedMessages(t)); n != 0 {
				t.Fatalf("stream holds %d messages after case variants, want none", n)
			}
			series := `epayflow_ingest_rejections_total{reason="case_variant_key"}`
			if got := ti.metric(t, series); got != strconv.Itoa(refused) {
				t.Errorf("%s = %q, want %d", series, got, refused)
			}
			if got := ti.metric(t, `epayflow_ingest_rejections_total{reason="duplicate_key"}`); got != "0" {
				t.Errorf("duplicate_key = %q, want 0", got)
			}
			// ePay's failure sample spells CardType so: taken.
			if res := post(t, ti.URL, RouteFailurePostlink, signed(t, "failure.json", ti.Keys)); res.status != http.StatusOK {
				t.Fatalf("failure sample with CardType: %d %q", res.status, res.body)
			}
		})
	}
}

// Success is matched ignoring case, so OK, Ok and ok of one transaction are one callback:
// one Msg-Id (with the code lower-cased), one stored message, two duplicates.
func TestCodeInAnyCaseIsOneMsgIDAndOneStoredMessage(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	for _, code := range []string{"OK", "Ok", "ok"} {
		if res := post(t, ti.URL, RoutePostlink, callback(ti.Keys, "123456789", "tx-1", code)); res.status != http.StatusOK {
			t.Fatalf("code %s: %d %s", code, res.status, res.body)
		}
	}
	msgs := ti.storedMessages(t)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	if got, want := msgs[0].Header.Get("Nats-Msg-Id"), "cb:123456789:tx-1:ok"; got != want {
		t.Errorf("Nats-Msg-Id %q, want %q", got, want)
	}
	if got := msgs[0].Header.Get(inbox.HeaderKind); got != inbox.CallbackSuccess {
		t.Errorf("kind %q", got)
	}
	if got := ti.metric(t, "epayflow_ingest_duplicates_total"); got != "2" {
		t.Errorf("duplicates_total = %q, want 2", got)
	}
}

// The same under accept-unverified: unverified OK and ok are one message, apart from the
// verified one.
func TestUnverifiedCodeInAnyCaseIsOneMsgID(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, func(c *Config) { c.Policy = PolicyAcceptUnverified })
	for _, code := range []string{"OK", "ok", "oK"} {
		good := callback(ti.Keys, "123456789", "tx-1", code)
		forged := []byte(strings.Replace(string(good), ti.Keys.Sign(testTerminal, "123456789"), "", 1))
		if res := post(t, ti.URL, RoutePostlink, forged); res.status != http.StatusOK {
			t.Fatalf("code %s: %d %s", code, res.status, res.body)
		}
	}
	msgs := ti.storedMessages(t)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	if got, want := msgs[0].Header.Get("Nats-Msg-Id"), "cb:123456789:tx-1:ok:unverified"; got != want {
		t.Errorf("Nats-Msg-Id %q, want %q", got, want)
	}
}
