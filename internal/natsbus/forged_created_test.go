package natsbus_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// The review's F3, under the real roles: a holder of the initiator's NATS password
// publishes invoice.created first for the next invoiceId, unsigned, with the attacker's
// orderId. The merchant's initiator (signing with EPAY_SECRET_KEYS) is not answered a
// duplicate, both messages are on the stream, the decoder refuses the forged one, and
// the buyer's genuine payment pays the merchant's order.
func TestForgedInvoiceCreatedDoesNotWin(t *testing.T) {
	s, w := setup(t)
	const id, terminal = "100000000042", "67e34d63-102f-4bd1-898e-370781d0074d"
	b, _ := inbox.NewBuilder(inbox.DefaultShards)
	kr, _ := epay.NewKeyring(epay.Key{ID: 'A', Secret: []byte("0123456789abcdef0123")})
	attacker := connect(t, s, natsbus.RoleInitiator)
	real := connect(t, s, natsbus.RoleInitiator)

	forged, _ := b.Created(invoice.Created{InvoiceID: id, Kind: invoice.KindPayment, Amount: 100_00, Currency: "KZT",
		Terminal: terminal, OrderID: "order-TV-500000", CreatedAt: time.Now()}, kr, time.Now())
	forged.Header.Del(inbox.HeaderCreatedSignature)          // the attacker has no key: no signature,
	forged.Header.Set(nats.MsgIdHdr, inbox.CreatedMsgID(id)) // and the id it can guess
	if _, err := attacker.js.PublishMsg(ctx(t), forged, jetstream.WithExpectStream(inbox.Stream)); err != nil {
		t.Fatal(err)
	}
	genuine, _ := b.Created(invoice.Created{InvoiceID: id, Kind: invoice.KindPayment, Amount: 100_00, Currency: "KZT",
		Terminal: terminal, OrderID: "order-coffee-1", CreatedAt: time.Now()}, kr, time.Now())
	ack, err := real.js.PublishMsg(ctx(t), genuine, jetstream.WithExpectStream(inbox.Stream))
	if err != nil || ack.Duplicate {
		t.Fatalf("genuine invoice.created: %v, duplicate %v; want stored", err, ack != nil && ack.Duplicate)
	}

	cons, err := w.js.CreateOrUpdateConsumer(ctx(t), inbox.Stream, jetstream.ConsumerConfig{Durable: "f3",
		FilterSubject: inbox.SubjectOf(id, inbox.DefaultShards, inbox.KindInvoice), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(5, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	dec := inbox.Decoder{Shards: inbox.DefaultShards, Keys: kr}
	var inv *invoice.Invoice
	n := 0
	for m := range batch.Messages() {
		n++
		d, err := dec.Decode(m.Subject(), m.Headers(), m.Data())
		if errors.Is(err, inbox.ErrUnsignedCreated) {
			continue // the worker's DLQ
		}
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		got, _, err := invoice.Apply(inv, d.Message, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		inv = &got
	}
	if n != 2 || inv == nil {
		t.Fatalf("%d invoice.created on the stream, applied %v; want both stored, the genuine applied", n, inv)
	}
	body := fmt.Sprintf(`{"id":"tx-1","invoiceId":%q,"code":"ok","amount":100,"currency":"KZT","terminal":%q,"secret_hash":%q}`,
		id, terminal, kr.Sign(terminal, id))
	cb, err := dec.Decode(inbox.SubjectOf(id, inbox.DefaultShards, inbox.KindPostlink), nats.Header{}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	paid, evs, err := invoice.Apply(inv, cb.Message, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if paid.State != invoice.StatePaid || paid.OrderID != "order-coffee-1" || len(evs) != 1 || evs[0].Invoice.OrderID != "order-coffee-1" {
		t.Fatalf("invoice %s: state %s, orderId %q, events %+v; want paid for order-coffee-1", id, paid.State, paid.OrderID, evs)
	}
}
