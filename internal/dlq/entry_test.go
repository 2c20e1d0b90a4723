package dlq

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/inbox"
)

// An entry keeps the original headers and body, says where it came from and why, is
// stored on the DLQ subject of its own shard, and is one entry per inbox message.
func TestPoisonedMsg(t *testing.T) {
	p := Poisoned{Subject: inbox.Subject(5, inbox.KindPostlink), MsgID: "cb:1:tx:ok", StreamSeq: 42, Deliveries: 7,
		Reason: "poison message: callback: bad", CorrelationID: "req-1",
		Header: nats.Header{inbox.HeaderInvoiceID: {"1"}, nats.MsgIdHdr: {"cb:1:tx:ok"}, HeaderReason: {"planted by the sender"},
			"Nats-Expected-Stream": {inbox.Stream}, "nats-expected-last-sequence": {"9"}},
		Data: []byte(`{"x":1}`), At: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}
	m := p.Msg()
	want := map[string]string{HeaderReason: p.Reason, HeaderSubject: p.Subject, HeaderMsgID: "cb:1:tx:ok", HeaderStreamSeq: "42",
		HeaderDeliveries: "7", HeaderAt: "2026-11-30T00:00:00Z", HeaderCorrelationID: "req-1", inbox.HeaderInvoiceID: "1",
		nats.MsgIdHdr: "dlq:42"}
	for k, v := range want {
		if got := m.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, got, v)
		}
	}
	// the sender's orders to JetStream are not orders to EPAY_DLQ
	for k := range m.Header {
		if k != nats.MsgIdHdr && strings.HasPrefix(strings.ToLower(k), "nats-") {
			t.Errorf("header %s copied onto the entry", k)
		}
	}
	if m.Subject != "epay.dlq.5" || string(m.Data) != `{"x":1}` {
		t.Errorf("subject %q data %q", m.Subject, m.Data)
	}
	// the sender's copy of a DLQ header never reaches the entry; a subject that is not the
	// inbox's goes to shard 0 (and its replay is refused)
	p.Subject = "payments.paid"
	if got := p.Msg().Subject; got != "epay.dlq.0" {
		t.Errorf("foreign subject stored on %q", got)
	}
}
