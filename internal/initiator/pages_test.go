package initiator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve puts the test initiator on a real HTTP listener.
func (e *testEnv) serve(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends one real HTTP request; headers are name, value pairs.
func call(t *testing.T, method, url, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	resp, raw, err := tryCall(method, url, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// tryCall is call for goroutines other than the test's: it returns the error.
func tryCall(method, url, body string, headers ...string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, strings.TrimSpace(string(b)), nil
}

func TestShopPageHoldsNoKeyAndPaysThroughItsOwnRoute(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	resp, page := call(t, http.MethodGet, base+"/", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`id="pay"`, `id="error"`, `value="payment"`, `value="p2p"`, `src="/static/shop.js"`,
		`<option value="Coffee beans 1 kg" data-amount="100">Coffee beans 1 kg: 100 KZT</option>`,
		`<option value="Tea set" data-amount="1250.50">Tea set: 1250.50 KZT</option>`} {
		if !strings.Contains(page, want) {
			t.Fatalf("shop page lacks %s", want)
		}
	}
	_, js := call(t, http.MethodGet, base+"/static/shop.js", "")
	for _, text := range []string{page, js} {
		for _, secret := range []string{testAPIKey, testShopKey, "shop-key", "Authorization", "Bearer"} {
			if strings.Contains(text, secret) {
				t.Fatalf("the shop page or its script holds %q", secret)
			}
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Fatal("the shop page loads external assets")
	}
	for _, want := range []string{`"/shop/payments"`, "halyk.p2p(created.paymentObject)", "halyk.pay(created.paymentObject)", "payformJsUrl"} {
		if !strings.Contains(js, want) {
			t.Fatalf("shop.js lacks %s", want)
		}
	}
	// The page's fields, as shop.js sends them, create a payment with no key at all.
	resp, body := call(t, http.MethodPost, base+"/shop/payments", shopBody(""), "Content-Type", "application/json")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /shop/payments = %d %s", resp.StatusCode, body)
	}
	var c Created
	json.Unmarshal([]byte(body), &c)
	wantBack := "https://shop.example.kz/return/success?invoiceId=" + c.InvoiceID + "&token=" + e.svc.ReturnToken(c.InvoiceID)
	if c.PaymentObject.BackLink != wantBack || !strings.Contains(c.PaymentObject.FailureBackLink, "/return/failure?invoiceId="+c.InvoiceID+"&token=") {
		t.Fatalf("backLinks %q %q, want this shop's return pages with the token", c.PaymentObject.BackLink, c.PaymentObject.FailureBackLink)
	}
	if c.PaymentObject.Description != "Tea set" || c.PaymentObject.Amount != 125050 || c.PaymentObject.Currency != "KZT" {
		t.Fatalf("payment object %+v", c.PaymentObject)
	}
}

// shopBody is what shop.js sends, plus extra fields.
func shopBody(extra string) string {
	return `{"kind":"payment","amount":"1250.50","currency":"KZT","description":"Tea set","language":"eng","cardSave":false,"email":"a@example.kz"` + extra + `}`
}

func TestShopRouteTakesThePageFieldsOnlyFromThePageOnly(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	json := []string{"Content-Type", "application/json"}
	tests := []struct {
		name    string
		body    string
		headers []string
		status  int
		want    string
	}{
		{"a backLink to another host", shopBody(`,"backLink":"https://evil.example/x"`), json, 400,
			`{"error":"invalid request","fields":{"backLink":"not accepted on this route"}}`},
		{"a failureBackLink, an accountId and a name", shopBody(`,"failureBackLink":"https://shop.example.kz/f","accountId":"a","name":"n"`), json, 400,
			`{"error":"invalid request","fields":{"accountId":"not accepted on this route","failureBackLink":"not accepted on this route","name":"not accepted on this route"}}`},
		{"a description not in the catalogue", strings.Replace(shopBody(""), "Tea set", "Win a prize at evil.example", 1), json, 400,
			`{"error":"invalid request","fields":{"description":"must be a product of the shop"}}`},
		{"an amount not the product's price", strings.Replace(shopBody(""), "1250.50", "1", 1), json, 400,
			`{"error":"invalid request","fields":{"amount":"must be the product's price, 1250.5"}}`},
		{"another currency", strings.Replace(shopBody(""), "KZT", "USD", 1), json, 400,
			`{"error":"invalid request","fields":{"currency":"must be KZT"}}`},
		{"a duplicate key", shopBody(`,"amount":1`), json, 400,
			`{"error":"invalid request","fields":{"amount":"given more than once: each key may appear once"}}`},
		{"a text/plain body (a cross-site form or no-cors fetch)", shopBody(""), []string{"Content-Type", "text/plain"}, 415,
			`{"error":"send Content-Type: application/json"}`},
		{"a cross-site fetch", shopBody(""), []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, 403,
			`{"error":"the shop route takes requests from the shop page only"}`},
		{"a same-site fetch from another subdomain", shopBody(""), []string{"Content-Type", "application/json", "Sec-Fetch-Site", "same-site"}, 403,
			`{"error":"the shop route takes requests from the shop page only"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := call(t, http.MethodPost, base+"/shop/payments", tt.body, tt.headers...)
			if resp.StatusCode != tt.status || body != tt.want {
				t.Fatalf("%d %s\nwant %d %s", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
	if n := e.inboxMessages(t); n != 0 {
		t.Fatalf("%d payments created by refused shop requests", n)
	}
	resp, _ := call(t, http.MethodPost, base+"/shop/payments", shopBody(""), "Content-Type", "application/json; charset=utf-8", "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("same-origin fetch: %d", resp.StatusCode)
	}
}

func TestShopRouteIsRateLimited(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	cfg := e.cfg
	cfg.ShopRate = 2
	srv := httptest.NewServer(NewHandler(e.svc, cfg, NewMetrics(nil), nil, nil, nil))
	defer srv.Close()
	var codes []int
	for range 3 {
		resp, body := call(t, http.MethodPost, srv.URL+"/shop/payments", shopBody(""), "Content-Type", "application/json")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" ||
			body != `{"error":"the demo shop is busy; try again in a moment"}`) {
			t.Fatalf("429 without Retry-After or with %s", body)
		}
	}
	if codes[0] != 201 || codes[1] != 201 || codes[2] != 429 {
		t.Fatalf("codes %v, want 201 201 429", codes)
	}
	// The merchant route is not limited by the shop's budget.
	if resp, body := call(t, http.MethodPost, srv.URL+"/v1/payments", sourceRequest, "Authorization", "Bearer "+testAPIKey); resp.StatusCode != http.StatusCreated {
		t.Fatalf("merchant route after the shop's limit: %d %s", resp.StatusCode, body)
	}
}

func TestLimiterRefillsAtItsRate(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(6, func() time.Time { return now }) // one every 10s, bursts of 6
	for i := range 6 {
		if ok, _ := l.allow(); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow()
	if ok || wait != 10*time.Second {
		t.Fatalf("7th: ok=%v wait=%s, want refused for 10s", ok, wait)
	}
	now = now.Add(10 * time.Second)
	if ok, _ := l.allow(); !ok {
		t.Fatal("not refilled after 10s")
	}
	now = now.Add(time.Hour)
	for range 6 {
		l.allow()
	}
	if ok, _ := l.allow(); ok {
		t.Fatal("the bucket grew past its burst")
	}
}

func TestShopPageAndRouteCanBeTurnedOff(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	cfg := e.cfg
	cfg.Shop = false
	srv := httptest.NewServer(NewHandler(e.svc, cfg, NewMetrics(nil), nil, nil, nil))
	defer srv.Close()
	if resp, _ := call(t, http.MethodGet, srv.URL+"/", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / with the shop off = %d", resp.StatusCode)
	}
	if resp, _ := call(t, http.MethodPost, srv.URL+"/shop/payments", shopBody(""), "Content-Type", "application/json"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /shop/payments with the shop off = %d", resp.StatusCode)
	}
}

func TestReturnPagesNeedTheInvoicesToken(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	const id = "100000000001"
	tok := e.svc.ReturnToken(id)
	if len(tok) != 25 || tok == e.keyring.Sign(testTerminal, id) {
		t.Fatalf("token %q: want 25 characters, not the secret_hash", tok)
	}
	for _, path := range []string{"/return/success", "/return/failure"} {
		resp, page := call(t, http.MethodGet, base+path+"?invoiceId="+id+"&token="+tok, "")
		for _, want := range []string{`id="state"`, `id="reason"`, `data-invoice-id="100000000001"`, `data-token="` + tok + `"`, `src="/static/return.js"`} {
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
				t.Fatalf("%s: %d, lacks %s", path, resp.StatusCode, want)
			}
		}
	}
	for name, query := range map[string]string{
		"no token":                   "?invoiceId=" + id,
		"a wrong token":              "?invoiceId=" + id + "&token=K" + strings.Repeat("A", 24),
		"another invoice's token":    "?invoiceId=100000000002&token=" + tok,
		"the secret_hash as a token": "?invoiceId=" + id + "&token=" + e.keyring.Sign(testTerminal, id),
		"a malformed invoiceId":      "?invoiceId=<script>&token=" + tok,
		"nothing":                    "",
	} {
		resp, page := call(t, http.MethodGet, base+"/return/success"+query, "")
		if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "return.js") || strings.Contains(page, "<script>\"") ||
			strings.Contains(page, id) || !strings.Contains(page, "Payment not found") {
			t.Fatalf("%s: %d %s, want the 404 page naming nothing", name, resp.StatusCode, page)
		}
	}
	_, js := call(t, http.MethodGet, base+"/static/return.js", "")
	for _, want := range []string{`"/v1/invoices/"`, `"?token="`, "INTERVAL_MS = 500", "LIMIT_MS = 20000", "paid: true, failed: true, review: true"} {
		if !strings.Contains(js, want) {
			t.Fatalf("return.js lacks %s", want)
		}
	}
}

// fakeWorker is the worker's read API: it answers with everything it knows, personal
// data included, and records who asked.
type fakeWorker struct {
	*httptest.Server
	mu    sync.Mutex
	asked []string // Authorization of each request
	query []string // and its query
}

func startFakeWorker(t *testing.T) *fakeWorker {
	f := &fakeWorker{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.asked = append(f.asked, r.Header.Get("Authorization"))
		f.query = append(f.query, r.URL.RawQuery)
		f.mu.Unlock()
		switch r.URL.Path {
		case "/v1/invoices/100000000001":
			io.WriteString(w, `{"invoiceId":"100000000001","state":"failed","kind":"payment","amount":12.5,"currency":"KZT",`+
				`"description":"Order 42","accountId":"user-7","transactionId":"T1","reasonCode":484,`+
				`"reason":{"en":"Insufficient funds","ru":"Недостаточно средств"},"epayReason":"Недостаточно средств",`+
				`"email":"a@b.kz","phone":"77771234567","cardMask":"4405...5096","history":[{"body":{"email":"a@b.kz","name":"IVAN"}}]}`)
		case "/v1/invoices/100000000002":
			io.WriteString(w, `{"state":"created"}`)
		case "/v1/invoices/100000000003":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeWorker) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

func TestInvoiceReadNeedsTheTokenOrAnAPIKeyAndShowsStateReasonAndAmountOnly(t *testing.T) {
	worker := startFakeWorker(t)
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	cfg := e.cfg
	cfg.WorkerURL, cfg.WorkerKey = worker.URL, "worker-read-key-0123456789"
	srv := httptest.NewServer(NewHandler(e.svc, cfg, NewMetrics(nil), nil, nil, nil))
	defer srv.Close()
	tok := func(id string) string { return "?token=" + e.svc.ReturnToken(id) }

	// Without a credential: nothing reaches the worker, nothing tells which invoices exist.
	for name, req := range map[string][2]string{
		"no token":                 {"100000000001", ""},
		"an empty token":           {"100000000001", "?token="},
		"a wrong token":            {"100000000001", "?token=K" + strings.Repeat("A", 24)},
		"another invoice's token":  {"100000000001", tok("100000000002")},
		"no token, unknown":        {"100000000009", ""},
		"the secret_hash as token": {"100000000001", "?token=" + e.keyring.Sign(testTerminal, "100000000001")},
	} {
		resp, body := call(t, http.MethodGet, srv.URL+"/v1/invoices/"+req[0]+req[1], "")
		if resp.StatusCode != http.StatusNotFound || body != `{"error":"unknown invoice"}` {
			t.Fatalf("%s: %d %s, want 404 unknown invoice", name, resp.StatusCode, body)
		}
	}
	for name, auth := range map[string]string{"an unknown key": "Bearer merchant-key-0123456780", "basic": "Basic " + testAPIKey} {
		resp, body := call(t, http.MethodGet, srv.URL+"/v1/invoices/100000000001"+tok("100000000001"), "", "Authorization", auth)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "state") {
			t.Fatalf("%s: %d %s, want 401", name, resp.StatusCode, body)
		}
	}
	if n := len(worker.calls()); n != 0 {
		t.Fatalf("the worker was asked %d times without a credential", n)
	}

	const view = `{"invoiceId":"100000000001","state":"failed","amount":12.5,"currency":"KZT","reasonCode":484,"reason":{"en":"Insufficient funds","ru":"Недостаточно средств"}}`
	tests := []struct {
		name, id, query, auth string
		status                int
		body                  string
	}{
		{"the return page's token", "100000000001", tok("100000000001"), "", 200, view},
		{"a merchant's API key", "100000000001", "", "Bearer " + testAPIKey, 200, view},
		{"a created invoice", "100000000002", tok("100000000002"), "", 200, `{"invoiceId":"100000000002","state":"created"}`},
		{"the worker fails", "100000000003", tok("100000000003"), "", 502, `{"error":"the worker answered 500 Internal Server Error"}`},
		{"unknown to the worker", "100000000004", tok("100000000004"), "", 404, `{"error":"unknown invoice"}`},
		{"a malformed id", "12ab", "", "", 400, `{"error":"invalid invoiceId: 4 characters, want 6 to 15 digits"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.auth != "" {
				h = []string{"Authorization", tt.auth}
			}
			resp, body := call(t, http.MethodGet, srv.URL+"/v1/invoices/"+tt.id+tt.query, "", h...)
			if resp.StatusCode != tt.status || body != tt.body {
				t.Fatalf("%d %s\nwant %d %s", resp.StatusCode, body, tt.status, tt.body)
			}
			for _, personal := range []string{"a@b.kz", "7777", "4405", "IVAN", "Order 42", "user-7", "T1", "history"} {
				if strings.Contains(body, personal) {
					t.Fatalf("the answer shows %q: %s", personal, body)
				}
			}
		})
	}
	for _, auth := range worker.calls() {
		if auth != "Bearer worker-read-key-0123456789" {
			t.Fatalf("the worker was asked with Authorization %q, want INITIATOR_WORKER_KEY", auth)
		}
	}
	worker.mu.Lock()
	for _, q := range worker.query {
		if q != "history=none" { // the history, never shown, is the worker's costliest read
			t.Fatalf("the worker was asked with the query %q, want history=none", q)
		}
	}
	worker.mu.Unlock()
	worker.Close()
	if resp, _ := call(t, http.MethodGet, srv.URL+"/v1/invoices/100000000001"+tok("100000000001"), ""); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("worker down: %d, want 502", resp.StatusCode)
	}
}

func TestEveryAnswerCarriesTheSecurityHeadersAndPagesTheirCSP(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	const (
		shop   = "default-src 'self'; script-src 'self' https://test-epay.homebank.kz; form-action 'self' https://test-epay.homebank.kz; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
		ret    = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
		others = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	)
	id := "100000000001"
	tests := []struct{ method, path, body, csp string }{
		{"GET", "/", "", shop},
		{"GET", "/return/success?invoiceId=" + id + "&token=" + e.svc.ReturnToken(id), "", ret},
		{"GET", "/return/failure?invoiceId=" + id + "&token=" + e.svc.ReturnToken(id), "", ret},
		{"GET", "/return/success?invoiceId=" + id, "", ret},
		{"GET", "/static/shop.js", "", others},
		{"GET", "/static/style.css", "", others},
		{"GET", "/static/", "", others},
		{"GET", "/v1/invoices/" + id, "", others},
		{"POST", "/v1/payments", sourceRequest, others},
		{"POST", "/shop/payments", shopBody(""), others},
		{"GET", "/metrics", "", others},
		{"GET", "/nowhere", "", others},
	}
	for _, tt := range tests {
		resp, _ := call(t, tt.method, base+tt.path, tt.body, "Content-Type", "application/json")
		h := resp.Header
		if h.Get("Content-Security-Policy") != tt.csp || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%s %s (%d): CSP %q nosniff %q referrer %q frame %q\nwant CSP %q", tt.method, tt.path, resp.StatusCode,
				h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"), h.Get("X-Frame-Options"), tt.csp)
		}
	}
	// HSTS only behind an https public URL (a plain-http local stack would lock a browser out)
	for publicURL, want := range map[string]string{"https://shop.example.kz": "max-age=31536000", "http://127.0.0.1:8080": "", "": ""} {
		rec := httptest.NewRecorder()
		secure(http.NotFoundHandler(), publicURL).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if got := rec.Header().Get("Strict-Transport-Security"); got != want {
			t.Errorf("INITIATOR_PUBLIC_URL %q: Strict-Transport-Security %q, want %q", publicURL, got, want)
		}
	}
	if got := shopCSP("http://127.0.0.1:8090/payform/payment-api.js"); !strings.Contains(got, "script-src 'self' http://127.0.0.1:8090;") {
		t.Fatalf("sandbox CSP %q", got)
	}
}

func TestStaticFilesHaveNoDirectoryListing(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	for path, want := range map[string]int{
		"/static/":                 404,
		"/static":                  404, // redirected to /static/
		"/static//":                404,
		"/static/.":                404,
		"/static/missing.js":       404,
		"/static/../web.go":        404,
		"/static/%2e%2e/shop.html": 404,
		"/static/style.css":        200,
		"/static/return.js":        200,
	} {
		resp, body := call(t, http.MethodGet, base+path, "")
		if resp.StatusCode != want || strings.Contains(body, "<a href") || strings.Contains(body, "shop.js\"") {
			t.Fatalf("GET %s = %d %q, want %d and no listing", path, resp.StatusCode, body, want)
		}
	}
	resp, _ := call(t, http.MethodGet, base+"/static/shop.js", "")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("shop.js served as %q", ct)
	}
}
