package natsbus_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/natsbus"
)

func TestCheckURLs(t *testing.T) {
	for _, ok := range []string{"nats://127.0.0.1:4222", "nats://a:4222, nats://b:4222,tls://c", "127.0.0.1:4222", "nats-0.nats",
		"wss://nats.example:443", "nats://u:p@a:4222"} {
		if err := natsbus.CheckURLs(ok); err != nil {
			t.Errorf("CheckURLs(%q): %v", ok, err)
		}
	}
	for urls, want := range map[string]string{
		"":                                   "-nats-url (NATS_URL) is empty",
		"http://u:SECRET@nats:4222":          `-nats-url (NATS_URL) "http://u:xxxxx@nats:4222": scheme "http"`,
		"nats://a:4222,nats://b:99999":       `"nats://b:99999": port "99999": want 1 to 65535`,
		"nats://:4222":                       `"nats://:4222": no host`,
		"nats://a:4222/x":                    `"nats://a:4222/x": a path`,
		"nats://SECRET@a:bad":                `-nats-url (NATS_URL) "nats://xxxxx@a:bad": not a URL`,
		"nats://token-SECRET@host:4222/path": `"nats://xxxxx@host:4222/path": a path`,
	} {
		err := natsbus.CheckURLs(urls)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("CheckURLs(%q) = %v, want one with %q and without the secret", urls, err, want)
		}
	}
}

func TestRedactURLsHidesATokenToo(t *testing.T) {
	got := natsbus.RedactURLs("nats://s3cr3t-token@a:4222,nats://u:pw@b:4222,nats://c:4222")
	if got != "nats://xxxxx@a:4222,nats://u:xxxxx@b:4222,nats://c:4222" {
		t.Fatalf("RedactURLs = %q", got)
	}
}

// syncBuffer is a bytes.Buffer for a logger's goroutines.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// TestUnreachableServerIsLoggedWithItsURL: a NATS_URL where no server listens is named
// in the log (without the password), at once.
func TestUnreachableServerIsLoggedWithItsURL(t *testing.T) {
	out := &syncBuffer{mu: make(chan struct{}, 1)}
	nc, err := natsbus.ConnectAs("nats://ingest:SECRET@127.0.0.1:1", "t", natsbus.RoleIngest, natsbus.Auth{}, slog.New(slog.NewTextHandler(out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "cannot reach NATS"); {
		if time.Now().After(deadline) {
			t.Fatalf("no log line within 5s: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "url=nats://ingest:xxxxx@127.0.0.1:1") || strings.Contains(out.String(), "SECRET") {
		t.Fatalf("log %q", out.String())
	}
	if err := natsbus.NotConnected(nc, "nats://ingest:SECRET@127.0.0.1:1"); err == nil ||
		!strings.HasPrefix(err.Error(), "not connected to nats://ingest:xxxxx@127.0.0.1:1 (NATS_URL; ") {
		t.Fatalf("NotConnected = %v", err)
	}
}
