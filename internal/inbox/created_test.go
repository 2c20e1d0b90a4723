package inbox_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

const createdTerminal = "67e34d63-102f-4bd1-898e-370781d0074d"

func sampleCreated(id string) invoice.Created {
	return invoice.Created{InvoiceID: id, Kind: invoice.KindPayment, Amount: 100_00, Currency: "KZT", Terminal: createdTerminal,
		OrderID: "order-coffee-1", Metadata: map[string]string{"cart": "7"}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func without(h nats.Header, key string) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// invoice.created is taken only with the initiator's signature over its subject and its
// exact body: an unsigned one, one whose amount or orderId was changed, one moved to
// another subject and one signed with another keyring are refused, each wrapping
// ErrInvalid; an unsigned one is ErrUnsignedCreated, and only it may be let through by
// AcceptUnsignedCreated.
func TestInvoiceCreatedIsTakenOnlyWithTheInitiatorsSignature(t *testing.T) {
	keys, b := keyring(t, "merchant-secret-0123456789"), builder(t)
	dec := inbox.Decoder{Shards: shards, Keys: keys}
	const id = "100000000042"
	good, err := b.Created(sampleCreated(id), keys, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := dec.Decode(good.Subject, good.Header, good.Data); err != nil || d.Created == nil || d.Created.OrderID != "order-coffee-1" || d.ID != inbox.CreatedMsgID(id) {
		t.Fatalf("the signed invoice.created: %+v, %v", d, err)
	}

	other := keyring(t, "an-attackers-own-secret-0123")
	forged, _ := b.Created(sampleCreated(id), other, time.Now())
	unsigned := without(good.Header, inbox.HeaderCreatedSignature)
	cheaper := bytes.Replace(good.Data, []byte(`"amount":100,`), []byte(`"amount":1,`), 1)
	otherOrder := bytes.Replace(good.Data, []byte(`order-coffee-1`), []byte(`order-TV-500000`), 1)
	if bytes.Equal(cheaper, good.Data) || bytes.Equal(otherOrder, good.Data) {
		t.Fatalf("the test's tampering changed nothing in %s", good.Data)
	}
	// the same body and signature on another shard's subject
	otherShard := inbox.Subject((inbox.Shard(id, shards)+1)%shards, inbox.KindInvoice)
	for _, c := range []struct {
		name     string
		subject  string
		h        nats.Header
		body     []byte
		unsigned bool
	}{
		{"unsigned", good.Subject, unsigned, good.Data, true},
		{"amount changed", good.Subject, good.Header, cheaper, false},
		{"orderId changed", good.Subject, good.Header, otherOrder, false},
		{"another subject", otherShard, good.Header, good.Data, false},
		{"signed with another keyring", forged.Subject, forged.Header, forged.Data, false},
		{"not v1", good.Subject, nats.Header{inbox.HeaderCreatedSignature: {strings.TrimPrefix(good.Header.Get(inbox.HeaderCreatedSignature), "v1=")}}, good.Data, false},
	} {
		_, err := dec.Decode(c.subject, c.h, c.body)
		if !errors.Is(err, inbox.ErrInvalid) || errors.Is(err, inbox.ErrUnsignedCreated) != c.unsigned || !strings.Contains(err.Error(), "signature") {
			t.Errorf("%s: %v; want ErrInvalid about the signature (unsigned %v)", c.name, err, c.unsigned)
		}
		// the transition's hook takes an unsigned message, never a wrongly signed one
		lenient := inbox.Decoder{Shards: shards, Keys: keys, AcceptUnsignedCreated: func(inbox.Header) bool { return true }}
		_, err = lenient.Decode(c.subject, c.h, c.body)
		if c.unsigned && err != nil || !c.unsigned && !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("%s with AcceptUnsignedCreated: %v", c.name, err)
		}
	}
	// a decoder without keys takes no invoice.created
	if _, err := (inbox.Decoder{Shards: shards}).Decode(good.Subject, good.Header, good.Data); !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("a decoder without keys took invoice.created: %v", err)
	}
	if _, err := b.Created(sampleCreated(id), nil, time.Now()); err == nil {
		t.Error("Created without a keyring made a message")
	}
}

// Rotation: a message signed with the old key still applies while the old key is listed
// second (the keyring's rotation of secret_hash); once it is removed, it does not.
func TestInvoiceCreatedSignedBeforeAKeyRotation(t *testing.T) {
	oldKey, newKey := epay.Key{ID: 'A', Secret: []byte("old-merchant-secret-0123")}, epay.Key{ID: 'B', Secret: []byte("new-merchant-secret-0123")}
	before, _ := epay.NewKeyring(oldKey)
	during, _ := epay.NewKeyring(newKey, oldKey)
	after, _ := epay.NewKeyring(newKey)
	msg, err := builder(t).Created(sampleCreated("100000000043"), before, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (inbox.Decoder{Shards: shards, Keys: during}).Decode(msg.Subject, msg.Header, msg.Data); err != nil {
		t.Errorf("signed with the old key, the old key listed second: %v", err)
	}
	if _, err := (inbox.Decoder{Shards: shards, Keys: after}).Decode(msg.Subject, msg.Header, msg.Data); !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("signed with a removed key: %v, want refused", err)
	}
}

// The keyring's tokens on invoice.created are in domains of their own: none is a
// secret_hash of the invoice (for the terminal it names or the one in the message), nor a
// return page's token, and the Nats-Msg-Id cannot be made without the keyring.
func TestInvoiceCreatedTokensAreNoOtherTokens(t *testing.T) {
	keys, b := keyring(t, "merchant-secret-0123456789"), builder(t)
	const id = "100000000044"
	msg, err := b.Created(sampleCreated(id), keys, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sig := strings.TrimPrefix(msg.Header.Get(inbox.HeaderCreatedSignature), "v1=")
	_, msgIDToken, _ := strings.Cut(msg.Header.Get(nats.MsgIdHdr), ":")
	if len(sig) != epay.SecretHashLen || len(msgIDToken) != epay.SecretHashLen || sig == msgIDToken {
		t.Fatalf("signature %q, Nats-Msg-Id token %q", sig, msgIDToken)
	}
	for _, tok := range []string{sig, msgIDToken} {
		for _, terminal := range []string{createdTerminal, "", "epayflow-invoice-created-v1", "epayflow-invoice-created-msgid-v1"} {
			if keys.Verify(terminal, id, tok) == nil {
				t.Errorf("token %q is the secret_hash of terminal %q, invoice %s", tok, terminal, id)
			}
		}
		if keys.VerifyToken("epayflow-return-page", id, tok) == nil {
			t.Errorf("token %q is the return page's token of %s", tok, id)
		}
	}
	if keys.Token("epayflow-return-page", id) == msgIDToken {
		t.Error("the return page's token is the Nats-Msg-Id's")
	}
	if got, other := msg.Header.Get(nats.MsgIdHdr), inbox.CreatedNatsMsgID(keyring(t, "an-attackers-own-secret-0123"), id); got == other || got == inbox.CreatedMsgID(id) {
		t.Errorf("Nats-Msg-Id %q: made the same without the keyring (%q, or the bare id)", got, other)
	}
}
