package webhooks_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/webhooks"
)

func itoa(n uint64) string { return fmt.Sprint(n) }

// Without the operator's allow list no delivery reaches loopback, private or link-local
// addresses (the cloud metadata service); public addresses are allowed.
func TestGuardRefusesNonPublicAddresses(t *testing.T) {
	var g webhooks.Guard
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1",
		"fd00::1", "0.0.0.0", "100.64.0.1", "::ffff:127.0.0.1", "224.0.0.1",
		// special-purpose ranges that Go's IsGlobalUnicast leaves in (a review found them
		// open): benchmarking, reserved, documentation, and IPv6 forms with an IPv4 inside
		"0.1.2.3", "198.18.0.1", "198.19.255.254", "240.0.0.1", "192.0.0.8", "192.0.2.1", "203.0.113.9",
		"64:ff9b::a00:1", "64:ff9b:1::a00:1", "2002:7f00:1::", "2002:a00:1::1", "2001:0:4136:e378::1", "2001:db8::1", "fec0::1", "100::1",
		"::7f00:1", "::a00:1", "::ffff:0:7f00:1", "::ffff:0:a00:1"} {
		if g.Permit(netip.MustParseAddr(a)) {
			t.Errorf("%s permitted", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "2001:4860:4860::8888", "198.20.0.1", "2001:200::1", "2003::1"} {
		if !g.Permit(netip.MustParseAddr(a)) {
			t.Errorf("public %s refused", a)
		}
	}
	allow, err := webhooks.ParseAllow("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	g.Allow = allow
	if !g.Permit(netip.MustParseAddr("10.9.9.9")) || !g.Permit(netip.MustParseAddr("127.0.0.1")) || g.Permit(netip.MustParseAddr("127.0.0.2")) ||
		!g.Permit(netip.MustParseAddr("::ffff:127.0.0.1")) {
		t.Error("allow list not applied as given")
	}
}

// The check runs at dial time, on the resolved address: a request to a loopback server
// (by name, so DNS resolution happens) is refused before any byte reaches it.
func TestClientRefusesLoopbackAtDial(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer srv.Close()
	_, port, _ := splitHostPort(srv.URL)
	for _, u := range []string{srv.URL, "http://localhost:" + port, "http://169.254.169.254:" + port, "http://10.255.255.1:" + port} {
		_, err := webhooks.Guard{}.Client(time.Second).Post(u, "application/json", nil)
		if !errors.Is(err, webhooks.ErrForbiddenAddress) {
			t.Errorf("POST %s: %v, want ErrForbiddenAddress", u, err)
		}
	}
	if hit {
		t.Error("the loopback server got a request")
	}
	g := webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	resp, err := g.Client(time.Second).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	resp.Body.Close()
	if !hit {
		t.Error("allowed loopback server got no request")
	}
}

// A redirect is answered as it is, not followed: the target gets nothing.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	hit := false
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer target.Close()
	redir := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redir.Close()
	g := webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	resp, err := g.Client(time.Second).Post(redir.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hit {
		t.Errorf("status %d, target hit %v: the redirect was followed", resp.StatusCode, hit)
	}
}

// Without WEBHOOKS_ALLOW_PRIVATE the service never reaches a loopback receiver: a URL
// naming the address is refused at registration, and one whose name resolves to it
// fails at each attempt with the refusal, logged without the URL.
func TestServiceRefusesLoopbackEndpointsByDefault(t *testing.T) {
	cfg := testConfig()
	cfg.AllowPrivate = nil
	s := startStack(t, cfg)
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	if code, b := s.call(t, "POST", "/v1/webhooks/endpoints", webhooks.NewEndpoint{URL: rc.URL + "/hook"}, nil); code != http.StatusBadRequest {
		t.Errorf("registering %s/hook: %d %s, want 400", rc.URL, code, b)
	}
	id, _ := s.register(t, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1)+"/hook?token=s3cret")
	s.publish(t, "ev-s1", "paid", "INV-S")
	var log struct{ Attempts []webhooks.Attempt }
	waitFor(t, "a failed attempt", func() bool {
		s.call(t, "GET", "/v1/webhooks/endpoints/"+id+"/attempts", nil, &log)
		return len(log.Attempts) > 0
	})
	a := log.Attempts[len(log.Attempts)-1]
	if a.Result != "failed" || !strings.Contains(a.Error, "not reachable") || strings.Contains(a.Error, "s3cret") {
		t.Errorf("attempt %+v: want failed, refused, without the URL", a)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
}
