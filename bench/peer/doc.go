// Package peer is what a merchant would build instead of epayflow, run beside it in the
// benchmark suite: an HTTP handler that writes each ePay callback into PostgreSQL
// (INSERT … ON CONFLICT DO NOTHING and the invoice's state update in one transaction,
// synchronous_commit on) and answers 200 after the commit, on a private PostgreSQL
// server started from the machine's binaries (Debian's postgresql package).
package peer
