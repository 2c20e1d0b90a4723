package bolt

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
)

var benchSeq atomic.Int64

func benchMsg() invoice.Message {
	return createdMsg(fmt.Sprintf("%012d", 100000000000+benchSeq.Add(1)))
}

// BenchmarkApplyBatch is the worker's path: many handlers calling Apply at once.
func BenchmarkApplyBatch(b *testing.B) {
	var txs atomic.Int64
	s := openTest(b, Options{OnCommit: func(time.Duration) { txs.Add(1) }})
	b.SetParallelism(64) // x GOMAXPROCS goroutines
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Apply(benchMsg(), t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyOnePerTransaction is the ceiling without grouping: one fsync a message.
func BenchmarkApplyOnePerTransaction(b *testing.B) {
	s := openTest(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.ApplyAll([]invoice.Message{benchMsg()}, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyAll100 applies 100 messages per transaction (a fetched batch).
func BenchmarkApplyAll100(b *testing.B) {
	s := openTest(b, Options{})
	b.ReportAllocs()
	msgs := make([]invoice.Message, 100)
	for b.Loop() {
		for i := range msgs {
			msgs[i] = benchMsg()
		}
		if _, _, err := s.ApplyAll(msgs, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPrepareCommit is the worker's path with the changelog: many handlers, each
// taking an invoice through created, failed and paid, a Prepare and a Commit per
// change. Nothing publishes the outbox, so the paid change's record also carries the
// failed change's event (the worst case of the earlier unpublished events). The record
// is encoded as the worker encodes it for the changelog.
func BenchmarkPrepareCommit(b *testing.B) {
	var txs atomic.Int64
	s := openTest(b, Options{OnCommit: func(time.Duration) { txs.Add(1) }})
	b.SetParallelism(64) // x GOMAXPROCS goroutines
	b.ReportAllocs()
	var recordSeq atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("%012d", 200000000000+benchSeq.Add(1))
			for _, m := range []invoice.Message{createdMsg(id), callbackMsg(id, "tx-1", false), callbackMsg(id, "tx-2", true)} {
				ch, err := s.Prepare(m, t0)
				if err == nil {
					if _, err = ch.RecordJSON(); err == nil { // the changelog write's bytes
						_, err = s.Commit(ch, recordSeq.Add(1))
					}
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(b.N*3)/b.Elapsed().Seconds(), "changes/s")
	b.ReportMetric(float64(b.N*3)/float64(txs.Load()), "changes/tx")
}
