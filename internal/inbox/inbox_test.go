package inbox_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

const shards = 8

func keyring(t *testing.T, secret string) *epay.Keyring {
	t.Helper()
	k, err := epay.NewKeyring(epay.Key{ID: 'A', Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signer(t *testing.T, key string) inbox.StatusSigner {
	t.Helper()
	s, err := inbox.NewStatusSigner([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func builder(t *testing.T) *inbox.Builder {
	t.Helper()
	b, err := inbox.NewBuilder(shards)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// callback is ePay's documented success sample (internal/epay/testdata), signed with keys
// unless keys is nil.
func callback(t *testing.T, file string, keys *epay.Keyring) *epay.Callback {
	t.Helper()
	raw, err := os.ReadFile("../epay/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := epay.DecodeCallback(raw)
	if err != nil {
		t.Fatal(err)
	}
	if keys != nil {
		raw = bytes.Replace(raw, []byte(`"terminal"`), []byte(`"secret_hash": "`+keys.Sign(cb.Terminal, cb.InvoiceID)+`", "terminal"`), 1)
		if cb, err = epay.DecodeCallback(raw); err != nil {
			t.Fatal(err)
		}
	}
	return cb
}

func TestParseSubject(t *testing.T) {
	for _, kind := range inbox.Kinds() {
		for _, shard := range []int{0, 7, inbox.MaxShards - 1} {
			got, k, ok := inbox.ParseSubject(inbox.Subject(shard, kind))
			if !ok || got != shard || k != kind {
				t.Errorf("ParseSubject(Subject(%d, %s)) = %d, %s, %v", shard, kind, got, k, ok)
			}
			if got, ok := inbox.ParseShardFilter(inbox.ShardFilter(shard)); !ok || got != shard {
				t.Errorf("ParseShardFilter(ShardFilter(%d)) = %d, %v", shard, got, ok)
			}
		}
	}
	for _, bad := range []string{"", "epay.inbox", "epay.inbox.1", "epay.inbox.1.other", "epay.inbox.01.postlink",
		"epay.inbox.+1.postlink", "epay.inbox.-1.postlink", "epay.inbox.1024.postlink", "epay.inbox.1.postlink.x",
		"payments.paid", "epay.dlq.1", "epay.inbox.*.postlink", "epay.inbox.1.>"} {
		if s, k, ok := inbox.ParseSubject(bad); ok {
			t.Errorf("ParseSubject(%q) = %d, %s, ok; want refused", bad, s, k)
		}
	}
	for _, bad := range []string{"epay.inbox.1.postlink", "epay.inbox.>", "epay.inbox.01.>", "epay.inbox.x.>"} {
		if s, ok := inbox.ParseShardFilter(bad); ok {
			t.Errorf("ParseShardFilter(%q) = %d, ok; want refused", bad, s)
		}
	}
}

// What every producer builds, the one decoder reads back as the same message, with the
// id the content gives, the invoice id in its header and the shard it belongs to.
func TestBuildersAndDecoderAgree(t *testing.T) {
	keys, b, st := keyring(t, "merchant-secret-0123456789"), builder(t), signer(t, "workers-status-key-0123")
	dec := inbox.Decoder{Shards: shards, Keys: keys, Signer: st}
	at := time.Date(2026, 11, 30, 10, 0, 0, 123, time.UTC)

	cb := callback(t, "success.json", keys)
	for _, verified := range []bool{true, false} {
		msg := b.Callback(cb, inbox.Receipt{Route: "/epay/postlink", RemoteAddr: "10.0.0.1:1", RequestID: "r1", At: at, Verified: verified})
		wantID := inbox.CallbackMsgID(cb.InvoiceID, cb.ID, cb.Code)
		if !verified {
			wantID = inbox.UnverifiedCallbackMsgID(cb.InvoiceID, cb.ID, cb.Code)
		}
		if got := msg.Header.Get(nats.MsgIdHdr); got != wantID {
			t.Errorf("verified=%v: Nats-Msg-Id %q, want %q", verified, got, wantID)
		}
		if msg.Header.Get(inbox.HeaderInvoiceID) != cb.InvoiceID || msg.Subject != inbox.SubjectOf(cb.InvoiceID, shards, inbox.KindPostlink) ||
			msg.Header.Get(inbox.HeaderKind) != inbox.CallbackSuccess || !bytes.Equal(msg.Data, cb.Raw) {
			t.Errorf("callback message %s %v", msg.Subject, msg.Header)
		}
		// the decoder verifies itself: the ingest's verdict (and id) do not matter
		d, err := dec.Decode(msg.Subject, msg.Header, msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Verified() || d.ID != inbox.CallbackMsgID(cb.InvoiceID, cb.ID, cb.Code) || d.Kind != inbox.KindPostlink ||
			d.Message.Kind != invoice.MsgSuccess || !d.ReceivedAt.Equal(at) || d.InvoiceID != cb.InvoiceID {
			t.Errorf("decoded %+v", d)
		}
	}

	created, err := b.Created(invoice.Created{InvoiceID: "000000000042", Kind: "payment", Amount: 10000, Currency: "KZT", Terminal: "t1"}, keys, at)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dec.Decode(created.Subject, created.Header, created.Data)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "000000000042" || created.Header.Get(nats.MsgIdHdr) != inbox.CreatedNatsMsgID(keys, d.ID) || d.Created == nil || d.Created.Amount != 10000 || d.Kind != inbox.KindInvoice {
		t.Errorf("invoice.created decoded %+v, header %v", d, created.Header)
	}

	status, err := b.Status(inbox.StatusBody{InvoiceID: "000000000042", Status: invoice.Status{Check: 1, Purpose: invoice.PurposeConfirm,
		ResultCode: "100", StatusName: "CHARGE", Amount: 10000, Currency: "KZT", Terminal: "t1", TransactionID: "tx"}}, st, at)
	if err != nil {
		t.Fatal(err)
	}
	d, err = dec.Decode(status.Subject, status.Header, status.Data)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != inbox.StatusMsgID("000000000042", 1, "100", "CHARGE", "tx") || status.Header.Get(nats.MsgIdHdr) != st.NatsMsgID(d.ID) || d.Status == nil {
		t.Errorf("status decoded %+v, header %v", d, status.Header)
	}
}

// Every refusal wraps ErrInvalid and names what is wrong.
func TestDecoderRefuses(t *testing.T) {
	keys, b, st := keyring(t, "merchant-secret-0123456789"), builder(t), signer(t, "workers-status-key-0123")
	dec := inbox.Decoder{Shards: shards, Keys: keys, Signer: st}
	at := time.Now()
	cb := callback(t, "success.json", keys)
	good := b.Callback(cb, inbox.Receipt{At: at, Verified: true})
	status, err := b.Status(inbox.StatusBody{InvoiceID: cb.InvoiceID, Status: invoice.Status{Check: 1, Purpose: invoice.PurposeConfirm,
		ResultCode: "100", StatusName: "CHARGE", Amount: 100, Currency: "KZT", Terminal: "t1", TransactionID: "tx"}}, st, at)
	if err != nil {
		t.Fatal(err)
	}
	otherShard := (inbox.Shard(cb.InvoiceID, shards) + 1) % shards
	noTerminal, err := b.Created(invoice.Created{InvoiceID: "000000000042", Amount: 100, Currency: "KZT"}, keys, at) // signed, so the terminal is what is refused
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := inbox.NewBuilder(shards)
	forgedStatus, _ := forged.Status(inbox.StatusBody{InvoiceID: cb.InvoiceID, Status: invoice.Status{Check: 2}}, signer(t, "someone-elses-key-0123"), at)
	unsigned := nats.Header{}
	for k, v := range forgedStatus.Header {
		if k != inbox.HeaderStatusSignature {
			unsigned[k] = v
		}
	}
	for _, c := range []struct {
		name    string
		subject string
		header  nats.Header
		body    []byte
		want    string
	}{
		{"unknown subject", "epay.inbox.1.other", good.Header, good.Data, "unknown inbox subject"},
		{"wrong shard", inbox.Subject(otherShard, inbox.KindPostlink), good.Header, good.Data, "belongs to shard"},
		{"header names another invoice", good.Subject, nats.Header{inbox.HeaderInvoiceID: {"999999999"}}, good.Data, "header Epay-Invoice-Id"},
		{"not a callback", good.Subject, good.Header, []byte(`{"invoiceId":`), "callback"},
		{"status signed by another key", forgedStatus.Subject, forgedStatus.Header, forgedStatus.Data, "not the workers'"},
		{"status without a signature", forgedStatus.Subject, unsigned, forgedStatus.Data, "without a worker signature"},
		{"status signed for another subject", inbox.Subject(otherShard, inbox.KindStatus), status.Header, status.Data, "not the workers'"},
		{"invoice.created without a terminal", noTerminal.Subject, noTerminal.Header, noTerminal.Data, "terminal"},
	} {
		_, err := dec.Decode(c.subject, c.header, c.body)
		if !errors.Is(err, inbox.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", c.name, err, c.want)
		}
	}
	// no keys: nothing verifies, and the id is the unverified one
	d, err := inbox.Decoder{Shards: shards, Signer: st}.Decode(good.Subject, good.Header, good.Data)
	if err != nil || d.Verified() || d.ID != inbox.UnverifiedCallbackMsgID(cb.InvoiceID, cb.ID, cb.Code) {
		t.Errorf("without keys: %+v, %v; want unverified with the unverified id", d, err)
	}
	// a signer without a key accepts no status
	if _, err := (inbox.Decoder{Shards: shards}).Decode(status.Subject, status.Header, status.Data); !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("a decoder without a status key took a status message: %v", err)
	}
}

// The order key comes from the header; a message without one (an older producer) is
// decoded for it; one that does not decode orders nothing.
func TestOrderKey(t *testing.T) {
	keys, b := keyring(t, "merchant-secret-0123456789"), builder(t)
	dec := inbox.Decoder{Shards: shards, Keys: keys}
	cb := callback(t, "failure.json", nil)
	msg := b.Callback(cb, inbox.Receipt{At: time.Now()})
	if got := dec.OrderKey(msg.Subject, nats.Header{inbox.HeaderInvoiceID: {"from-header"}}, nil); got != "from-header" {
		t.Errorf("OrderKey with the header = %q, want it read from the header, not the body", got)
	}
	if got := dec.OrderKey(msg.Subject, nats.Header{}, msg.Data); got != cb.InvoiceID {
		t.Errorf("OrderKey without the header = %q, want %q from the body", got, cb.InvoiceID)
	}
	if got := dec.OrderKey(msg.Subject, nats.Header{}, []byte("{")); got != "" {
		t.Errorf("OrderKey of garbage = %q, want none", got)
	}
}

func TestNewBuilderAndSignerBounds(t *testing.T) {
	for _, n := range []int{0, -1, inbox.MaxShards + 1} {
		if _, err := inbox.NewBuilder(n); err == nil {
			t.Errorf("NewBuilder(%d) accepted", n)
		}
	}
	if _, err := inbox.NewStatusSigner([]byte("short")); err == nil {
		t.Error("a 5-byte status key was accepted")
	}
}
