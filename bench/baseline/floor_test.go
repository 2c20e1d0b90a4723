package baseline_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/bench/baseline"
	"github.com/epayflow/epayflow/internal/natsembed"
)

// The floor drains the whole stream: every message acked once its records are in bbolt
// and its share of the events stored, nothing left pending or redelivered.
func TestFloorDrainsEveryMessageWithItsRecordsAndEvents(t *testing.T) {
	t.Run("changelog off", func(t *testing.T) { testFloor(t, false) })
	// with it on, every message's record is in the changelog stream too, each fenced
	t.Run("changelog on", func(t *testing.T) { testFloor(t, true) })
}

func testFloor(t *testing.T, changelog bool) {
	ns, err := natsembed.Start(natsembed.Config{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, subj := range map[string]string{"IN": "in.>", "EV": "ev.>", "ST": "st.>"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj}}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 1000
	for i := range n {
		if _, err := js.PublishAsync("in."+strconv.Itoa(i%7), []byte("callback "+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("pre-load not acknowledged")
	}
	cfg := baseline.FloorConfig{
		JS: js, Stream: "IN", Messages: n, Path: filepath.Join(t.TempDir(), "floor.db"),
		EventSubject: "ev.paid", EventsPerMessage: 0.45, EventSize: 300,
		Goroutines: 64, MaxBatchSize: 64, MaxBatchDelay: 2 * time.Millisecond,
		Records: []baseline.Record{{Bucket: "history", PerMessage: 0.95, KeySize: 8, ValueSize: 500}, {Bucket: "meta", PerMessage: 2, KeySize: 9, ValueSize: 9}},
	}
	if changelog {
		cfg.StateSubject, cfg.StateSize = func(i int64) string { return "st." + strconv.FormatInt(i, 10) }, 700
	}
	res, err := baseline.Floor(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != n || res.Elapsed <= 0 || res.Commits < 1 || res.Commits > n {
		t.Fatalf("result %+v, want %d messages in 1..%d commits", res, n, n)
	}
	ci, err := js.Consumer(ctx, "IN", "floor")
	if err != nil {
		t.Fatal(err)
	}
	// the last acks are sent without waiting for the server: poll for them, bounded
	deadline := time.Now().Add(5 * time.Second)
	var info *jetstream.ConsumerInfo
	for {
		if info, err = ci.Info(ctx); err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if info.AckFloor.Stream != n || info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
		t.Fatalf("consumer after the floor: ack floor %d, ack pending %d, pending %d, redelivered %d; want every one of %d acked once",
			info.AckFloor.Stream, info.NumAckPending, info.NumPending, info.NumRedelivered, n)
	}
	ev, err := js.Stream(ctx, "EV")
	if err != nil {
		t.Fatal(err)
	}
	evInfo, err := ev.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(0.45 * n); evInfo.State.Msgs != want {
		t.Fatalf("events stored: %d, want %d (0.45 a message)", evInfo.State.Msgs, want)
	}
	st, err := js.Stream(ctx, "ST")
	if err != nil {
		t.Fatal(err)
	}
	stInfo, err := st.Info(ctx, jetstream.WithSubjectFilter("st.>"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]uint64{true: n}[changelog]; stInfo.State.Msgs != want || changelog && (len(stInfo.State.Subjects) != n || stInfo.State.Bytes < 700*n) {
		t.Fatalf("changelog records: %d on %d subjects, %d bytes; want %d (one of 700 bytes a message, each on its own subject)",
			stInfo.State.Msgs, len(stInfo.State.Subjects), stInfo.State.Bytes, want)
	}
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counts := map[string]int{}
	db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error { counts[string(name)] = b.Stats().KeyN; return nil })
	})
	if counts["history"] != 950 || counts["meta"] != 2*n {
		t.Fatalf("records in bbolt: %v, want history 950 and meta %d", counts, 2*n)
	}
}
