package ingest

import (
	"container/list"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// guard admits or refuses a callback request before its body is read: the source's
// address must be in the allow-list (when one is set) and within its rate. It is nil
// when neither is configured.
type guard struct {
	allow   []netip.Prefix // empty: every source
	proxies []netip.Prefix // peers whose X-Forwarded-For is believed
	limit   *limiter       // nil: no rate limit
}

func newGuard(c Config) *guard {
	if len(c.AllowCIDRs) == 0 && c.RateLimit <= 0 {
		return nil
	}
	g := &guard{allow: c.AllowCIDRs, proxies: c.TrustedProxies}
	if c.RateLimit > 0 {
		g.limit = newLimiter(c.RateLimit, c.RateBurst, c.RateMaxSources, time.Now)
	}
	return g
}

// admit returns 0 when the request may go on; otherwise the rejection and, for a rate
// limit, how long the source should wait.
func (g *guard) admit(r *http.Request) (rejection, time.Duration, bool) {
	ip := clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), g.proxies)
	if len(g.allow) > 0 && !contains(g.allow, ip) {
		return rejForbidden, 0, false
	}
	if g.limit != nil {
		if ok, wait := g.limit.allow(ip); !ok {
			return rejRateLimited, wait, false
		}
	}
	return 0, 0, true
}

// clientIP is the address a request comes from. The TCP peer is the client unless it is
// a trusted proxy: then X-Forwarded-For is read from its right end (the entry the proxy
// appended), skipping further trusted proxies, and the first address that is not one
// is the client. Entries left of it were written by the client itself and are never
// believed. An entry that does not parse gives the zero address, which no allow-list
// contains. Without trusted proxies X-Forwarded-For is ignored.
func clientIP(remoteAddr string, xff []string, proxies []netip.Prefix) netip.Addr {
	peer := peerIP(remoteAddr)
	if len(proxies) == 0 || !contains(proxies, peer) || len(xff) == 0 {
		return peer
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	ip := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}
		}
		ip = a.Unmap()
		if !contains(proxies, ip) {
			return ip
		}
	}
	return ip
}

func peerIP(remoteAddr string) netip.Addr {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseCIDRs reads a comma-separated list of CIDRs or single addresses ("10.0.0.0/8,
// 192.0.2.7"); an empty string is an empty list.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, err
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// limiter is a token bucket per source address: rate tokens a second, at most burst.
// It keeps at most max buckets; the least recently used goes first, which costs nothing
// but a full bucket to a source idle that long. Memory is bounded by max.
type limiter struct {
	rate, burst float64
	max         int
	now         func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*list.Element
	lru     list.List // of *bucket, most recent first
}

type bucket struct {
	addr   netip.Addr
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst, max int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), max: max, now: now, buckets: make(map[netip.Addr]*list.Element)}
}

// source is the bucket's key of address a: an IPv4 address itself, an IPv6 address its
// /64, the least a single host is given (a bucket per IPv6 address would give one host
// 2^64 buckets, each with its burst, and push every other source out of the limiter).
func source(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a.Unmap()
}

// allow takes a token of a's bucket (source); when none is left it says how long until
// one is.
func (l *limiter) allow(a netip.Addr) (bool, time.Duration) {
	a = source(a)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e, ok := l.buckets[a]; ok {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	} else {
		if len(l.buckets) >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.buckets, old.Value.(*bucket).addr)
		}
		b = &bucket{addr: a, tokens: l.burst, last: now}
		l.buckets[a] = l.lru.PushFront(b)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sources is how many buckets the limiter holds.
func (l *limiter) sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter is the Retry-After value of a wait: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
