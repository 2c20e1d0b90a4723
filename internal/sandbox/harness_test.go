package sandbox_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/sandbox"
)

// clock is the sandbox's clock in tests: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 15, 10, 0, 0, 0, time.FixedZone("+05:00", 5*3600))}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	sb    *sandbox.Sandbox
	url   string
	clock *clock
	keys  *epay.Keyring
}

// startSandbox serves a sandbox with fast retries and a test clock on 127.0.0.1.
func startSandbox(t *testing.T, mutate func(*sandbox.Config)) *harness {
	t.Helper()
	clk := newClock()
	cfg := sandbox.Config{
		CallbackBackoff: 10 * time.Millisecond, CallbackMaxBackoff: 40 * time.Millisecond,
		CallbackTimeout: 5 * time.Second, RedirectWait: 5 * time.Second, Now: clk.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sb, err := sandbox.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	keys, err := epay.ParseKeyring("A:dev-only-test-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	return &harness{sb: sb, url: srv.URL, clock: clk, keys: keys}
}

// tokenForm is a complete payment-scope token request. Without a failurePostLink
// (which scope payment requires) it asks for the long service scope instead, as some
// integrations do for card payments, so failures go to postLink.
func (h *harness) tokenForm(invoiceID, amount, postLink, failurePostLink string) url.Values {
	if failurePostLink == "" {
		f := h.tokenForm(invoiceID, amount, postLink, "x")
		f.Del("failurePostLink")
		f.Set("scope", sandbox.ServiceScope)
		return f
	}
	return url.Values{
		"grant_type": {"client_credentials"}, "scope": {"payment"},
		"client_id": {sandbox.TestClientID}, "client_secret": {sandbox.TestClientSecret},
		"terminal": {sandbox.TestTerminal}, "invoiceID": {invoiceID},
		"secret_hash": {h.keys.Sign(sandbox.TestTerminal, invoiceID)}, "amount": {amount}, "currency": {"KZT"},
		"postLink": {postLink}, "failurePostLink": {failurePostLink},
	}
}

func serviceForm() url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "scope": {sandbox.ServiceScope},
		"client_id": {sandbox.TestClientID}, "client_secret": {sandbox.TestClientSecret},
		"terminal": {sandbox.TestTerminal},
	}
}

// token posts a token request and returns the status and the decoded body.
func (h *harness) token(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(h.url+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

func (h *harness) mustToken(t *testing.T, form url.Values) map[string]any {
	t.Helper()
	status, body := h.token(t, form)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	return body
}

// paymentObject is the object a shop page passes to halyk.pay.
func paymentObject(auth map[string]any, invoiceID string, amount float64, backLink, failureBackLink string) map[string]any {
	return map[string]any{
		"invoiceId": invoiceID, "backLink": backLink, "failureBackLink": failureBackLink,
		"language": "RU", "description": "Payment in the online store", "accountId": "testuser1",
		"terminal": sandbox.TestTerminal, "amount": amount, "currency": "KZT", "phone": "77777777777",
		"email": "example@example.com", "cardSave": true, "auth": auth,
	}
}

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

var sessionRe = regexp.MustCompile(`name="session" value="([^"]+)"`)

// openForm posts the payment object as payment-api.js does and returns the status,
// the page and the form's session id.
func (h *harness) openForm(t *testing.T, obj map[string]any) (int, string, string) {
	t.Helper()
	b, _ := json.Marshal(obj)
	resp, err := noRedirect.PostForm(h.url+"/payform", url.Values{"payment": {string(b)}, "mode": {"pay"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := sessionRe.FindStringSubmatch(string(page))
	if m == nil {
		return resp.StatusCode, string(page), ""
	}
	return resp.StatusCode, string(page), m[1]
}

// submitCard posts the card form and returns the response (not following redirects).
func (h *harness) submitCard(t *testing.T, session, number, expiry, cvc string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.PostForm(h.url+"/payform/card", url.Values{
		"session": {session}, "card-number": {number}, "card-expiry": {expiry}, "card-cvc": {cvc},
		"card-holder": {"Test Holder"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

// pay runs a whole payment: token, form, card. It returns the card form's response.
func (h *harness) pay(t *testing.T, invoiceID, postLink, failurePostLink, number, expiry, cvc string) (*http.Response, string) {
	t.Helper()
	auth := h.mustToken(t, h.tokenForm(invoiceID, "100", postLink, failurePostLink))
	status, page, session := h.openForm(t, paymentObject(auth, invoiceID, 100, "http://shop.test/ok", "http://shop.test/fail"))
	if status != http.StatusOK || session == "" {
		t.Fatalf("payform: %d %s", status, page)
	}
	return h.submitCard(t, session, number, expiry, cvc)
}

// deliveries polls GET /sandbox/callbacks/{invoiceId} until every record is done.
func (h *harness) deliveries(t *testing.T, invoiceID string) []sandbox.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(h.url + "/sandbox/callbacks/" + invoiceID)
		if err != nil {
			t.Fatal(err)
		}
		var ds []sandbox.Delivery
		err = json.NewDecoder(resp.Body).Decode(&ds)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		done := len(ds) > 0
		for _, d := range ds {
			done = done && d.Done
		}
		if done {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks of %s not done within 10s: %+v", invoiceID, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is a merchant endpoint: it answers the given statuses in turn, then 200.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []received
}

type received struct {
	path        string
	contentType string
	body        []byte
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.URL.Path, r.Header.Get("Content-Type"), b})
		status := http.StatusOK
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		if status == http.StatusOK {
			io.WriteString(w, "OK")
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "object"
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func jsonField(body []byte, key string) string {
	var m map[string]any
	json.Unmarshal(body, &m)
	s, _ := m[key].(string)
	return s
}
