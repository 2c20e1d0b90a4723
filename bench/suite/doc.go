// Package suite is `make bench`: it builds the services, runs each as its own process
// against a nats-server process, drives them with bench/load beside the baselines of
// bench/baseline measured in the same run, runs the Go micro-benchmarks, and writes
// docs/BENCHMARKS.md. Every load is bounded in count and in time.
package suite
