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

	"github.com/chromedp/chromedp"

	"github.com/epayflow/epayflow/internal/sandbox/browsertest"
)

// fakePayform is ePay's payment-api.js on an origin of its own: halyk.pay and halyk.p2p
// post the payment object to its /payform, as the sandbox's script does.
type fakePayform struct {
	*httptest.Server
	mu      sync.Mutex
	objects []PaymentObject
}

const fakePaymentAPI = `(function () {
  var base = document.currentScript.src.replace(/\/payform\/payment-api\.js$/, "");
  function go(mode) {
    return function (obj) {
      var f = document.createElement("form");
      f.method = "POST"; f.action = base + "/payform";
      var i = document.createElement("input");
      i.type = "hidden"; i.name = "payment"; i.value = JSON.stringify(obj);
      f.appendChild(i); document.body.appendChild(f); f.submit();
    };
  }
  window.halyk = { pay: go("pay"), p2p: go("p2p") };
}());`

func startFakePayform(t *testing.T) *fakePayform {
	f := &fakePayform{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/payform/payment-api.js":
			w.Header().Set("Content-Type", "text/javascript")
			io.WriteString(w, fakePaymentAPI)
		case "/payform":
			var obj PaymentObject
			json.Unmarshal([]byte(r.FormValue("payment")), &obj)
			f.mu.Lock()
			f.objects = append(f.objects, obj)
			f.mu.Unlock()
			io.WriteString(w, `<!doctype html><title>ePay</title><h1 id="payform">card form</h1>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePayform) received() []PaymentObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PaymentObject(nil), f.objects...)
}

// In Chromium, under the pages' CSP: the shop loads ePay's script from its origin,
// creates the payment through /shop/payments and posts the object to ePay's form; the
// backLink opens the return page, which reads the invoice with its token and shows the
// state. Script the page does not serve itself (an injected inline handler) does not run.
func TestBrowserShopAndReturnPagesWorkUnderTheirCSP(t *testing.T) {
	payform := startFakePayform(t)
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	var invoiceID string
	worker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/invoices/"+invoiceID {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"state":"paid","amount":1250.5,"currency":"KZT","email":"a@example.kz"}`)
	}))
	defer worker.Close()
	cfg := e.cfg
	cfg.WorkerURL, cfg.PayformJSURL = worker.URL, payform.URL+"/payform/payment-api.js"
	e.svc.PayformJSURL = cfg.PayformJSURL
	srv := httptest.NewServer(NewHandler(e.svc, cfg, NewMetrics(nil), nil, nil, nil))
	defer srv.Close()
	e.svc.PublicURL = srv.URL

	ctx, b := browsertest.Start(t, time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("pay"))); err != nil {
		t.Fatalf("opening the shop: %v", err)
	}
	cspViolations := func(from int) []string {
		var out []string
		for _, m := range b.Console()[from:] {
			if strings.Contains(m, "Content Security Policy") {
				out = append(out, m)
			}
		}
		return out
	}
	if v := cspViolations(0); len(v) > 0 {
		t.Fatalf("the shop page breaks its own CSP: %v", v)
	}
	// An injected inline handler is refused by the CSP.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		document.body.insertAdjacentHTML("beforeend", '<img src="/nowhere" onerror="window.pwned = true">');
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned === true`)); err != nil || pwned {
		t.Fatalf("an injected inline handler ran (%v): the CSP does not hold", err)
	}
	if len(cspViolations(0)) == 0 {
		t.Fatal("Chromium reported no CSP violation for the injected handler: the console check below would see none either")
	}
	seen := len(b.Console())
	b.Screenshot(ctx, "shop")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("product"), "Tea set"),
		chromedp.Click(chromedp.ID("pay")), chromedp.WaitVisible(chromedp.ID("payform"))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("pay: %v (page: %q)", err, body)
	}
	got := payform.received()
	if len(got) != 1 || got[0].InvoiceID == "" || !strings.HasPrefix(got[0].BackLink, srv.URL+"/return/success?invoiceId="+got[0].InvoiceID+"&token=") {
		t.Fatalf("ePay's form received %+v", got)
	}
	invoiceID = got[0].InvoiceID

	// ePay sends the buyer back to the backLink.
	if err := chromedp.Do(ctx, chromedp.Navigate(got[0].BackLink)); err != nil {
		t.Fatal(err)
	}
	expr := `(() => { const s = document.querySelector('#state'); return !!s && s.textContent.trim() === 'paid'; })()`
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("the return page never showed paid: %q", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Screenshot(ctx, "return-paid")
	if v := cspViolations(seen); len(v) > 0 {
		t.Fatalf("paying or the return page broke the CSP: %v", v)
	}
}
