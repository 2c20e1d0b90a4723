package webhooks_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// verify checks r's signature with the Standard Webhooks reference library (not this
// package's code) and the secret.
func verify(t *testing.T, secret string, r request) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(r.Body, r.Header)
}

// A receiver that fails its first requests gets each event once it answers 2xx, with the
// same webhook-id (the event id) every time, signed, and the events of one invoice in
// the order they were published: none before the earlier ones were delivered. Another,
// healthy endpoint gets each event once, unaffected by the retries.
func TestDeliveryRetriesInOrderWithStableIDs(t *testing.T) {
	s := startStack(t, testConfig())
	a1 := 0 // the first event of invoice A fails three times: the others of A queue behind it
	rc := newReceiver(t, func(_ int, r request) int {
		if r.Header.Get("webhook-id") == "ev-a1" {
			if a1++; a1 <= 3 {
				return http.StatusServiceUnavailable
			}
		}
		return http.StatusNoContent
	})
	id, secret := s.register(t, rc.URL)
	healthy := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, healthy.URL)
	want := []string{"ev-a1", "ev-a2", "ev-a3"}
	s.publish(t, "ev-a1", "created", "INV-A")
	s.publish(t, "ev-b1", "created", "INV-B")
	s.publish(t, "ev-a2", "paid", "INV-A")
	s.publish(t, "ev-a3", "refunded", "INV-A")
	waitFor(t, "all four events delivered", func() bool { return len(rc.delivered()) >= 4 })

	// The healthy endpoint got each event once: the other's retries do not repeat them.
	if got := healthy.delivered(); len(got) != 4 || len(healthy.requests()) != 4 {
		t.Errorf("the healthy endpoint got %v, want each of the 4 events once", ids(healthy.requests()))
	}
	reqs := rc.requests()
	delivered := map[string]bool{}
	for _, r := range reqs {
		wid := r.Header.Get("webhook-id")
		if !strings.Contains(string(r.Body), `"id":"`+wid+`"`) {
			t.Errorf("webhook-id %q is not the event id of %s", wid, r.Body)
		}
		if err := verify(t, secret, r); err != nil {
			t.Errorf("request for %s: signature does not verify with the reference library: %v", wid, err)
		}
		if i := slices.Index(want, wid); i > 0 && !delivered[want[i-1]] {
			t.Errorf("%s sent before %s was delivered: %v", wid, want[i-1], ids(reqs))
		}
		if r.Status/100 == 2 {
			delivered[wid] = true
		}
	}
	var a []string
	for _, d := range rc.delivered() {
		if strings.HasPrefix(d, "ev-a") {
			a = append(a, d)
		}
	}
	if !slices.Equal(a[:3], want) {
		t.Errorf("invoice A delivered in order %v, want %v", a, want)
	}
	if !delivered["ev-b1"] || reqs[slices.IndexFunc(reqs, func(r request) bool { return r.Header.Get("webhook-id") == "ev-b1" })].Status != http.StatusNoContent {
		t.Errorf("ev-b1 not delivered at its first attempt, while invoice A's retries go on: %v", ids(reqs))
	}
	// The log is written once the receiver answered: poll until the last one is in.
	results := map[string]int{}
	waitFor(t, "4 delivered attempts in the log", func() bool {
		var log struct{ Attempts []webhooks.Attempt }
		s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/attempts", nil, &log)
		clear(results)
		for _, at := range log.Attempts {
			results[at.Result]++
		}
		return results["delivered"] >= 4
	})
	if results["delivered"] != 4 || results["failed"] != 3 {
		t.Errorf("attempt log results %v, want 4 delivered and 3 failed", results)
	}
}

func ids(reqs []request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Header.Get("webhook-id")+"="+http.StatusText(r.Status))
	}
	return out
}

