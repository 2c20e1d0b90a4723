package sandbox_test

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/sandbox/browsertest"
)

// shop is a merchant in a test: a page with a pay button that loads payment-api.js
// from the sandbox, the postLink routes (checking secret_hash) and the return pages.
type shop struct {
	*httptest.Server
	mu     sync.Mutex
	object any // the payment object the page passes to halyk.pay
	keys   *epay.Keyring
	got    []*epay.Callback
	routes []string
}

var shopPage = template.Must(template.New("shop").Parse(`<!doctype html>
<html><head><title>Test shop</title><script src="{{.Script}}"></script></head>
<body><h1>Test shop</h1>
<button id="pay" onclick='halyk.pay(window.paymentObject)'>Pay</button>
<script>window.paymentObject = {{.Object}};</script>
</body></html>`))

func newShop(t *testing.T, sandboxURL string, keys *epay.Keyring) *shop {
	s := &shop{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /shop", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		obj := s.object
		s.mu.Unlock()
		shopPage.Execute(w, map[string]any{"Script": sandboxURL + "/payform/payment-api.js", "Object": obj})
	})
	mux.HandleFunc("POST /epay/{route}", func(w http.ResponseWriter, r *http.Request) {
		var raw json.RawMessage
		json.NewDecoder(r.Body).Decode(&raw)
		cb, err := epay.DecodeCallback(raw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, cb)
		s.routes = append(s.routes, r.PathValue("route"))
		s.mu.Unlock()
		w.Write([]byte("OK"))
	})
	for _, p := range []string{"ok", "fail"} {
		mux.HandleFunc("GET /"+p, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<!doctype html><title>back</title><h1 id="returned" data-page="` + p + `">Back at the shop: ` +
				template.HTMLEscapeString(r.URL.Query().Get("invoiceId")) + `</h1>`))
		})
	}
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *shop) setObject(o any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.object = o
}

// callback waits for the verified callback of invoiceID.
func (s *shop) callback(t *testing.T, invoiceID string) (*epay.Callback, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		for i, cb := range s.got {
			if cb.InvoiceID == invoiceID {
				s.mu.Unlock()
				return cb, s.routes[i]
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no verified callback for %s within 10s", invoiceID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startRealSandbox serves the sandbox for the browser (httptest: a real 127.0.0.1
// listener) with the test clock, so the test cards' 01/27 is always in the future.
func startRealSandbox(t *testing.T) *harness {
	return startSandbox(t, nil)
}

func TestBrowserPaysWithTestCards(t *testing.T) {
	cases := []struct {
		name, invoiceID, number, expiry, cvc string
		success                              bool
		reasonCode                           int
	}{
		{"good visa", "910000001", "4405639704015096", "01/27", "321", true, 0},
		{"locked card", "910000002", "4003032704547597", "01/27", "123", false, 465},
	}
	h := startRealSandbox(t)
	s := newShop(t, h.url, h.keys)
	ctx, b := browsertest.Start(t, 120*time.Second)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := h.mustToken(t, h.tokenForm(c.invoiceID, "100", s.URL+"/epay/postlink", s.URL+"/epay/failure-postlink"))
			s.setObject(paymentObject(auth, c.invoiceID, 100, s.URL+"/ok", s.URL+"/fail"))
			step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				if err := chromedp.Do(ctx, actions...); err != nil {
					b.Screenshot(ctx, strings.ReplaceAll(c.name, " ", "-")+"-failed-at-"+name)
					t.Fatalf("%s: %v", name, err)
				}
				b.Screenshot(ctx, strings.ReplaceAll(c.name, " ", "-")+"-"+name)
			}
			step("shop", chromedp.Navigate(s.URL+"/shop"), chromedp.WaitVisible(chromedp.ID("pay")))
			step("card-form", chromedp.Click(chromedp.ID("pay")), chromedp.WaitVisible(chromedp.ID("card-number")))
			step("card-filled",
				chromedp.SendKeys(chromedp.ID("card-number"), c.number),
				chromedp.SendKeys(chromedp.ID("card-expiry"), c.expiry),
				chromedp.SendKeys(chromedp.ID("card-cvc"), c.cvc),
				chromedp.SendKeys(chromedp.ID("card-holder"), "Test Holder"))
			step("back-at-shop", chromedp.Click(chromedp.ID("pay-submit")), chromedp.WaitVisible(chromedp.ID("returned")))
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			wantPage := map[bool]string{true: "/ok", false: "/fail"}[c.success]
			if !strings.HasPrefix(loc, s.URL+wantPage) || !strings.Contains(loc, "invoiceId="+c.invoiceID) {
				t.Errorf("returned to %s, want %s with the invoiceId", loc, wantPage)
			}
			cb, route := s.callback(t, c.invoiceID)
			if cb.Succeeded() != c.success || cb.ReasonCode != c.reasonCode || cb.Amount != 100_00 {
				t.Errorf("callback code %s reasonCode %d amount %s, want success=%v %d 100", cb.Code, cb.ReasonCode, cb.Amount, c.success, c.reasonCode)
			}
			if wantRoute := map[bool]string{true: "postlink", false: "failure-postlink"}[c.success]; route != wantRoute {
				t.Errorf("callback went to %s, want %s", route, wantRoute)
			}
		})
	}
}

func TestBrowserPaymentScriptShowsValidationErrors(t *testing.T) {
	h := startRealSandbox(t)
	s := newShop(t, h.url, h.keys)
	auth := h.mustToken(t, h.tokenForm("920000001", "100", s.URL+"/epay/postlink", s.URL+"/epay/failure-postlink"))
	good := paymentObject(auth, "920000001", 100, s.URL+"/ok", s.URL+"/fail")
	s.setObject(good)
	ctx, b := browsertest.Start(t, 120*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/shop"), chromedp.WaitVisible(chromedp.ID("pay"))); err != nil {
		t.Fatal(err)
	}
	variant := func(key string, value any) map[string]any {
		o := map[string]any{}
		for k, v := range good {
			o[k] = v
		}
		if value == nil {
			delete(o, key)
		} else {
			o[key] = value
		}
		return o
	}
	cases := []struct {
		name string
		obj  map[string]any
		want string
	}{
		{"no auth", variant("auth", nil), "auth is missing"},
		{"auth without access_token", variant("auth", map[string]any{"expires_in": 1200}), "auth.access_token is missing"},
		{"invoiceId of 5 digits", variant("invoiceId", "12345"), "invoiceId must be 6 to 15 digits"},
		{"invoiceId of 16 digits", variant("invoiceId", "1234567890123456"), "invoiceId must be 6 to 15 digits"},
		{"invoiceId with letters", variant("invoiceId", "12345abc"), "invoiceId must be 6 to 15 digits"},
		{"amount as a string", variant("amount", "100"), "amount must be a positive number"},
		{"cardSave as a string", variant("cardSave", "true"), "cardSave must be a boolean"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js, _ := json.Marshal(c.obj)
			went, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`halyk.pay(`+string(js)+`)`))
			if err != nil || went {
				t.Fatalf("halyk.pay returned %v, %v; want false", went, err)
			}
			text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("halyk-error")))
			if err != nil || !strings.Contains(text, c.want) {
				t.Fatalf("#halyk-error = %q (%v), want %q", text, err, c.want)
			}
			widget, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { let got = ''; halyk.showPaymentWidget(`+string(js)+`, r => { got = r.success + ':' + r.message; }); return got; })()`))
			if err != nil || !strings.HasPrefix(widget, "false:") || !strings.Contains(widget, c.want) {
				t.Fatalf("showPaymentWidget callback got %q (%v), want a failure saying %q", widget, err, c.want)
			}
		})
	}
	b.Screenshot(ctx, "halyk-error")
	if !strings.Contains(strings.Join(b.Console(), "\n"), "halyk: auth is missing") {
		t.Errorf("console %q lacks console.error of the validation", b.Console())
	}

	// The script lets an amount through that the token was not issued for; the form does not.
	js, _ := json.Marshal(variant("amount", 101))
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`halyk.pay(`+string(js)+`)`), chromedp.WaitVisible(chromedp.ID("payform-error"))); err != nil {
		t.Fatal(err)
	}
	b.Screenshot(ctx, "amount-mismatch")
	if text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("payform-error"))); !strings.Contains(text, "does not match the token") {
		t.Errorf("#payform-error = %q", text)
	}
}
