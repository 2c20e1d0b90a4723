package sandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/sandbox"
)

func TestCloseStopsRetriesPromptly(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) {
		// a retry an hour away: a Close that waited for it would not return within the bound below
		c.CallbackBackoff, c.CallbackMaxBackoff = time.Hour, time.Hour
	})
	rc := newReceiver(t, 503, 503, 503, 503, 503, 503, 503, 503)
	h.pay(t, "160000001", rc.URL+"/post", rc.URL+"/fail", "4405639704015096", "01/27", "321")
	closed := make(chan struct{})
	go func() { h.sb.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close waits for a delivery's retry an hour away")
	}
	ds := h.sb.Deliveries("160000001")
	if len(ds) != 1 || ds[0].Delivered || !ds[0].Done || ds[0].Attempts != 1 {
		t.Fatalf("deliveries after Close = %+v, want one attempt, done, not delivered", ds)
	}
}

func TestBrowserIsSentBackAfterRedirectWaitWhenTheShopHangs(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) { c.RedirectWait = 200 * time.Millisecond })
	// the shop never answers (until the sandbox gives up on it, or the test ends): a 303
	// can only come from the redirect wait
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices when the sandbox gives up
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	resp, page := h.pay(t, "170000001", hang.URL, hang.URL, "4405639704015096", "01/27", "321")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("got %d: %s; want a 303 after the redirect wait", resp.StatusCode, page)
	}
	h.sb.Close() // cancels the hanging POST
}

func TestConcurrentPaymentsEachGetOneCallback(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	const n = 20
	t.Run("pay", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				number := "4405639704015096"
				if i%2 == 1 {
					number = "4003032704547597"
				}
				h.pay(t, fmt.Sprintf("18000%04d", i), rc.URL+"/post", rc.URL+"/fail", number, "01/27", "321")
			})
		}
	})
	for i := range n {
		if ds := h.deliveries(t, fmt.Sprintf("18000%04d", i)); len(ds) != 1 || !ds[0].Delivered {
			t.Fatalf("invoice %d: %+v", i, ds)
		}
	}
	if got := len(rc.received()); got != n {
		t.Fatalf("receiver got %d callbacks, want %d", got, n)
	}
}

// notFinalRoutes are the two status routes, each read as (resultCode, message, transaction).
var notFinalRoutes = []struct {
	name string
	get  func(t *testing.T, h *harness, token, id string) (string, any, map[string]any, []byte)
}{
	{"payment", func(t *testing.T, h *harness, token, id string) (string, any, map[string]any, []byte) {
		_, raw := getRaw(t, h.url+"/check-status/payment/transaction/"+id, token)
		var body struct {
			ResultCode    string
			ResultMessage any
			Transaction   map[string]any
		}
		json.Unmarshal(raw, &body)
		return body.ResultCode, body.ResultMessage, body.Transaction, raw
	}},
	{"p2p", func(t *testing.T, h *harness, token, id string) (string, any, map[string]any, []byte) {
		_, raw := getRaw(t, h.url+"/check-status/p2p/transaction/"+id, token)
		var body struct {
			Result      struct{ Code, Message string }
			Transaction *struct{ P2P map[string]any }
		}
		json.Unmarshal(raw, &body)
		if body.Transaction == nil {
			return body.Result.Code, body.Result.Message, nil, raw
		}
		return body.Result.Code, body.Result.Message, body.Transaction.P2P, raw
	}},
}

func TestNotFinalCardSendsAFailureButIsPaidAfterOneInProgressStatus(t *testing.T) {
	for i, route := range notFinalRoutes {
		t.Run(route.name, func(t *testing.T) {
			h := startSandbox(t, nil)
			rc := newReceiver(t)
			invoiceID := fmt.Sprintf("21000000%d", i)
			resp, page := h.pay(t, invoiceID, rc.URL+"/post", rc.URL+"/fail", sandbox.NotFinalCard, "12/29", "000")
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "http://shop.test/fail?invoiceId="+invoiceID {
				t.Fatalf("card form: %d %q %s, want a 303 to failureBackLink", resp.StatusCode, loc, page)
			}
			ds := h.deliveries(t, invoiceID)
			got := rc.received()
			if len(ds) != 1 || ds[0].Kind != "failure" || !ds[0].Delivered || len(got) != 1 || got[0].path != "/fail" {
				t.Fatalf("deliveries %+v, POSTs %d: want one failure to failurePostLink", ds, len(got))
			}
			var cb map[string]any
			json.Unmarshal(got[0].body, &cb)
			sameShape(t, cb, sample(t, "failure.json"), "secret_hash")
			reason, _ := epay.Reason(454)
			if cb["code"] != "error" || cb["reasonCode"] != float64(454) || cb["reason"] != reason.EN || cb["CardType"] != "VISA" {
				t.Errorf("callback %s: want code error, reasonCode 454, reason %q, CardType VISA", got[0].body, reason.EN)
			}

			svc := h.mustToken(t, serviceForm())["access_token"].(string)
			code, msg, tx, raw := route.get(t, h, svc, invoiceID)
			if code != "107" || tx != nil || msg == "" || contains(string(raw), `"transaction"`) {
				t.Fatalf("first status: %s, want 107 with a message and no transaction", raw)
			}
			for n := 2; n <= 3; n++ {
				code, msg, tx, raw = route.get(t, h, svc, invoiceID)
				if code != "100" || msg != "SUCCESS" || tx == nil {
					t.Fatalf("status %d: %s, want 100 SUCCESS with the transaction", n, raw)
				}
				want := map[string]any{
					"statusName": "CHARGE", "amount": float64(100), "orgAmount": float64(100), "payoutAmount": float64(0),
					"reasonCode": "0", "reason": "success", "id": ds[0].TransactionID, "cardMask": "401288...1881",
				}
				for k, v := range want {
					if tx[k] != v {
						t.Errorf("status %d: transaction.%s = %#v, want %#v", n, k, tx[k], v)
					}
				}
			}
			if route.name == "payment" {
				checkStatusTxn(t, raw, "transaction")
			} else {
				checkStatusTxn(t, raw, "transaction", "p2p")
			}

			// Paid: the invoice cannot be paid again, and the transaction refunds like any other.
			auth := h.mustToken(t, h.tokenForm(invoiceID, "100", rc.URL+"/post", rc.URL+"/fail"))
			if status, page, _ := h.openForm(t, paymentObject(auth, invoiceID, 100, "", "")); status != http.StatusBadRequest || !contains(page, "already paid") {
				t.Fatalf("paying the invoice again: %d %s, want already paid", status, page)
			}
			if r := operate(t, h, svc, ds[0].TransactionID+"/refund?amount=40"); r.status != 200 {
				t.Fatalf("refund: %+v", r)
			}
			if code, _, tx, raw = route.get(t, h, svc, invoiceID); code != "100" || tx["amount"] != float64(60) || tx["payoutAmount"] != float64(40) {
				t.Fatalf("after a refund of 40: %s, want amount 60, payoutAmount 40", raw)
			}
		})
	}
}

