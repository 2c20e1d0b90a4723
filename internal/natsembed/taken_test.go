package natsembed

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestTakenPortFailsAtOnce: a port another process holds is said at once, naming the
// address, instead of "not ready within 10s".
func TestTakenPortFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = Start(Config{Dir: t.TempDir(), Host: "127.0.0.1", Port: port})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("Start on a taken port: %v", err)
	}
}
