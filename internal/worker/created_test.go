package worker

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// forgedCreated is an invoice.created for id that the initiator did not sign: unsigned
// under the bare invoiceId as Nats-Msg-Id (what anyone with the initiator's or the dlq
// role's NATS password can publish), or, with keys, signed with another keyring.
func forgedCreated(c invoice.Created, keys *epay.Keyring) *nats.Msg {
	body, _ := json.Marshal(c)
	msg := &nats.Msg{Subject: inbox.Subject(inbox.Shard(c.InvoiceID, inbox.DefaultShards), inbox.KindInvoice), Header: nats.Header{}, Data: body}
	msg.Header.Set(nats.MsgIdHdr, inbox.CreatedMsgID(c.InvoiceID))
	msg.Header.Set(inbox.HeaderInvoiceID, c.InvoiceID)
	if keys != nil {
		msg.Header.Set(nats.MsgIdHdr, inbox.CreatedNatsMsgID(keys, c.InvoiceID))
		msg.Header.Set(inbox.HeaderCreatedSignature, inbox.SignCreated(keys, msg.Subject, body))
	}
	return msg
}

func otherKeyring(t testing.TB) *epay.Keyring {
	t.Helper()
	k, err := epay.ParseKeyring("A:an-attackers-own-secret-000")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The review's attack (F3), on a running worker: invoice.created for the next invoiceId
// published first by someone with a NATS password, with the merchant's cheap amount and
// the attacker's orderId, unsigned or signed with another key. Both go to the DLQ saying
// why; the merchant's own signed message is stored beside them (its Nats-Msg-Id cannot be
// guessed) and applied; the buyer's genuine payment pays the merchant's order, never the
// attacker's.
func TestForgedInvoiceCreatedIsRefusedAndTheGenuineOneApplies(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	const id = "191111111" // success.json's invoice
	attack := createdFor(id, 10000)
	attack.OrderID = "order-TV-500000"
	e.publish(forgedCreated(attack, nil))
	e.publish(forgedCreated(attack, otherKeyring(t)))
	genuine := createdFor(id, 10000)
	genuine.OrderID = "order-coffee-1"
	e.publishCreated(genuine)
	e.publish(callbackMsg(t, sample(t, "success.json"), true, ""))

	got := waitState(t, w.url, id, invoice.StatePaid)
	if got.OrderID != "order-coffee-1" {
		t.Fatalf("VULNERABLE: invoice %s paid with orderId %q, want the merchant's order-coffee-1", id, got.OrderID)
	}
	waitFor(t, 10*time.Second, "both forgeries in the DLQ", func() bool { return len(e.dlqEntries()) == 2 })
	var unsigned, wrong int
	for _, d := range e.dlqEntries() {
		switch {
		case strings.Contains(d.Reason, "invoice.created without the initiator's signature"):
			unsigned++
		case strings.Contains(d.Reason, "invoice.created with a signature that is not the initiator's"):
			wrong++
		default:
			t.Errorf("DLQ reason %q", d.Reason)
		}
		if !strings.Contains(string(d.Data), "order-TV-500000") || d.Subject != inbox.SubjectOf(id, inbox.DefaultShards, inbox.KindInvoice) {
			t.Errorf("DLQ entry %+v is not a forgery", d)
		}
	}
	if unsigned != 1 || wrong != 1 {
		t.Fatalf("DLQ: %d unsigned, %d wrongly signed; want one of each", unsigned, wrong)
	}
	waitFor(t, 10*time.Second, "the paid event", func() bool { return e.eventCount() == 1 })
	if ev := e.events()[0]; ev.Type != "kz.epay.payment.paid" || ev.Data.Invoice.OrderID != "order-coffee-1" {
		t.Fatalf("event %s for orderId %q, want paid for order-coffee-1", ev.Type, ev.Data.Invoice.OrderID)
	}
	for result, want := range map[string]float64{SignatureValid: 1, SignatureInvalid: 1, SignatureMissingRefused: 1, SignatureMissingAccepted: 0} {
		if v := metricValue(t, w.url, `epayflow_worker_created_signatures_total{result="`+result+`"}`); v != want {
			t.Errorf("created signatures %s = %v, want %v", result, v, want)
		}
	}
	if v := metricValue(t, w.url, `epayflow_worker_messages_total{kind="invoice",outcome="poisoned"}`); v != 2 {
		t.Errorf("poisoned invoice messages %v, want 2", v)
	}
}

// A signed invoice.created whose amount was changed after signing (a cheaper invoice for
// the same order) is refused; the invoice is never created from it.
func TestTamperedSignedInvoiceCreatedIsRefused(t *testing.T) {
	e := newEnv(t)
	w := e.start(e.config())
	const id = "191111111"
	b, err := inbox.NewBuilder(inbox.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := b.Created(createdFor(id, 500_000_00), testKeys, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cheap := strings.Replace(string(msg.Data), `"amount":500000,`, `"amount":100,`, 1)
	if cheap == string(msg.Data) {
		t.Fatalf("nothing tampered in %s", msg.Data)
	}
	msg.Data = []byte(cheap)
	e.publish(msg)
	waitFor(t, 10*time.Second, "the tampered message in the DLQ", func() bool { return len(e.dlqEntries()) == 1 })
	if d := e.dlqEntries()[0]; !strings.Contains(d.Reason, "signature that is not the initiator's") {
		t.Fatalf("DLQ reason %q", d.Reason)
	}
	if code, _ := get(t, w.url, id); code != 404 {
		t.Fatalf("invoice %s: %d, want 404 (never created)", id, code)
	}
}

// The upgrade's transition: with WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE, an unsigned
// invoice.created the stream stored before the cutoff (an older initiator's) is applied
// and counted; one stored after it goes to the DLQ, and so does a wrongly signed one
// whenever it was stored. The DLQ's replay of an unsigned one does not revive it: the
// replay is stored after the cutoff.
func TestUnsignedInvoiceCreatedStoredBeforeTheCutoffIsApplied(t *testing.T) {
	e := newEnv(t)
	old := createdFor("191111111", 10000)
	e.publish(forgedCreated(old, nil))
	wrong := createdFor("191111112", 10000)
	e.publish(forgedCreated(wrong, otherKeyring(t)))
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	late := createdFor("191111113", 10000)
	e.publish(forgedCreated(late, nil))

	cfg := e.config()
	cfg.AcceptUnsignedCreatedBefore = cutoff
	w := e.start(cfg)
	waitState(t, w.url, "191111111", invoice.StateCreated)
	waitFor(t, 10*time.Second, "two DLQ entries", func() bool { return len(e.dlqEntries()) == 2 })
	reasons := map[string]string{}
	for _, d := range e.dlqEntries() {
		reasons[d.Header.Get(inbox.HeaderInvoiceID)] = d.Reason
	}
	if !strings.Contains(reasons["191111113"], "without the initiator's signature") || !strings.Contains(reasons["191111112"], "not the initiator's") {
		t.Fatalf("DLQ reasons %v", reasons)
	}
	for _, id := range []string{"191111112", "191111113"} {
		if code, _ := get(t, w.url, id); code != 404 {
			t.Errorf("invoice %s: %d, want 404", id, code)
		}
	}
	for result, want := range map[string]float64{SignatureMissingAccepted: 1, SignatureMissingRefused: 1, SignatureInvalid: 1} {
		if v := metricValue(t, w.url, `epayflow_worker_created_signatures_total{result="`+result+`"}`); v != want {
			t.Errorf("created signatures %s = %v, want %v", result, v, want)
		}
	}
	// replayed, the late unsigned one is stored anew, after the cutoff: refused again
	for _, d := range e.dlqEntries() {
		if d.Header.Get(inbox.HeaderInvoiceID) == "191111113" {
			dlqRun(t, e, "replay", itoa(int(d.Seq)))
		}
	}
	waitFor(t, 10*time.Second, "the replayed unsigned message refused again", func() bool {
		return metricValue(t, w.url, `epayflow_worker_created_signatures_total{result="missing_refused"}`) == 2
	})
}

func TestAcceptUnsignedCreatedBeforeSetting(t *testing.T) {
	env := map[string]string{"EPAY_SECRET_KEYS": "A:worker-config-test-key-0001"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseFlags("worker", nil, getenv, io.Discard)
	if err != nil || !cfg.AcceptUnsignedCreatedBefore.IsZero() {
		t.Fatalf("default: %v %v, want off", cfg.AcceptUnsignedCreatedBefore, err)
	}
	env["WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE"] = "2026-05-01T12:00:00Z"
	cfg, err = parseFlags("worker", nil, getenv, io.Discard)
	if want := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC); err != nil || !cfg.AcceptUnsignedCreatedBefore.Equal(want) {
		t.Fatalf("set: %v %v, want %v", cfg.AcceptUnsignedCreatedBefore, err, want)
	}
	env["WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE"] = "yesterday"
	if _, err := parseFlags("worker", nil, getenv, io.Discard); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "WORKER_ACCEPT_UNSIGNED_CREATED_BEFORE") {
		t.Fatalf("a bad time: %v", err)
	}
}
