package chaos

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
)

// toInvoiceMessage is what the worker would make of msg.
func toInvoiceMessage(msg inboxMsg) invoice.Message {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if msg.Kind == kindCreated {
		return invoice.CreatedMessage(msg.ID, invoice.Created{InvoiceID: msg.InvoiceID, Kind: "payment",
			Amount: msg.Amount, Currency: msg.Currency, Terminal: msg.Terminal}, at)
	}
	kind := invoice.MsgSuccess
	if msg.Kind == kindFailure {
		kind = invoice.MsgFailure
	}
	return invoice.Message{ID: msg.ID, Kind: kind, InvoiceID: msg.InvoiceID, ReceivedAt: at, Payment: &invoice.Payment{
		TransactionID: msg.TxID, Amount: msg.Amount, Currency: msg.Currency, Terminal: msg.Terminal, Verified: msg.Verified}}
}

// The oracle is written from the documents; invoice.Apply is the code. On thousands of
// random message sequences (duplicates, late invoice.created, mismatches, unverified and
// double payments) both must agree on the state, the version and every event.
func TestOracleAgreesWithTheStateMachine(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const id = "900000001"
	for n := range 5000 {
		var pool []inboxMsg
		pool = append(pool, inboxMsg{ID: id, InvoiceID: id, Kind: kindCreated, Amount: 1000, Currency: "KZT", Terminal: "term"})
		for i := range 1 + r.IntN(5) {
			tx := "tx" + string(rune('a'+i))
			m := inboxMsg{InvoiceID: id, Kind: kindSuccess, TxID: tx, Amount: 1000, Currency: "KZT", Terminal: "term", Verified: true}
			switch r.IntN(6) {
			case 0:
				m.Kind = kindFailure
			case 1:
				m.Amount = 999
			case 2:
				m.Verified = false
			case 3:
				m.Kind = kindFailure
				m.Amount = 5
			}
			m.ID = "cb:" + id + ":" + tx + ":" + map[msgKind]string{kindSuccess: "ok", kindFailure: "error"}[m.Kind]
			pool = append(pool, m)
		}
		var seq []inboxMsg
		for range 1 + r.IntN(10) {
			seq = append(seq, pool[r.IntN(len(pool))])
		}
		m := fold(id, seq)
		var cur *invoice.Invoice
		var events []event
		for _, msg := range seq {
			next, evs, err := invoice.Apply(cur, toInvoiceMessage(msg), time.Now())
			if err != nil && !errors.Is(err, invoice.ErrDuplicate) {
				t.Fatal(err)
			}
			for _, e := range evs {
				events = append(events, event{ID: e.ID, Type: string(e.Type)})
			}
			cur = &next
		}
		if string(cur.State) != m.state || int(cur.Version) != m.version || !slices.Equal(events, m.events) {
			t.Fatalf("sequence %d %+v:\n invoice.Apply: %s v%d %v\n oracle:        %s v%d %v",
				n, seq, cur.State, cur.Version, events, m.state, m.version, m.events)
		}
	}
}
