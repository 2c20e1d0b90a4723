package devstack_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// The alerts and the dashboard are only as good as the names they query: every metric
// they use (deploy/observability/metrics-used.txt) must be one the services really export
// once traffic has flowed.
func TestEveryMetricTheAlertsAndDashboardUseIsExported(t *testing.T) {
	urls := startStack(t)
	rc := &receiver{} // a merchant's webhook endpoint: the webhooks' metrics are per endpoint
	srv := httptest.NewServer(rc)
	defer srv.Close()
	registerEndpoint(t, urls, srv.URL)
	p := createPayment(t, urls.Initiator)
	keys, _ := epay.ParseKeyring(devstack.DevSecretKeys)
	opts := epaytest.TriggerOptions{
		URL: p.PaymentObject.PostLink, InvoiceID: p.InvoiceID, Amount: p.PaymentObject.Amount,
		Terminal: p.PaymentObject.Terminal, Keys: keys, Duplicates: 2,
	}
	if res, err := epaytest.Trigger(context.Background(), opts); err != nil || res.Unexpected() != 0 {
		t.Fatalf("trigger: %v %+v", err, res)
	}
	opts.WrongHash, opts.Duplicates = true, 1
	if res, err := epaytest.Trigger(context.Background(), opts); err != nil || res.Unexpected() != 0 {
		t.Fatalf("trigger with a wrong hash: %v %+v", err, res)
	}
	waitState(t, urls.Worker, p.InvoiceID, "paid")
	waitEvents(t, urls, p.InvoiceID, 1)

	used, err := os.ReadFile("../../deploy/observability/metrics-used.txt")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for line := range strings.Lines(string(used)) {
		if name := strings.TrimSpace(line); name != "" && !strings.HasPrefix(name, "#") && name != natsbus.TLSExpiryMetric {
			// The local stack's NATS has no TLS: deploy/k8s's TestOverlaysRunEndToEnd
			// checks the services export that one in the prod overlay.
			names = append(names, name)
		}
	}
	if len(names) < 10 {
		t.Fatalf("metrics-used.txt lists %d names; the list looks lost", len(names))
	}
	// Sampled gauges (consumer lag, DLQ size) appear once the worker has sampled: poll.
	var missing []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		exported := map[string]bool{}
		for _, base := range []string{urls.Initiator, urls.Ingest, urls.Worker, urls.Sandbox, urls.Webhooks} {
			for name := range scrape(t, base+"/metrics") {
				exported[name] = true
			}
		}
		missing = missing[:0]
		for _, name := range names {
			if !exported[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range missing {
		t.Errorf("%s is used by an alert or the dashboard but no service exports it", name)
	}
}

// scrape returns the metric family names of a Prometheus text exposition.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
		}
	}
	return names
}
