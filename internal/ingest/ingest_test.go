package ingest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

func TestEachSampleCallbackIsPublishedOnce(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	cases := []struct {
		sample, route, kind, requestID string
	}{
		{"success.json", RoutePostlink, inbox.CallbackSuccess, "req-success-1"},
		{"failure.json", RouteFailurePostlink, inbox.CallbackFailure, "req-failure-1"},
	}
	bodies := map[string][]byte{}
	before := time.Now().UTC()
	for _, c := range cases {
		body := signed(t, c.sample, ti.Keys)
		bodies[c.sample] = body
		res := post(t, ti.URL, c.route, body, RequestIDHeader, c.requestID)
		if res.status != http.StatusOK || res.body != "OK" {
			t.Fatalf("%s: %d %q, want 200 OK", c.sample, res.status, res.body)
		}
		if got := res.header.Get(RequestIDHeader); got != c.requestID {
			t.Errorf("%s: X-Request-Id %q, want %q echoed", c.sample, got, c.requestID)
		}
	}
	after := time.Now().UTC()

	msgs := ti.storedMessages(t)
	if len(msgs) != len(cases) {
		t.Fatalf("stream holds %d messages, want %d", len(msgs), len(cases))
	}
	for i, c := range cases {
		m := msgs[i]
		cb, err := epay.DecodeCallback(bodies[c.sample])
		if err != nil {
			t.Fatal(err)
		}
		if want := inbox.Subject(inbox.Shard(cb.InvoiceID, inbox.DefaultShards), inbox.KindPostlink); m.Subject != want {
			t.Errorf("%s: subject %q, want %q", c.sample, m.Subject, want)
		}
		if string(m.Data) != string(bodies[c.sample]) {
			t.Errorf("%s: stored body differs from the posted one:\n%s\n%s", c.sample, m.Data, bodies[c.sample])
		}
		want := map[string]string{
			inbox.HeaderKind:               c.kind,
			inbox.HeaderInvoiceID:          cb.InvoiceID,
			jetstream.MsgIDHeader:          inbox.CallbackMsgID(cb.InvoiceID, cb.ID, cb.Code),
			jetstream.ExpectedStreamHeader: natsbus.StreamInbox,
		}
		for k, v := range want {
			if got := m.Header.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", c.sample, k, got, v)
			}
		}
		// the receipt: one header, five fields (and none of the five headers it replaced)
		raw := m.Header.Get(inbox.HeaderReceipt)
		f := strings.Split(raw, " ")
		if len(f) != 5 || f[0] != c.route || !strings.HasPrefix(f[2], "127.0.0.1:") || f[3] != c.requestID || f[4] != "true" {
			t.Errorf("%s: %s = %q, want %s <time> 127.0.0.1:<port> %s true", c.sample, inbox.HeaderReceipt, raw, c.route, c.requestID)
		}
		if len(f) == 5 {
			at, err := time.Parse(time.RFC3339Nano, f[1])
			if err != nil || at.Before(before) || at.After(after) || !strings.HasSuffix(f[1], "Z") {
				t.Errorf("%s: received at %q (%v), want UTC between %v and %v", c.sample, f[1], err, before, after)
			}
		}
		for _, old := range []string{inbox.HeaderRoute, inbox.HeaderReceivedAt, inbox.HeaderRemoteAddr, inbox.HeaderRequestID, inbox.HeaderVerified} {
			if v := m.Header.Values(old); len(v) != 0 {
				t.Errorf("%s: header %s %q: the receipt holds it", c.sample, old, v)
			}
		}
		if r, ok := inbox.ReceiptOf(m.Header); !ok || r.Route != c.route || r.RequestID != c.requestID || !r.Verified || inbox.RequestID(m.Header) != c.requestID {
			t.Errorf("%s: ReceiptOf %+v %v, RequestID %q", c.sample, r, ok, inbox.RequestID(m.Header))
		}
	}
}

