// Package jspubsub is a Watermill Pub/Sub over NATS JetStream: a Subscriber that reads
// each topic through a durable pull consumer and a Publisher that waits for each
// message's PubAck.
//
// Unlike watermill-nats' jetstream subscriber, the Subscriber hands the router up to
// MaxInFlight unacked messages of a topic at once (so concurrent handlers can share one
// database transaction) but those of one order key one at a time, in stream order; it
// acks a message only once its handler acked it, naks it with a delay once the handler
// nacked it, never drains a connection it does not own, and cannot panic on an odd
// header. The worker reads the inbox's shards with it (one topic per shard).
//
// Both pass Watermill's Pub/Sub test suite (pubsub/tests), with the features they
// support declared in pubsub_test.go.
package jspubsub
