package webhooks_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// An event on PAYMENT_EVENTS without the workers' signature (anyone NATS lets publish
// to payments.> could have made it) is never delivered, so never signed with an
// endpoint's secret: unsigned, signed with another key, or a genuine one with its body
// changed. It is counted; the workers' next event is delivered.
func TestAnEventWithoutTheWorkersSignatureIsNotDelivered(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusNoContent })
	s.register(t, rc.URL)
	other, err := events.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	ce := func(id string) events.CloudEvent {
		return events.CloudEvent{SpecVersion: "1.0", ID: id, Source: "test", Type: events.TypePrefix + "paid", Time: time.Now().UTC(),
			Subject: "INV-F", DataContentType: "application/json", Data: events.Data{Invoice: events.View{InvoiceID: "INV-F", Amount: 100}}}
	}
	unsigned := signedEvent(other, ce("forged-unsigned"))
	for _, h := range []string{events.HeaderID, events.HeaderTimestamp, events.HeaderSignature} {
		unsigned.Header.Del(h)
	}
	changed := signedEvent(testEventSigner(t), ce("forged-changed"))
	body := strings.ReplaceAll(string(changed.Data), "INV-F", "INV-G") // another invoice, the same signature
	if body == string(changed.Data) {
		t.Fatalf("nothing to change in %s", changed.Data)
	}
	changed.Data = []byte(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range []*nats.Msg{unsigned, signedEvent(other, ce("forged-other-key")), changed, signedEvent(testEventSigner(t), ce("genuine"))} {
		if _, err := s.worker.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the genuine event delivered", func() bool { return len(rc.delivered()) >= 1 })
	s.waitSettled(t)
	if got := rc.delivered(); len(got) != 1 || got[0] != "genuine" || len(rc.requests()) != 1 {
		t.Fatalf("delivered %v (%d requests), want the genuine event alone", got, len(rc.requests()))
	}
	if !strings.Contains(s.metrics(t), "epayflow_webhooks_events_refused_total 3") {
		t.Errorf("refused events not counted 3:\n%s", s.metrics(t))
	}
}

// A dead letter is replayed with the event PAYMENT_EVENTS holds at its sequence, checked
// as a delivery is, never with the body the bucket holds: a forged dead letter (written
// into the bucket some way the stream cannot be) is refused, whether it names a sequence
// the stream holds another event at or one it does not hold, and nothing is sent.
func TestAForgedDeadLetterIsNotReplayed(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusNoContent })
	id, _ := s.register(t, rc.URL)
	s.publish(t, "ev-real", "paid", "INV-D")
	waitFor(t, "the genuine event delivered", func() bool { return len(rc.delivered()) == 1 })
	store := s.openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	forged := []byte(`{"specversion":"1.0","id":"evt-forged","source":"x","type":"kz.epay.payment.paid","subject":"INV-D","data":{"invoice":{"invoiceId":"INV-D","state":"paid","amount":1000000}}}`)
	for _, seq := range []uint64{1, 99} {
		if err := store.PutDead(ctx, id, webhooks.DeadLetter{Seq: seq, EventID: "evt-forged", EventType: events.TypePrefix + "paid",
			InvoiceID: "INV-D", FailedAt: time.Now().UTC(), LastError: "x", Event: forged}); err != nil {
			t.Fatal(err)
		}
		code, body := s.call(t, "POST", "/v1/webhooks/endpoints/"+id+"/dead-letters/"+strconv.FormatUint(seq, 10)+"/replay", nil, nil)
		if code != http.StatusConflict {
			t.Errorf("replay of a forged dead letter at %d: %d %s, want 409", seq, code, body)
		}
	}
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("the receiver got %d requests, want the genuine event alone", n)
	}
}

// A dead letter that cannot be replayed (here, one whose event is not the workers') is
// discarded through the API: 204, gone from the list, and the endpoint's attempts keep a
// "discarded" entry of it. Another endpoint's, an unknown one and one already discarded
// are 404, and nothing is sent.
func TestADeadLetterIsDiscardedWithARecordOfIt(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusNoContent })
	id, _ := s.register(t, rc.URL)
	other, _ := s.register(t, rc.URL)
	store := s.openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.PutDead(ctx, id, webhooks.DeadLetter{Seq: 42, EventID: "evt-gone", EventType: events.TypePrefix + "paid",
		InvoiceID: "INV-G", FailedAt: time.Now().UTC(), LastError: "x", Event: []byte(`{"id":"evt-gone"}`)}); err != nil {
		t.Fatal(err)
	}
	path := func(ep string, seq string) string { return "/v1/webhooks/endpoints/" + ep + "/dead-letters/" + seq }
	for _, p := range []string{path(other, "42"), path(id, "43"), path(id, "x"), path("ep_nosuchendpoint", "42")} {
		if code, body := s.call(t, "DELETE", p, nil, nil); code != http.StatusNotFound {
			t.Errorf("DELETE %s: %d %s, want 404", p, code, body)
		}
	}
	if code, body := s.call(t, "DELETE", path(id, "42"), nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE of the dead letter: %d %s, want 204", code, body)
	}
	var dead struct{ DeadLetters []webhooks.DeadLetter }
	if s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/dead-letters", nil, &dead); len(dead.DeadLetters) != 0 {
		t.Errorf("dead letters after the discard: %+v, want none", dead.DeadLetters)
	}
	var log struct{ Attempts []webhooks.Attempt }
	s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/attempts", nil, &log)
	if n := len(log.Attempts); n != 1 || log.Attempts[0].Result != "discarded" || log.Attempts[0].EventID != "evt-gone" ||
		!strings.Contains(log.Attempts[0].Error, "INV-G") {
		t.Errorf("attempts after the discard: %+v, want one discarded entry of evt-gone naming its invoice", log.Attempts)
	}
	if code, _ := s.call(t, "DELETE", path(id, "42"), nil, nil); code != http.StatusNotFound {
		t.Errorf("a second DELETE: %d, want 404", code)
	}
	if m := s.metrics(t); !strings.Contains(m, `epayflow_webhooks_deliveries_total{endpoint="`+id+`",result="discarded"} 1`) {
		t.Errorf("metrics lack the discard:\n%s", m)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("the receiver got %d requests, want none", n)
	}
}
