package natsbus

import (
	"strconv"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
)

// Stream names. The inbox's contract (its subjects, headers, message ids and bodies)
// is package inbox's, the events' package events'; natsbus only lays out the streams.
const (
	StreamInbox  = inbox.Stream
	StreamEvents = events.Stream
	StreamDLQ    = "EPAY_DLQ"
)

// DLQSubject is "epay.dlq.<shard>".
func DLQSubject(shard int) string { return "epay.dlq." + strconv.Itoa(shard) }
