package worker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// BenchmarkListPage100k times pages of GET /v1/invoices (the lister, without HTTP) over
// an EPAY_STATE of 100,000 invoices, each the record the worker writes for a paid
// invoice (1% in review, spread evenly): a page of the invoices in review from the
// start (reads its 10,000-record bound), a page of any state, and a whole pass over
// every invoice in review, page after page.
//
//	go test -run '^$' -bench BenchmarkListPage100k -benchtime 10x ./internal/worker/
func BenchmarkListPage100k(b *testing.B) {
	const n = 100_000
	ns := natstest.Start(b)
	js := natstest.JetStream(b, ns.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := natsbus.DefaultStreamsConfig()
	cfg.MaxBytes = -1
	if err := natsbus.EnsureStreams(ctx, js, nil, cfg, natsbus.StreamState); err != nil {
		b.Fatal(err)
	}
	fillState(b, ctx, js, n)
	records := &changelog{js: js, shards: inbox.DefaultShards, signer: testSigner(b)}
	l := &lister{js: js, scan: listScan, log: slog.New(slog.NewTextHandler(io.Discard, nil)), records: records}
	review := listQuery{states: []invoice.State{invoice.StateReview}, limit: 100}
	b.Run("state=review,limit=100", func(b *testing.B) {
		for b.Loop() {
			page, err := l.page(ctx, review)
			if err != nil || len(page.Invoices) != 100 || !page.HasMore {
				b.Fatalf("%d invoices, more %v, %v", len(page.Invoices), page.HasMore, err)
			}
		}
	})
	b.Run("any state,limit=100", func(b *testing.B) {
		for b.Loop() {
			page, err := l.page(ctx, listQuery{limit: 100})
			if err != nil || len(page.Invoices) != 100 {
				b.Fatalf("%d invoices, %v", len(page.Invoices), err)
			}
		}
	})
	b.Run("state=review,every page", func(b *testing.B) {
		for b.Loop() {
			q, found, pages := review, 0, 0
			for {
				page, err := l.page(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				found, pages = found+len(page.Invoices), pages+1
				if !page.HasMore {
					break
				}
				q.after, _ = decodeCursor(page.NextCursor)
			}
			if found != n/100 {
				b.Fatalf("%d invoices in review over %d pages, want %d", found, pages, n/100)
			}
			b.ReportMetric(float64(pages), "pages/pass")
		}
	})
}

// fillState writes n records to EPAY_STATE as the worker does for a paid invoice, one
// in a hundred in review.
func fillState(b *testing.B, ctx context.Context, js jetstream.JetStream, n int) {
	b.Helper()
	signer := testSigner(b)
	raw := signed(b, sample(b, "success.json"))
	cb, err := epay.DecodeCallback(raw)
	if err != nil {
		b.Fatal(err)
	}
	var futures []jetstream.PubAckFuture
	for i := range n {
		id := strconv.Itoa(500000000 + i)
		amount := epay.Amount(10000)
		if i%100 == 0 {
			amount = 1 // a mismatch: review
		}
		c := createdFor(id, amount)
		inv, _, err := invoice.Apply(nil, invoice.CreatedMessage(id, c, c.CreatedAt), c.CreatedAt)
		if err != nil {
			b.Fatal(err)
		}
		one := *cb
		one.InvoiceID, one.Raw = id, []byte(strings.Replace(string(raw), "191111111", id, 1))
		msg := invoice.CallbackMessage(inbox.CallbackMsgID(id, one.ID, one.Code), &one, true, c.CreatedAt)
		inv, evs, err := invoice.Apply(&inv, msg, c.CreatedAt)
		if err != nil {
			b.Fatal(err)
		}
		data, _ := json.Marshal(bolt.Record{Invoice: inv, MessageID: msg.ID, Events: evs, At: c.CreatedAt})
		subject := natsbus.StateSubject(inbox.Shard(id, inbox.DefaultShards), id)
		rec := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: data}
		rec.Header.Set(inbox.HeaderStateSignature, signer.SignState(subject, data))
		f, err := js.PublishMsgAsync(rec)
		if err != nil {
			b.Fatal(err)
		}
		if futures = append(futures, f); len(futures) == 4096 || i == n-1 {
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					b.Fatal(err)
				case <-ctx.Done():
					b.Fatal(ctx.Err())
				}
			}
			futures = futures[:0]
		}
	}
}
