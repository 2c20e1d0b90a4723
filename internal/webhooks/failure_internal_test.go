package webhooks

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The attempt log, read by any API key holder who may register any URL, says of a
// request that got no answer only its class: the raw errors told which cluster-internal
// names resolve, to which addresses, through which DNS server, and which ports answer.
func TestAFailedRequestIsLoggedByItsClassOnly(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "https://" + closed.Addr().String() + "/hook"
	closed.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(plain.Close)
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(selfSigned.Close)
	allowed := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(2 * time.Second)
	guarded := Guard{}.Client(2 * time.Second)
	for _, c := range []struct {
		client *http.Client
		url    string
		want   string
	}{
		{guarded, "http://127.0.0.1:1/hook", unreachable},
		{guarded, "http://localhost:9/hook", unreachable},
		{allowed, closedURL, "connection refused"},
		{allowed, "https" + strings.TrimPrefix(plain.URL, "http") + "/hook", "tls: the endpoint does not speak TLS"},
		{allowed, selfSigned.URL + "/hook", "tls: the certificate is not signed by a trusted authority"},
		{guarded, "https://no-such-name.invalid/hook", unreachable}, // the same class: which names exist is not told
	} {
		resp, err := c.client.Get(c.url)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want a failure", c.url, resp.StatusCode)
			continue
		}
		got := failure(err)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q (from %v), want %q", c.url, got, err, c.want)
		}
		if strings.ContainsAny(got, "0123456789") && !strings.Contains(got, "bytes") || strings.Contains(got, "localhost") || strings.Contains(got, "invalid/") {
			t.Errorf("%s: %q tells an address, a port or a name", c.url, got)
		}
	}
}
