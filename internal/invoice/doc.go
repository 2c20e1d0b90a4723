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
//
// With confirmation (Payment.Confirm), a matching success does not make the invoice
// paid: the invoice keeps its state with Confirmation "pending" until a status message
// (MsgStatus, what ePay's status API said, published by the worker's confirmer) makes
// it paid (the status says CHARGE or AUTH and matches) or review (anything else). The
// reconciler's status messages resolve invoices left created: paid, failed (declined),
// or still created (not found). See applyStatus for the table.
//
// An operator decides an invoice in review or unmatched with a resolution (MsgResolve,
// published signed by the worker's resolve API): paid or failed, with the decision's
// own event carrying the resolution; on any other invoice it is history only. See
// applyResolve.
package invoice
