package sandbox_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/sandbox"
)

func TestCloseStopsRetriesPromptly(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) {
		c.CallbackBackoff, c.CallbackMaxBackoff = time.Second, 30*time.Second
	})
	rc := newReceiver(t, 503, 503, 503, 503, 503, 503, 503, 503)
	h.pay(t, "160000001", rc.URL+"/post", rc.URL+"/fail", "4405639704015096", "01/27", "321")
	start := time.Now()
	h.sb.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s with a delivery waiting to retry", d)
	}
	ds := h.sb.Deliveries("160000001")
	if len(ds) != 1 || ds[0].Delivered || !ds[0].Done || ds[0].Attempts != 1 {
		t.Fatalf("deliveries after Close = %+v, want one attempt, done, not delivered", ds)
	}
}

func TestBrowserIsSentBackAfterRedirectWaitWhenTheShopHangs(t *testing.T) {
	h := startSandbox(t, func(c *sandbox.Config) { c.RedirectWait = 200 * time.Millisecond })
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices when the sandbox gives up
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	start := time.Now()
	resp, page := h.pay(t, "170000001", hang.URL, hang.URL, "4405639704015096", "01/27", "321")
	if resp.StatusCode != http.StatusSeeOther || time.Since(start) > 5*time.Second {
		t.Fatalf("got %d after %s: %s; want a 303 soon after the redirect wait", resp.StatusCode, time.Since(start), page)
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
