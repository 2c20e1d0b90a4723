package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// ErrPoison marks a message that can never be applied: it goes to the DLQ with the reason.
var ErrPoison = errors.New("poison message")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPoison, fmt.Sprintf(format, args...))
}

// kindOf is the last token of the inbox subject: invoice or postlink.
func kindOf(msg *message.Message) string {
	subj := msg.Metadata.Get(mdSubject)
	return subj[strings.LastIndexByte(subj, '.')+1:]
}

// decode turns an inbox message into a state-machine message. Its id is derived from
// the content (natsbus.InvoiceMsgID, natsbus.CallbackMsgID), not from headers, so a
// message replayed from the DLQ under another Nats-Msg-Id still dedupes as itself.
// Every error wraps ErrPoison.
// confirmPolicy says which success callbacks wait for ePay's status API.
type confirmPolicy struct {
	all        bool // WORKER_CONFIRM_PAYMENTS on
	unverified bool // an ePay client is configured: unverified callbacks are confirmed
}

func (p confirmPolicy) confirm(verified bool) bool { return p.all || !verified && p.unverified }

// confirmFailure says whether a failure callback waits for ePay's status API instead of
// making the invoice failed: with an ePay client, an unverified failure, and one whose
// reason code ePay does not call final (not final, or not in ePay's table at all).
// Without a client only the codes ePay calls not final wait (invoice.Apply).
func (p confirmPolicy) confirmFailure(verified bool, reasonCode int) bool {
	return p.unverified && (!verified || epay.ReasonFinality(reasonCode) != epay.Final)
}

// decoder turns inbox messages into state-machine messages. It trusts no header about
// trust: it verifies each callback's secret_hash with keys (the ingest's verdict is not
// read), and applies a status message only with the workers' own signature.
type decoder struct {
	shards int
	policy confirmPolicy
	keys   *epay.Keyring
	status statusSigner
}

func (d decoder) decode(msg *message.Message) (invoice.Message, error) {
	shards, policy := d.shards, d.policy
	received := receivedAt(msg)
	var m invoice.Message
	switch kind := kindOf(msg); kind {
	case natsbus.KindInvoice:
		var c invoice.Created
		if err := json.Unmarshal(msg.Payload, &c); err != nil {
			return m, poison("invoice.created is not valid JSON: %v", err)
		}
		m = invoice.CreatedMessage(natsbus.InvoiceMsgID(c.InvoiceID), c, received)
	case natsbus.KindPostlink:
		cb, err := epay.DecodeCallback(msg.Payload)
		if err != nil {
			return m, poison("callback: %v", err)
		}
		if err := cb.Validate(); err != nil {
			return m, poison("callback: %v", err)
		}
		verified := d.keys != nil && d.keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash) == nil
		id := natsbus.CallbackMsgID(cb.InvoiceID, cb.ID, cb.Code)
		if !verified { // never the id of the verified callback: a forgery must not take its place
			id = natsbus.UnverifiedCallbackMsgID(cb.InvoiceID, cb.ID, cb.Code)
		}
		m = invoice.CallbackMessage(id, cb, verified, received)
		if m.Kind == invoice.MsgSuccess {
			m.Payment.Confirm = policy.confirm(verified)
		} else {
			m.Payment.Confirm = policy.confirmFailure(verified, cb.ReasonCode)
		}
	case natsbus.KindStatus:
		if err := d.status.check(msg.Metadata.Get(mdSubject), msg.Payload, msg.Metadata.Get(HeaderStatusSignature)); err != nil {
			return m, poison("%v", err)
		}
		var b statusBody
		if err := json.Unmarshal(msg.Payload, &b); err != nil {
			return m, poison("status is not valid JSON: %v", err)
		}
		s := b.Status
		m = invoice.StatusMessage(natsbus.StatusMsgID(b.InvoiceID, s.Check, s.ResultCode, s.StatusName, s.TransactionID), b.InvoiceID, s, received)
	default:
		return m, poison("unknown inbox subject %q", msg.Metadata.Get(mdSubject))
	}
	if err := m.Validate(); err != nil {
		return m, poison("%v", err)
	}
	if shard, want := shardOfSubject(msg.Metadata.Get(mdSubject)), natsbus.Shard(m.InvoiceID, shards); shard != want {
		return m, poison("invoice %s belongs to shard %d, arrived on shard %d (EPAY_SHARDS differs between services?)", m.InvoiceID, want, shard)
	}
	return m, nil
}

// receivedAt is the ingest's receipt time, or now when the header is missing or bad.
func receivedAt(msg *message.Message) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(natsbus.HeaderReceivedAt)); err == nil {
		return t.UTC()
	}
	return time.Now().UTC()
}

// shardOfSubject reads the shard of "epay.inbox.<shard>.<kind>"; -1 when it has none.
func shardOfSubject(subject string) int {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 {
		return -1
	}
	return atoi(parts[2])
}
