package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
	"github.com/epayflow/epayflow/merchant"
)

const paidEvent = `{"specversion":"1.0","id":"191111111-2","source":"epayflow/worker","type":"kz.epay.payment.paid",
"time":"2024-07-29T05:50:57Z","subject":"191111111","datacontenttype":"application/json",
"data":{"invoice":{"invoiceId":"191111111","state":"paid","amount":100,"currency":"KZT","transactionId":"tx-1","reasonCode":0,"orderId":"ORD-42"},
"callback":{"invoiceId":"191111111","code":"ok"}}}`

func TestSubscriberPrintsEachEventOnceAndResumes(t *testing.T) {
	ns := natstest.StartSecure(t) // the permissions of production: the subscriber may only read
	w := ns.Auth(natsbus.RoleWorker)
	nc, err := nats.Connect(ns.URL(), nats.UserInfo(w.User, w.Password), nats.CustomInboxPrefix(natsbus.RoleWorker.InboxPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, ns.StreamsJetStream(t), nil, natsbus.DefaultStreamsConfig(), natsbus.StreamEvents); err != nil { // `worker streams`
		t.Fatal(err)
	}
	signer := testSigner(t)
	publish := func(id, body string, s *events.Signer) {
		msg := &nats.Msg{Subject: events.Subject(invoice.EventPaid), Header: nats.Header{}, Data: []byte(body)}
		msg.Header.Set(nats.MsgIdHdr, id)
		if s != nil {
			msg.Header.Set(events.HeaderID, id)
			msg.Header.Set(events.HeaderTimestamp, "1722232257")
			msg.Header.Set(events.HeaderSignature, s.Sign(id, 1722232257, []byte(body)))
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// an event someone else put on payments.paid, unsigned: skipped, not printed
	publish("191111111-9", strings.ReplaceAll(paidEvent, "191111111-2", "191111111-9"), nil)
	publish("191111111-2", paidEvent, &signer)
	publish("191111111-2", paidEvent, &signer) // a republish after a crash: the stream drops it
	key := []string{"-events-public-key", signer.PublicKey()}

	var out bytes.Buffer
	if err := run(ctx, append([]string{"-nats-url", ns.URL(), "-nats-password", ns.Auth(natsbus.RoleSubscriber).Password, "-n", "2"}, key...), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "kz.epay.payment.paid") || !strings.Contains(out.String(), "invoice=191111111 state=paid amount=100 KZT tx=tx-1 reasonCode=0 orderId=ORD-42 id=191111111-2") ||
		strings.Contains(out.String(), "id=191111111-9") || !strings.Contains(out.String(), "skipping a message: event: no webhook-id") {
		t.Fatalf("output:\n%s", out.String())
	}

	// the durable consumer resumes after the event it acked
	publish("222222222-2", strings.ReplaceAll(paidEvent, "191111111", "222222222"), &signer)
	out.Reset()
	if err := run(ctx, append([]string{"-nats-url", ns.URL(), "-nats-password", ns.Auth(natsbus.RoleSubscriber).Password, "-n", "1"}, key...), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "191111111") || !strings.Contains(out.String(), "invoice=222222222") {
		t.Fatalf("second run output:\n%s", out.String())
	}
}

func TestSubscriberRefusedWithoutItsPassword(t *testing.T) {
	ns := natstest.StartSecure(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"-nats-url", ns.URL(), "-nats-password", "wrong-password", "-n", "1", "-events-public-key", testSigner(t).PublicKey()}, &out)
	if err == nil || !strings.Contains(err.Error(), "as subscriber") || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("run with a wrong password: %v, want an error naming the user, not the password", err)
	}
}

// A message that is not a valid CloudEvent (no id, no source) is skipped, not printed as
// a payment: the SDK checks the envelope.
func TestSubscriberSkipsWhatIsNotAValidCloudEvent(t *testing.T) {
	for _, body := range []string{`{"specversion":"1.0","type":"kz.epay.payment.paid","data":{"invoice":{"state":"paid"}}}`, `not json`} {
		var out bytes.Buffer
		s := testSigner(t)
		v, _ := merchant.NewEventVerifier(s.PublicKey())
		h := nats.Header{}
		h.Set(events.HeaderID, "e-1")
		h.Set(events.HeaderTimestamp, "1")
		h.Set(events.HeaderSignature, s.Sign("e-1", 1, []byte(body)))
		printEvent(&out, v, "payments.paid", h, []byte(body))
		if !strings.HasPrefix(out.String(), "skipping") || strings.Contains(out.String(), "state=paid") {
			t.Errorf("%s printed %q", body, out.String())
		}
	}
}

// testSigner signs the tests' events as the workers' WORKER_EVENTS_KEY does.
func testSigner(t *testing.T) events.Signer {
	t.Helper()
	s, err := events.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
