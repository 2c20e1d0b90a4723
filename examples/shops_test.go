package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/devstack/devstacktest"
	"github.com/epayflow/epayflow/internal/proctest"
	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/merchant"
)

// The Python shop (examples/python/shop.py) against the local stack: it creates a payment
// through the initiator, the payment is paid in the sandbox, its receiver gets the signed
// paid event from the stack's webhooks service and accepts it, and refuses forged ones.
func TestPythonShop(t *testing.T) { testShop(t, "python3", "python/shop.py") }

// The Node shop (examples/node/shop.js), the same way.
func TestNodeShop(t *testing.T) { testShop(t, "node", "node/shop.js") }

func testShop(t *testing.T, runtime, script string) {
	bin, err := exec.LookPath(runtime)
	if err != nil {
		t.Skipf("%s is not installed (.ci/run installs it): %v", runtime, err)
	}
	urls := devstacktest.Start(t, devstacktest.Options{})
	addr := proctest.Addr(t)
	hooksClient, err := merchant.New(merchant.Config{WebhooksURL: urls.Webhooks, WebhooksKey: urls.WebhooksAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := hooksClient.CreateWebhookEndpoint(t.Context(), merchant.NewWebhookEndpoint{URL: "http://" + addr + "/webhooks/epay"})
	if err != nil {
		t.Fatal(err)
	}
	// A second secret, as during a rotation: the shop accepts a signature of either.
	const otherSecret = "whsec_c29tZWJvZHktZWxzZXMtc2VjcmV0LTAxMjM0NQ=="
	shop := startShop(t, bin, script, "EPAYFLOW_URL="+urls.Initiator, "EPAYFLOW_API_KEY="+devstack.DevAPIKey,
		"WEBHOOK_SECRETS="+otherSecret+" "+endpoint.Secret, "SHOP_ADDR="+addr)

	// The shop creates the payment through the initiator.
	orderID := "ORD-" + strings.ToUpper(runtime[:2]) + "-1"
	var created struct {
		OrderID       string          `json:"orderId"`
		InvoiceID     string          `json:"invoiceId"`
		PaymentObject json.RawMessage `json:"paymentObject"`
		PayformJSURL  string          `json:"payformJsUrl"`
	}
	if code, body := call(t, http.MethodPost, shop.url+"/orders", nil, fmt.Sprintf(`{"orderId":%q,"amount":"100","description":"Order 1"}`, orderID)); code != http.StatusCreated || json.Unmarshal(body, &created) != nil || created.InvoiceID == "" || created.PayformJSURL == "" {
		t.Fatalf("POST /orders: %d %s", code, body)
	}
	// A bad order is the initiator's 400, passed on with its fields.
	if code, body := call(t, http.MethodPost, shop.url+"/orders", nil, `{"orderId":"ORD-2","amount":"-1"}`); code != http.StatusBadGateway || !bytes.Contains(body, []byte(`"fields"`)) || !bytes.Contains(body, []byte(`"amount"`)) {
		t.Errorf("a bad order: %d %s, want 502 with the initiator's fields", code, body)
	}

	// The buyer pays in the sandbox; the webhooks service delivers the paid event.
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := sandbox.PayWithCard(noRedirect, urls.Sandbox, created.PaymentObject, sandbox.TestCard); err != nil {
		t.Fatal(err)
	}
	paidID := created.InvoiceID + "-2"
	order := waitOrder(t, shop.url, orderID, func(o order) bool { return o.State == "paid" })
	if order.InvoiceID != created.InvoiceID || strings.Join(order.Events, ",") != paidID {
		t.Errorf("order after the paid webhook: %+v, want invoice %s and event %s", order, created.InvoiceID, paidID)
	}
	shop.waitLine(t, "accepted kz.epay.payment.paid invoice="+created.InvoiceID+" order="+orderID+" id="+paidID)

	// Forgeries and stale deliveries are refused and change nothing.
	now := time.Now()
	failed := eventBody(created.InvoiceID+"-3", "failed", created.InvoiceID, orderID)
	for name, d := range map[string]delivery{
		"signed with another secret": {id: created.InvoiceID + "-3", at: now, body: failed, secrets: []string{"whsec_Zm9yZ2VkLWJ5LXNvbWVib2R5LWVsc2U="}},
		"ten minutes old":            {id: created.InvoiceID + "-3", at: now.Add(-10 * time.Minute), body: failed, secrets: []string{endpoint.Secret}},
		"six minutes ahead":          {id: created.InvoiceID + "-3", at: now.Add(6 * time.Minute), body: failed, secrets: []string{endpoint.Secret}},
		"its body changed":           {id: created.InvoiceID + "-3", at: now, body: failed, secrets: []string{endpoint.Secret}, tamper: true},
		"no signature":               {id: created.InvoiceID + "-3", at: now, body: failed},
	} {
		if code, body := d.post(t, shop.url); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, code, body)
		}
	}
	// A redelivery of the paid event (the same webhook-id) is acknowledged and ignored.
	redelivery := delivery{id: paidID, at: now, body: failed, secrets: []string{endpoint.Secret}}
	if code, body := redelivery.post(t, shop.url); code != http.StatusOK || !bytes.Contains(body, []byte(`"duplicate"`)) {
		t.Errorf("a redelivery: %d %s, want 200 duplicate", code, body)
	}
	if o := getOrder(t, shop.url, orderID); o.State != "paid" || strings.Join(o.Events, ",") != paidID {
		t.Errorf("after the forgeries and the redelivery: %+v, want paid with only %s", o, paidID)
	}

	// Several signatures, as during a rotation: one that matches is enough.
	review := delivery{id: created.InvoiceID + "-4", at: now, body: eventBody(created.InvoiceID+"-4", "review", created.InvoiceID, orderID),
		secrets: []string{"whsec_Zm9yZ2VkLWJ5LXNvbWVib2R5LWVsc2U=", otherSecret}}
	if code, body := review.post(t, shop.url); code != http.StatusOK {
		t.Errorf("two signatures, the second one the shop's: %d %s", code, body)
	}
	if o := getOrder(t, shop.url, orderID); o.State != "review" {
		t.Errorf("after a delivery signed with the other secret: %+v", o)
	}

	// An older change of the invoice that comes late (a replayed dead letter, version 3
	// after version 4) is acknowledged and does not take the order back.
	late := delivery{id: created.InvoiceID + "-3", at: now, body: eventBody(created.InvoiceID+"-3", "paid", created.InvoiceID, orderID),
		secrets: []string{endpoint.Secret}}
	if code, body := late.post(t, shop.url); code != http.StatusOK || !bytes.Contains(body, []byte(`"stale"`)) {
		t.Errorf("a late, older event: %d %s, want 200 stale", code, body)
	}
	if o := getOrder(t, shop.url, orderID); o.State != "review" {
		t.Errorf("after an older event came late: %+v, want review still", o)
	}

	// A genuine, signed paid event of an invoice this shop did not make for the order
	// (another holder of an API key, or a second invoice made past the initiator's
	// idempotency window) pays nothing; one of the order's invoice for another amount is
	// for a human.
	other := delivery{id: "999999999999-2", at: now, body: eventBodyAmount("999999999999-2", "paid", "999999999999", orderID, "1"), secrets: []string{endpoint.Secret}}
	if code, body := other.post(t, shop.url); code != http.StatusOK || !bytes.Contains(body, []byte(`"ignored"`)) {
		t.Errorf("a paid event of another invoice naming the order: %d %s, want 200 ignored", code, body)
	}
	cheap := delivery{id: created.InvoiceID + "-5", at: now, body: eventBodyAmount(created.InvoiceID+"-5", "paid", created.InvoiceID, orderID, "1"), secrets: []string{endpoint.Secret}}
	if code, body := cheap.post(t, shop.url); code != http.StatusOK {
		t.Errorf("a paid event of another amount: %d %s", code, body)
	}
	if o := getOrder(t, shop.url, orderID); o.State != "review" || o.InvoiceID != created.InvoiceID || !strings.Contains(o.Review, "paid 1 KZT, the order is 100 KZT") {
		t.Errorf("after a paid event of another invoice and one of another amount: %+v, want review naming the amounts", o)
	}

	// A secret that is not whsec_ and base64 of 24 bytes or more is refused at the start:
	// an empty key would let anyone sign.
	for _, bad := range []string{"whsec_", "whsec_c2hvcnQ=", "c29tZWJvZHktZWxzZXMtc2VjcmV0LTAxMjM0NQ=="} {
		cmd := exec.Command(bin, script)
		cmd.Env = append(os.Environ(), "EPAYFLOW_URL="+urls.Initiator, "EPAYFLOW_API_KEY="+devstack.DevAPIKey, "WEBHOOK_SECRETS="+bad, "SHOP_ADDR="+proctest.Addr(t))
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("WEBHOOK_SECRETS=%s: the shop exited 0, want a refusal", bad)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("WEBHOOK_SECRETS=%s: the shop started, want it refused", bad)
		}
	}

	// A negative Content-Length is refused at once, not read until the sender stops.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(shop.url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /webhooks/epay HTTP/1.1\r\nHost: shop\r\nContent-Length: -1\r\n\r\n")
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || len(line) < 10 || !strings.HasPrefix(line, "HTTP/1.") || line[9] != '4' {
		t.Errorf("Content-Length -1: %q %v, want a 4xx within 5 s", line, err)
	}
}

