package natsbus

import (
	"strconv"

	"github.com/epayflow/epayflow/internal/inbox"
)

// Stream names. The inbox's contract (its subjects, headers, message ids and bodies)
// is package inbox's; natsbus only lays out the streams.
const (
	StreamInbox  = inbox.Stream
	StreamEvents = "PAYMENT_EVENTS"
	StreamDLQ    = "EPAY_DLQ"
)

// EventSubject is "payments.<type>", such as payments.paid.
func EventSubject(eventType string) string { return "payments." + eventType }

// DLQSubject is "epay.dlq.<shard>".
func DLQSubject(shard int) string { return "epay.dlq." + strconv.Itoa(shard) }

// HeaderDLQReason says why the worker gave up on a message (on EPAY_DLQ).
const HeaderDLQReason = "Epay-Dlq-Reason"
