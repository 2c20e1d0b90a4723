package epaytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
)

// merchant is a callback endpoint: it answers the given statuses in turn, then checks
// secret_hash as the ingest does (401 for a bad one, 200 "OK" otherwise; with no keys it
// takes any callback), and keeps every callback it could decode.
type merchant struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []*epay.Callback
}

func newMerchant(t *testing.T, keys *epay.Keyring, statuses ...int) *merchant {
	m := &merchant{statuses: statuses}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		cb, err := epay.DecodeCallback(raw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.got = append(m.got, cb)
		status := http.StatusOK
		if len(m.statuses) > 0 {
			status, m.statuses = m.statuses[0], m.statuses[1:]
		}
		m.mu.Unlock()
		if keys != nil && keys.Verify(cb.Terminal, cb.InvoiceID, cb.SecretHash) != nil {
			status = http.StatusUnauthorized
		}
		w.WriteHeader(status)
		w.Write([]byte(http.StatusText(status)))
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *merchant) callbacks() []*epay.Callback {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*epay.Callback(nil), m.got...)
}

// hasSampleShape checks that body has the keys of ePay's sample name (the source
// document's, in internal/epay/testdata), and secret_hash and extra, with the same JSON
// types.
func hasSampleShape(t *testing.T, body []byte, name string, extra ...string) {
	t.Helper()
	var got, sample map[string]any
	raw, err := os.ReadFile(filepath.Join("..", "epay", "testdata", name))
	if err == nil {
		err = errors.Join(json.Unmarshal(raw, &sample), json.Unmarshal(body, &got))
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range epaytest.ShapeDiff(got, sample, append(extra, "secret_hash")...) {
		t.Errorf("%s: %s", name, d)
	}
}

func testKeys(t *testing.T) *epay.Keyring {
	k, err := epay.ParseKeyring("A:dev-only-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTriggerDuplicatesSendTheSameCallback(t *testing.T) {
	keys := testKeys(t)
	v := newMerchant(t, keys)
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{
		URL: v.URL + "/epay/postlink", InvoiceID: "000000001", Amount: 100_00, Keys: keys, Duplicates: 3,
	})
	if err != nil || res.Unexpected() != 0 || len(res.Posts) != 3 {
		t.Fatalf("trigger: %v %+v, want 3 POSTs answered 200", err, res)
	}
	got := v.callbacks()
	if len(got) != 3 || string(got[0].Raw) != string(got[1].Raw) || string(got[1].Raw) != string(got[2].Raw) {
		t.Fatalf("receiver got %d callbacks, want 3 identical bodies", len(got))
	}
	cb := got[0]
	if !cb.Succeeded() || cb.InvoiceID != "000000001" || cb.Amount != 100_00 || cb.Terminal != epaytest.TestTerminal || cb.ID != res.Posts[0].TransactionID {
		t.Errorf("callback = %+v", cb)
	}
	hasSampleShape(t, cb.Raw, "success.json")
}

func TestTriggerOutOfOrderSendsAFailureThenTheSuccess(t *testing.T) {
	keys := testKeys(t)
	v := newMerchant(t, keys)
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{
		URL: v.URL + "/post", FailureURL: v.URL + "/fail", InvoiceID: "123456789012", Amount: 12_22,
		Currency: "usd", Keys: keys, OutOfOrder: true, ReasonCode: 465, Duplicates: 2,
	})
	if err != nil || res.Unexpected() != 0 || len(res.Posts) != 4 {
		t.Fatalf("trigger: %v %+v", err, res)
	}
	kinds := []string{res.Posts[0].Kind, res.Posts[1].Kind, res.Posts[2].Kind, res.Posts[3].Kind}
	if strings.Join(kinds, ",") != "failure,failure,success,success" || !strings.HasSuffix(res.Posts[0].URL, "/fail") || !strings.HasSuffix(res.Posts[2].URL, "/post") {
		t.Fatalf("posts = %+v, want failure twice to /fail, then success twice to /post", res.Posts)
	}
	got := v.callbacks()
	if got[0].Succeeded() || got[0].ReasonCode != 465 || got[0].CardType != "VISA" || !got[3].Succeeded() || got[0].ID == got[3].ID {
		t.Fatalf("callbacks: first %+v last %+v, want a 465 failure then a success with another transaction id", got[0], got[3])
	}
	if got[3].Currency != "USD" || got[3].Amount != 12_22 {
		t.Errorf("success callback currency %s amount %s, want USD 12.22", got[3].Currency, got[3].Amount)
	}
	hasSampleShape(t, got[0].Raw, "failure.json")
}

