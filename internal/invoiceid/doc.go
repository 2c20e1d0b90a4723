// Package invoiceid allocates the invoiceId of every new payment: digits only, 6 to 15
// of them, unique across initiator replicas and restarts, and with the last 6 digits
// unique over at least the last 1,000,000 ids allocated.
//
// # Scheme
//
// One global sequence lives in a NATS JetStream key-value bucket (EPAY_INVOICE_SEQ, key
// "last", value the last sequence number handed out, as decimal text). The invoiceId of
// sequence number n is Prefix followed by n zero-padded to Width digits: with the
// defaults ("1", 11) the first id is 100000000001, always 12 digits, never a leading
// zero, so a system that reads it as a number cannot change it.
//
// Replicas reserve numbers with compare-and-set (kv.Update against the revision they
// last saw; on a conflict they re-read and retry, a bounded number of times). A replica
// reserves exactly as many numbers as it has callers waiting at that moment (group
// commit: one round trip serves every concurrent request, at most MaxBatch) and hands
// every reserved number out at once. Nothing is kept for later, so nothing is lost when
// a replica restarts or sits idle.
//
// With Scheme.Random (ProdScheme: 5), that many random digits stand between the
// sequence's leading digits and its last 6. Uniqueness never rests on them: every digit of
// n is still in the id, at a fixed place, so two numbers never give one id, whatever the
// random digits; they only make the next id unguessable from the last one.
//
// # Why the last 6 digits are unique over 1,000,000 ids
//
// Width is at least 6, so the last 6 digits of an id are n mod 1,000,000. Two ids share
// them only if their sequence numbers differ by a multiple of 1,000,000. Every number of
// the sequence is handed to exactly one caller (the CAS gives each range to one replica,
// and a replica never drops or keeps back a reserved number), so between two such ids
// at least 999,999 other ids were allocated. Numbers leave the sequence in increasing
// order, up to the few milliseconds a batch is in flight, so "allocated between them"
// is also "allocated between them in time".
//
// A block-prefetch scheme (reserve B numbers, use them over time) would waste the rest
// of a block on every restart and expiry; the window would then cover fewer than
// 1,000,000 real ids. This one has no such waste. An id handed out whose payment then
// fails (ePay down, client gone) is still spent: ePay never sees it, which only widens
// the distance between the ids it does see.
//
// # Restarts and resets
//
// The bucket is file-backed: the sequence survives restarts of replicas and of NATS.
// Deleting the bucket restarts the sequence at 1 and would repeat ids; should that ever
// be necessary, change Prefix at the same time (a new prefix is a new id space).
package invoiceid
