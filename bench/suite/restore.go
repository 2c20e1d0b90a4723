package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// RestoreResult is a worker with an empty file restoring one shard from EPAY_STATE.
type RestoreResult struct {
	Records  int           // records of the shard in the changelog
	Restored int           // records the worker took
	Took     time.Duration // the worker's own measure (epayflow_worker_restore_duration_seconds)
	Bytes    uint64        // EPAY_STATE's size on the server
}

// Rate is records restored per second.
func (r RestoreResult) Rate() float64 {
	if r.Took <= 0 {
		return 0
	}
	return float64(r.Restored) / r.Took.Seconds()
}

// restore fills EPAY_STATE with the records of n paid invoices of shard 0 (each with
// its paid event and callback, as a worker writes them), then starts a worker that
// owns shard 0 on an empty file and reads how long its restore took.
func (s *suite) restore(ctx context.Context) error {
	n := s.sz.restoreRecords
	ns, err := s.startNATS(ctx, "nats-restore")
	if err != nil {
		return err
	}
	defer ns.stop()
	if err := natsbus.EnsureStreams(ctx, ns.js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ, natsbus.StreamState); err != nil {
		return err
	}
	signer, err := inbox.NewStatusSigner([]byte(statusKey))
	if err != nil {
		return err
	}
	msgs, ids := make([]*nats.Msg, 0, n), make([]string, 0, n)
	now := time.Now().UTC()
	for i := s.base(int64(n * workerShards)); len(msgs) < n; i++ {
		id := strconv.FormatInt(i, 10)
		if inbox.Shard(id, workerShards) != 0 {
			continue
		}
		data, err := json.Marshal(paidRecord(id, now))
		if err != nil {
			return err
		}
		subject := natsbus.StateSubject(0, id)
		msg := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: data}
		msg.Header.Set(inbox.HeaderStateSignature, signer.SignState(subject, data))
		msgs = append(msgs, msg)
		ids = append(ids, "restore-"+id)
	}
	if _, err := load.PublishAll(ctx, ns.js, msgs, ids, 1024); err != nil {
		return fmt.Errorf("fill EPAY_STATE: %w", err)
	}
	dir := filepath.Join(s.cfg.Dir, "worker-restore")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w, url, err := s.startService(ctx, "worker-restore", s.bins["worker"], "WORKER_ADDR", []string{"NATS_URL=" + ns.url,
		"WORKER_DB=" + filepath.Join(dir, "worker.db"), "EPAY_SECRET_KEYS=" + keySpec, "WORKER_STATUS_KEY=" + statusKey,
		"EPAY_SHARDS=" + strconv.Itoa(workerShards), "WORKER_SHARDS=0"}, true)
	if err != nil {
		return err
	}
	defer w.Stop(30 * time.Second)
	m, err := metrics(url)
	if err != nil {
		return err
	}
	r := RestoreResult{Records: n, Restored: int(m["epayflow_worker_restored_records_total"]),
		Took: time.Duration(m["epayflow_worker_restore_duration_seconds_sum"] * float64(time.Second))}
	if st, err := ns.js.Stream(ctx, natsbus.StreamState); err == nil {
		r.Bytes = st.CachedInfo().State.Bytes
	}
	s.res.Restore = r
	s.logf("   restored %d of %d records of one shard in %s (%.0f/s; EPAY_STATE %.1f MiB)", r.Restored, n, r.Took.Round(time.Millisecond), r.Rate(), float64(r.Bytes)/mib)
	if r.Restored != n {
		return fmt.Errorf("the worker restored %d records of %d", r.Restored, n)
	}
	return nil
}

// paidRecord is the changelog record of a paid invoice: created, then a verified success.
func paidRecord(id string, at time.Time) bolt.Record {
	inv := invoice.Invoice{InvoiceID: id, State: invoice.StatePaid, Kind: invoice.KindPayment, Amount: epay.Amount(150000),
		Currency: "KZT", Terminal: "67e34d63-102f-4bd1-898e-370781d0074d", TransactionID: "tx-" + id, CardMask: "440043...2222",
		CreatedAt: at, UpdatedAt: at, PaidAt: at, Version: 2,
		Applied: []string{inbox.CreatedMsgID(id), "cb-" + id + "-0123456789abcdef0123456789abcdef"}}
	callback := fmt.Sprintf(`{"id":"tx-%s","dateTime":"2025-01-01T10:00:00","invoiceId":"%s","amount":1500,"currency":"KZT","terminal":"%s","accountId":"","description":"bench","language":"rus","cardMask":"440043...2222","cardType":"VISA","issuer":"HALYK BANK","reference":"123456789012","secure":"yes","code":"ok","reason":"success","reasonCode":0,"name":"","email":"","phone":"","ip":"10.0.0.1","ipCountry":"KZ","ipCity":"ALMATY","ipRegion":"ALMATY","ipDistrict":"","ipLongitude":0,"ipLatitude":0,"secret_hash":"redacted"}`,
		id, id, inv.Terminal)
	view := inv
	view.Applied = nil
	return bolt.Record{Invoice: inv, MessageID: inv.Applied[1], At: at,
		Events: []invoice.Event{{ID: id + "-2", Type: invoice.EventPaid, InvoiceID: id, Time: at, Invoice: view, Callback: json.RawMessage(callback)}}}
}
