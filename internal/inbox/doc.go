// Package inbox is the wire contract of EPAY_INBOX, in one place: its subjects and their
// parsing, the shard of an invoice, the headers, the message ids (Nats-Msg-Id) that
// deduplicate, the message bodies (ePay's callback, invoice.created, a status
// answer, an operator's resolution), the builders every producer uses (the ingest, the initiator, the worker's
// checker) and the one decoder every consumer uses (the worker, the DLQ's replay
// check, the chaos test's collector).
//
// Subjects are "epay.inbox.<shard>.<kind>" with kind postlink, invoice, status or
// resolve.
// Every message carries the invoice id in HeaderInvoiceID, so a consumer can order the
// messages of one invoice without decoding bodies; the decoder refuses a message whose
// header and body disagree.
//
// Nothing here trusts a header about trust: the decoder verifies a callback's
// secret_hash with the merchant's keys itself, takes an invoice.created only with the
// initiator's HMAC under the same keys (SignCreated), and a status message, a resolution
// or an operation only with the workers' HMAC (StatusSigner), each in a domain of its own.
//
// The package imports the domain (epay, invoice) and the NATS client's types, nothing
// else of the project.
package inbox