func TestTriggerWrongHashExpectsARefusal(t *testing.T) {
	keys := testKeys(t)
	v := newMerchant(t, keys)
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{
		URL: v.URL, InvoiceID: "000000002", Amount: 100_00, Keys: keys, WrongHash: true, Kind: epaytest.KindFailure,
	})
	if err != nil || len(res.Posts) != 1 || res.Posts[0].Status != http.StatusUnauthorized || res.Unexpected() != 0 {
		t.Fatalf("trigger: %v %+v, want one POST refused with 401, as expected", err, res)
	}
	cb := v.callbacks()[0]
	if len(cb.SecretHash) != epay.SecretHashLen || cb.SecretHash[0] != 'A' {
		t.Errorf("wrong hash %q should keep the shape of a real one", cb.SecretHash)
	}

	accepting := newMerchant(t, nil)
	res, _ = epaytest.Trigger(context.Background(), epaytest.TriggerOptions{
		URL: accepting.URL, InvoiceID: "000000002", Amount: 100_00, Keys: keys, WrongHash: true,
	})
	if res.Unexpected() != 1 {
		t.Fatalf("a receiver that takes a forged callback: %+v, want it reported as unexpected", res)
	}
	var sb strings.Builder
	res.WriteReport(&sb)
	if !strings.Contains(sb.String(), "UNEXPECTED") || !strings.Contains(sb.String(), "1 unexpected") {
		t.Errorf("report does not flag it:\n%s", sb.String())
	}
}

func TestTriggerReportsAReceiverThatFails(t *testing.T) {
	keys := testKeys(t)
	rc := newMerchant(t, nil, 503)
	res, err := epaytest.Trigger(context.Background(), epaytest.TriggerOptions{URL: rc.URL, InvoiceID: "000000003", Amount: 1, Keys: keys, Duplicates: 2})
	if err != nil || res.Unexpected() != 1 || res.Posts[0].Status != 503 || res.Posts[1].Status != 200 {
		t.Fatalf("trigger: %v %+v, want the 503 reported and the 200 fine", err, res)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	res, _ = epaytest.Trigger(context.Background(), epaytest.TriggerOptions{URL: down.URL, InvoiceID: "000000003", Amount: 1, Keys: keys})
	if res.Unexpected() != 1 || res.Posts[0].Error == "" {
		t.Fatalf("unreachable receiver: %+v, want an error recorded", res)
	}
}

func TestTriggerRefusesBadOptions(t *testing.T) {
	keys := testKeys(t)
	good := epaytest.TriggerOptions{URL: "http://127.0.0.1:1/post", InvoiceID: "000000001", Amount: 100, Keys: keys}
	cases := map[string]func(*epaytest.TriggerOptions){
		"no url":                   func(o *epaytest.TriggerOptions) { o.URL = "" },
		"invoice with letters":     func(o *epaytest.TriggerOptions) { o.InvoiceID = "12345a" },
		"zero amount":              func(o *epaytest.TriggerOptions) { o.Amount = 0 },
		"no keys":                  func(o *epaytest.TriggerOptions) { o.Keys = nil },
		"unknown kind":             func(o *epaytest.TriggerOptions) { o.Kind = "refund" },
		"out of order for failure": func(o *epaytest.TriggerOptions) { o.OutOfOrder, o.Kind = true, epaytest.KindFailure },
		"negative duplicates":      func(o *epaytest.TriggerOptions) { o.Duplicates = -1 },
		"unknown currency":         func(o *epaytest.TriggerOptions) { o.Currency = "XXX" },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			o := good
			mut(&o)
			if _, err := epaytest.Trigger(context.Background(), o); !errors.Is(err, epaytest.ErrTriggerOptions) {
				t.Fatalf("err = %v, want ErrTriggerOptions", err)
			}
		})
	}
}

func TestParseTriggerFlags(t *testing.T) {
	env := map[string]string{"EPAY_SECRET_KEYS": "B:dev-only-0123456789abcdef"}
	o, err := epaytest.ParseTriggerFlags("trigger", []string{"-invoice", "123456", "-amount", "12.5", "-kind", "failure", "-reason-code", "465", "-duplicates", "2"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.InvoiceID != "123456" || o.Amount != 12_50 || o.Kind != "failure" || o.ReasonCode != 465 || o.Duplicates != 2 || o.Keys.KeyIDs() != "B" {
		t.Errorf("options = %+v", o)
	}
	if o.URL != epaytest.DefaultTriggerURL || o.FailureURL != epaytest.DefaultTriggerFailureURL {
		t.Errorf("default URLs %q %q, want the local ingest's two routes", o.URL, o.FailureURL)
	}
	o, _ = epaytest.ParseTriggerFlags("trigger", []string{"-url", "http://x.test/cb"}, func(k string) string { return env[k] })
	if o.FailureURL != "" || epay.ValidateInvoiceID(o.InvoiceID) != nil {
		t.Errorf("with -url only: failure URL %q (want empty: same as -url), invoice %q (want a random valid one)", o.FailureURL, o.InvoiceID)
	}
	for _, bad := range [][]string{{"-amount", "ten"}, {"-kind", "maybe"}, {"extra"}} {
		if _, err := epaytest.ParseTriggerFlags("trigger", bad, func(k string) string { return env[k] }); !errors.Is(err, epaytest.ErrTriggerOptions) {
			t.Errorf("%v: err = %v, want ErrTriggerOptions", bad, err)
		}
	}
	if _, err := epaytest.ParseTriggerFlags("trigger", nil, func(string) string { return "" }); !errors.Is(err, epaytest.ErrTriggerOptions) || !strings.Contains(err.Error(), "EPAY_SECRET_KEYS") {
		t.Errorf("without keys: %v, want an error naming EPAY_SECRET_KEYS", err)
	}
}
