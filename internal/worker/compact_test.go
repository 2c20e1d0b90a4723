package worker

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/invoice"
)

// `worker compact` is refused while a worker holds the file, and leaves it; stopped,
// the file is compacted and keeps its invoices.
func TestCompactCommandRefusesARunningWorker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	id := "100000000001"
	if _, err := st.Apply(invoice.CreatedMessage(id, invoice.Created{InvoiceID: id, Kind: invoice.KindPayment, Amount: 100, Currency: "KZT", Terminal: "t"}, now), now); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "WORKER_DB" {
			return path
		}
		return ""
	}
	var out bytes.Buffer
	if err := Compact([]string{"-lock-timeout", "50ms"}, env, &out); !errors.Is(err, ErrRunning) {
		t.Fatalf("compact of a file in use: %v, want ErrRunning", err)
	}
	if _, _, err := st.Get(id); err != nil {
		t.Fatalf("the worker's file after a refused compact: %v", err)
	}
	st.Close()
	out.Reset()
	if err := Compact(nil, env, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "compacted "+path+": ") {
		t.Fatalf("output %q", out.String())
	}
	st, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if inv, _, err := st.Get(id); err != nil || inv.State != invoice.StateCreated {
		t.Fatalf("after compaction: %+v, %v", inv, err)
	}
}
