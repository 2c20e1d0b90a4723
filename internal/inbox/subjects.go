package inbox

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// Stream is the JetStream stream that holds the inbox.
const Stream = "EPAY_INBOX"

// Subjects is the stream's subject filter.
const Subjects = "epay.inbox.>"

const subjectPrefix = "epay.inbox."

// Message kinds: the last token of an inbox subject.
const (
	KindPostlink = "postlink" // ePay's callback, published by the ingest
	KindInvoice  = "invoice"  // invoice.created, published by the initiator
	// KindStatus: what ePay's status API said about an invoice, published by the
	// worker's checker so it is applied like any other inbox message.
	KindStatus = "status"
	// KindResolve: an operator's decision on an invoice in review or unmatched,
	// published by the worker's resolve API, signed like a status (resolve.go).
	KindResolve = "resolve"
	// KindOperation: a step of a charge, cancel or refund the worker made through
	// ePay's operation API, signed like a status message.
	KindOperation = "operation"
)

// Kinds lists the kinds, in a fixed order.
func Kinds() []string {
	return []string{KindPostlink, KindInvoice, KindStatus, KindResolve, KindOperation}
}

// DefaultShards is how many shards the inbox is cut into unless configured: up to 16
// workers share them (a worker owns a shard or none; shards move between them). Each
// shard is a durable consumer whose state nats-server writes up to ten times a second:
// against 64, 16 shards took a third off nats-server's CPU a message and drained faster
// (bench/NOTES.md, session 18). The number is part of the data's layout: every service
// must use the same one, and changing it moves invoices between shards, so it is chosen
// once per deployment and recorded on EPAY_INBOX (natsbus.MetadataShards).
const DefaultShards = 16

// MaxShards bounds the shard count.
const MaxShards = 1024

// Shard returns the shard of an invoice: FNV-1a of the invoiceId modulo shards.
// Everything about one invoice lands on one shard, in order.
func Shard(invoiceID string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(invoiceID))
	return int(h.Sum32() % uint32(shards))
}

// Subject is "epay.inbox.<shard>.<kind>".
func Subject(shard int, kind string) string {
	return subjectPrefix + strconv.Itoa(shard) + "." + kind
}

// SubjectOf is the subject of a message of kind about invoiceID.
func SubjectOf(invoiceID string, shards int, kind string) string {
	return Subject(Shard(invoiceID, shards), kind)
}

// ShardFilter is the subject filter of one shard's consumer: "epay.inbox.<shard>.>".
func ShardFilter(shard int) string { return subjectPrefix + strconv.Itoa(shard) + ".>" }

// KindPattern is the subject filter of every shard's messages of one kind,
// "epay.inbox.*.<kind>": what a producer may publish to.
func KindPattern(kind string) string { return subjectPrefix + "*." + kind }

// ParseSubject reads the shard and kind of "epay.inbox.<shard>.<kind>". ok is false for
// anything else: another prefix, a shard that is not a canonical non-negative number
// below MaxShards, an unknown kind, or more tokens.
func ParseSubject(subject string) (shard int, kind string, ok bool) {
	rest, found := strings.CutPrefix(subject, subjectPrefix)
	if !found {
		return 0, "", false
	}
	num, kind, found := strings.Cut(rest, ".")
	if !found {
		return 0, "", false
	}
	shard, ok = parseShard(num)
	if !ok {
		return 0, "", false
	}
	switch kind {
	case KindPostlink, KindInvoice, KindStatus, KindResolve, KindOperation:
		return shard, kind, true
	}
	return 0, "", false
}

// ParseShardFilter reads the shard of "epay.inbox.<shard>.>".
func ParseShardFilter(filter string) (int, bool) {
	rest, found := strings.CutPrefix(filter, subjectPrefix)
	if !found {
		return 0, false
	}
	num, found := strings.CutSuffix(rest, ".>")
	if !found {
		return 0, false
	}
	return parseShard(num)
}

// parseShard takes only the canonical form strconv.Itoa makes: "7", not "07" or "+7".
func parseShard(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= MaxShards || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}