func TestSameCallbackPostedThreeTimesIsStoredOnce(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	body := signed(t, "success.json", ti.Keys)
	for i := range 3 {
		if res := post(t, ti.URL, RoutePostlink, body); res.status != http.StatusOK {
			t.Fatalf("post %d: %d %s", i+1, res.status, res.body)
		}
	}
	if n := len(ti.storedMessages(t)); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	if got := ti.metric(t, "epayflow_ingest_duplicates_total"); got != "2" {
		t.Errorf("duplicates_total = %q, want 2", got)
	}
	// ePay's identity of a callback is invoiceId, id and code: a retry whose body differs
	// in anything else is still the same callback.
	other := withField(body, "x", "1")
	if res := post(t, ti.URL, RoutePostlink, other); res.status != http.StatusOK {
		t.Fatalf("post: %d %s", res.status, res.body)
	}
	if n := len(ti.storedMessages(t)); n != 1 {
		t.Fatalf("stream holds %d messages after a retry with another body, want 1", n)
	}
}

func TestFailureThenSuccessOfOneInvoiceAreTwoMessages(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	for _, code := range []string{"error", "ok"} {
		if res := post(t, ti.URL, RoutePostlink, callback(ti.Keys, "123456789", "tx-1", code)); res.status != http.StatusOK {
			t.Fatalf("%s: %d %s", code, res.status, res.body)
		}
	}
	msgs := ti.storedMessages(t)
	if len(msgs) != 2 || msgs[0].Subject != msgs[1].Subject {
		t.Fatalf("want 2 messages on one shard subject, got %d", len(msgs))
	}
	if msgs[0].Header.Get(inbox.HeaderKind) != inbox.CallbackFailure || msgs[1].Header.Get(inbox.HeaderKind) != inbox.CallbackSuccess {
		t.Errorf("kinds %q, %q", msgs[0].Header.Get(inbox.HeaderKind), msgs[1].Header.Get(inbox.HeaderKind))
	}
}

func TestBadSecretHashIs401AndNothingIsStored(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	body := sample(t, "success.json")
	cb, err := epay.DecodeCallback(body)
	if err != nil {
		t.Fatal(err)
	}
	stranger := mustKeyring(t, "A:a-key-this-ingest-does-not-know")
	good := ti.Keys.Sign(cb.Terminal, cb.InvoiceID)
	tests := []struct {
		name, hash, reason string
	}{
		{"missing", "", "secret_hash_missing"},
		{"empty", `""`, "secret_hash_missing"},
		{"malformed", `"JDKCNDDGGDTPSKJD"`, "secret_hash_malformed"},
		{"unknown key", `"Z` + good[1:] + `"`, "secret_hash_unknown_key"},
		{"wrong key", `"` + stranger.Sign(cb.Terminal, cb.InvoiceID) + `"`, "secret_hash_mismatch"},
		{"other terminal", `"` + ti.Keys.Sign("40a348cb-68a1-4d1b-8d6e-000000000000", cb.InvoiceID) + `"`, "secret_hash_mismatch"},
		{"other invoice", `"` + ti.Keys.Sign(cb.Terminal, "191111112") + `"`, "secret_hash_mismatch"},
	}
	for _, tt := range tests {
		b := body
		if tt.hash != "" {
			b = withField(body, "secret_hash", tt.hash)
		}
		res := post(t, ti.URL, RoutePostlink, b)
		if res.status != http.StatusUnauthorized || !strings.Contains(res.body, "secret_hash") {
			t.Errorf("%s: %d %q, want 401 naming secret_hash", tt.name, res.status, res.body)
		}
		if strings.Contains(res.body, good) || strings.Contains(res.body, "ingest-test-signing-key") {
			t.Errorf("%s: the answer leaks a secret: %q", tt.name, res.body)
		}
	}
	if n := len(ti.storedMessages(t)); n != 0 {
		t.Fatalf("stream holds %d messages, want none", n)
	}
	counts := map[string]int{}
	for _, tt := range tests {
		counts[tt.reason]++
	}
	for reason, n := range counts {
		series := `epayflow_ingest_rejections_total{reason="` + reason + `"}`
		if got := ti.metric(t, series); got != strconv.Itoa(n) {
			t.Errorf("%s = %q, want %d", series, got, n)
		}
	}
}

