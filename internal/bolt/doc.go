// Package bolt is the worker's store on a bbolt file: the materialised view of every
// invoice the worker owns (with the ids of the messages applied to it, the one dedupe
// record: invoice.Apply refuses an id it holds), each invoice's history,
// and the outbox of payment events not yet published.
//
// Buckets:
//
//	invoices  invoiceId                      -> invoice.Invoice (JSON)
//	history   invoiceId 0x00 seq(8 bytes BE) -> HistoryEntry (JSON): every message, verbatim
//	outbox    seq(8 bytes BE)                -> invoice.Event (JSON), deleted once published
//	meta      "state/<state>", "outbox"      -> counters (8 bytes BE); "schema" -> version
//
// Every message is applied in one transaction (dedupe + state machine + history +
// outbox); concurrent callers share transactions through DB.Batch.
package bolt
