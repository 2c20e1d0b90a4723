// Package devstack runs the whole of epayflow in one process for a laptop: an embedded
// NATS JetStream server, the ePay sandbox, the ingest, the worker and the initiator, each
// configured through the same environment variables it reads in production.
//
// It ships keys and credentials that are fine on a laptop and nowhere else, and refuses to
// start with them when EPAY_ENV=prod.
package devstack
