// Package natsbus is the contract every service shares on NATS JetStream: the streams
// and their configuration, the subjects, the sharding of invoices, the message headers
// and the message ids that make publishing idempotent. It also connects to NATS the
// same way everywhere.
//
//	EPAY_INBOX      epay.inbox.<shard>.postlink   callbacks, verbatim body (ingest)
//	                epay.inbox.<shard>.invoice    invoice.created (initiator)
//	                epay.inbox.<shard>.status     ePay's status answers, signed (worker)
//	                epay.inbox.<shard>.resolve    operators' resolutions, signed (worker)
//	PAYMENT_EVENTS  payments.<type>               CloudEvents for merchant systems (worker)
//	EPAY_DLQ        epay.dlq.<shard>              messages the worker can never apply
//	EPAY_DLQ_DISCARDED epay.dlq-discarded.<shard> DLQ entries an operator discarded, with who and why
package natsbus