func TestNotFinalCardWithTwoStepIsAuthorised(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) { c.TwoStep = true })
	rc := newReceiver(t)
	h.pay(t, "220000001", rc.URL+"/post", rc.URL+"/fail", sandbox.NotFinalCard, "12/29", "000")
	ds := h.deliveries(t, "220000001")
	if len(ds) != 1 || ds[0].Kind != "failure" {
		t.Fatalf("deliveries %+v, want one failure", ds)
	}
	svc := h.mustToken(t, serviceForm())["access_token"].(string)
	if _, body := statusOf(t, h, svc, "220000001"); body["resultCode"] != "107" {
		t.Fatalf("first status %v, want 107", body)
	}
	_, body := statusOf(t, h, svc, "220000001")
	tx, _ := body["transaction"].(map[string]any)
	if body["resultCode"] != "100" || tx["statusName"] != "AUTH" || tx["amount"] != float64(100) {
		t.Fatalf("second status %v, want 100 AUTH 100", body)
	}
	if r := operate(t, h, svc, ds[0].TransactionID+"/charge"); r.status != 200 {
		t.Fatalf("charge: %+v", r)
	}
	if _, body := statusOf(t, h, svc, "220000001"); body["transaction"].(map[string]any)["statusName"] != "CHARGE" {
		t.Fatalf("after charge %v, want CHARGE", body)
	}
}

func TestNotFinalCardAnswersInProgressExactlyOnceUnderConcurrentLookups(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) {
		c.Terminals = []string{sandbox.TestTerminal, "11111111-2222-3333-4444-555555555555"}
	})
	rc := newReceiver(t)
	h.pay(t, "230000001", rc.URL+"/post", rc.URL+"/fail", sandbox.NotFinalCard, "12/29", "000")
	svc := h.mustToken(t, serviceForm())["access_token"].(string)
	other := h.mustToken(t, with(serviceForm(), "terminal", "11111111-2222-3333-4444-555555555555"))["access_token"].(string)
	if _, body := statusOf(t, h, other, "230000001"); body["resultCode"] != "106" {
		t.Fatalf("another terminal's lookup: %v, want 106", body)
	}
	const n = 16
	codes := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { // no t.Fatal off the test goroutine: failures come back as codes
			defer wg.Done()
			path := []string{"/check-status/payment/transaction/", "/check-status/p2p/transaction/"}[i%2]
			req, _ := http.NewRequest(http.MethodGet, h.url+path+"230000001", nil)
			req.Header.Set("Authorization", "Bearer "+svc)
			resp, err := noRedirect.Do(req)
			if err != nil {
				codes <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			var body struct {
				ResultCode string
				Result     struct{ Code string }
			}
			json.NewDecoder(resp.Body).Decode(&body)
			codes <- body.ResultCode + body.Result.Code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[string]int{}
	for c := range codes {
		count[c]++
	}
	if count["107"] != 1 || count["100"] != n-1 {
		t.Fatalf("result codes %v, want one 107 (the other terminal's 106 uses none) and %d × 100", count, n-1)
	}
}

func TestNotFinalCardShowsAFailureWithoutBackLinkAndIsCounted(t *testing.T) {
	h := startSandbox(t, nil)
	rc := newReceiver(t)
	auth := h.mustToken(t, h.tokenForm("240000001", "100", rc.URL+"/post", rc.URL+"/fail"))
	_, _, session := h.openForm(t, paymentObject(auth, "240000001", 100, "", ""))
	resp, page := h.submitCard(t, session, sandbox.NotFinalCard, "12/29", "000")
	if resp.StatusCode != http.StatusOK || !contains(page, `data-outcome="failure"`) || !contains(page, "454") {
		t.Fatalf("got %d %s, want the sandbox's failure page with 454", resp.StatusCode, page)
	}
	mresp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	metrics, _ := io.ReadAll(mresp.Body)
	if !contains(string(metrics), `epayflow_sandbox_payments_total{outcome="not_final"} 1`) {
		t.Errorf("metrics lack the not_final payment:\n%s", metrics)
	}
	h.deliveries(t, "240000001")
}
