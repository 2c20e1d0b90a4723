package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/invoice"
)

// toInvoiceMessage is what the worker would make of msg; confirm is a worker with an
// ePay client and WORKER_CONFIRM_PAYMENTS=on (the chaos stack), else one without client.
func toInvoiceMessage(msg inboxMsg, confirm bool) invoice.Message {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	switch msg.Kind {
	case kindCreated:
		return invoice.CreatedMessage(msg.ID, invoice.Created{InvoiceID: msg.InvoiceID, Kind: "payment",
			Amount: msg.Amount, Currency: msg.Currency, Terminal: msg.Terminal}, at)
	case kindStatus:
		return invoice.StatusMessage(msg.ID, msg.InvoiceID, invoice.Status{Check: msg.Check, Purpose: invoice.PurposeConfirm,
			ResultCode: msg.ResultCode, StatusName: msg.StatusName, TransactionID: msg.TxID, Amount: msg.Amount,
			Currency: msg.Currency, Terminal: msg.Terminal, ReasonCode: msg.ReasonCode, GiveUp: msg.GiveUp,
			Unanswered: map[bool]string{true: "unreachable"}[msg.ResultCode == ""]}, at)
	}
	kind := invoice.MsgSuccess
	if msg.Kind == kindFailure {
		kind = invoice.MsgFailure
	}
	p := &invoice.Payment{TransactionID: msg.TxID, Amount: msg.Amount, Currency: msg.Currency, Terminal: msg.Terminal,
		Verified: msg.Verified, ReasonCode: msg.ReasonCode}
	// the worker's policy (internal/worker/decode.go)
	if kind == invoice.MsgSuccess {
		p.Confirm = confirm
	} else {
		p.Confirm = confirm && (!msg.Verified || msg.ReasonCode == 0 || epay.ReasonFinality(msg.ReasonCode) != epay.Final)
	}
	return invoice.Message{ID: msg.ID, Kind: kind, InvoiceID: msg.InvoiceID, ReceivedAt: at, Payment: p}
}

// The oracle is written from the documents; invoice.Apply is the code. On thousands of
// random message sequences (duplicates, late invoice.created, mismatches, unverified and
// double payments, not-final failures, status answers of every kind, with confirmation
// on and without an ePay client) both must agree on the state, the version and every
// event.
func TestOracleAgreesWithTheStateMachine(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const id = "900000001"
	statuses := []struct{ code, name string }{{"100", "CHARGE"}, {"100", "AUTH"}, {"100", "REJECT"}, {"101", "REJECT"},
		{"102", ""}, {"107", ""}, {"100", "3D"}, {"100", "REFUND"}, {"100", "CANCEL"}, {"100", "ODD"}, {"100", ""},
		{"104", ""}, {"", ""}}
	for n := range 20000 {
		confirm := n%4 != 0
		var pool []inboxMsg
		pool = append(pool, inboxMsg{ID: id, InvoiceID: id, Kind: kindCreated, Amount: 1000, Currency: "KZT", Terminal: "term"})
		for i := range 1 + r.IntN(5) {
			tx := "tx" + string(rune('a'+i))
			m := inboxMsg{InvoiceID: id, Kind: kindSuccess, TxID: tx, Amount: 1000, Currency: "KZT", Terminal: "term", Verified: true}
			switch r.IntN(8) {
			case 0:
				m.Kind, m.ReasonCode = kindFailure, 484
			case 1:
				m.Amount = 999
			case 2:
				m.Verified = false
			case 3:
				m.Kind, m.Amount, m.ReasonCode = kindFailure, 5, 455
			case 4:
				m.Kind, m.ReasonCode = kindFailure, 454 // not final
			case 5:
				m.Kind, m.ReasonCode, m.Verified = kindFailure, 484, false
			}
			m.ID = "cb:" + id + ":" + tx + ":" + map[msgKind]string{kindSuccess: "ok", kindFailure: "error"}[m.Kind]
			pool = append(pool, m)
		}
		if confirm {
			for i := range 1 + r.IntN(4) {
				s := statuses[r.IntN(len(statuses))]
				m := inboxMsg{InvoiceID: id, Kind: kindStatus, Check: i + 1, ResultCode: s.code, StatusName: s.name,
					TxID: "tx" + string(rune('a'+r.IntN(3))), Amount: 1000, Currency: "KZT", Terminal: "term",
					GiveUp: r.IntN(3) == 0}
				switch r.IntN(5) {
				case 0:
					m.Amount = 998
				case 1:
					m.ReasonCode = 454
				case 2:
					m.ReasonCode = 465
				}
				if m.ResultCode == "" {
					m.GiveUp = true
				}
				m.ID = "st:" + id + ":" + strconv.Itoa(m.Check) + ":" + m.ResultCode + ":" + m.StatusName + ":" + m.TxID
				pool = append(pool, m)
			}
		}
		var seq []inboxMsg
		for range 1 + r.IntN(12) {
			seq = append(seq, pool[r.IntN(len(pool))])
		}
		agree(t, fmt.Sprintf("sequence %d", n), id, confirm, seq)
	}
}

// agree applies seq with invoice.Apply and with the oracle and fails unless both end in
// the same state, version, events and claim.
func agree(t *testing.T, label, id string, confirm bool, seq []inboxMsg) {
	t.Helper()
	m := fold(id, confirm, seq)
	var cur *invoice.Invoice
	var events []event
	for _, msg := range seq {
		next, evs, err := invoice.Apply(cur, toInvoiceMessage(msg, confirm), time.Now())
		if cur == nil && msg.Kind == kindStatus && errors.Is(err, invoice.ErrInvalid) {
			continue // the worker never asks about an invoice it does not know
		}
		if err != nil && !errors.Is(err, invoice.ErrDuplicate) {
			t.Fatal(err)
		}
		for _, e := range evs {
			events = append(events, event{ID: e.ID, Type: string(e.Type)})
		}
		cur = &next
	}
	if cur == nil {
		if m.state != "" {
			t.Fatalf("%s %+v: invoice.Apply knows nothing, oracle %s", label, seq, m.state)
		}
		return
	}
	if string(cur.State) != m.state || int(cur.Version) != m.version || !slices.Equal(events, m.events) {
		t.Fatalf("%s (confirm %v) %+v:\n invoice.Apply: %s v%d %v\n oracle:        %s v%d %v",
			label, confirm, seq, cur.State, cur.Version, events, m.state, m.version, m.events)
	}
	if cur.Confirmation != m.waiting {
		t.Fatalf("%s (confirm %v) %+v:\n invoice.Apply waits %q, oracle %q", label, confirm, seq, cur.Confirmation, m.waiting)
	}
}
