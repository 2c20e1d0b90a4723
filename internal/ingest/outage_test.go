package ingest

import (
	"fmt"
	"github.com/epayflow/epayflow/internal/httpserver"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
)

// ledger records which callbacks were answered 200, to check them against the stream.
type ledger struct {
	mu  sync.Mutex
	ok  map[string]bool // Nats-Msg-Id of every callback answered 200
	bad []string        // answers that are neither 200 nor a proper 503
}

func newLedger() *ledger { return &ledger{ok: map[string]bool{}} }

// send posts one unique callback and records the answer; it returns the status, or 0 on
// a transport error.
func (l *ledger) send(t testing.TB, ti *testIngest, n int) int {
	invoiceID := strconv.Itoa(100000000 + n)
	id := fmt.Sprintf("tx-%d", n)
	res, err := tryPost(ti.URL, RoutePostlink, callback(ti.Keys, invoiceID, id, "ok"))
	if err != nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch res.status {
	case http.StatusOK:
		l.ok[inbox.CallbackMsgID(invoiceID, id, "ok")] = true
	case http.StatusServiceUnavailable:
		if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 5 {
			l.bad = append(l.bad, fmt.Sprintf("503 with Retry-After %q", res.header.Get("Retry-After")))
		}
	default:
		l.bad = append(l.bad, fmt.Sprintf("%d %s", res.status, res.body))
	}
	return res.status
}

// check fails the test unless every callback answered 200 is in the stream.
func (l *ledger) check(t *testing.T, ti *testIngest) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bad {
		t.Errorf("unexpected answer: %s", b)
	}
	stored := map[string]bool{}
	for _, m := range ti.storedMessages(t) {
		stored[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	lost := 0
	for id := range l.ok {
		if !stored[id] {
			lost++
			t.Errorf("answered 200 but not stored: %s", id)
		}
	}
	t.Logf("%d callbacks answered 200, %d stored, %d lost", len(l.ok), len(stored), lost)
}

func TestNATSStoppedGives503AndNever200(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, func(c *Config) { c.PublishTimeout = 300 * time.Millisecond })
	l := newLedger()
	n := 0
	next := func() int { n++; return l.send(t, ti, n) }
	if status := next(); status != http.StatusOK {
		t.Fatalf("before the outage: %d", status)
	}

	ti.NATS.Stop()
	// Until the client notices, a publish times out; once it has, it fails at once.
	eventually(t, 15*time.Second, "503 for NATS known to be down", func() bool {
		if status := next(); status != http.StatusServiceUnavailable {
			t.Fatalf("NATS is down and the answer is %d", status)
		}
		got := ti.metric(t, `epayflow_ingest_publish_failures_total{cause="nats_down"}`)
		return got != "" && got != "0"
	})
	// /readyz answers from a standing answer at most httpserver.ReadyFor old
	eventually(t, httpserver.ReadyFor+2*time.Second, "/readyz 503 with NATS down", func() bool {
		return get(t, ti.URL+"/readyz").status == http.StatusServiceUnavailable
	})
	for range 20 {
		if status := next(); status != http.StatusServiceUnavailable {
			t.Fatalf("NATS is down and the answer is %d", status)
		}
	}

	ti.NATS.Restart()
	eventually(t, 15*time.Second, "200 again after NATS restarted", func() bool {
		return next() == http.StatusOK
	})
	ti.waitReady(t)
	l.check(t, ti)
}

func TestNothingAnswered200IsLostAcrossNATSRestarts(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, func(c *Config) { c.PublishTimeout = 500 * time.Millisecond })
	l := newLedger()
	var (
		n    atomic.Int64
		oks  atomic.Int64
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if l.send(t, ti, int(n.Add(1))) == http.StatusOK {
					oks.Add(1)
				}
			}
		}()
	}
	for round := range 3 {
		target := oks.Load() + 100
		eventually(t, 30*time.Second, fmt.Sprintf("100 callbacks stored before restart %d", round+1), func() bool { return oks.Load() >= target })
		ti.NATS.Restart()
	}
	target := oks.Load() + 100
	eventually(t, 30*time.Second, "100 callbacks stored after the last restart", func() bool { return oks.Load() >= target })
	stop.Store(true)
	wg.Wait()
	l.check(t, ti)
}

func TestNATSDownAtStartIsWaitedFor(t *testing.T) {
	t.Parallel()
	ns := startNATS(t) // a server the worker has made EPAY_INBOX on
	ns.Stop()
	ti := mustStartIngestOn(t, ns)
	if res := get(t, ti.URL+"/livez"); res.status != http.StatusOK {
		t.Errorf("/livez: %d", res.status)
	}
	res := get(t, ti.URL+"/readyz")
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "nats") {
		t.Errorf("/readyz with NATS down: %d %q", res.status, res.body)
	}
	body := signed(t, "success.json", ti.Keys)
	if res := post(t, ti.URL, RoutePostlink, body); res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("callback with NATS down: %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}

	ns.Restart() // the first start of this server, as far as the ingest knows
	ti.waitReady(t)
	if res := post(t, ti.URL, RoutePostlink, body); res.status != http.StatusOK {
		t.Fatalf("callback once NATS is up: %d %s", res.status, res.body)
	}
	if n := len(ti.storedMessages(t)); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	l := newLedger()
	var (
		n, oks atomic.Int64
		wg     sync.WaitGroup
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				switch l.send(t, ti, int(n.Add(1))) {
				case 0:
					return // the server has closed: expected once it shuts down
				case http.StatusOK:
					oks.Add(1)
				}
			}
		}()
	}
	eventually(t, 30*time.Second, "some callbacks stored", func() bool { return oks.Load() >= 200 })
	if err := ti.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wg.Wait()
	l.check(t, ti) // no 503: NATS is drained only after the last request was answered
}
