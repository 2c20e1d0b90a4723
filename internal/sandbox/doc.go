// Package sandbox is a local imitation of Halyk Bank's ePay gateway, faithful enough to
// run a whole payment offline: the OAuth token endpoint with ePay's per-scope field
// rules, payment-api.js with halyk.pay / halyk.p2p / halyk.oct / halyk.showPaymentWidget,
// a card form that knows the published test cards, the postLink / failurePostLink
// callbacks (the samples' exact fields and types, rendered by internal/epaytest, retried
// with backoff until a 200), the status API and charge / cancel / refund with their
// state rules.
//
// Its trigger command (`epay-sandbox trigger`) is epaytest's Trigger: a signed success or
// failure callback for any invoice to any URL (duplicated, out of order or with a wrong
// secret_hash), so a developer can exercise a callback endpoint without a browser.
//
// Everything lives in memory, bounded; nothing is written to disk. See docs/SANDBOX.md.
package sandbox
