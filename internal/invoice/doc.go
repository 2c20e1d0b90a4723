// Package invoice is the worker's domain: an invoice, its states, the messages that move
// it (invoice.created and ePay's callbacks) and the events a change publishes.
//
// Apply is the whole state machine as a pure function: no I/O, no clock, no randomness.
// The store (package bolt) wraps it in one transaction with deduplication, history and
// the outbox. The package imports only the standard library and internal/epay.
//
//	            invoice.created              success (verified, matching)
//	(unknown) ─────────────────▶ created ───────────────────────────────▶ paid
//	    │                          │  │ failure                      ▲  ▲
//	    │ callback                 │  └────────▶ failed ─────────────┘  │ success (verified, matching)
//	    ▼                          │ success: mismatch or unverified      │
//	unmatched ──invoice.created──▶ │ ───────────────────────────▶ review ─┘
//	(callbacks kept, re-applied in order when invoice.created arrives)
package invoice
