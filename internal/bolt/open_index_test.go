package bolt

import (
	"testing"

	"github.com/epayflow/epayflow/internal/invoice"
)

func openIDs(t *testing.T, s *Store, page int) []string {
	t.Helper()
	var ids []string
	after := ""
	for range 100 {
		invs, err := s.OpenInvoices(after, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(invs) == 0 {
			return ids
		}
		for _, inv := range invs {
			ids = append(ids, inv.InvoiceID)
		}
		after = invs[len(invs)-1].InvoiceID
	}
	t.Fatal("OpenInvoices never ended")
	return nil
}

func TestOpenIndexHoldsCreatedAndConfirmingInvoicesOnly(t *testing.T) {
	s := openTest(t, Options{})
	for _, id := range []string{"100000001", "100000002", "100000003", "100000004"} {
		mustApply(t, s, createdMsg(id))
	}
	mustApply(t, s, callbackMsg("100000002", "tx-2", true))  // paid: out
	mustApply(t, s, callbackMsg("100000003", "tx-3", false)) // failed: out
	claim := callbackMsg("100000003", "tx-3b", true)         // failed, a success waits: in again
	claim.Payment.Confirm = true
	mustApply(t, s, claim)
	mustApply(t, s, callbackMsg("100000009", "tx-9", true)) // unmatched: out
	got := openIDs(t, s, 2)
	want := []string{"100000001", "100000003", "100000004"}
	if len(got) != len(want) {
		t.Fatalf("open = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("open = %v, want %v", got, want)
		}
	}
	st := invoice.StatusMessage("st:1", "100000003", invoice.Status{Check: 1, Purpose: invoice.PurposeConfirm,
		ResultCode: "100", StatusName: "CHARGE", TransactionID: "tx-3b", Amount: 10000, Currency: "KZT", Terminal: terminal,
		Raw: []byte(`{"resultCode":"100"}`)}, t0)
	if r := mustApply(t, s, st); r.Invoice.State != invoice.StatePaid {
		t.Fatalf("status: %+v", r.Invoice)
	}
	if got := openIDs(t, s, 10); len(got) != 2 {
		t.Fatalf("open after the confirmation = %v", got)
	}
	_, hist, err := s.Get("100000003")
	if err != nil {
		t.Fatal(err)
	}
	if last := hist[len(hist)-1]; last.Kind != invoice.MsgStatus || len(last.Body) == 0 || string(last.Body) == "null" {
		t.Errorf("status history entry: %+v", last)
	}
}