func TestHashSignedByRotatedOldKeyVerifies(t *testing.T) {
	t.Parallel()
	const oldKey, newKey = "A:the-old-key-that-signed-invoices", "N:the-new-key-that-signs-from-now"
	ti := mustStartIngest(t, func(c *Config) { c.Keys = mustKeyring(t, newKey+","+oldKey) })
	body := signed(t, "success.json", mustKeyring(t, oldKey))
	if res := post(t, ti.URL, RoutePostlink, body); res.status != http.StatusOK {
		t.Fatalf("old key: %d %s", res.status, res.body)
	}
	body = signed(t, "failure.json", mustKeyring(t, newKey))
	if res := post(t, ti.URL, RouteFailurePostlink, body); res.status != http.StatusOK {
		t.Fatalf("new key: %d %s", res.status, res.body)
	}
	if n := len(ti.storedMessages(t)); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
}

func TestAcceptUnverifiedPolicyPublishesMarked(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t, func(c *Config) { c.Policy = PolicyAcceptUnverified })
	unsigned := sample(t, "failure.json")
	if res := post(t, ti.URL, RouteFailurePostlink, unsigned); res.status != http.StatusOK {
		t.Fatalf("unsigned: %d %s", res.status, res.body)
	}
	wrong := withField(sample(t, "success.json"), "secret_hash", `"`+mustKeyring(t, "A:a-key-this-ingest-does-not-know").Sign(testTerminal, "191111111")+`"`)
	if res := post(t, ti.URL, RoutePostlink, wrong); res.status != http.StatusOK {
		t.Fatalf("wrong hash: %d %s", res.status, res.body)
	}
	good := callback(ti.Keys, "555555555", "tx-5", "ok")
	if res := post(t, ti.URL, RoutePostlink, good); res.status != http.StatusOK {
		t.Fatalf("good hash: %d %s", res.status, res.body)
	}
	if res := post(t, ti.URL, RoutePostlink, []byte(`{"invoiceId":"12"}`)); res.status != http.StatusBadRequest {
		t.Errorf("bad invoiceId under accept-unverified: %d, want 400", res.status)
	}
	msgs := ti.storedMessages(t)
	if len(msgs) != 3 {
		t.Fatalf("stream holds %d messages, want 3", len(msgs))
	}
	for i, want := range []string{"false", "false", "true"} {
		if r, _ := inbox.ReceiptOf(msgs[i].Header); strconv.FormatBool(r.Verified) != want {
			t.Errorf("message %d: receipt %q, want verified %s", i+1, msgs[i].Header.Get(inbox.HeaderReceipt), want)
		}
	}
	if got := ti.metric(t, `epayflow_ingest_unverified_total{reason="missing"}`); got != "1" {
		t.Errorf(`unverified_total{reason="missing"} = %q, want 1`, got)
	}
	if got := ti.metric(t, `epayflow_ingest_unverified_total{reason="mismatch"}`); got != "1" {
		t.Errorf(`unverified_total{reason="mismatch"} = %q, want 1`, got)
	}
}

func TestRequestIDIsKeptWhenSaneAndMadeOtherwise(t *testing.T) {
	t.Parallel()
	ti := mustStartIngest(t)
	for in, keep := range map[string]bool{
		"abc-123_X.y:z":         true,
		"":                      false,
		strings.Repeat("a", 65): false,
		"has space":             false,
		"new\u2028line":         false,
	} {
		res := post(t, ti.URL, RoutePostlink, []byte(`[]`), RequestIDHeader, in)
		got := res.header.Get(RequestIDHeader)
		if keep && got != in || !keep && (got == in || got == "") {
			t.Errorf("incoming %q: answered X-Request-Id %q", in, got)
		}
	}
}
