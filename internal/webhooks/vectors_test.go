package webhooks_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// The test vectors docs/WEBHOOKS.md gives merchants who write a verifier by hand are what
// the webhooks service and the workers sign, and what the reference library verifies.
func TestTheWebhooksTestVectorsAreWhatTheServicesSign(t *testing.T) {
	doc, err := os.ReadFile("../../docs/WEBHOOKS.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)
	if i := strings.Index(section, "## Test vectors"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal(`docs/WEBHOOKS.md has no "## Test vectors"`)
	}
	row := func(name string) []string {
		t.Helper()
		m := regexp.MustCompile("(?m)^\\| " + regexp.QuoteMeta(name) + " \\| (.*) \\|$").FindStringSubmatch(section)
		if m == nil {
			t.Fatalf("no row %q", name)
		}
		var vals []string
		for _, v := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(m[1], -1) {
			vals = append(vals, v[1])
		}
		return vals
	}
	secret, id, body := row("secret (webhooks, `v1`)")[0], row("`webhook-id`")[0], row("body")[0]
	ts, err := strconv.ParseInt(row("`webhook-timestamp`")[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	got, err := webhooks.Sign([]string{secret}, id, time.Unix(ts, 0), []byte(body))
	if want := row("`webhook-signature` (webhooks)")[0]; err != nil || got != want {
		t.Errorf("the webhooks service signs %q (%v), the doc says %q", got, err, want)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if sig, _ := wh.Sign(id, time.Unix(ts, 0), []byte(body)); sig != got {
		t.Errorf("the reference library signs %q, the service %q", sig, got)
	}
	keys := row("workers' events key (`v1a`, on PAYMENT_EVENTS)")
	signer, err := events.ParseSigningKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if signer.PublicKey() != keys[1] {
		t.Errorf("the signing key's public key is %s, the doc says %s", signer.PublicKey(), keys[1])
	}
	if got, want := signer.Sign(id, ts, []byte(body)), row("`webhook-signature` (the event on NATS)")[0]; got != want {
		t.Errorf("the workers sign %q, the doc says %q", got, want)
	}
}
