package ingest

import (
	"net/netip"
	"testing"
	"time"
)

func TestClientIPBelievesXForwardedForOnlyFromTrustedProxies(t *testing.T) {
	proxies, _ := ParseCIDRs("10.0.0.0/8")
	tests := map[string]struct {
		peer    string
		xff     []string
		proxies []netip.Prefix
		want    string
	}{
		"no proxies: the peer, header ignored":    {"192.0.2.1:5000", []string{"198.51.100.7"}, nil, "192.0.2.1"},
		"untrusted peer: header ignored":          {"192.0.2.1:5000", []string{"198.51.100.7"}, proxies, "192.0.2.1"},
		"trusted peer: its entry":                 {"10.1.2.3:5000", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		"trusted peer, no header: the peer":       {"10.1.2.3:5000", nil, proxies, "10.1.2.3"},
		"spoofed left entries are never believed": {"10.1.2.3:5000", []string{"192.0.2.99, 198.51.100.7"}, proxies, "198.51.100.7"},
		"a chain of trusted proxies is skipped":   {"10.1.2.3:5000", []string{"198.51.100.7, 10.9.9.9"}, proxies, "198.51.100.7"},
		"two header lines read as one list":       {"10.1.2.3:5000", []string{"192.0.2.99", "198.51.100.7"}, proxies, "198.51.100.7"},
		"garbage: no address":                     {"10.1.2.3:5000", []string{"not-an-ip"}, proxies, "invalid IP"},
		"ipv4-mapped ipv6 peer":                   {"[::ffff:192.0.2.1]:5000", nil, nil, "192.0.2.1"},
		"every hop trusted: the leftmost":         {"10.1.2.3:5000", []string{"10.7.7.7"}, proxies, "10.7.7.7"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := clientIP(tt.peer, tt.xff, tt.proxies).String(); got != tt.want {
				t.Fatalf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	// an IPv4-mapped IPv6 prefix is its IPv4 prefix (96 bits fewer, at least 0), as the
	// clients' addresses are unmapped too
	got, err := ParseCIDRs(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,10.1.2.3/8,::ffff:172.16.0.0/108,::ffff:0.0.0.0/80")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.0.0.0/8", "172.16.0.0/12", "0.0.0.0/0"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0/8"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) took it", bad)
		}
	}
	if got, err := ParseCIDRs(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestLimiterRefillsAtItsRateAndForgetsTheLeastRecentSource(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(2, 3, 3, func() time.Time { return now })
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if ok, _ := l.allow(a); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.allow(a)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%s, want refused for at most 500ms", ok, wait)
	}
	if got := retryAfter(wait); got != "1" {
		t.Errorf("Retry-After = %s, want 1", got)
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if ok, _ := l.allow(a); !ok {
		t.Fatal("refused after a token came back")
	}
	if ok, _ := l.allow(a); ok {
		t.Fatal("took a second token that had not come back")
	}
	// an IPv6 host has its /64: another address of it takes from the same bucket
	v6 := newLimiter(1, 2, 10, func() time.Time { return now })
	for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::7"} {
		if ok, _ := v6.allow(netip.MustParseAddr(addr)); !ok {
			t.Fatalf("IPv6 request %d within the burst refused", i+1)
		}
	}
	if ok, _ := v6.allow(netip.MustParseAddr("2001:db8:1:2:aaaa::9")); ok {
		t.Fatal("a third address of the same /64 got a bucket of its own")
	}
	if ok, _ := v6.allow(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Fatal("another /64 shares the first one's bucket")
	}
	for i := range 10 { // other sources: memory stays bounded
		l.allow(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if n := l.sources(); n != 3 {
		t.Fatalf("tracks %d sources, want at most 3", n)
	}
}
