package devstack_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// newBrowser starts a headless Debian Chromium for one test. Without chromium the test
// is skipped on a laptop and fails in CI, where .ci/run installs it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not installed (.ci/run installs Debian's chromium)")
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 900),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Run starts the browser and must not carry a timeout (it would end the
	// browser); the actions after it run under one.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// shot writes a screenshot of the page to $ARTIFACTS_DIR (default artifacts/e2e at the
// repository root) as <test>-<step>.png.
func shot(t *testing.T, step string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		dir := os.Getenv("ARTIFACTS_DIR")
		if dir == "" {
			dir = filepath.Join("..", "..", "artifacts", "e2e")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		png, err := chromedp.FullScreenshot(100)(ctx, target)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, t.Name()+"-"+step+".png"), png, 0o644)
	})
}

// payInBrowser opens the shop, presses Pay, and pays on the sandbox's card form.
func payInBrowser(t *testing.T, ctx context.Context, shopURL, card, expiry, cvc string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(shopURL),
		chromedp.WaitVisible(chromedp.ID("pay")),
		shot(t, "1-shop"),
		chromedp.Click(chromedp.ID("pay")),
		chromedp.WaitVisible(chromedp.ID("card-number")),
		shot(t, "2-card-form"),
		chromedp.SendKeys(chromedp.ID("card-number"), card),
		chromedp.SendKeys(chromedp.ID("card-expiry"), expiry),
		chromedp.SendKeys(chromedp.ID("card-cvc"), cvc),
		chromedp.SendKeys(chromedp.ID("card-holder"), "TEST CARDHOLDER"),
		shot(t, "3-card-filled"),
		chromedp.Click(chromedp.ID("pay-submit")),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// returnPage waits for the shop's return page to show a final state and returns the
// state, the reason text and the invoice id it shows.
func returnPage(t *testing.T, ctx context.Context, want string) (state, reason, invoiceID string) {
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
	if err := errors.Join(err1, err2, err3, chromedp.Do(ctx, shot(t, "4-return-"+want))); err != nil {
		t.Fatalf("return page: %v", err)
	}
	return strings.TrimSpace(state), strings.TrimSpace(reason), strings.TrimSpace(invoiceID)
}

func TestBrowserPaysWithAGoodTestCardAndTheShopSaysPaid(t *testing.T) {
	urls := startStack(t)
	ctx := newBrowser(t)
	payInBrowser(t, ctx, urls.Initiator+"/", "4405639704015096", "01/27", "321")
	state, _, invoiceID := returnPage(t, ctx, "paid")
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
	ctx := newBrowser(t)
	payInBrowser(t, ctx, urls.Initiator+"/", "4003032704547597", "01/27", "123")
	state, reason, invoiceID := returnPage(t, ctx, "failed")
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
