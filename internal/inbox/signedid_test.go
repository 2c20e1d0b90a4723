package inbox_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// The workers' messages go under a Nats-Msg-Id that only the status key makes: their
// content id is known to anyone who saw the callback, and JetStream would drop a genuine
// message whose id someone else stored first (TestAStatusAnswerIsNotDroppedByItsIDTakenFirst
// in internal/worker shows the attack). The id is the same each time (a retry is stored
// once) and starts with the content id.
func TestWorkersMessagesGoUnderIDsOnlyTheKeyMakes(t *testing.T) {
	b, st, other := builder(t), signer(t, "workers-status-key-0123"), signer(t, "someone-elses-key-0123")
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	status := inbox.StatusBody{InvoiceID: "000000000042", Status: invoice.Status{Check: 1, Purpose: invoice.PurposeConfirm,
		ResultCode: "100", StatusName: "CHARGE", Amount: 10000, Currency: "KZT", Terminal: "t1", TransactionID: "tx"}}
	operation := inbox.OperationBody{InvoiceID: "000000000042", Operation: invoice.OperationStep{
		ID: "refund-1", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 2000, At: at}}
	build := map[string]func(inbox.StatusSigner) (*nats.Msg, error){
		inbox.StatusMsgID("000000000042", 1, "100", "CHARGE", "tx"): func(s inbox.StatusSigner) (*nats.Msg, error) { return b.Status(status, s, at) },
		"rs:000000000042:1:paid": func(s inbox.StatusSigner) (*nats.Msg, error) {
			return b.Resolve(resolution(invoice.DecisionPaid), s, at)
		},
		inbox.OperationMsgID("000000000042", "refund-1", invoice.PhaseStarted): func(s inbox.StatusSigner) (*nats.Msg, error) {
			return b.Operation(operation, s, at)
		},
	}
	for content, mk := range build {
		msg, err := mk(st)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := mk(st)
		byOther, _ := mk(other)
		got := msg.Header.Get(nats.MsgIdHdr)
		token, ok := strings.CutPrefix(got, content+":")
		switch {
		case !ok || len(token) != 22 || strings.ContainsAny(token, ":+/="):
			t.Errorf("%s: Nats-Msg-Id %q, want the content id, ':' and a 22-character token", content, got)
		case again.Header.Get(nats.MsgIdHdr) != got:
			t.Errorf("%s: built twice, Nats-Msg-Ids %q and %q: a retry would be stored twice", content, got, again.Header.Get(nats.MsgIdHdr))
		case byOther.Header.Get(nats.MsgIdHdr) == got:
			t.Errorf("%s: another key makes the same Nats-Msg-Id %q", content, got)
		}
	}
}
