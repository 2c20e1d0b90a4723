package bolt

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/epayflow/epayflow/internal/invoice"
)

var benchSeq atomic.Int64

func benchMsg() invoice.Message {
	return createdMsg(fmt.Sprintf("%012d", 100000000000+benchSeq.Add(1)))
}

// BenchmarkApplyBatch is the worker's path: many handlers calling Apply at once.
func BenchmarkApplyBatch(b *testing.B) {
	s := openTest(b, Options{})
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
