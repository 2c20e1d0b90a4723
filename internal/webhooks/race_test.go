package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/webhooks"
)

// race fires the requests at once, each on its own goroutine (released together), and
// returns each one's status and body; a request that could not be made is an error of
// the test.
func (s *stack) race(t *testing.T, reqs ...[2]string) (codes []int, bodies [][]byte) {
	t.Helper()
	codes, bodies = make([]int, len(reqs)), make([][]byte, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			req, _ := http.NewRequest(r[0], s.api+r[1], nil)
			req.Header.Set("Authorization", "Bearer "+apiKey)
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("%s %s: %v", r[0], r[1], err) // not Fatal: not the test's goroutine
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			bodies[i], _ = io.ReadAll(resp.Body)
		})
	}
	close(start)
	wg.Wait()
	return codes, bodies
}

// openStore opens the bucket as the webhooks user, to read what the API wrote.
func (s *stack) openStore(t *testing.T) *webhooks.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := webhooks.OpenStore(ctx, s.asWebhooks(t, "test-store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SealSecrets(s.cfg.SecretsKey); err != nil { // the service's key: its secrets are sealed
		t.Fatal(err)
	}
	return store
}

// Rotations of one endpoint at once: every secret an answer 200 hands out is one the
// endpoint signs with afterwards (the merchant deploys it), the last one current; none
// is lost to another rotation's write. A rotation that keeps losing the race answers
// 409, never 200 with a secret that was not stored.
func TestConcurrentRotationsLoseNoSecret(t *testing.T) {
	s := startStack(t, testConfig())
	store := s.openStore(t)
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	for round := range 3 {
		id, first := s.register(t, rc.URL)
		reqs := make([][2]string, 16)
		for i := range reqs {
			reqs[i] = [2]string{"POST", "/v1/webhooks/endpoints/" + id + "/rotate-secret"}
		}
		codes, bodies := s.race(t, reqs...)
		var handed []string
		for i, code := range codes {
			switch code {
			case http.StatusOK:
				var c webhooks.Created
				if err := json.Unmarshal(bodies[i], &c); err != nil || c.Secret == "" {
					t.Fatalf("round %d: rotate answered 200 %s", round, bodies[i])
				}
				handed = append(handed, c.Secret)
			case http.StatusConflict:
			default:
				t.Fatalf("round %d: rotate answered %d %s, want 200 or 409", round, code, bodies[i])
			}
		}
		if len(handed) == 0 {
			t.Fatalf("round %d: no rotation of %d succeeded", round, len(codes))
		}
		t.Logf("round %d: %d of %d rotations answered 200, the others 409", round, len(handed), len(codes))
		ep, err := store.Endpoint(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var stored []string
		for _, sec := range ep.Secrets {
			stored = append(stored, sec.Value)
		}
		for _, sec := range append(handed, first) { // within the overlap, all of them sign
			if !slices.Contains(stored, sec) {
				t.Errorf("round %d: a secret handed out is not stored: %d of %d answers 200, %d secrets stored",
					round, len(handed), len(codes), len(stored))
				break
			}
		}
		if !slices.Contains(handed, stored[0]) {
			t.Errorf("round %d: the current secret is none of those handed out", round)
		}
	}
}

// A rotation racing a DELETE never writes the deleted endpoint back: once DELETE answered
// 204 the endpoint is gone, whichever came first (a rotation that finds it gone answers
// 404), and deliveries to it do not resume.
func TestRotationRacingADeleteDoesNotBringTheEndpointBack(t *testing.T) {
	s := startStack(t, testConfig())
	store := s.openStore(t)
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	for round := range 10 {
		id, _ := s.register(t, rc.URL)
		one := "/v1/webhooks/endpoints/" + id
		reqs := [][2]string{{"DELETE", one}}
		for range 8 {
			reqs = append(reqs, [2]string{"POST", one + "/rotate-secret"})
		}
		codes, bodies := s.race(t, reqs...)
		if codes[0] != http.StatusNoContent {
			t.Fatalf("round %d: delete answered %d %s", round, codes[0], bodies[0])
		}
		for i, code := range codes[1:] {
			if code != http.StatusOK && code != http.StatusNotFound && code != http.StatusConflict {
				t.Errorf("round %d: rotate answered %d %s, want 200, 404 or 409", round, code, bodies[i+1])
			}
		}
		t.Logf("round %d: the rotations answered %v", round, codes[1:])
		if code, b := s.call(t, "GET", one, nil, nil); code != http.StatusNotFound {
			t.Fatalf("round %d: GET after its DELETE answered 204 (rotations %v): %d %s, want 404", round, codes[1:], code, b)
		}
		if _, err := store.Endpoint(context.Background(), id); !errors.Is(err, webhooks.ErrNotFound) {
			t.Fatalf("round %d: the bucket holds the deleted endpoint: %v", round, err)
		}
	}
}

// A dead letter without its event (one stranded in its invoice's queue after it left
// PAYMENT_EVENTS, dispatch's repair) is not replayed: there is nothing to send, and a
// request with an empty webhook-id and a body of null, answered 2xx by a lenient
// receiver, would remove the dead letter as if the event had been delivered. The replay
// answers 409, sends nothing and keeps the dead letter.
func TestADeadLetterWithoutItsEventIsNotReplayed(t *testing.T) {
	s := startStack(t, testConfig())
	store := s.openStore(t)
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	id, _ := s.register(t, rc.URL)
	// as Dispatcher.repair writes it
	dl := webhooks.DeadLetter{Seq: 7, InvoiceID: "INV-GONE", FailedAt: time.Now().UTC(),
		LastError: "stranded in the queue and gone from PAYMENT_EVENTS"}
	if err := store.PutDead(context.Background(), id, dl); err != nil {
		t.Fatal(err)
	}
	path := "/v1/webhooks/endpoints/" + id + "/dead-letters/" + itoa(dl.Seq) + "/replay"
	var e struct{ Error string }
	if code, b := s.call(t, "POST", path, nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "PAYMENT_EVENTS") {
		t.Errorf("replay of a dead letter without its event: %d %s, want 409 saying it is gone from PAYMENT_EVENTS", code, b)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("%d requests sent to the endpoint, want none", n)
	}
	var after struct{ DeadLetters []webhooks.DeadLetter }
	s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, &after)
	if len(after.DeadLetters) != 1 || after.DeadLetters[0].Seq != dl.Seq {
		t.Errorf("dead letters after the refused replay: %+v, want the one kept", after.DeadLetters)
	}
}
