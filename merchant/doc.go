// Package merchant is what a merchant's Go system needs to work with epayflow: a
// Client that creates payments through the initiator (POST /v1/payments) and reads
// invoices through the worker's read API (GET /v1/invoices/{id}) and registers webhook
// endpoints with the webhooks service (and rotates their secrets), a WebhookVerifier
// that checks the Standard Webhooks signature of a delivery from the webhooks service,
// and DecodeEvent, which reads a payment event (a CloudEvent, the same on PAYMENT_EVENTS
// and in a webhook's body) into typed values.
//
// It depends on the standard library and the official CloudEvents Go SDK only; it
// imports nothing of epayflow's internal packages, so it is the API as a merchant sees
// it: api/openapi/initiator.yaml, worker.yaml, webhooks.yaml and
// api/asyncapi/payment-events.yaml (docs/API.md). Its tests run it against the local
// stack and check its types against those documents.
//
// Errors: an answer of 4xx or 5xx is an *APIError with the API's error body; it matches
// (errors.Is) ErrInvalid, ErrUnauthorized, ErrNotFound, ErrConflict or ErrUnavailable by
// its status. A webhook that does not verify is an error wrapping ErrWebhookHeaders,
// ErrWebhookTimestamp or ErrWebhookSignature; an event that is not a payment event wraps
// ErrNotPaymentEvent.
//
// docs/INTEGRATE.md walks through a merchant's first hour with it.
package merchant
