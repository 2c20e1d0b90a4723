package initiator

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// hostPattern is one entry of INITIATOR_BACKLINK_HOSTS: a host name or IP ("shop.kz"),
// optionally with a port ("shop.kz:8443", then only that port), or "*.shop.kz" for
// every subdomain of shop.kz (not shop.kz itself).
type hostPattern struct {
	host     string // lower case, no trailing dot; for a wildcard, the parent domain
	port     string // "" matches any port
	wildcard bool
}

// parseHostPattern reads one entry; the error names it.
func parseHostPattern(entry string) (hostPattern, error) {
	s := strings.ToLower(strings.TrimSpace(entry))
	var p hostPattern
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		p.wildcard, s = true, rest
	}
	u, err := url.Parse("//" + s)
	if err != nil || s == "" || u.Host != s || u.User != nil || !validHostName(u.Hostname()) {
		return hostPattern{}, fmt.Errorf("backLink host %q: want a host name, host:port or *.domain", entry)
	}
	p.host, p.port = strings.TrimSuffix(u.Hostname(), "."), u.Port()
	if p.wildcard && (net.ParseIP(p.host) != nil || endsInNumber(p.host)) {
		// *.0.0.1 is not an IP address, yet matched 127.0.0.1
		return hostPattern{}, fmt.Errorf("backLink host %q: a wildcard needs a domain, not an IP address", entry)
	}
	if p.wildcard && !strings.Contains(p.host, ".") {
		// *.kz would allow every shop of the country (a public suffix): name the domain
		return hostPattern{}, fmt.Errorf("backLink host %q: a wildcard needs a domain of two labels or more (*.shop.kz, not *.kz)", entry)
	}
	return p, nil
}

// endsInNumber is the URL Standard's "ends in a number" of a host: its last label is
// digits, or 0x and hex digits. A browser reads such a host as an IPv4 address
// (127.0.0x1 is 127.0.0.1), never as a domain under a wildcard.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// validHostName: an IP address, or a DNS name of ASCII labels (letters, digits and
// hyphens, 1 to 63 of them, no hyphen at either end) joined by single dots, with one
// trailing dot at most. Empty labels ("*.kz.." or "a..shop.kz") are no name: a
// wildcard of them would cover a public suffix, a link with them is not a host.
func validHostName(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

func parseHostPatterns(entries []string) ([]hostPattern, error) {
	out := make([]hostPattern, 0, len(entries))
	for _, e := range entries {
		p, err := parseHostPattern(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (p hostPattern) match(u *url.URL) bool {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if !validHostName(host) { // ASCII only: "evil.com％2F.shop.kz" is not under *.shop.kz
		return false
	}
	if p.wildcard {
		if !strings.HasSuffix(host, "."+p.host) || endsInNumber(host) {
			return false
		}
	} else if host != p.host {
		return false
	}
	return p.port == "" || p.port == effectivePort(u)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// linkPolicy decides which backLink and failureBackLink a merchant may pass.
type linkPolicy struct {
	hosts     []hostPattern
	httpsOnly bool
}

// check returns "" or the problem with link, naming its host.
func (lp linkPolicy) check(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return "must be an absolute http(s) URL"
	}
	if lp.httpsOnly && u.Scheme != "https" {
		return "must be an https URL (EPAY_ENV=prod)"
	}
	for _, p := range lp.hosts {
		if p.match(u) {
			return ""
		}
	}
	return fmt.Sprintf("host %q is not allowed: add it to INITIATOR_BACKLINK_HOSTS", u.Host)
}
