// Package proctest runs the services as child processes for the chaos test
// (internal/chaos) and the benchmarks (bench/suite): it builds their binaries (and
// nats-server from the version go.mod pins), starts a process, stops it with SIGTERM or
// kills it with SIGKILL (each with a bounded wait), starts it again with the same command
// line, environment and log file, and waits until it serves HTTP or TCP. Each service is
// its own process, so a kill is a real crash and its peak memory (VmHWM) is its own.
//
// No service imports this package (internal/arch's test enforces it).
package proctest
