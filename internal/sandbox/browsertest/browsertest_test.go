package browsertest_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/epayflow/epayflow/internal/sandbox/browsertest"
)

func TestStartNavigateScreenshotAndConsole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`<!doctype html><title>t</title><h1 id="hello">hello</h1><script>console.error("boom")</script>`))
	}))
	defer srv.Close()
	ctx, b := browsertest.Start(t, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.ID("hello"))); err != nil {
		t.Fatal(err)
	}
	file := b.Screenshot(ctx, "hello")
	if st, err := os.Stat(file); err != nil || st.Size() < 100 || !strings.HasSuffix(file, "01-hello.png") {
		t.Fatalf("screenshot %q: %v", file, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(b.Console(), "\n"), "boom") {
		if time.Now().After(deadline) {
			t.Fatalf("console %q lacks the page's console.error", b.Console())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
