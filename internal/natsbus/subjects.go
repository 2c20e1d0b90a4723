package natsbus

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// Stream names.
const (
	StreamInbox  = "EPAY_INBOX"
	StreamEvents = "PAYMENT_EVENTS"
	StreamDLQ    = "EPAY_DLQ"
)

// Message kinds: the last token of an inbox subject.
const (
	KindPostlink = "postlink"
	KindInvoice  = "invoice"
	// KindStatus: what ePay's status API said about an invoice, published by the
	// worker's confirmer and reconciler so it is applied like any other inbox message.
	KindStatus = "status"
)

// DefaultShards is how many shards the inbox is cut into unless configured. The number
// is part of the data's layout: every service must use the same one, and changing it
// moves invoices between shards, so it is chosen once per deployment.
const DefaultShards = 8

// MaxShards bounds the shard count.
const MaxShards = 1024

// Shard returns the shard of an invoice: FNV-1a of the invoiceId modulo shards.
// Everything about one invoice lands on one shard, in order.
func Shard(invoiceID string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(invoiceID))
	return int(h.Sum32() % uint32(shards))
}

// InboxSubject is "epay.inbox.<shard>.<kind>".
func InboxSubject(shard int, kind string) string {
	return "epay.inbox." + strconv.Itoa(shard) + "." + kind
}

// ShardFilter is the subject filter of one shard's consumer: "epay.inbox.<shard>.>".
func ShardFilter(shard int) string { return "epay.inbox." + strconv.Itoa(shard) + ".>" }

// EventSubject is "payments.<type>", such as payments.paid.
func EventSubject(eventType string) string { return "payments." + eventType }

// DLQSubject is "epay.dlq.<shard>".
func DLQSubject(shard int) string { return "epay.dlq." + strconv.Itoa(shard) }

// Headers on inbox messages. Every value is a plain string.
const (
	// HeaderKind is "success" or "failure", from the callback's code.
	HeaderKind = "Epay-Kind"
	// HeaderRoute is the path the callback came in on (/epay/postlink, /epay/failure-postlink).
	HeaderRoute = "Epay-Route"
	// HeaderReceivedAt is when the ingest received the callback, RFC 3339 with nanoseconds, UTC.
	HeaderReceivedAt = "Epay-Received-At"
	// HeaderRemoteAddr is the sender's address as the ingest saw it.
	HeaderRemoteAddr = "Epay-Remote-Addr"
	// HeaderRequestID is the ingest's id for the HTTP request; also the correlation id.
	HeaderRequestID = "Epay-Request-Id"
	// HeaderVerified is "true" when secret_hash verified, "false" when the ingest runs
	// with the accept-unverified policy and it did not: the ingest's verdict, for logs and
	// history. Nothing trusts it: the worker verifies secret_hash itself.
	HeaderVerified = "Epay-Verified"
	// HeaderWatermillUUID is where Watermill's NATS marshaler reads the message UUID.
	HeaderWatermillUUID = "_watermill_message_uuid"
	// HeaderDLQReason says why the worker gave up on a message (on EPAY_DLQ).
	HeaderDLQReason = "Epay-Dlq-Reason"
)

// Kind values of HeaderKind.
const (
	CallbackSuccess = "success"
	CallbackFailure = "failure"
)

// CallbackMsgID is the Nats-Msg-Id of a callback: its identity is the invoice, ePay's
// transaction id and the outcome code, so ePay's retries of one callback are stored once
// while a failure and a later success of the same invoice are two messages. The code is
// lower-cased, as success is matched ignoring case: "OK", "Ok" and "ok" are one callback.
func CallbackMsgID(invoiceID, transactionID, code string) string {
	return "cb:" + invoiceID + ":" + transactionID + ":" + strings.ToLower(code)
}

// UnverifiedCallbackMsgID is the Nats-Msg-Id of a callback whose secret_hash did not
// verify (accept-unverified policy): CallbackMsgID + ":unverified", so it never takes the
// place of the verified callback with the same transaction id and code.
func UnverifiedCallbackMsgID(invoiceID, transactionID, code string) string {
	return CallbackMsgID(invoiceID, transactionID, code) + ":unverified"
}

// StatusMsgID is the Nats-Msg-Id of a status answer: the invoice, the check number (the
// invoice's status answers so far + 1), the result code, the transaction status and
// id. The same answer published twice is stored once; a later check is a new message.
func StatusMsgID(invoiceID string, check int, resultCode, statusName, transactionID string) string {
	return "st:" + invoiceID + ":" + strconv.Itoa(check) + ":" + resultCode + ":" + statusName + ":" + transactionID
}

// InvoiceMsgID is the Nats-Msg-Id of invoice.created: the invoiceId itself.
func InvoiceMsgID(invoiceID string) string { return invoiceID }
