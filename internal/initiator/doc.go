// Package initiator starts payments: POST /v1/payments validates the merchant's
// request, allocates the invoiceId, derives its secret_hash, gets a fresh ePay token
// for that one operation, publishes invoice.created to the shard's inbox and waits for
// JetStream's acknowledgement, and only then returns the payment object the ePay form
// takes (halyk.pay for a card payment, halyk.p2p for a transfer).
//
// It also serves the demo shop page with the pay button (GET /), the pages ePay sends
// the customer back to (/return/success, /return/failure), and a same-origin read of
// an invoice's state from the worker (GET /v1/invoices/{invoiceId}) for those pages.
//
// Run wires it for one process; Config and ParseFlags configure it; cmd/initiator is
// the binary.
package initiator
