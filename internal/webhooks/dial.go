package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is wrapped by a dial refused because the address is private,
// loopback, link-local or otherwise not public and not allowed by the operator.
var ErrForbiddenAddress = errors.New("address not allowed")

// Guard decides which IP addresses deliveries may connect to.
type Guard struct {
	// Allow are the operator's exceptions (WEBHOOKS_ALLOW_PRIVATE).
	Allow []netip.Prefix
}

// Permit reports whether a connection to ip may be made: a public unicast address, or
// one in Allow.
func (g Guard) Permit(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// notPublic are the special-purpose ranges (IANA's registries) that IsGlobalUnicast and
// IsPrivate leave in: not the internet, or a way to reach an IPv4 address inside it.
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking, often inside data centres
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated): an IPv4 address inside
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated (SIIT): an IPv4 address inside
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: would reach an IPv4 address behind it
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001::/32"),       // Teredo: an IPv4 address inside
	netip.MustParsePrefix("2001:10::/28"),    // ORCHID
	netip.MustParsePrefix("2001:20::/28"),    // ORCHIDv2
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: an IPv4 address inside
	netip.MustParsePrefix("fec0::/10"),       // site-local, deprecated
}

// control runs after DNS resolution, on the address about to be dialled: a name that
// resolves to a public address once and a private one the next time (DNS rebinding)
// is still refused.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !g.Permit(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// maxResponseHeader bounds the headers of an endpoint's answer; past it the delivery
// fails. A receiver's answer needs a status line and a few headers.
const maxResponseHeader = 16 << 10

// Client is the HTTP client of deliveries: every dial checked by g, no proxy, no
// redirects followed (a 3xx is a failed delivery), each request bounded by timeout.
func (g Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           func(ctx context.Context, n, a string) (net.Conn, error) { return d.DialContext(ctx, n, a) },
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		// An endpoint is anyone's server: Go's default (10 MB of headers an answer, with
		// an event sent to every endpoint at once) let one exhaust the service's memory.
		MaxResponseHeaderBytes: maxResponseHeader,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ParseAllow reads a comma-separated list of CIDR prefixes or addresses.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR prefix nor an address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