// The secret is shown once, at creation; GET and the list never show it. After a
// rotation both the new and the old secret verify a delivery (overlap).
func TestSecretWriteOnlyAndRotationOverlap(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	id, old := s.register(t, rc.URL, "kz.epay.payment.paid")
	if !strings.HasPrefix(old, "whsec_") {
		t.Fatalf("secret %q", old)
	}
	_, one := s.call(t, "GET", "/v1/webhooks/endpoints/"+id, nil, nil)
	_, all := s.call(t, "GET", "/v1/webhooks/endpoints", nil, nil)
	for _, b := range [][]byte{one, all} {
		if strings.Contains(string(b), "whsec_") || !strings.Contains(string(b), id) {
			t.Errorf("GET shows a secret (or not the endpoint): %s", b)
		}
	}
	var rot webhooks.Created
	if code, b := s.call(t, "POST", "/v1/webhooks/endpoints/"+id+"/rotate-secret", nil, &rot); code != http.StatusOK || rot.Secret == "" || rot.Secret == old {
		t.Fatalf("rotate: %d %s", code, b)
	}
	if _, b := s.call(t, "GET", "/v1/webhooks/endpoints/"+id, nil, nil); strings.Contains(string(b), "whsec_") {
		t.Errorf("GET after rotation shows a secret: %s", b)
	}
	s.publish(t, "ev-skip", "created", "INV-R") // filtered out: only paid
	s.publish(t, "ev-r1", "paid", "INV-R")
	waitFor(t, "the paid event", func() bool { return len(rc.delivered()) >= 1 })
	r := rc.requests()[0]
	if got := r.Header.Get("webhook-id"); got != "ev-r1" {
		t.Fatalf("first delivery %q, want ev-r1 (the created event is filtered out)", got)
	}
	if n := len(strings.Fields(r.Header.Get("webhook-signature"))); n != 2 {
		t.Errorf("%d signatures, want 2 during the overlap", n)
	}
	for name, secret := range map[string]string{"new": rot.Secret, "old": old} {
		if err := verify(t, secret, r); err != nil {
			t.Errorf("%s secret does not verify: %v", name, err)
		}
	}
}

// After the last retry the event is in the endpoint's dead letter; a replay once the
// receiver answers delivers it with the same webhook-id and empties the dead letter.
func TestDeadLetterAndReplay(t *testing.T) {
	s := startStack(t, testConfig())
	var up bool
	rc := newReceiver(t, func(int, request) int {
		if up {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	id, secret := s.register(t, rc.URL)
	s.publish(t, "ev-d1", "failed", "INV-D")
	var dl struct{ DeadLetters []webhooks.DeadLetter }
	waitFor(t, "the dead letter", func() bool {
		s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, &dl)
		return len(dl.DeadLetters) == 1
	})
	if n := len(rc.requests()); n != 4 {
		t.Errorf("%d requests before the dead letter, want 4 (1 + 3 retries)", n)
	}
	d := dl.DeadLetters[0]
	if d.EventID != "ev-d1" || d.LastError != "HTTP 500" {
		t.Errorf("dead letter %+v", d)
	}
	path := "/v1/webhooks/endpoints/" + id + "/dead-letters/" + itoa(d.Seq) + "/replay"
	if code, b := s.call(t, "POST", path, nil, nil); code != http.StatusBadGateway {
		t.Errorf("replay to a failing receiver: %d %s, want 502", code, b)
	}
	rc.mu.Lock()
	up = true
	rc.mu.Unlock()
	if code, b := s.call(t, "POST", path, nil, nil); code != http.StatusOK {
		t.Fatalf("replay: %d %s", code, b)
	}
	reqs := rc.requests()
	last := reqs[len(reqs)-1]
	if last.Header.Get("webhook-id") != "ev-d1" || last.Status != http.StatusOK {
		t.Errorf("replayed request: id %q status %d", last.Header.Get("webhook-id"), last.Status)
	}
	if err := verify(t, secret, last); err != nil {
		t.Errorf("replay signature: %v", err)
	}
	s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, &dl)
	if len(dl.DeadLetters) != 0 {
		t.Errorf("dead letters after replay: %+v", dl.DeadLetters)
	}
	if code, b := s.call(t, "DELETE", "/v1/webhooks/endpoints/"+id, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, b)
	}
	for _, p := range []string{"", "/attempts", "/dead-letters"} {
		if code, _ := s.call(t, "GET", "/v1/webhooks/endpoints/"+id+p, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET %s after delete: %d, want 404", p, code)
		}
	}
}

