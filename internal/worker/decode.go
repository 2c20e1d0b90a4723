package worker

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// ErrPoison marks a message that can never be applied: it goes to the DLQ with the reason.
var ErrPoison = errors.New("poison message")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPoison, fmt.Sprintf(format, args...))
}

// confirmPolicy says which callbacks wait for ePay's status API.
type confirmPolicy struct {
	all        bool // WORKER_CONFIRM_PAYMENTS on
	unverified bool // an ePay client is configured: unverified callbacks are confirmed
}

func (p confirmPolicy) confirm(verified bool) bool { return p.all || !verified && p.unverified }

// confirmFailure says whether a failure callback waits for ePay's status API instead of
// making the invoice failed: with an ePay client, an unverified failure, one whose reason
// code ePay does not call final (not final, or not in ePay's table at all), and one with
// reason code 0 ("success" in ePay's table), null or missing, which says nothing of the
// failure (a captured failurePostLink body carried "reasonCode": 0). Without a client
// only the codes ePay calls not final wait (invoice.Apply).
func (p confirmPolicy) confirmFailure(verified bool, reasonCode int) bool {
	return p.unverified && (!verified || reasonCode == 0 || epay.ReasonFinality(reasonCode) != epay.Final)
}

// decoder is the inbox's decoder (which verifies callbacks and status signatures
// itself) with the worker's confirmation policy applied to callbacks.
type decoder struct {
	inbox  inbox.Decoder
	policy confirmPolicy
}

// decode turns an inbox message into a state-machine message; every error wraps ErrPoison.
func (d decoder) decode(msg *message.Message) (inbox.Decoded, error) {
	m, err := d.inbox.Decode(msg.Metadata.Get(mdSubject), msg.Metadata, msg.Payload)
	if err != nil {
		return m, poison("%v", err)
	}
	if p := m.Payment; p != nil {
		if m.Message.Kind == invoice.MsgSuccess {
			p.Confirm = d.policy.confirm(p.Verified)
		} else {
			p.Confirm = d.policy.confirmFailure(p.Verified, p.ReasonCode)
		}
	}
	return m, nil
}

// orderKey is the subscriber's OrderKey: the invoice id from its header, so that the
// messages of one invoice are applied in stream order (failure then success is failed
// then paid, the other way round only paid) without decoding the body.
func (d decoder) orderKey(msg *message.Message) string {
	return d.inbox.OrderKey(msg.Metadata.Get(mdSubject), msg.Metadata, msg.Payload)
}

// kindOf is the kind of the message's inbox subject, for metrics: postlink, invoice,
// status, or "unknown".
func kindOf(msg *message.Message) string {
	if _, kind, ok := inbox.ParseSubject(msg.Metadata.Get(mdSubject)); ok {
		return kind
	}
	return "unknown"
}
