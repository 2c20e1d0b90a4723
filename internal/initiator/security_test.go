package initiator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epayapi"
	"github.com/epayflow/epayflow/internal/httpserver"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/invoiceid"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

func mustReturnKeys(t *testing.T) *epay.Keyring {
	t.Helper()
	kr, err := epay.ParseKeyring("R:return-page-key-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// replica starts a second initiator on e's NATS, as another pod would be: its own
// connection, invoiceId allocator, ePay client and handler. It returns its URL.
func (e *testEnv) replica(t *testing.T) string {
	t.Helper()
	nc, err := nats.Connect(e.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := invoiceid.New(js, invoiceid.Config{ReserveTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	client, err := epayapi.New(e.cfg.EPay, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := *e.svc
	svc.IDs, svc.Tokens, svc.Bus, svc.Keys = ids, client, js, &kvKeys{js: js, keyring: svc.Keyring}
	srv := httptest.NewServer(NewHandler(&svc, e.cfg, NewMetrics(nil), nil, nil, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDuplicateAndCaseVariantKeysAreRefusedByName(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	const ok = `"kind":"payment","currency":"KZT","description":"x"`
	tests := []struct{ name, body, want string }{
		{"amount twice (last would win)", `{` + ok + `,"amount":1,"amount":100000}`,
			`{"error":"invalid request","fields":{"amount":"given more than once: each key may appear once"}}`},
		{"a key twice through an escape", `{` + ok + `,"amount":1,"am\u006funt":1}`,
			`{"error":"invalid request","fields":{"amount":"given more than once: each key may appear once"}}`},
		{"backLink twice", `{` + ok + `,"amount":1,"backLink":"https://shop.example.kz/a","backLink":"https://evil.example/b"}`,
			`{"error":"invalid request","fields":{"backLink":"given more than once: each key may appear once"}}`},
		{"an unknown key twice", `{` + ok + `,"amount":1,"x":1,"x":2}`,
			`{"error":"invalid request","fields":{"x":"given more than once: each key may appear once"}}`},
		{"AMOUNT for amount", `{` + ok + `,"AMOUNT":1}`,
			`{"error":"invalid request","fields":{"AMOUNT":"unknown field: keys are case-sensitive, did you mean \"amount\"?","amount":"required"}}`},
		{"Amount beside amount", `{` + ok + `,"amount":1,"Amount":100000}`,
			`{"error":"invalid request","fields":{"Amount":"unknown field: keys are case-sensitive, did you mean \"amount\"?"}}`},
		{"BackLink", `{` + ok + `,"amount":1,"BackLink":"https://evil.example/"}`,
			`{"error":"invalid request","fields":{"BackLink":"unknown field: keys are case-sensitive, did you mean \"backLink\"?"}}`},
		{"InvoiceId is not a field in any case", `{` + ok + `,"amount":1,"InvoiceId":"1"}`,
			`{"error":"invalid request","fields":{"InvoiceId":"unknown field"}}`},
		{"trailing garbage", `{` + ok + `,"amount":1} x`, `{"error":"invalid request","fields":{"body":"must be one JSON object"}}`},
		{"an array", `[{` + ok + `,"amount":1}]`, `{"error":"invalid request","fields":{"body":"must be one JSON object"}}`},
		{"null", `null`, `{"error":"invalid request","fields":{"body":"must be one JSON object"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := call(t, http.MethodPost, base+"/v1/payments", tt.body, "Authorization", "Bearer "+testAPIKey)
			if resp.StatusCode != http.StatusBadRequest || body != tt.want {
				t.Fatalf("%d %s\nwant 400 %s", resp.StatusCode, body, tt.want)
			}
		})
	}
	if n := e.inboxMessages(t); n != 0 {
		t.Fatalf("%d payments created", n)
	}
	// Nested values are the field's own business: one key per object level.
	if _, err := ParsePaymentRequest([]byte(`{` + ok + `,"amount":1,"accountId":"a"}`)); err != nil {
		t.Fatal(err)
	}
}

func TestBackLinkHostsAreAllowListed(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	post := func(svcHosts []string, https bool, links string) (int, string) {
		e.svc.BackLinkHosts, e.svc.HTTPSLinks = svcHosts, https
		resp, body := call(t, http.MethodPost, base+"/v1/payments", `{"kind":"payment","amount":1,"currency":"KZT","description":"x"`+links+`}`,
			"Authorization", "Bearer "+testAPIKey)
		return resp.StatusCode, body
	}
	link := func(back string) string { return `,"backLink":"` + back + `"` }
	tests := []struct {
		name  string
		hosts []string
		https bool
		links string
		want  string // "" for 201
	}{
		{"default: the public URL's host", nil, false, link("https://shop.example.kz/thanks"), ""},
		{"default: the public URL's host on another port", nil, false, link("https://shop.example.kz:8443/thanks"), ""},
		{"default: any other host", nil, false, link("https://evil.example/x"),
			`{"error":"invalid request","fields":{"backLink":"host \"evil.example\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"default: a subdomain", nil, false, `,"failureBackLink":"https://a.shop.example.kz/x"`,
			`{"error":"invalid request","fields":{"failureBackLink":"host \"a.shop.example.kz\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"a host like the allowed one", nil, false, link("https://shop.example.kz.evil.example/x"),
			`{"error":"invalid request","fields":{"backLink":"host \"shop.example.kz.evil.example\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"user info in front of the allowed host", nil, false, link("https://shop.example.kz@evil.example/x"),
			`{"error":"invalid request","fields":{"backLink":"must be an absolute http(s) URL"}}`},
		{"upper case and a trailing dot", nil, false, link("https://SHOP.Example.KZ./x"), ""},
		{"listed", []string{"pay.example.kz", "*.merchant.kz"}, false, link("https://pay.example.kz/ok"), ""},
		{"a wildcard's subdomain", []string{"*.merchant.kz"}, false, link("https://a.b.merchant.kz/ok"), ""},
		{"a host with a fullwidth slash under a wildcard", []string{"*.merchant.kz"}, false, link("https://evil.com%EF%BC%8F.merchant.kz/ok"),
			`{"error":"invalid request","fields":{"backLink":"host \"evil.com／.merchant.kz\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"an empty label under a wildcard", []string{"*.merchant.kz"}, false, link("https://evil..merchant.kz/ok"),
			`{"error":"invalid request","fields":{"backLink":"host \"evil..merchant.kz\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"a wildcard's apex", []string{"*.merchant.kz"}, false, link("https://merchant.kz/ok"),
			`{"error":"invalid request","fields":{"backLink":"host \"merchant.kz\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"a listed port", []string{"pay.example.kz:8443"}, false, link("https://pay.example.kz:8443/ok"), ""},
		{"another port", []string{"pay.example.kz:8443"}, false, link("https://pay.example.kz/ok"),
			`{"error":"invalid request","fields":{"backLink":"host \"pay.example.kz\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"a list replaces the default", []string{"pay.example.kz"}, false, link("https://shop.example.kz/x"),
			`{"error":"invalid request","fields":{"backLink":"host \"shop.example.kz\" is not allowed: add it to INITIATOR_BACKLINK_HOSTS"}}`},
		{"http outside prod", nil, false, link("http://shop.example.kz/x"), ""},
		{"http in prod", nil, true, link("http://shop.example.kz/x") + `,"failureBackLink":"http://evil.example/"`,
			`{"error":"invalid request","fields":{"backLink":"must be an https URL (EPAY_ENV=prod)","failureBackLink":"must be an https URL (EPAY_ENV=prod)"}}`},
		{"https in prod", nil, true, link("https://shop.example.kz/x"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.hosts, tt.https, tt.links)
			if tt.want == "" && status != http.StatusCreated || tt.want != "" && (status != http.StatusBadRequest || body != tt.want) {
				t.Fatalf("%d %s\nwant %s", status, body, tt.want)
			}
		})
	}
}

func TestDefaultBackLinksCarryATokenThatOpensTheReturnPage(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	e.svc.PublicURL = base
	resp, body := call(t, http.MethodPost, base+"/v1/payments", `{"kind":"payment","amount":1,"currency":"KZT","description":"x"}`,
		"Authorization", "Bearer "+testAPIKey)
	var c Created
	if err := json.Unmarshal([]byte(body), &c); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, link := range []string{c.PaymentObject.BackLink, c.PaymentObject.FailureBackLink} {
		if !strings.Contains(link, "&token="+e.svc.ReturnToken(c.InvoiceID)) {
			t.Fatalf("backLink %q has no token", link)
		}
		if resp, page := call(t, http.MethodGet, link, ""); resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-invoice-id="`+c.InvoiceID+`"`) {
			t.Fatalf("GET %s = %d", link, resp.StatusCode)
		}
		bare := strings.Split(link, "&token=")[0]
		if resp, _ := call(t, http.MethodGet, bare, ""); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s (no token) = %d, want 404", bare, resp.StatusCode)
		}
		// the token the buyer sees is no secret_hash: a callback naming the token's
		// purpose (or anything else) as its terminal is not verified with it
		tok := strings.Split(link, "&token=")[1]
		for _, terminal := range []string{returnTokenDomain, testTerminal} {
			if err := e.svc.Keyring.Verify(terminal, c.InvoiceID, tok); err == nil {
				t.Fatalf("the return token is the secret_hash of terminal %q", terminal)
			}
		}
	}
	// A key of its own for the token: the keyring's tokens no longer open the page.
	own := mustReturnKeys(t)
	before := e.svc.ReturnToken(c.InvoiceID)
	e.svc.ReturnKeys = own
	if after := e.svc.ReturnToken(c.InvoiceID); after == before || e.svc.validReturnToken(c.InvoiceID, before) {
		t.Fatal("INITIATOR_RETURN_KEYS does not replace the keyring")
	}
}

// postKeyed sends POST /v1/payments over HTTP with an Idempotency-Key.
func postKeyed(t *testing.T, url, key, body string) (int, Created, http.Header, string) {
	t.Helper()
	status, c, h, raw, err := tryPostKeyed(url, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, c, h, raw
}

// tryPostKeyed is postKeyed for goroutines other than the test's: it returns the error.
func tryPostKeyed(url, key, body string) (int, Created, http.Header, string, error) {
	h := []string{"Authorization", "Bearer " + testAPIKey, "Content-Type", "application/json"}
	if key != "" {
		h = append(h, IdempotencyKeyHeader, key)
	}
	resp, raw, err := tryCall(http.MethodPost, url+"/v1/payments", body, h...)
	if err != nil {
		return 0, Created{}, nil, "", err
	}
	var c Created
	json.Unmarshal([]byte(raw), &c)
	return resp.StatusCode, c, resp.Header, raw, nil
}

func TestIdempotencyKeyGivesTheSameInvoiceForTheSameRequestAnd409ForAnother(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	const body = `{"kind":"payment","amount":100,"currency":"KZT","description":"Order 42","email":"a@example.kz","language":"RU"}`
	status, first, h, raw := postKeyed(t, base, "order-42:attempt-1", body)
	if status != http.StatusCreated || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %s", status, raw)
	}
	// The same request, written otherwise (key order, "rus" for "RU", spaces): the same invoice.
	same := `{ "language":"rus", "email":"a@example.kz", "description":"Order 42", "currency":"kzt", "amount":"100.00", "kind":"payment" }`
	for _, b := range []string{body, same} {
		status, again, h, raw := postKeyed(t, base, "order-42:attempt-1", b)
		if status != http.StatusOK || h.Get("Idempotent-Replayed") != "true" || again.InvoiceID != first.InvoiceID {
			t.Fatalf("replay: %d %s, want 200 with invoice %s", status, raw, first.InvoiceID)
		}
		a, b := first.PaymentObject, again.PaymentObject
		if !strings.Contains(raw, `"auth":{"access_token":"DCEB8O_ZM5U7SO_T_U5EJQ"`) {
			t.Fatalf("replay without a token: %s", raw)
		}
		a.Auth, b.Auth = epayapi.Token{}, epayapi.Token{}
		if !jsonEqual(t, a, b) || again.PayformJSURL != first.PayformJSURL {
			t.Fatalf("replayed payment object differs:\n%+v\n%+v", a, b)
		}
	}
	// Another request with the key: 409, and nothing new in the stream.
	for _, other := range []string{
		strings.Replace(body, `"amount":100`, `"amount":101`, 1),
		strings.Replace(body, `"payment"`, `"p2p"`, 1),
		strings.Replace(body, `a@example.kz`, `b@example.kz`, 1),
	} {
		status, _, _, raw := postKeyed(t, base, "order-42:attempt-1", other)
		if status != http.StatusConflict || raw != `{"error":"this Idempotency-Key was used with another request body; use a new key for a new payment"}` {
			t.Fatalf("other body: %d %s, want 409", status, raw)
		}
	}
	if n := e.inboxMessages(t); n != 1 {
		t.Fatalf("%d invoice.created for one key, want 1", n)
	}
	// Another key, or none: a new invoice each time.
	_, other, _, _ := postKeyed(t, base, "order-42:attempt-2", body)
	_, none1, _, _ := postKeyed(t, base, "", body)
	_, none2, _, _ := postKeyed(t, base, "", body)
	ids := map[string]bool{first.InvoiceID: true, other.InvoiceID: true, none1.InvoiceID: true, none2.InvoiceID: true}
	if len(ids) != 4 {
		t.Fatalf("ids %v, want 4 distinct invoices", ids)
	}
	// The metrics count what happened.
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`epayflow_initiator_idempotency_keys_total{outcome="new"} 2`,
		`epayflow_initiator_idempotency_keys_total{outcome="replayed"} 2`, `epayflow_initiator_idempotency_keys_total{outcome="conflict"} 3`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestIdempotencyKeyHoldsAcrossReplicasAndConcurrentRetries(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	urls := []string{e.serve(t), e.replica(t)}
	const body = `{"kind":"p2p","amount":5000,"currency":"KZT","description":"Transfer 7"}`
	const n = 12
	ids := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, c, _, raw, err := tryPostKeyed(urls[i%2], "01J9Z3Q4W5E6R7T8Y9U0I1O2P3", body)
			if err != nil { // not postKeyed's t.Fatal: this is not the test's goroutine
				t.Errorf("request %d: %v", i, err)
				return
			}
			codes[i], ids[i] = status, c.InvoiceID
			if c.InvoiceID == "" {
				t.Errorf("request %d: %d %s", i, status, raw)
			}
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		if ids[i] != ids[0] {
			t.Fatalf("ids %v: want one invoice for one key", ids)
		}
		if codes[i] == http.StatusCreated {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("codes %v: want exactly one 201, the rest 200", codes)
	}
	if got := e.inboxMessages(t); got != 1 {
		t.Fatalf("%d invoice.created for one key, want 1", got)
	}
}

// heldBus is the bus of a request that is slow to publish: its first publish starts
// (held is closed), then waits hold (or its context) before it goes out.
type heldBus struct {
	publisher
	hold time.Duration
	held chan struct{}
	once sync.Once
}

func (b *heldBus) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	first := false
	b.once.Do(func() { first = true; close(b.held) })
	if first {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(b.hold):
		}
	}
	return b.publisher.PublishMsg(ctx, msg, opts...)
}

// raceKeyed runs a keyed request on a replica whose publish is held, and, once it has
// recorded its key, the same request on e.svc; it returns both outcomes.
func raceKeyed(t *testing.T, e *testEnv, key, body string) (first, second *Created, firstErr, secondErr error, replayed bool) {
	t.Helper()
	req, err := ParsePaymentRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	slow := *e.svc
	bus := &heldBus{publisher: e.js, hold: 300 * time.Millisecond, held: make(chan struct{})}
	slow.Bus = bus
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		first, _, firstErr = slow.CreateOnce(ctx, req, key)
	}()
	select {
	case <-bus.held: // the key is recorded; its invoice.created is not published yet
	case <-done:
		t.Fatalf("the first request ended before its publish: %v", firstErr)
	}
	second, replayed, secondErr = e.svc.CreateOnce(ctx, req, key)
	<-done
	return first, second, firstErr, secondErr, replayed
}

// A retry arriving while the first request with its key is still publishing waits for
// that publish: it used to publish the invoice.created itself, first, so the first
// request's own publish came back a duplicate, was taken for an invoiceId used twice
// (503) and released the key, and the next retry made a second invoice for one key.
func TestARetryWaitsForTheFirstRequestsPublish(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	first, second, err1, err2, replayed := raceKeyed(t, e, "race-1", `{"kind":"p2p","amount":5000,"currency":"KZT","description":"Transfer 7"}`)
	if err1 != nil || err2 != nil {
		t.Fatalf("first: %v; second: %v", err1, err2)
	}
	if second.InvoiceID != first.InvoiceID || !replayed {
		t.Fatalf("first %s, second %s (replayed %v): want the first's invoice, replayed", first.InvoiceID, second.InvoiceID, replayed)
	}
	if n := e.inboxMessages(t); n != 1 {
		t.Fatalf("%d invoice.created, want 1", n)
	}
	rec, found, err := e.svc.Keys.get(context.Background(), "race-1")
	if err != nil || !found || rec.Pending || rec.InvoiceID != first.InvoiceID {
		t.Fatalf("the key's record: %+v %v %v, want %s settled", rec, found, err, first.InvoiceID)
	}
}

// A retry waiting on a first request whose invoiceId turns out taken on the bus is not
// handed that invoice (someone else's): the first request releases the key and the
// retry makes a payment of its own.
func TestARetryDoesNotReplayAnInvoiceIDFoundTaken(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	status, before, _, raw := postKeyed(t, base, "", takenBody)
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, raw)
	}
	taken := nextID(t, before.InvoiceID, 1) // the next id the first request gets
	e.publishFor(t, taken, true)
	first, second, err1, err2, replayed := raceKeyed(t, e, "race-2", takenBody)
	if !errors.Is(err1, ErrInvoiceIDTaken) || first != nil {
		t.Fatalf("first: %+v %v, want ErrInvoiceIDTaken for %s", first, err1, taken)
	}
	if err2 != nil || replayed || second.InvoiceID == taken {
		t.Fatalf("second: %+v %v (replayed %v), want a new invoice, not %s", second, err2, replayed, taken)
	}
	if n := e.inboxMessages(t); n != 3 {
		t.Fatalf("%d messages, want 3 (before, the other's %s, the second's %s)", n, taken, second.InvoiceID)
	}
}

func TestIdempotencyKeysAreBoundedInLengthAndCharacters(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	for name, key := range map[string]string{
		"too long": strings.Repeat("k", MaxIdempotencyKeyLen+1),
		"a space":  "order 42",
		"a slash":  "order/42",
		"unicode":  "заказ-42",
		"a quote":  `order"42`,
		"empty":    "",
	} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/payments", strings.NewReader(sourceRequest))
		req.Header.Set("Authorization", "Bearer "+testAPIKey)
		req.Header[IdempotencyKeyHeader] = []string{key}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/payments", strings.NewReader(sourceRequest))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header[IdempotencyKeyHeader] = []string{"a", "b"}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("two keys: %v %v, want 400", err, resp)
	}
	if status, _, _, raw := postKeyed(t, base, strings.Repeat("K", MaxIdempotencyKeyLen), sourceRequest); status != http.StatusCreated {
		t.Fatalf("a key of the longest length: %d %s", status, raw)
	}
	if n := e.inboxMessages(t); n != 1 {
		t.Fatalf("%d messages, want the one valid request's", n)
	}
}

// A payment whose answer was lost (no PubAck in time, a dropped connection) is found
// again by its key, with no new invoiceId and one token request.
func TestIdempotencyKeyFindsAPaymentWhoseAnswerWasLost(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	const body = `{"kind":"payment","amount":7,"currency":"KZT","description":"Lost answer"}`
	req, _ := ParsePaymentRequest([]byte(body))
	first, replayed, err := e.svc.CreateOnce(context.Background(), req, "lost-1")
	if err != nil || replayed {
		t.Fatalf("first: %v %v", err, replayed)
	}
	status, again, _, raw := postKeyed(t, base, "lost-1", body)
	if status != http.StatusOK || again.InvoiceID != first.InvoiceID {
		t.Fatalf("retry: %d %s, want 200 with %s", status, raw, first.InvoiceID)
	}
	if n := len(e.epay.requests()); n != 2 {
		t.Fatalf("%d token requests, want 2 (the payment, the replay)", n)
	}
	if n := e.inboxMessages(t); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// The first attempt recorded its invoice under the key but its invoice.created never
// reached the stream (NATS failed after the record): the retry publishes it, so the
// invoice the merchant is told about is always one the worker knows. The record may be
// settled (NATS failed the publish) or still Pending (the initiator died before it
// could settle it: the retry waits settleWait, then publishes).
func TestIdempotencyKeyRetryPublishesAnInvoiceTheFirstAttemptCouldNot(t *testing.T) {
	for _, pending := range []bool{false, true} {
		t.Run(fmt.Sprintf("pending=%v", pending), func(t *testing.T) { retryPublishes(t, pending) })
	}
}

func retryPublishes(t *testing.T, pending bool) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	e.svc.PublishTimeout = 200 * time.Millisecond
	base := e.serve(t)
	const body = `{"kind":"payment","amount":7,"currency":"KZT","description":"x"}`
	req, _ := ParsePaymentRequest([]byte(body))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := e.svc.IDs.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, taken, err := e.svc.Keys.create(ctx, "half-1", keyRecord{InvoiceID: id, Fingerprint: req.fingerprint(), Pending: pending}); err != nil || taken {
		t.Fatalf("record: %v %v", err, taken)
	}
	if n := e.inboxMessages(t); n != 0 {
		t.Fatalf("%d messages before the retry", n)
	}
	status, c, _, raw := postKeyed(t, base, "half-1", body)
	if status != http.StatusOK || c.InvoiceID != id {
		t.Fatalf("retry: %d %s, want 200 with %s", status, raw, id)
	}
	s, _ := e.js.Stream(ctx, natsbus.StreamInbox)
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var created invoice.Created
	if json.Unmarshal(m.Data, &created); created.InvoiceID != id || created.Amount != 700 || m.Header.Get(jetstream.MsgIDHeader) != inbox.CreatedNatsMsgID(e.keyring, id) {
		t.Fatalf("the retry published %s %s", m.Header.Get(jetstream.MsgIDHeader), m.Data)
	}
	// The replay settled the record, so no later retry waits for it.
	if rec, found, err := e.svc.Keys.get(ctx, "half-1"); err != nil || !found || rec.Pending || rec.InvoiceID != id {
		t.Fatalf("the key's record after the retry: %+v %v %v, want %s settled", rec, found, err, id)
	}
	// Further retries add nothing: the invoice's Msg-Id makes them duplicates.
	postKeyed(t, base, "half-1", body)
	if n := e.inboxMessages(t); n != 1 {
		t.Fatalf("%d messages after two retries, want 1", n)
	}
}

// Keys are remembered in a bucket with a TTL (the duplicate window) and a size bound,
// which the worker makes (startEnv does as it does); a request without a key writes
// nothing into it, a keyed one its key, hashed.
func TestIdempotencyBucketIsBoundedAndHoldsHashedKeys(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rec := e.post(t, sourceRequest); rec.Code != http.StatusCreated {
		t.Fatalf("%d", rec.Code)
	}
	base := e.serve(t)
	if status, _, _, raw := postKeyed(t, base, "k-1", sourceRequest); status != http.StatusCreated {
		t.Fatalf("%d %s", status, raw)
	}
	kv, err := e.js.KeyValue(ctx, IdempotencyBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
	if st.TTL() != e.cfg.Streams.DuplicateWindow || info.MaxBytes != IdempotencyBucketBytes || info.MaxMsgsPerSubject != 1 || st.Values() != 1 {
		t.Fatalf("bucket: ttl %s, max bytes %d, history %d, values %d", st.TTL(), info.MaxBytes, info.MaxMsgsPerSubject, st.Values())
	}
	keys, _ := kv.Keys(ctx)
	if len(keys) != 1 || strings.Contains(keys[0], "k-1") || len(keys[0]) != 64 {
		t.Fatalf("bucket keys %v: want one hashed key", keys)
	}
}

// The initiator starts before the worker: under its own NATS user (natsbus.RoleInitiator,
// which may create no stream nor bucket) it waits for EPAY_INBOX and its buckets, saying
// so on /readyz and refusing payments with 503; once the worker made them it serves, and
// the Idempotency-Keys work with its permissions (STREAM.INFO of KV_EPAY_IDEMPOTENCY,
// its direct gets and $KV.EPAY_IDEMPOTENCY.>; no STREAM.CREATE nor UPDATE, no read of
// EPAY_INBOX).
func TestTheInitiatorWaitsForTheWorkerThenUsesItsKeysWithItsNATSPermissions(t *testing.T) {
	srv := natstest.StartSecure(t)
	fake := startFakeEPay(t, answerWith(200, tokenAnswer))
	cfg := testConfig(t, fake.URL)
	cfg.NATSURL, cfg.NATS = srv.URL(), srv.Auth(natsbus.RoleInitiator)
	urls := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = httpserver.WithListenHook(ctx, func(u string) { urls <- u })
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil))) }()
	defer func() { cancel(); <-done }()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		done <- err
		t.Fatalf("Run before the worker: %v, want it to wait", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening within 10s")
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "not created yet: `worker streams` creates it") })
	for range 3 { // it waits; it does not exit
		if body := get(t, base+"/readyz"); !strings.Contains(body, "`worker streams` creates") {
			t.Fatalf("/readyz before the worker: %q, want it to say it waits for the worker", body)
		}
		if got, _, _, raw := postKeyed(t, base, "perm-0", sourceRequest); got != http.StatusServiceUnavailable {
			t.Fatalf("a payment before the worker: %d %s, want 503", got, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case err := <-done:
		done <- err
		t.Fatalf("Run ended while waiting for the worker: %v", err)
	default:
	}

	srv.EnsureAll(t) // the worker starts
	waitFor(t, 15*time.Second, func() bool { return status(t, base+"/readyz", "") == http.StatusOK })
	for i, want := range []int{http.StatusCreated, http.StatusOK} {
		if got, _, _, raw := postKeyed(t, base, "perm-1", sourceRequest); got != want {
			t.Fatalf("request %d: %d %s, want %d", i+1, got, raw, want)
		}
	}
	if got, _, _, raw := postKeyed(t, base, "perm-1", strings.Replace(sourceRequest, `"amount": 100`, `"amount": 101`, 1)); got != http.StatusConflict {
		t.Fatalf("other body: %d %s, want 409", got, raw)
	}
}

// syncBuffer is a log a test reads while the service writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The bucket is writable with the initiator's NATS password alone, which every pod of
// NATS holds. A record written there by anybody else (another invoice or terminal, a
// genuine record of another key, no signature) must never be replayed: a merchant's retry
// would hand its buyer somebody else's invoice or pay on another terminal.
func TestARecordTheInitiatorDidNotSignIsNeverReplayed(t *testing.T) {
	e := startEnv(t, answerWith(200, tokenAnswer), true)
	base := e.serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, first, _, raw := postKeyed(t, base, "order-1", sourceRequest)
	if status != http.StatusCreated {
		t.Fatalf("first: %d %s", status, raw)
	}
	status, other, _, raw := postKeyed(t, base, "order-2", sourceRequest)
	if status != http.StatusCreated {
		t.Fatalf("other: %d %s", status, raw)
	}
	kv, err := e.js.KeyValue(ctx, IdempotencyBucket)
	if err != nil {
		t.Fatal(err)
	}
	read := func(key string) (map[string]any, []byte) {
		t.Helper()
		en, err := kv.Get(ctx, kvKey(key))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(en.Value(), &m); err != nil {
			t.Fatal(err)
		}
		return m, en.Value()
	}
	genuine, genuineRaw := read("order-1")
	if genuine["sig"] == "" || genuine["sig"] == nil {
		t.Fatalf("the record %s is not signed", genuineRaw)
	}
	_, otherRaw := read("order-2")
	edit := func(f func(m map[string]any)) []byte {
		m, _ := read("order-1")
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	forgeries := map[string][]byte{
		"another invoice":           edit(func(m map[string]any) { m["invoiceId"] = other.InvoiceID }),
		"another terminal":          edit(func(m map[string]any) { m["terminal"] = "40a348cb-68a3-45d5-9002-a4836d79c3b5" }),
		"another fingerprint":       edit(func(m map[string]any) { m["fingerprint"] = strings.Repeat("0", 64) }),
		"no signature":              edit(func(m map[string]any) { delete(m, "sig") }),
		"still pending":             edit(func(m map[string]any) { m["pending"] = true }),
		"another key's record":      otherRaw,
		"a signature of another id": edit(func(m map[string]any) { m["sig"] = e.keyring.Token(idempotencyPurpose, other.InvoiceID) }),
	}
	for name, forged := range forgeries {
		if _, err := kv.Put(ctx, kvKey("order-1"), forged); err != nil {
			t.Fatal(err)
		}
		tokens := len(e.epay.requests())
		status, got, _, raw := postKeyed(t, base, "order-1", sourceRequest)
		if status != http.StatusServiceUnavailable || got.InvoiceID != "" || len(e.epay.requests()) != tokens {
			t.Errorf("%s: %d %s (%d token requests), want 503 and nothing asked of ePay", name, status, raw, len(e.epay.requests())-tokens)
		}
	}
	if got := testutil.ToFloat64(e.metrics.idempotency.WithLabelValues("forged")); got != float64(len(forgeries)) {
		t.Errorf(`epayflow_initiator_idempotency_keys_total{outcome="forged"} = %v, want %d`, got, len(forgeries))
	}
	// the genuine record, put back, replays as before
	if _, err := kv.Put(ctx, kvKey("order-1"), genuineRaw); err != nil {
		t.Fatal(err)
	}
	if status, again, _, raw := postKeyed(t, base, "order-1", sourceRequest); status != http.StatusOK || again.InvoiceID != first.InvoiceID {
		t.Fatalf("the genuine record: %d %s, want 200 and invoice %s", status, raw, first.InvoiceID)
	}
}
