// Package load drives a system with requests and measures it: a corpus of valid,
// signed, realistic ePay callbacks (both kinds, many invoices, a share of duplicates),
// and a driver that runs any operation flat out from N senders (closed loop) or at a
// fixed rate (open loop, latency measured from each request's intended send time so a
// stall is never hidden by the senders waiting for it: no coordinated omission).
//
// The same driver runs the ingest over HTTP, the raw JetStream publish baseline and the
// plain HTTP baseline, so their figures differ only in what is measured.
package load
