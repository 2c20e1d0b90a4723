// Package initiator starts payments: POST /v1/payments validates the merchant's
// request, allocates the invoiceId, derives its secret_hash, gets a fresh ePay token
// for that one operation, publishes invoice.created to the shard's inbox and waits for
// JetStream's acknowledgement, and only then returns the payment object the ePay form
// takes (halyk.pay for a card payment, halyk.p2p for a transfer).
//
// An optional Idempotency-Key makes a retry return the same invoice, across replicas:
// the key's invoice is recorded in a JetStream key-value bucket (idempotency.go).
// A merchant's backLink must name a host of INITIATOR_BACKLINK_HOSTS (links.go).
//
// It also serves the demo shop page with the pay button (GET /) and its keyless,
// rate-limited route POST /shop/payments (shop.go), the pages ePay sends the customer
// back to (/return/success, /return/failure), and a same-origin read of an invoice's
// state from the worker (GET /v1/invoices/{invoiceId}) for those pages. The pages and
// the read need the invoice's return token (an HMAC of the invoiceId, in the default
// backLinks) or an API key. Every answer carries a CSP, nosniff and no-referrer (web.go).
//
// Run wires it for one process; Config and ParseFlags configure it; cmd/initiator is
// the binary.
package initiator
