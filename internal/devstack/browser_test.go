package devstack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/internal/sandbox/browsertest"
)

// payInBrowser opens the shop (shopURL; "" when the page is open already), presses Pay,
// and pays on the sandbox's card form.
func payInBrowser(t *testing.T, ctx context.Context, b *browsertest.Browser, shopURL, card, expiry, cvc string) {
	t.Helper()
	steps := []struct {
		shot    string
		actions []chromedp.Action[chromedp.Void]
	}{
		{"shop", []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.ID("pay"))}},
		{"card-form", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("pay")), chromedp.WaitVisible(chromedp.ID("card-number"))}},
		{"card-filled", []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.ID("card-number"), card),
			chromedp.SendKeys(chromedp.ID("card-expiry"), expiry),
			chromedp.SendKeys(chromedp.ID("card-cvc"), cvc),
			chromedp.SendKeys(chromedp.ID("card-holder"), "TEST CARDHOLDER"),
		}},
	}
	if shopURL != "" {
		if err := chromedp.Do(ctx, chromedp.Navigate(shopURL)); err != nil {
			t.Fatalf("browser, opening the shop: %v", err)
		}
	}
	for _, step := range steps {
		if err := chromedp.Do(ctx, step.actions...); err != nil {
			t.Fatalf("browser, before %s: %v", step.shot, err)
		}
		b.Screenshot(ctx, step.shot)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("pay-submit"))); err != nil {
		t.Fatalf("browser, paying: %v", err)
	}
}

// returnPage waits for the shop's return page to show a final state and returns the
// state, the reason text and the invoice id it shows.
func returnPage(t *testing.T, ctx context.Context, b *browsertest.Browser, want string) (state, reason, invoiceID string) {
	t.Helper()
	// The page navigates twice (card form -> sandbox result -> return page), which ends
	// any in-page poll; so ask again until the deadline.
	expr := `(() => { const s = document.querySelector('#state'); return !!s && s.textContent.trim() === '` + want + `'; })()`
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			url, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("return page never showed %q within 30s: %v (at %s: %q)", want, err, url, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	state, err1 := chromedp.Run(ctx, chromedp.Text(chromedp.ID("state")))
	invoiceID, err2 := chromedp.Run(ctx, chromedp.Text(chromedp.ID("invoice")))
	reason, err3 := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("reason")))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatalf("return page: %v", err)
	}
	b.Screenshot(ctx, "return-"+want)
	return strings.TrimSpace(state), strings.TrimSpace(reason), strings.TrimSpace(invoiceID)
}

func TestBrowserPaysWithAGoodTestCardAndTheShopSaysPaid(t *testing.T) {
	urls := startStack(t)
	ctx, b := browsertest.Start(t, 2*time.Minute)
	payInBrowser(t, ctx, b, urls.Initiator+"/", "4405639704015096", "01/27", "321")
	state, _, invoiceID := returnPage(t, ctx, b, "paid")
	if state != "paid" {
		t.Fatalf("return page state = %q, want paid", state)
	}
	waitState(t, urls.Worker, invoiceID, "paid")
	if got := waitEvents(t, urls, invoiceID, 1); len(got) != 1 || got[0] != "payments.paid" {
		t.Fatalf("events = %v, want exactly [payments.paid]", got)
	}
}

func TestBrowserLockedCardEndsFailedWithItsReason(t *testing.T) {
	urls := startStack(t)
	ctx, b := browsertest.Start(t, 2*time.Minute)
	payInBrowser(t, ctx, b, urls.Initiator+"/", "4003032704547597", "01/27", "123")
	state, reason, invoiceID := returnPage(t, ctx, b, "failed")
	if state != "failed" || reason == "" {
		t.Fatalf("return page state = %q reason = %q, want failed with a reason", state, reason)
	}
	inv := waitState(t, urls.Worker, invoiceID, "failed")
	if code, _ := inv["reasonCode"].(float64); code == 0 {
		t.Errorf("worker reasonCode = %v, want the decline's code", inv["reasonCode"])
	}
	if got := waitEvents(t, urls, invoiceID, 1); len(got) != 1 || got[0] != "payments.failed" {
		t.Fatalf("events = %v, want exactly [payments.failed]", got)
	}
	resp, err := workerGet(urls.Worker + "/v1/invoices/" + invoiceID)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("worker read API: %v %v", err, resp)
	}
	resp.Body.Close()
}

// With confirmation on (as in prod), through the sandbox's card form: a card payment, a
// P2P transfer (asked with the P2P status API) and a payment whose failure callback says
// 454 ("not final, request the status"; the sandbox's not-final card has really taken
// the money) all end paid, each with exactly one paid event and no failed one.
func TestBrowserWithConfirmationOnCardP2PAndANotFinalFailureEndPaid(t *testing.T) {
	urls := startStackWith(t, map[string]string{"WORKER_CONFIRM_PAYMENTS": "on", "WORKER_CHECK_EVERY": "200ms"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	cases := []struct {
		name, kind, card, cvc, api string
	}{
		{"card payment", "payment", "4405639704015096", "321", "payment"},
		{"P2P transfer", "p2p", "4405639704015096", "321", "p2p"},
		{"454 then charged", "payment", sandbox.NotFinalCard, "123", "payment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, b := browsertest.Start(t, 2*time.Minute)
			if err := chromedp.Do(ctx, chromedp.Navigate(urls.Initiator+"/"), chromedp.WaitVisible(chromedp.ID("pay")),
				chromedp.Click(chromedp.CSS(`input[name="kind"][value="`+c.kind+`"]`))); err != nil {
				t.Fatalf("choosing %s: %v", c.kind, err)
			}
			payInBrowser(t, ctx, b, "", c.card, "01/27", c.cvc)
			_, _, invoiceID := returnPage(t, ctx, b, "paid")
			inv := waitState(t, urls.Worker, invoiceID, "paid")
			if n, _ := inv["statusChecks"].(float64); n < 1 {
				t.Errorf("paid with %v status checks under WORKER_CONFIRM_PAYMENTS=on", inv["statusChecks"])
			}
			var apis []string
			for _, h := range inv["history"].([]any) {
				entry := h.(map[string]any)
				if entry["stateAfter"] == "failed" {
					t.Errorf("history passed through failed: %v", entry)
				}
				if entry["kind"] == "status" {
					body, _ := entry["body"].(map[string]any)
					apis = append(apis, fmt.Sprint(body["api"]))
				}
			}
			if len(apis) == 0 || apis[len(apis)-1] != c.api {
				t.Errorf("status APIs asked %v, want the %s one", apis, c.api)
			}
			if got := waitEvents(t, urls, invoiceID, 1); len(got) != 1 || got[0] != "payments.paid" {
				t.Fatalf("events = %v, want exactly [payments.paid]", got)
			}
		})
	}
}
