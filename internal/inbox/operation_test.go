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

func TestOperationStepsAreSignedAndOnlyTheWorkersAreTaken(t *testing.T) {
	b, st := builder(t), signer(t, "workers-status-key-0123")
	dec := inbox.Decoder{Shards: shards, Signer: st}
	at := time.Now()
	body := inbox.OperationBody{InvoiceID: "000000000042", Operation: invoice.OperationStep{
		ID: "refund-1", Type: invoice.OpRefund, Phase: invoice.PhaseStarted, Amount: 2000, At: at}}
	msg, err := b.Operation(body, st, at)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != inbox.SubjectOf("000000000042", shards, inbox.KindOperation) {
		t.Fatalf("subject %s", msg.Subject)
	}
	d, err := dec.Decode(msg.Subject, msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != inbox.KindOperation || d.ID != inbox.OperationMsgID("000000000042", "refund-1", invoice.PhaseStarted) ||
		msg.Header.Get(nats.MsgIdHdr) != st.NatsMsgID(d.ID) || d.Operation == nil || d.Operation.Amount != 2000 {
		t.Fatalf("decoded %+v", d)
	}

	forged, _ := b.Operation(body, signer(t, "someone-elses-key-0123"), at)
	unsigned := nats.Header{}
	for k, v := range msg.Header {
		if k != inbox.HeaderStatusSignature {
			unsigned[k] = v
		}
	}
	// a status message's signature does not pass for an operation with the same body
	asStatus := st.Sign(inbox.SubjectOf("000000000042", shards, inbox.KindStatus), msg.Data)
	tampered := strings.Replace(string(msg.Data), `"amount":20,`, `"amount":90,`, 1)
	if tampered == string(msg.Data) {
		t.Fatalf("the test did not change the amount of %s", msg.Data)
	}
	for _, c := range []struct {
		name   string
		header nats.Header
		body   []byte
		want   string
	}{
		{"signed by another key", forged.Header, forged.Data, "not the workers'"},
		{"unsigned", unsigned, msg.Data, "without a worker signature"},
		{"a status signature", nats.Header{inbox.HeaderStatusSignature: {asStatus}}, msg.Data, "not the workers'"},
		{"amount changed after signing", msg.Header, []byte(tampered), "not the workers'"},
	} {
		if _, err := dec.Decode(msg.Subject, c.header, c.body); !errors.Is(err, inbox.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", c.name, err, c.want)
		}
	}
}
