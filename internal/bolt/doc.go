// Package bolt is the worker's store on a bbolt file: the materialised view of every
// invoice the worker owns (with the ids of the messages applied to it, the one dedupe
// record: invoice.Apply refuses an id it holds), each invoice's history,
// and the outbox of payment events not yet published.
//
// Buckets:
//
//	invoices  invoiceId                      -> invoice.Invoice (JSON, short keys: encoding.go), with its history
//	                                            keys and its RecordRef (binary): its last EPAY_STATE record
//	history   seq(8 bytes BE)                -> HistoryEntry (JSON, short keys): every message, its body verbatim
//	          (invoiceId 0x00 seq before schema 3: read, never written)
//	records   invoiceId                      -> RecordRef, in a file from before schema 4 (read, moved into the invoice)
//	open      invoiceId                      -> "" (invoices the status API may still change)
//	pending   invoiceId 0x00 seq(8 bytes BE) -> invoice.Message (JSON): callbacks of an unmatched invoice
//	outbox    seq(8 bytes BE)                -> invoice.Event (JSON), deleted once published
//	meta      "state/<state>", "outbox"      -> counters (8 bytes BE); "schema" -> version (4)
//
// invoices and history fill their pages (their keys come in order; history entries
// only ever at the bucket's tail); the
// file's free pages go back to the disk only with CompactFile (`worker compact`).
//
// Every message is applied in one transaction (dedupe + state machine + history +
// outbox); concurrent callers share transactions through DB.Batch.
package bolt
