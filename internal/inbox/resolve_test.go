package inbox_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

func resolution(d invoice.Decision) inbox.ResolveBody {
	return inbox.ResolveBody{InvoiceID: "000000000042", Resolution: invoice.Resolution{Number: 1, Decision: d, By: "alice", Reason: "bank says so", Operator: "ops",
		At: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}}
}

// A resolution built by a worker decodes as itself; the id depends on the decision and
// number only, so the same decision asked twice is one message.
func TestResolutionRoundTrip(t *testing.T) {
	b, st := builder(t), signer(t, "workers-status-key-0123")
	at := time.Date(2026, 11, 30, 10, 0, 1, 0, time.UTC)
	msg, err := b.Resolve(resolution(invoice.DecisionPaid), st, at)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != inbox.SubjectOf("000000000042", shards, inbox.KindResolve) || msg.Header.Get(nats.MsgIdHdr) != st.NatsMsgID("rs:000000000042:1:paid") {
		t.Fatalf("message %s %v", msg.Subject, msg.Header)
	}
	d, err := inbox.Decoder{Shards: shards, Signer: st}.Decode(msg.Subject, msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != inbox.KindResolve || d.Message.Kind != invoice.MsgResolve || d.ID != "rs:000000000042:1:paid" ||
		*d.Resolution != resolution(invoice.DecisionPaid).Resolution || !d.ReceivedAt.Equal(at) {
		t.Errorf("decoded %+v", d)
	}
	again, _ := b.Resolve(resolution(invoice.DecisionPaid), st, at.Add(time.Minute))
	failed, _ := b.Resolve(resolution(invoice.DecisionFailed), st, at)
	if again.Header.Get(nats.MsgIdHdr) != msg.Header.Get(nats.MsgIdHdr) || failed.Header.Get(nats.MsgIdHdr) == msg.Header.Get(nats.MsgIdHdr) {
		t.Errorf("ids: %s, again %s, failed %s", msg.Header.Get(nats.MsgIdHdr), again.Header.Get(nats.MsgIdHdr), failed.Header.Get(nats.MsgIdHdr))
	}
}

// Nothing but a worker's signature, made for a resolution on its subject, moves money:
// not another key, not none, not a status signature of the same bytes, not a
// resolution signed for another shard.
func TestForgedResolutionsAreRefused(t *testing.T) {
	b, st := builder(t), signer(t, "workers-status-key-0123")
	dec := inbox.Decoder{Shards: shards, Signer: st}
	good, err := b.Resolve(resolution(invoice.DecisionPaid), st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := b.Resolve(resolution(invoice.DecisionPaid), signer(t, "someone-elses-key-0123"), time.Now())
	with := func(edit func(nats.Header)) nats.Header {
		h := nats.Header{}
		for k, v := range good.Header {
			h[k] = v
		}
		edit(h)
		return h
	}
	otherShard := inbox.Subject((inbox.Shard("000000000042", shards)+1)%shards, inbox.KindResolve)
	for _, c := range []struct {
		name    string
		subject string
		header  nats.Header
		want    string
	}{
		{"another key", forged.Subject, forged.Header, "not the workers'"},
		{"no signature", good.Subject, with(func(h nats.Header) { h.Del(inbox.HeaderResolveSignature) }), "without a worker signature"},
		{"a status signature of the same body", good.Subject, with(func(h nats.Header) {
			h.Set(inbox.HeaderResolveSignature, st.Sign(good.Subject, good.Data))
		}), "not the workers'"},
		{"signed as a status only", good.Subject, with(func(h nats.Header) {
			h.Del(inbox.HeaderResolveSignature)
			h.Set(inbox.HeaderStatusSignature, st.Sign(good.Subject, good.Data))
		}), "without a worker signature"},
		{"another shard's subject", otherShard, good.Header, "not the workers'"},
	} {
		if _, err := dec.Decode(c.subject, c.header, good.Data); !errors.Is(err, inbox.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", c.name, err, c.want)
		}
	}
	// a resolution's signature is no status's either
	if err := st.Check(good.Subject, good.Data, good.Header.Get(inbox.HeaderResolveSignature)); err == nil {
		t.Error("a resolution's signature checks as a status's")
	}
	if _, err := (inbox.Decoder{Shards: shards}).Decode(good.Subject, good.Header, good.Data); !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("a decoder without a key took a resolution: %v", err)
	}
	// signed, but not a resolution the state machine can apply
	bad := resolution(invoice.DecisionPaid)
	bad.Resolution.By = ""
	msg, _ := b.Resolve(bad, st, time.Now())
	if _, err := dec.Decode(msg.Subject, msg.Header, msg.Data); !errors.Is(err, inbox.ErrInvalid) || !strings.Contains(err.Error(), "by must be") {
		t.Errorf("a resolution without who: %v", err)
	}
}
