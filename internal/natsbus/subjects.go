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
	// StreamState is the workers' changelog: each invoice's latest state, one message
	// per invoice (a compacted changelog), written before the owner commits it.
	StreamState = "EPAY_STATE"
)

// StateSubjects are EPAY_STATE's subjects: "epay.state.<shard>.<invoiceId>".
const StateSubjects = "epay.state.>"

// StateSubject is the changelog subject of one invoice of a shard.
func StateSubject(shard int, invoiceID string) string {
	return "epay.state." + strconv.Itoa(shard) + "." + invoiceID
}

// StateShardFilter matches the changelog subjects of every invoice of a shard.
func StateShardFilter(shard int) string { return "epay.state." + strconv.Itoa(shard) + ".*" }

// DLQSubject is "epay.dlq.<shard>".
func DLQSubject(shard int) string { return "epay.dlq." + strconv.Itoa(shard) }