// The service stopped while an event is in retry: a new one goes on from the durable
// consumer and the bucket. The failing endpoint gets the event once it answers, the
// healthy one is not sent it again.
func TestRetryStateSurvivesARestart(t *testing.T) {
	cfg := testConfig()
	cfg.Schedule = []time.Duration{300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}
	s := startStack(t, cfg)
	failed := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(n int, _ request) int {
		if n == 1 {
			once.Do(func() { close(failed) })
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	healthy := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, rc.URL)
	s.register(t, healthy.URL)
	s.publish(t, "ev-x1", "paid", "INV-X")
	select {
	case <-failed:
	case <-time.After(20 * time.Second):
		t.Fatal("no first attempt")
	}
	waitFor(t, "the healthy endpoint's delivery", func() bool { return len(healthy.delivered()) == 1 })
	s.stop()
	before := len(rc.requests())
	s.stop = s.run(t)
	waitFor(t, "the retried delivery after the restart", func() bool { return len(rc.delivered()) == 1 })
	if before != 1 {
		t.Errorf("%d requests before the restart, want 1 (the retry after it)", before)
	}
	if got := rc.delivered(); got[0] != "ev-x1" {
		t.Errorf("delivered %v", got)
	}
	if n := len(healthy.requests()); n != 1 {
		t.Errorf("the healthy endpoint got %d requests, want 1: the restart forgot it was done", n)
	}
}

// Registration refuses what is not an https URL (http only where allowed), unknown
// fields and event types, and a request without the API key.
func TestRegistrationRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.AllowHTTP = false
	s := startStack(t, cfg)
	for name, body := range map[string]any{
		"http":          map[string]any{"url": "http://shop.example/hook"},
		"credentials":   map[string]any{"url": "https://u:p@shop.example/hook"},
		"relative":      map[string]any{"url": "/hook"},
		"unknown field": map[string]any{"url": "https://shop.example/hook", "secret": "whsec_mine"},
		"event type":    map[string]any{"url": "https://shop.example/hook", "eventTypes": []string{"paid"}},
		// a mistyped type would register and never match: each refused, not just the prefix checked
		"misspelt type":     map[string]any{"url": "https://shop.example/hook", "eventTypes": []string{"kz.epay.payment.payed"}},
		"type in caps":      map[string]any{"url": "https://shop.example/hook", "eventTypes": []string{"kz.epay.payment.Paid"}},
		"type with a space": map[string]any{"url": "https://shop.example/hook", "eventTypes": []string{"kz.epay.payment.paid "}},
		// URLs no delivery could ever reach: accepted, they gave 28 hours of failures
		"no host":         map[string]any{"url": "https://:443/hook"},
		"metadata server": map[string]any{"url": "https://169.254.169.254/latest/meta-data"},
		"loopback v6":     map[string]any{"url": "https://[::1]/hook"},
		"private":         map[string]any{"url": "https://10.1.2.3/hook"},
		// shown to operators in listings, logs and terminals
		"escape in description": map[string]any{"url": "https://shop.example/hook", "description": "shop\x1b[2J"},
		"bidi in description":   map[string]any{"url": "https://shop.example/hook", "description": "shop \u202egnp.exe"},
	} {
		if code, b := s.call(t, "POST", "/v1/webhooks/endpoints", body, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, code, b)
		}
	}
	req, _ := http.NewRequest("GET", s.api+"/v1/webhooks/endpoints", nil)
	req.Header.Set("Authorization", "Bearer not-the-key-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: %d, want 401", resp.StatusCode)
	}
	if code, _ := s.call(t, "POST", "/v1/webhooks/endpoints", map[string]any{"url": "https://shop.example/hook"}, nil); code != http.StatusCreated {
		t.Errorf("a valid registration: %d", code)
	}
	every := []string{"kz.epay.payment.paid", "kz.epay.payment.failed", "kz.epay.payment.review", "kz.epay.payment.refunded",
		"kz.epay.payment.charged", "kz.epay.payment.cancelled"}
	if code, b := s.call(t, "POST", "/v1/webhooks/endpoints", map[string]any{"url": "https://shop.example/hook", "eventTypes": every}, nil); code != http.StatusCreated {
		t.Errorf("a registration for every event type: %d %s", code, b)
	}
}

