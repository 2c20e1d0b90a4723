package proctest

import (
	"net"
	"strconv"
	"testing"
)

// Port is a FreePort for a test, which fails when there is none. Tests that need several
// ports call it once a port: it never hands out a port twice in one process, where two
// listens on port 0, each closed before the next, may give the same port twice (a test's
// stack once refused to start with SANDBOX_ADDR and INGEST_ADDR on one port).
func Port(t testing.TB) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// Addr is "127.0.0.1:" and a Port.
func Addr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(Port(t)))
}
