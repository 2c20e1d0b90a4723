package inbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/invoice"
)

// OperationBody is the body of an epay.inbox.<shard>.operation message: a step of a
// charge, cancel or refund the worker made through ePay's operation API.
type OperationBody struct {
	InvoiceID string                `json:"invoiceId"`
	Operation invoice.OperationStep `json:"operation"`
}

// OperationMsgID is the id of an operation step: the invoice, the operation id and the
// phase. A step published twice (a retry, a worker that recovered the outcome after a
// restart) is stored and applied once.
func OperationMsgID(invoiceID, operationID, phase string) string {
	return "op:" + invoiceID + ":" + operationID + ":" + phase
}

// Operation is the message of an operation step, signed with s: the workers' key, as
// their status messages. The signature covers the subject, so a status message's
// signature never passes for an operation's.
func (b *Builder) Operation(body OperationBody, s StatusSigner, at time.Time) (*nats.Msg, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode an operation step: %w", err)
	}
	subject := b.subjects[Shard(body.InvoiceID, b.shards)][3]
	return &nats.Msg{
		Subject: subject,
		Data:    data,
		Header: nats.Header{
			nats.MsgIdHdr:         {s.NatsMsgID(OperationMsgID(body.InvoiceID, body.Operation.ID, body.Operation.Phase))},
			HeaderInvoiceID:       {body.InvoiceID},
			HeaderReceivedAt:      {at.UTC().Format(time.RFC3339Nano)},
			HeaderStatusSignature: {s.Sign(subject, data)},
		},
	}, nil
}

// decodeOperation checks an operation message's signature, then reads it.
func (d Decoder) decodeOperation(subject string, h Header, body []byte, received time.Time) (invoice.Message, error) {
	if err := d.Signer.Check(subject, body, h.Get(HeaderStatusSignature)); err != nil {
		return invoice.Message{}, invalid("operation: %v", err)
	}
	var b OperationBody
	if err := json.Unmarshal(body, &b); err != nil {
		return invoice.Message{}, invalid("operation is not valid JSON: %v", err)
	}
	s := b.Operation
	return invoice.OperationMessage(OperationMsgID(b.InvoiceID, s.ID, s.Phase), b.InvoiceID, s, received), nil
}