// A process that died holding an event unsettled (its AckWait not run out) and newer
// events of the same invoice published meanwhile: the next process sends the held event
// first, then the newer ones in their order, although NATS gives it the newer one at once and the held
// one only after the AckWait (Dispatcher.HoldBack).
func TestARestartKeepsTheOrderOfEventsADeadProcessHeld(t *testing.T) {
	cfg := testConfig()
	cfg.AckWait = 2 * time.Second
	s := startStack(t, cfg)
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, rc.URL)
	s.publish(t, "ev-h1", "paid", "INV-H") // the consumer is there once it is delivered
	waitFor(t, "the first event delivered", func() bool { return len(rc.delivered()) == 1 })
	s.stop()

	// the dead process: it had been handed ev-h2 and had not settled it
	js := s.asWebhooks(t, "test-dead-process")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, natsbus.StreamEvents, "webhooks")
	if err != nil {
		t.Fatal(err)
	}
	s.publish(t, "ev-h2", "review", "INV-H")
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++ // not acked: the process is gone
	}
	if n != 1 {
		t.Fatalf("the dead process was handed %d events, want 1", n)
	}
	// newer events of the invoice, held back together and coming back in any order
	want := []string{"ev-h1", "ev-h2"}
	for i := 3; i <= 6; i++ {
		id := fmt.Sprintf("ev-h%d", i)
		s.publish(t, id, "paid", "INV-H")
		want = append(want, id)
	}

	s.stop = s.run(t)
	waitFor(t, "every event delivered", func() bool { return len(rc.delivered()) == len(want) })
	if got := rc.delivered(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v: the invoice's order", got, want)
	}
}

// An endpoint that fails every request holds its events in retry for hours, each
// unacked on the consumer; past the consumer's MaxAckPending the server hands out nothing
// more, and a healthy endpoint stops receiving too. jspubsub's default (1000) was that
// bound: a day's backlog of one endpoint must stay far below it. (Filling a thousand
// retries through the service takes minutes under the race detector: the bound itself is
// checked, on the consumer the service made.)
func TestAFailingEndpointsBacklogDoesNotStopTheOthers(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, rc.URL)
	s.publish(t, "ev-b0", "paid", "INV-B0") // the consumer is there once it is delivered
	waitFor(t, "the first event delivered", func() bool { return len(rc.delivered()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := s.asWebhooks(t, "test-consumer-info").Consumer(ctx, natsbus.StreamEvents, "webhooks")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Config.MaxAckPending; got < 100_000 {
		t.Fatalf("the consumer's MaxAckPending is %d: a failing endpoint's %d events in retry would stop every endpoint", got, got)
	}
}

// A delivery's header names are on the wire as the Standard Webhooks specification spells
// them, in lower case: PHP's getallheaders() and 1C's Заголовки give them as sent, and
// both the specification's PHP library and a map lookup of "webhook-id" miss
// "Webhook-Id". Its Content-Type is the CloudEvents JSON format's, as the CloudEvents
// HTTP binding's structured mode requires (the body is a whole CloudEvent). Read from
// the raw bytes, since Go's own server would fold the names.
func TestADeliverysHeadersAreOnTheWireAsTheSpecificationsSpellThem(t *testing.T) {
	s := startStack(t, testConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	heads := make(chan []string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				var lines []string
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line = strings.TrimRight(line, "\r\n"); line == "" {
						break
					}
					lines = append(lines, line)
				}
				io.WriteString(c, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
				heads <- lines
			}()
		}
	}()
	s.register(t, "http://"+ln.Addr().String()+"/hook")
	s.publish(t, "ev-wire", "paid", "INV-W")
	var lines []string
	select {
	case lines = <-heads:
	case <-time.After(15 * time.Second):
		t.Fatal("no delivery within 15s")
	}
	for _, want := range []string{"webhook-id: ev-wire", "webhook-timestamp: ", "webhook-signature: v1,", "Content-Type: application/cloudevents+json"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("no header line starting %q in\n%s", want, strings.Join(lines, "\n"))
		}
	}
}
