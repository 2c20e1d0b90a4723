// Package ingest takes ePay's postLink and failurePostLink callbacks and puts them, verbatim,
// on the EPAY_INBOX stream. It answers 200 only once JetStream has acknowledged the
// message, so a callback that was answered 200 cannot be lost; anything else is a 4xx
// (the callback is bad and will never be stored) or a 503 (try again).
//
// It is stateless: no database, no call to ePay. secret_hash is verified from the
// configured keys alone, so any number of replicas can run behind a load balancer.
package ingest
