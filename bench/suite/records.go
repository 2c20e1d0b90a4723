package suite

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/bench/baseline"
	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// sampleSize is how many messages of a drain are applied to measure its records.
const sampleSize = 2000

// recordMix applies a sample of the drain's messages through internal/bolt into a
// scratch store (outbox entries stay, no relay runs) and reads back, bucket by bucket,
// how many records a message writes and their mean sizes: the baseline writes the same.
// Counters in the meta bucket are rewritten in place, so they count as writes per message.
func recordMix(path string, c *load.Corpus, cbs []load.Callback) ([]baseline.Record, error) {
	os.Remove(path)
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	var msgs []invoice.Message
	for _, inv := range c.Invoices[:min(sampleSize/2, len(c.Invoices))] {
		msgs = append(msgs, invoice.CreatedMessage(inbox.CreatedMsgID(inv.InvoiceID), inv, now))
	}
	for _, cb := range cbs[:min(sampleSize/2, len(cbs))] {
		m, err := callbackMessage(cb, now)
		if err != nil {
			st.Close()
			return nil, err
		}
		msgs = append(msgs, m)
	}
	_, _, err = st.ApplyAll(msgs, now)
	st.Close()
	if err != nil {
		return nil, err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var recs []baseline.Record
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			var n, ks, vs int
			b.ForEach(func(k, v []byte) error { n, ks, vs = n+1, ks+len(k), vs+len(v); return nil })
			if n == 0 {
				return nil
			}
			r := baseline.Record{Bucket: string(name), PerMessage: float64(n) / float64(len(msgs)), KeySize: ks / n, ValueSize: vs / n}
			if string(name) == "meta" { // state counters: about two rewritten per message
				r.PerMessage = 2
			}
			recs = append(recs, r)
			return nil
		})
	})
	sort.Slice(recs, func(i, j int) bool { return recs[i].Bucket < recs[j].Bucket })
	return recs, err
}

// callbackMessage is the worker's message for a callback, as decode makes it.
func callbackMessage(cb load.Callback, now time.Time) (invoice.Message, error) {
	d, err := epay.DecodeCallback(cb.Body)
	if err != nil {
		return invoice.Message{}, err
	}
	return invoice.CallbackMessage(inbox.CallbackMsgID(d.InvoiceID, d.ID, d.Code), d, true, now), nil
}

// describe writes the record mix as one line.
func describe(recs []baseline.Record) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, fmt.Sprintf("%s %.2f x (%d B key, %d B value)", r.Bucket, r.PerMessage, r.KeySize, r.ValueSize))
	}
	return strings.Join(parts, "; ")
}
