package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath returns the browser to drive: $CHROMIUM_PATH when set, else
// /usr/bin/chromium (Debian's package), else the first of chromium, chromium-browser,
// google-chrome and headless-shell on PATH. ok is false when there is none.
func ChromiumPath() (path string, ok bool) {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p, true
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// RequireVar, set to anything, makes a browser test without Chromium fail instead of
// skip: `make test` sets it, so that a missing browser is never a silent ok.
const RequireVar = "EPAYFLOW_REQUIRE_CHROMIUM"

// withoutChromium says what a browser test does when there is no Chromium: fail when
// RequireVar or CI is set, else skip; why says so, and how to install it.
func withoutChromium(getenv func(string) string) (fail bool, why string) {
	switch {
	case getenv(RequireVar) != "":
		return true, "no Chromium installed and " + RequireVar + " is set (make test sets it): install chromium (apt-get install chromium) or set CHROMIUM_PATH"
	case getenv("CI") != "":
		return true, "no Chromium installed and CI is set: install chromium (apt-get install chromium)"
	}
	return false, "no Chromium installed (apt-get install chromium): the browser test is skipped; make test (" + RequireVar + "=1) fails instead"
}

// Flags are the Chromium switches every test browser gets.
var Flags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-background-networking", "disable-quic",
	"no-first-run", "disable-component-update", "disable-sync",
	// /dev/shm is small in containers; Chromium crashes on big pages without this.
	"disable-dev-shm-usage",
}

// Browser is one headless Chromium of a test, with the console of its tab recorded.
type Browser struct {
	t       testing.TB
	dir     string
	mu      sync.Mutex
	shots   int
	console []string
}

// Start launches Chromium for t (skipping or failing as the package says when there is
// none) and returns the context of its first tab, which ends after timeout or with the
// test. Console messages and page exceptions are logged when the test fails.
func Start(t testing.TB, timeout time.Duration) (context.Context, *Browser) {
	t.Helper()
	path, ok := ChromiumPath()
	if !ok {
		if fail, why := withoutChromium(os.Getenv); fail {
			t.Fatal(why)
		} else {
			t.Skip(why)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900),
	}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	b := &Browser{t: t}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
		wg.Wait()
		if t.Failed() {
			for _, m := range b.Console() {
				t.Logf("browser console: %s", m)
			}
		}
	})
	if err := chromedp.Do(tabCtx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	msgs := chromedp.Console(tabCtx)
	wg.Go(func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			if len(b.console) < 1000 {
				b.console = append(b.console, m.String())
			}
			b.mu.Unlock()
		}
	})
	return tabCtx, b
}

// Console returns what the page wrote to its console so far (console.* calls, uncaught
// exceptions, browser log entries).
func (b *Browser) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// Dir is where the screenshots of the test go: $ARTIFACTS_DIR/<test name> when the
// variable is set, else <temp dir>/epayflow-artifacts/<test name>. It is kept after the
// test.
func (b *Browser) Dir() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		return b.dir
	}
	root := os.Getenv("ARTIFACTS_DIR")
	if root == "" {
		root = filepath.Join(os.TempDir(), "epayflow-artifacts")
	}
	b.dir = filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(b.t.Name(), "_"))
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		b.t.Fatalf("artifacts dir: %v", err)
	}
	return b.dir
}

// Screenshot saves the whole page of ctx's tab as NN-name.png in Dir and logs the
// path; NN counts the screenshots of the test, so they sort in the order taken. A
// screenshot that cannot be taken is a test error, not a fatal one.
func (b *Browser) Screenshot(ctx context.Context, name string) string {
	b.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	dir := b.Dir()
	b.mu.Lock()
	b.shots++
	file := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	b.mu.Unlock()
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot %s", file)
	return file
}