// shop is a running example shop.
type shop struct {
	url string
	mu  sync.Mutex
	out strings.Builder // its stdout
}

// startShop runs script with bin and env until the test ends, once it listens.
func startShop(t *testing.T, bin, script string, env ...string) *shop {
	t.Helper()
	cmd := exec.Command(bin, script)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &shop{}
	listening := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			t.Log(script + ": " + line)
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if u, ok := strings.CutPrefix(line, "shop listening on "); ok {
				listening <- u
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	select {
	case s.url = <-listening:
	case <-done:
		t.Fatalf("%s stopped before it listened", script)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not listen within 30s", script)
	}
	return s
}

// waitLine waits until the shop printed line, within 10 s.
func (s *shop) waitLine(t *testing.T, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		out := s.out.String()
		s.mu.Unlock()
		if strings.Contains(out, line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shop did not print %q; it printed:\n%s", line, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type order struct {
	OrderID   string   `json:"orderId"`
	InvoiceID string   `json:"invoiceId"`
	State     string   `json:"state"`
	Review    string   `json:"review"`
	Events    []string `json:"events"`
}

func getOrder(t *testing.T, shopURL, id string) order {
	t.Helper()
	code, body := call(t, http.MethodGet, shopURL+"/orders/"+id, nil, "")
	var o order
	if code != http.StatusOK || json.Unmarshal(body, &o) != nil {
		t.Fatalf("GET /orders/%s: %d %s", id, code, body)
	}
	return o
}

// waitOrder polls the shop's order until ok, within 30 s.
func waitOrder(t *testing.T, shopURL, id string, ok func(order) bool) order {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := getOrder(t, shopURL, id)
		if ok(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s: %+v, still not as wanted after 30s", id, o)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// delivery is a webhook request made by the test, signed by the Standard Webhooks
// reference library with each of secrets (none: no signature header).
type delivery struct {
	id      string
	at      time.Time
	body    []byte
	secrets []string
	tamper  bool // change the body after signing
}

func (d delivery) post(t *testing.T, shopURL string) (int, []byte) {
	t.Helper()
	h := []string{"webhook-id", d.id, "webhook-timestamp", strconv.FormatInt(d.at.Unix(), 10)}
	var sigs []string
	for _, s := range d.secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := wh.Sign(d.id, d.at, d.body)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) > 0 {
		h = append(h, "webhook-signature", strings.Join(sigs, " "))
	}
	body := d.body
	if d.tamper {
		body = bytes.Replace(body, []byte(`"failed"`), []byte(`"paid"`), 1)
	}
	return call(t, http.MethodPost, shopURL+"/webhooks/epay", h, string(body))
}

// eventBody is a payment event of type typ for invoice inv of order orderID; id is
// <invoiceId>-<version>, as the worker makes it.
func eventBody(id, typ, inv, orderID string) []byte {
	return eventBodyAmount(id, typ, inv, orderID, "100")
}

// eventBodyAmount is eventBody with the invoice's amount (a JSON number).
func eventBodyAmount(id, typ, inv, orderID, amount string) []byte {
	version := id[strings.LastIndexByte(id, '-')+1:]
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"epayflow/worker","type":"kz.epay.payment.%s","time":%q,"subject":%q,"datacontenttype":"application/json","data":{"invoice":{"invoiceId":%q,"state":%q,"amount":%s,"currency":"KZT","reasonCode":0,"orderId":%q,"updatedAt":%q,"version":%s}}}`,
		id, typ, time.Now().UTC().Format(time.RFC3339), inv, inv, typ, amount, orderID, time.Now().UTC().Format(time.RFC3339), version)
}

// call makes an HTTP request with header pairs and returns the status and body.
func call(t *testing.T, method, url string, header []string, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
