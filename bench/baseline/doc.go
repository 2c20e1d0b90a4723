// Package baseline is what the services are measured against: the least each of their
// jobs can cost on the same machine. PlainHTTP is the HTTP ceiling (read the body,
// answer 200); BoltBatch is the worker's storage ceiling (bbolt DB.Batch writes of the
// worker's record sizes, fsync on); Floor is the least worker fed by JetStream (those
// writes, with the events published and each message acked); Pipeline is the least end-to-end path with the
// same durable hops as the real one (HTTP -> JetStream -> bbolt -> JetStream), with
// none of the checks.
package baseline
