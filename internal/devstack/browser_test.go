package devstack_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/epayflow/epayflow/internal/sandbox/browsertest"
)

// payInBrowser opens the shop, presses Pay, and pays on the sandbox's card form.
func payInBrowser(t *testing.T, ctx context.Context, b *browsertest.Browser, shopURL, card, expiry, cvc string) {
	t.Helper()
	steps := []struct {
		shot    string
		actions []chromedp.Action[chromedp.Void]
	}{
		{"shop", []chromedp.Action[chromedp.Void]{chromedp.Navigate(shopURL), chromedp.WaitVisible(chromedp.ID("pay"))}},
		{"card-form", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("pay")), chromedp.WaitVisible(chromedp.ID("card-number"))}},
		{"card-filled", []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.ID("card-number"), card),
			chromedp.SendKeys(chromedp.ID("card-expiry"), expiry),
			chromedp.SendKeys(chromedp.ID("card-cvc"), cvc),
			chromedp.SendKeys(chromedp.ID("card-holder"), "TEST CARDHOLDER"),
		}},
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
	if got := waitEvents(t, urls.NATS, invoiceID, 1); len(got) != 1 || got[0] != "payments.paid" {
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
	if got := waitEvents(t, urls.NATS, invoiceID, 1); len(got) != 1 || got[0] != "payments.failed" {
		t.Fatalf("events = %v, want exactly [payments.failed]", got)
	}
	resp, err := http.Get(urls.Worker + "/v1/invoices/" + invoiceID)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("worker read API: %v %v", err, resp)
	}
	resp.Body.Close()
}
