package proctest

import (
	"net"
	"strconv"
	"testing"
)

// FreePort gives a port below the kernel's ephemeral range (where no outgoing connection
// can take it before the process binds it), that can be bound, and not the same one
// every time.
func TestFreePortIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 20 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port < minPort || port >= low {
			t.Fatalf("FreePort = %d, want %d..%d", port, minPort, low-1)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("FreePort's %d cannot be bound: %v", port, err)
		}
		l.Close()
		seen[port] = true
	}
	if len(seen) != 20 {
		t.Errorf("20 calls gave %d different ports, want 20: a port is never handed out twice", len(seen))
	}
}
