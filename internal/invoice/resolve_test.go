package invoice

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
)

func TestCreatedResolvesUnmatchedByReplayingCallbacksInOrder(t *testing.T) {
	fail, ok := callback(MsgFailure, "tx-1", nil), callback(MsgSuccess, "tx-2", nil)
	cur := mustApply(t, nil, fail, ok)
	if cur.State != StateUnmatched || len(cur.Pending) != 2 {
		t.Fatalf("before invoice.created: %s with %d pending", cur.State, len(cur.Pending))
	}
	got, events, err := Apply(cur, created(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StatePaid || got.TransactionID != "tx-2" || len(got.Pending) != 0 {
		t.Fatalf("after: %s tx %s pending %d", got.State, got.TransactionID, len(got.Pending))
	}
	if len(events) != 2 || events[0].Type != EventFailed || events[1].Type != EventPaid {
		t.Fatalf("events = %+v, want failed then paid", events)
	}
	if events[0].ID == events[1].ID {
		t.Fatalf("two events share id %s", events[0].ID)
	}
	if string(events[1].Callback) != string(ok.Payment.Raw) {
		t.Errorf("paid event carries callback %s", events[1].Callback)
	}
}

func TestEventIDsAreTheSameWhenTheSameMessagesAreReapplied(t *testing.T) {
	msgs := []Message{created(), callback(MsgFailure, "tx-1", nil), callback(MsgSuccess, "tx-2", nil)}
	run := func() []string {
		var cur *Invoice
		var ids []string
		for _, m := range msgs {
			for range 2 { // every message twice: the second is a no-op
				next, events, err := Apply(cur, m, time.Now())
				if err != nil && !errors.Is(err, ErrDuplicate) {
					t.Fatal(err)
				}
				for _, e := range events {
					ids = append(ids, e.ID)
				}
				cur = &next
			}
		}
		return ids
	}
	a, b := run(), run()
	if len(a) != 2 || a[0] != b[0] || a[1] != b[1] {
		t.Fatalf("event ids %v then %v", a, b)
	}
	if a[0] != testInvoice+"-2" || a[1] != testInvoice+"-3" {
		t.Errorf("event ids %v, want invoiceId-version", a)
	}
}

func TestApplyRejectsMessagesThatCanNeverApply(t *testing.T) {
	tests := map[string]Message{
		"no id":               {Kind: MsgCreated, InvoiceID: testInvoice, Created: &Created{}},
		"bad invoice id":      {ID: "x", Kind: MsgFailure, InvoiceID: "12ab", Payment: &Payment{TransactionID: "t"}},
		"unknown kind":        {ID: "x", Kind: "refund", InvoiceID: testInvoice},
		"created no body":     {ID: "x", Kind: MsgCreated, InvoiceID: testInvoice},
		"created zero sum":    {ID: "x", Kind: MsgCreated, InvoiceID: testInvoice, Created: &Created{InvoiceID: testInvoice, Currency: "KZT", Terminal: "t"}},
		"created bad money":   {ID: "x", Kind: MsgCreated, InvoiceID: testInvoice, Created: &Created{InvoiceID: testInvoice, Amount: 1, Currency: "XYZ", Terminal: "t"}},
		"callback no tx id":   {ID: "x", Kind: MsgSuccess, InvoiceID: testInvoice, Payment: &Payment{}},
		"callback no body":    {ID: "x", Kind: MsgSuccess, InvoiceID: testInvoice},
		"created no terminal": {ID: "x", Kind: MsgCreated, InvoiceID: testInvoice, Created: &Created{InvoiceID: testInvoice, Amount: 1, Currency: "KZT"}},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Apply(nil, m, t0); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	other := Invoice{InvoiceID: "222222222", State: StateCreated}
	if _, _, err := Apply(&other, created(), t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("message for another invoice: err = %v, want ErrInvalid", err)
	}
}

func TestSampleCallbacksBecomeMessages(t *testing.T) {
	tests := map[string]struct {
		kind       MessageKind
		invoiceID  string
		reasonCode int
	}{
		"success.json": {MsgSuccess, "191111111", 0},
		"failure.json": {MsgFailure, "10000000001", -498},
	}
	for file, w := range tests {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile("../epay/testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := epay.DecodeCallback(raw)
			if err != nil {
				t.Fatal(err)
			}
			m := CallbackMessage("id", cb, true, t0)
			if m.Kind != w.kind || m.InvoiceID != w.invoiceID || m.Payment.ReasonCode != w.reasonCode || m.Payment.Amount != 10000 {
				t.Fatalf("message = %+v", m)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
