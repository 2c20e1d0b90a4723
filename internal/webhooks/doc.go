// Package webhooks delivers PAYMENT_EVENTS to merchants' HTTPS endpoints, signed as the
// Standard Webhooks specification says (webhook-id, webhook-timestamp,
// webhook-signature), for systems that cannot run a NATS consumer.
//
// Endpoints, their secrets, the delivery-attempt log and the dead letters are kept in
// one JetStream key-value bucket (Bucket), which only the webhooks NATS user may read:
// the bucket is the secret store. The Dispatcher reads PAYMENT_EVENTS through one
// durable consumer (jspubsub), posts each event to every endpoint whose filter matches,
// and retries failures on Config.Schedule by naking the message with a delay; after
// the last retry the event goes to the endpoint's dead letter, from where the API
// replays it. The API serves /v1/webhooks/endpoints.
package webhooks
