package worker

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/merchant"
)

// Every event a worker publishes carries Standard Webhooks' asymmetric signature by
// WORKER_EVENTS_KEY, which a subscriber checks with the public key alone; an event
// anyone else puts on payments.> (unsigned, signed with another key, or a genuine one
// with its amount changed) does not verify.
func TestEventsAreSignedAndAForgedOneDoesNotVerify(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	const id = "191111161"
	e.publishCreated(createdFor(id, 10000))
	e.publish(callbackFor(t, id, "tx-161", "ok", "100"))
	waitState(t, w.url, id, invoice.StatePaid)
	waitFor(t, 10*time.Second, "the paid event", func() bool { return e.eventCount() >= 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, natsbus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	paid, err := st.GetLastMsgForSubject(ctx, events.Subject(invoice.EventPaid))
	if err != nil {
		t.Fatal(err)
	}
	v := testEventVerifier(t)
	if got, err := v.VerifyMessage(events.Subject(invoice.EventPaid), paid.Header, paid.Data); err != nil || got.Type != merchant.EventPaid {
		t.Fatalf("the paid event read from payments.paid: %+v, %v", got, err)
	}
	for _, subject := range []string{events.Subject(invoice.EventReview), events.Subject(invoice.EventPaid) + ".x", "payments"} {
		// a genuine event put on another type's subject (republished by a holder of a
		// password allowed to publish to payments.>): what a consumer of that subject
		// reads is not what the subject says
		if _, err := v.VerifyMessage(subject, paid.Header, paid.Data); !errors.Is(err, merchant.ErrEventSubject) {
			t.Errorf("the paid event read from %s: %v, want ErrEventSubject", subject, err)
		}
	}
	ev, err := v.VerifyEvent(paid.Header, paid.Data)
	if err != nil || ev.Data.Invoice.InvoiceID != id || ev.ID != paid.Header.Get(nats.MsgIdHdr) {
		t.Fatalf("the worker's paid event: %+v, %v", ev, err)
	}

	other, err := events.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	cheap := bytes.Replace(paid.Data, []byte(`"amount":100`), []byte(`"amount":1`), 1)
	if bytes.Equal(cheap, paid.Data) {
		t.Fatalf("no amount to change in %s", paid.Data)
	}
	signedBy := func(s events.Signer, body []byte) nats.Header {
		h := nats.Header{}
		h.Set(events.HeaderID, ev.ID)
		h.Set(events.HeaderTimestamp, paid.Header.Get(events.HeaderTimestamp))
		h.Set(events.HeaderSignature, s.Sign(ev.ID, ev.Time.Unix(), body))
		return h
	}
	clone := func() nats.Header {
		h := nats.Header{}
		for k, v := range paid.Header {
			h[k] = append([]string(nil), v...)
		}
		return h
	}
	changed := clone()
	for name, c := range map[string]struct {
		h    nats.Header
		body []byte
		want error
	}{
		"unsigned":                 {nats.Header{}, paid.Data, merchant.ErrEventUnsigned},
		"signed with another key":  {signedBy(other, paid.Data), paid.Data, merchant.ErrEventSignature},
		"the amount changed":       {changed, cheap, merchant.ErrEventSignature},
		"another id over its body": {func() nats.Header { h := clone(); h.Set(events.HeaderID, id+"-9"); return h }(), paid.Data, merchant.ErrEventSignature},
	} {
		if _, err := v.VerifyEvent(c.h, c.body); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
