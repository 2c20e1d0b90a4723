package epayapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const (
	testClientID = "test"
	testSecret   = "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"
	testTerminal = "67e34d63-102f-4bd1-898e-370781d0074d"
)

// seen is one request as the fake ePay received it.
type seen struct {
	Method, Path, ContentType, Auth, Body string
}

// fakeEPay is an in-process ePay: each request is recorded, then answered by the next
// handler of the script (the last one repeats).
type fakeEPay struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []seen
	script []http.HandlerFunc
}

func startFake(t *testing.T, script ...http.HandlerFunc) *fakeEPay {
	t.Helper()
	f := &fakeEPay{script: script}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEPay) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(body)})
	h := f.script[min(len(f.reqs), len(f.script))-1]
	f.mu.Unlock()
	h(w, r)
}

func (f *fakeEPay) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// answer writes status and body as JSON.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// hang answers only when the client gives up.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// byPath routes the token endpoint and everything else.
func byPath(token, other http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/token" {
			token(w, r)
			return
		}
		other(w, r)
	}
}

const tokenBody = `{"access_token":"DCEB8O_ZM5U7SO_T_U5EJQ","expires_in": 7200,"refresh_token":"","scope":"payment","token_type":"Bearer"}`

func testConfig(f *fakeEPay) Config {
	return Config{
		TokenURL:     f.URL + "/oauth2/token",
		APIURL:       f.URL,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Terminal:     testTerminal,
		Timeout:      2 * time.Second,
		MaxAttempts:  3,
		BackoffBase:  time.Millisecond,
	}
}

func mustClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}
