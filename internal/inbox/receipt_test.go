package inbox_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
)

// A callback's receipt is one header of five fields, and reads back as it was written.
func TestACallbacksReceiptIsOneHeaderAndReadsBack(t *testing.T) {
	b, err := inbox.NewBuilder(inbox.DefaultShards)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 6, 0, 0, 123456789, time.FixedZone("ALMT", 5*3600))
	for _, r := range []inbox.Receipt{
		{Route: "/epay/postlink", RemoteAddr: "127.0.0.1:54321", RequestID: "req-1", At: at, Verified: true},
		{Route: "/epay/failure-postlink", RemoteAddr: "[2001:db8::1]:443", RequestID: "9tDGkWzXXVG0Sv4AWB8mJn", At: at, Verified: false},
	} {
		cb := &epay.Callback{InvoiceID: "100000001", ID: "tx-1", Code: "ok", Raw: []byte(`{}`)}
		m := b.Callback(cb, r)
		want := r.Route + " 2026-12-03T01:00:00.123456789Z " + r.RemoteAddr + " " + r.RequestID + " " + map[bool]string{true: "true", false: "false"}[r.Verified]
		if got := m.Header.Get(inbox.HeaderReceipt); got != want {
			t.Errorf("receipt %q, want %q", got, want)
		}
		if len(m.Header) != 4 {
			t.Errorf("headers %v: want the message id, the invoice, the kind and the receipt", m.Header)
		}
		got, ok := inbox.ReceiptOf(m.Header)
		if r.At = r.At.UTC(); !ok || got != r {
			t.Errorf("ReceiptOf %+v %v, want %+v", got, ok, r)
		}
		if inbox.RequestID(m.Header) != r.RequestID || !inbox.ReceivedAt(m.Header).Equal(at) {
			t.Errorf("RequestID %q, ReceivedAt %v", inbox.RequestID(m.Header), inbox.ReceivedAt(m.Header))
		}
	}
}

// A field the ingest did not have is "-"; a field that would end the field or the
// header is kept to itself. Either way the receipt stays five fields.
func TestAReceiptsFieldsStayFive(t *testing.T) {
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   inbox.Receipt
		want string
		back inbox.Receipt
	}{
		{inbox.Receipt{At: at}, "- 2026-12-03T06:00:00Z - - false", inbox.Receipt{At: at}},
		{inbox.Receipt{Route: "/epay/postlink", RemoteAddr: "a b", RequestID: "x\r\ny\tz", At: at, Verified: true},
			"/epay/postlink 2026-12-03T06:00:00Z a_b x__y_z true",
			inbox.Receipt{Route: "/epay/postlink", RemoteAddr: "a_b", RequestID: "x__y_z", At: at, Verified: true}},
	} {
		got := string(tc.in.AppendHeader(nil))
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.in, got, tc.want)
		}
		back, ok := inbox.ReceiptOf(nats.Header{inbox.HeaderReceipt: {got}})
		if !ok || back != tc.back {
			t.Errorf("%q read back as %+v %v, want %+v", got, back, ok, tc.back)
		}
	}
}

// Callbacks stored before the receipt carried its fields in five headers: they read
// the same. A receipt that is not five fields with a good time is none.
func TestReceiptOfReadsTheOlderFiveHeadersAndRefusesAMalformedOne(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 5, time.UTC)
	old := nats.Header{
		inbox.HeaderRoute: {"/epay/postlink"}, inbox.HeaderReceivedAt: {at.Format(time.RFC3339Nano)},
		inbox.HeaderRemoteAddr: {"10.0.0.7:1234"}, inbox.HeaderRequestID: {"old-req"}, inbox.HeaderVerified: {"true"},
	}
	want := inbox.Receipt{Route: "/epay/postlink", RemoteAddr: "10.0.0.7:1234", RequestID: "old-req", At: at, Verified: true}
	if r, ok := inbox.ReceiptOf(old); !ok || r != want {
		t.Errorf("older headers: %+v %v, want %+v", r, ok, want)
	}
	if inbox.RequestID(old) != "old-req" || !inbox.ReceivedAt(old).Equal(at) {
		t.Errorf("older headers: RequestID %q, ReceivedAt %v", inbox.RequestID(old), inbox.ReceivedAt(old))
	}
	for _, v := range []string{
		"/epay/postlink 2026-12-03T06:00:00Z 127.0.0.1:1 req",            // four fields
		"/epay/postlink 2026-12-03T06:00:00Z 127.0.0.1:1 req true extra", // six
		"/epay/postlink yesterday 127.0.0.1:1 req true",                  // no time
		"/epay/postlink  2026-12-03T06:00:00Z 127.0.0.1:1 req true",      // two spaces: six fields
	} {
		h := nats.Header{inbox.HeaderReceipt: {v}}
		if r, ok := inbox.ReceiptOf(h); ok {
			t.Errorf("%q read as %+v", v, r)
		}
		if before := time.Now(); inbox.ReceivedAt(h).Before(before.Add(-time.Minute)) {
			t.Errorf("%q: ReceivedAt %v, want now", v, inbox.ReceivedAt(h))
		}
		if strings.Count(v, " ") != 4 && inbox.RequestID(h) != "" {
			t.Errorf("%q: RequestID %q, want none", v, inbox.RequestID(h))
		}
	}
	if _, ok := inbox.ReceiptOf(nats.Header{}); ok {
		t.Error("no headers read as a receipt")
	}
	// a request id the ingest did not have is none, not "-"
	if id := inbox.RequestID(nats.Header{inbox.HeaderReceipt: {"- 2026-12-03T06:00:00Z - - false"}}); id != "" {
		t.Errorf("RequestID %q, want none", id)
	}
}
