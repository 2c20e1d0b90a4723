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

// The operator's record of discarded DLQ entries (`worker dlq discard`): a stream of its
// own, which the worker may not write to, so that the DLQ's depth counts only entries
// still to handle and a record says only what an operator did.
const (
	StreamDLQDiscarded = "EPAY_DLQ_DISCARDED"
	// DLQDiscardedSubjects are its subjects: "epay.dlq-discarded.<shard>".
	DLQDiscardedSubjects = "epay.dlq-discarded.>"
	// DLQDiscardedMaxBytes bounds it: a record is an entry (a callback of at most 64
	// KiB, most a few KiB) with a few headers.
	DLQDiscardedMaxBytes = 64 << 20
)

// DLQDiscardedSubject is "epay.dlq-discarded.<shard>".
func DLQDiscardedSubject(shard int) string { return "epay.dlq-discarded." + strconv.Itoa(shard) }
