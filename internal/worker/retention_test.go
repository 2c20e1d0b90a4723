package worker

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
)

// gauge reads a gauge without labels from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			if g := mf.GetMetric()[0].GetGauge(); g != nil {
				return g.GetValue()
			}
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A sweep of the retention drops the bodies of the closed invoices older than it and
// counts them; the store's size and its reclaimable bytes are on /metrics.
func TestRetentionPrunesOldClosedInvoicesAndCountsThem(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "worker.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.readStore(st)
	w := &service{cfg: Config{Retention: 48 * time.Hour}, store: st, metrics: m, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	now := time.Now().UTC()
	for i, at := range []time.Time{now.Add(-72 * time.Hour), now} {
		id := []string{"100000000001", "100000000002"}[i]
		for _, msg := range []invoice.Message{
			invoice.CreatedMessage(id, invoice.Created{InvoiceID: id, Kind: invoice.KindPayment, Amount: 100, Currency: "KZT", Terminal: "t"}, at),
			{ID: "cb:" + id + ":tx:error", Kind: invoice.MsgFailure, InvoiceID: id, ReceivedAt: at,
				Payment: &invoice.Payment{TransactionID: "11111111-1111-4111-8111-111111111111", Amount: 100, Currency: "KZT", Terminal: "t", ReasonCode: 465, Verified: true, Raw: []byte(`{"code":"error"}`)}},
		} {
			if _, err := st.Apply(msg, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.pruneOnce(context.Background(), now.Add(-w.cfg.Retention))
	if got := gauge(t, reg, "epayflow_worker_pruned_bodies_total"); got != 2 {
		t.Fatalf("pruned bodies %v, want the 2 of the old failed invoice", got)
	}
	if got := gauge(t, reg, "epayflow_worker_pruned_bytes_total"); got <= 0 {
		t.Fatalf("pruned bytes %v", got)
	}
	if _, hist, _ := st.Get("100000000002"); len(hist) != 2 || len(hist[1].Body) == 0 {
		t.Fatalf("the recent invoice lost its bodies: %+v", hist)
	}
	if got := gauge(t, reg, "epayflow_worker_store_file_bytes"); got <= 0 {
		t.Fatalf("file bytes %v", got)
	}
	gauge(t, reg, "epayflow_worker_store_reclaimable_bytes")
}
