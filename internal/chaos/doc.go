// Package chaos proves the promise of docs/RELIABILITY.md under fire: every callback
// answered 200 is reconciled exactly once, whatever crashes.
//
// Run builds a NATS server from the pinned nats-server module and the ingest and the
// worker from this repository, starts them as separate processes on loopback (the worker
// with confirmation on, asking the status API of an ePay sandbox the test serves in
// process, in which every payment of the load is recorded before its callbacks), and
// sends ePay-like callbacks (signed with the ingest's keys, through epaytest.Trigger,
// retried like ePay by epaytest.Deliverer until an answer the ingest means as final) and
// invoice.created messages (published as the initiator does) for many invoices, while it
// SIGKILLs the worker every few seconds, SIGKILLs the ingest, and kills and restarts NATS
// once (the processes run by internal/proctest). Then it lets the worker drain and
// checks, from the EPAY_INBOX and PAYMENT_EVENTS streams, the worker's read API and its
// bbolt file, that nothing answered 200 was lost or applied twice, that every invoice
// ends in the state an independent model of the state machine computes, and that every
// state change published exactly one event.
//
// The test in this package runs a short form by default (part of `make test`) and the
// long one when CHAOS=long (`make chaos`).
package chaos
