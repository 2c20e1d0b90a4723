package suite

import (
	"time"

	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// prefillChunk messages go in one transaction: the store fills in big commits.
const prefillChunk = 20_000

// prefill puts n paid invoices (invoice.created then a matching success callback, so
// each has the history of a real paid invoice) into a new store at path, through
// internal/bolt in big transactions with fsync off: it is set-up, not measured.
func prefill(path string, n int, base int64, keys *epay.Keyring) error {
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	const amount = epay.Amount(12_345_00)
	_, body := epaytest.SignedCallback(epaytest.TriggerOptions{InvoiceID: load.InvoiceID(base), Amount: amount, Keys: keys}, 0)
	msgs := make([]invoice.Message, 0, prefillChunk)
	for i := 0; i < n; i++ {
		id := load.InvoiceID(base + int64(i))
		msgs = append(msgs, invoice.CreatedMessage(inbox.CreatedMsgID(id), invoice.Created{
			InvoiceID: id, Kind: "payment", Amount: amount, Currency: "KZT", Terminal: epaytest.TestTerminal, CreatedAt: now,
		}, now))
		tx := "prefill-" + id
		msgs = append(msgs, invoice.Message{ID: inbox.CallbackMsgID(id, tx, "ok"), Kind: invoice.MsgSuccess, InvoiceID: id,
			ReceivedAt: now, Payment: &invoice.Payment{TransactionID: tx, Amount: amount, Currency: "KZT",
				Terminal: epaytest.TestTerminal, CardMask: "440563...5096", Verified: true, Raw: body}})
		if len(msgs) >= prefillChunk || i == n-1 {
			if _, _, err := st.ApplyAll(msgs, now); err != nil {
				return err
			}
			msgs = msgs[:0]
		}
	}
	return drainOutbox(st)
}

// drainOutbox empties the outbox the prefill filled: those events were published long ago.
func drainOutbox(st *bolt.Store) error {
	for {
		entries, err := st.Outbox(10_000)
		if err != nil || len(entries) == 0 {
			return err
		}
		seqs := make([]uint64, len(entries))
		for i, e := range entries {
			seqs[i] = e.Seq
		}
		if err := st.DeleteOutbox(seqs...); err != nil {
			return err
		}
	}
}
