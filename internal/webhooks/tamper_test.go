package webhooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// plaintextEndpoint is an endpoint entry as a bucket writer outside the service (or a
// service before WEBHOOKS_SECRETS_KEY was set) stores it: its secret as it is.
func plaintextEndpoint(id, url string) []byte {
	return []byte(`{"id":"` + id + `","url":"` + url + `","secrets":[{"value":"whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="}]}`)
}

func webhooksBucket(t *testing.T, s *stack) jetstream.KeyValue {
	t.Helper()
	kv, err := s.asWebhooks(t, "test-bucket-writer").KeyValue(context.Background(), webhooks.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// unreadable is the service's epayflow_webhooks_endpoints_unreadable.
func unreadable(t *testing.T, s *stack) string {
	t.Helper()
	for line := range strings.SplitSeq(s.metrics(t), "\n") {
		if v, ok := strings.CutPrefix(line, "epayflow_webhooks_endpoints_unreadable "); ok {
			return v
		}
	}
	return ""
}

// A writer of the bucket other than the service (any holder of the webhooks NATS
// password, or of a password with stream rights, through a RePublish) moved a sealed
// endpoint's URL to its own server: the secret, sealed for the endpoint's id alone,
// still opened, and the merchant's events went there signed with the merchant's secret.
// It could also plant an endpoint with a secret of its own, stored as it is. Now a
// secret is sealed for the endpoint's id, URL and event types, and one stored as it is
// is refused once the service runs with WEBHOOKS_SECRETS_KEY: such an entry gets
// nothing, and since acking the events would lose them for an endpoint it cannot read,
// every event waits until an operator deletes it.
func TestAnEndpointChangedOutsideTheAPIGetsNothingAndHoldsEveryEvent(t *testing.T) {
	s := startStack(t, testConfig())
	merchant := newReceiver(t, func(int, request) int { return http.StatusOK })
	other := newReceiver(t, func(int, request) int { return http.StatusOK })
	attacker := newReceiver(t, func(int, request) int { return http.StatusOK })
	id, _ := s.register(t, merchant.URL)
	s.register(t, other.URL)
	kv := webhooksBucket(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := kv.Get(ctx, "endpoints."+id)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		t.Fatal(err)
	}
	m["url"] = attacker.URL + "/steal"
	b, _ := json.Marshal(m)
	if _, err := kv.Put(ctx, "endpoints."+id, b); err != nil {
		t.Fatal(err)
	}
	const planted = "ep_00000000000000aa"
	if _, err := kv.Put(ctx, "endpoints."+planted, plaintextEndpoint(planted, attacker.URL+"/plain")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both entries counted unreadable", func() bool { return unreadable(t, s) == "2" })

	s.publish(t, "ev-x", "paid", "INV-X")
	time.Sleep(1500 * time.Millisecond) // rounds in which the event would have gone out
	if got := len(attacker.requests()); got != 0 {
		t.Fatalf("the attacker's server got %d deliveries", got)
	}
	if got := other.delivered(); len(got) != 0 {
		t.Fatalf("another endpoint got %v while endpoints could not be read: want the event held, not let go", got)
	}

	for _, ep := range []string{id, planted} {
		if code, b := s.call(t, "DELETE", "/v1/webhooks/endpoints/"+ep, nil, nil); code != http.StatusNoContent {
			t.Fatalf("DELETE the unreadable endpoint %s: %d %s", ep, code, b)
		}
	}
	waitFor(t, "the held event delivered once the entries are gone", func() bool { return len(other.delivered()) == 1 })
	if got := unreadable(t, s); got != "0" {
		t.Errorf("endpoints unreadable %s after their deletion, want 0", got)
	}
	if got := len(attacker.requests()); got != 0 {
		t.Errorf("the attacker's server got %d deliveries", got)
	}
}

// A secret stored as it is, from before WEBHOOKS_SECRETS_KEY was set (or sealed by an
// earlier version), is sealed at the service's first start with the key, bound to its
// endpoint's URL, and delivered to. Only at that start: one planted the same way later is
// refused at every start after it (a restart made a planted entry legitimate, signed with
// the planter's own secret; found by the review of session 25's changes).
func TestSecretsStoredBeforeTheKeyAreSealedAtTheFirstStartOnly(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	attacker := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.stop()
	kv := webhooksBucket(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kv.Delete(ctx, "sealed"); err != nil { // as before the first start with the key
		t.Fatal(err)
	}
	const id = "ep_00000000000000bb"
	if _, err := kv.Put(ctx, "endpoints."+id, plaintextEndpoint(id, rc.URL)); err != nil {
		t.Fatal(err)
	}
	s.stop = s.run(t)
	e, err := kv.Get(ctx, "endpoints."+id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Value()), `"value":"enc:v2:`) || strings.Contains(string(e.Value()), "whsec_") {
		t.Errorf("entry after the first start with the key %s: want its secret sealed (enc:v2:), not stored as it is", e.Value())
	}
	s.publish(t, "ev-s", "paid", "INV-S")
	waitFor(t, "delivered", func() bool { return len(rc.delivered()) == 1 })

	// planted after that start, and the marker deleted too: the next start reseals nothing
	s.stop()
	const planted = "ep_00000000000000cc"
	if _, err := kv.Put(ctx, "endpoints."+planted, plaintextEndpoint(planted, attacker.URL)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "sealed"); err != nil {
		t.Fatal(err)
	}
	s.stop = s.run(t)
	if e, err := kv.Get(ctx, "endpoints."+planted); err != nil || strings.Contains(string(e.Value()), "enc:v2:") {
		t.Fatalf("the entry planted after the first start: %v, %s; want it left as it is, unsealed", err, e.Value())
	}
	waitFor(t, "the planted entry counted unreadable", func() bool { return unreadable(t, s) == "1" })
	if code, b := s.call(t, "DELETE", "/v1/webhooks/endpoints/"+planted, nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE the planted entry: %d %s", code, b)
	}
	s.publish(t, "ev-t", "paid", "INV-T")
	waitFor(t, "delivered to the merchant", func() bool { return len(rc.delivered()) == 2 })
	if n := len(attacker.requests()); n != 0 {
		t.Errorf("the planted endpoint got %d deliveries", n)
	}
}

// A holder of the worker's NATS password could publish a genuine event again, its
// signature intact, once PAYMENT_EVENTS' duplicate window had passed: the service signed
// it anew, with a fresh timestamp, and delivered it again, to receivers that keep ids for
// a day or two ("paid" once more, weeks later). A copy (the same id at another stream
// sequence), or an event first stored more than the stream keeps events after it was
// made, is now never delivered; the message itself redelivered still is.
func TestAGenuineEventPublishedAgainIsNotDeliveredAgain(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(n int, _ request) int {
		if n == 1 {
			return http.StatusInternalServerError // the first attempt fails: a redelivery follows
		}
		return http.StatusOK
	})
	s.register(t, rc.URL)
	s.publish(t, "ev-once", "paid", "INV-C")
	waitFor(t, "delivered at its retry", func() bool { return len(rc.delivered()) == 1 })
	s.publish(t, "ev-once", "paid", "INV-C") // the same event, signed, at another sequence

	old := events.CloudEvent{SpecVersion: "1.0", ID: "ev-old", Source: "test", Type: events.TypePrefix + "paid",
		Time: time.Now().Add(-40 * 24 * time.Hour).UTC(), Subject: "INV-O", DataContentType: "application/json",
		Data: events.Data{Invoice: events.View{InvoiceID: "INV-O"}}}
	msg := signedEvent(testEventSigner(t), old)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.worker.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	s.publish(t, "ev-next", "paid", "INV-N")
	waitFor(t, "the next event delivered", func() bool { return slices.Contains(rc.delivered(), "ev-next") })
	s.waitSettled(t)
	waitFor(t, "both copies counted", func() bool {
		return strings.Contains(s.metrics(t), "epayflow_webhooks_event_copies_total 2")
	})
	if got := rc.delivered(); !slices.Equal(got, []string{"ev-once", "ev-next"}) {
		t.Errorf("delivered %v, want [ev-once ev-next]: the copy and the 40-day-old event never", got)
	}
}

// The seal binds the whole entry, not only its URL: an endpoint rewritten without a
// secret (nothing to open: its events went to the attacker's URL unsigned) or with
// another createdAt (year 2100: it matched no event, silently) cannot be read either;
// and an entry under a key that is no endpoint id is ignored rather than holding every
// event for good (the API cannot delete it). Found by the review of session 25's changes.
func TestEveryFieldOfAnEndpointIsBoundBySeal(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	a, _ := s.register(t, rc.URL+"/a")
	b, _ := s.register(t, rc.URL+"/b")
	kv := webhooksBucket(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for id, change := range map[string]func(map[string]any){
		a: func(m map[string]any) { m["secrets"] = []any{} },
		b: func(m map[string]any) { m["createdAt"] = "2100-01-01T00:00:00Z" },
	} {
		e, err := kv.Get(ctx, "endpoints."+id)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		v, _ := json.Marshal(m)
		if _, err := kv.Put(ctx, "endpoints."+id, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "endpoints.not-an-id", []byte(`garbage`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both rewritten endpoints counted unreadable", func() bool { return unreadable(t, s) == "2" })
	var list struct{ Endpoints []webhooks.View }
	if code, body := s.call(t, "GET", "/v1/webhooks/endpoints", nil, &list); code != http.StatusOK {
		t.Errorf("GET the endpoints with unreadable entries: %d %s, want 200 without them", code, body)
	}
}
