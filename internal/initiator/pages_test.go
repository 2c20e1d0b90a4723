package initiator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestShopPageHasThePayButtonAndGetsItsKeyFromTheServer(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	rec := e.do(t, http.MethodGet, "/", "", "")
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{`id="pay"`, `id="error"`, `value="payment"`, `value="p2p"`,
		`<meta name="epayflow-shop-key" content="` + testShopKey + `">`, `src="/static/shop.js"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("shop page lacks %s", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Fatal("the shop page loads external assets")
	}
	js := e.do(t, http.MethodGet, "/static/shop.js", "", "")
	src := js.Body.String()
	if js.Code != http.StatusOK || strings.Contains(src, testShopKey) || strings.Contains(src, testAPIKey) {
		t.Fatalf("shop.js: %d, or it holds a key", js.Code)
	}
	for _, want := range []string{`"/v1/payments"`, "halyk.p2p(created.paymentObject)", "halyk.pay(created.paymentObject)", "payformJsUrl"} {
		if !strings.Contains(src, want) {
			t.Fatalf("shop.js lacks %s", want)
		}
	}
}

func TestShopPageCanBeTurnedOff(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	cfg := e.cfg
	cfg.Shop = false
	h := NewHandler(e.svc, cfg, NewMetrics(nil), nil, nil, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET / with the shop off = %d", rec.Code)
	}
}

func TestReturnPagesPollTheInvoiceState(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	for _, path := range []string{"/return/success?invoiceId=100000000001", "/return/failure?invoiceId=100000000001"} {
		rec := e.do(t, http.MethodGet, path, "", "")
		page := rec.Body.String()
		for _, want := range []string{`id="state"`, `id="reason"`, `data-invoice-id="100000000001"`, `src="/static/return.js"`} {
			if rec.Code != http.StatusOK || !strings.Contains(page, want) {
				t.Fatalf("%s: %d, lacks %s", path, rec.Code, want)
			}
		}
	}
	rec := e.do(t, http.MethodGet, "/return/success?invoiceId=<script>", "", "")
	if strings.Contains(rec.Body.String(), "<script>\"") || !strings.Contains(rec.Body.String(), `data-invoice-id=""`) {
		t.Fatal("a malformed invoiceId reached the page")
	}
	js := e.do(t, http.MethodGet, "/static/return.js", "", "").Body.String()
	for _, want := range []string{`"/v1/invoices/"`, "INTERVAL_MS = 500", "LIMIT_MS = 20000", "paid: true, failed: true, review: true"} {
		if !strings.Contains(js, want) {
			t.Fatalf("return.js lacks %s", want)
		}
	}
}

func TestInvoiceReadIsProxiedToTheWorkerWithoutPersonalData(t *testing.T) {
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/invoices/100000000001":
			io.WriteString(w, `{"invoiceId":"100000000001","state":"failed","reasonCode":484,"reason":{"en":"Insufficient funds","ru":"Недостаточно средств"},"email":"a@b.kz","phone":"77771234567","cardMask":"4405...5096"}`)
		case "/v1/invoices/100000000002":
			io.WriteString(w, `{"state":"created"}`)
		case "/v1/invoices/100000000003":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer worker.Close()
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	cfg := e.cfg
	cfg.WorkerURL = worker.URL
	h := NewHandler(e.svc, cfg, NewMetrics(nil), nil, nil, nil)
	get := func(id string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/invoices/"+id, nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	tests := []struct {
		id     string
		status int
		body   string
	}{
		{"100000000001", 200, `{"invoiceId":"100000000001","state":"failed","reasonCode":484,"reason":{"en":"Insufficient funds","ru":"Недостаточно средств"}}`},
		{"100000000002", 200, `{"invoiceId":"100000000002","state":"created"}`},
		{"100000000003", 502, `{"error":"the worker answered 500 Internal Server Error"}`},
		{"100000000004", 404, `{"error":"unknown invoice"}`},
		{"12ab", 400, `{"error":"invalid invoiceId: 4 characters, want 6 to 15 digits"}`},
	}
	for _, tt := range tests {
		if status, body := get(tt.id); status != tt.status || body != tt.body {
			t.Fatalf("GET %s = %d %s\nwant %d %s", tt.id, status, body, tt.status, tt.body)
		}
	}
	worker.Close()
	if status, _ := get("100000000001"); status != http.StatusBadGateway {
		t.Fatalf("worker down: %d, want 502", status)
	}
}
