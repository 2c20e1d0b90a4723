package worker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// A rotation of WORKER_STATUS_KEY from old to new: records written under the old key are
// adopted by a worker that signs with the new one and lists the old as previous;
// `worker resign-state` then writes each of them again under the new key (and leaves a
// record no worker's key signed as it is), after which a worker with the new key alone
// restores them all.
func TestAStatusKeyRotationEndsWithEveryRecordUnderTheNewKey(t *testing.T) {
	e, ctx := withState(t, 20*time.Second)
	const oldKey, newKey = "status-key-before-rotation-01", "status-key-after-rotation-002"
	signer := func(key string, previous ...string) inbox.StatusSigner {
		var prev [][]byte
		for _, p := range previous {
			prev = append(prev, []byte(p))
		}
		s, err := inbox.NewStatusSigner([]byte(key), prev...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := testApplier(t, e, "before.db")
	before.changes.signer = signer(oldKey)
	ids := []string{"812345681", "812345682", "812345683"}
	for _, id := range ids {
		if err := before.handle(asDelivered(createdMsg(createdFor(id, 10000)))); err != nil {
			t.Fatal(err)
		}
	}
	forged := &changelog{js: e.js, shards: inbox.DefaultShards, signer: signer("someone-elses-status-key-0003")}
	junk, err := forged.msg(bolt.Record{Invoice: invoice.Invoice{InvoiceID: "812345684", State: invoice.StatePaid, Version: 1}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.PublishMsg(ctx, junk); err != nil {
		t.Fatal(err)
	}

	getenv := func(k string) string {
		return map[string]string{"NATS_URL": e.ns.URL(), "EPAY_SECRET_KEYS": "A:" + strings.Repeat("k", 20),
			"WORKER_STATUS_KEY": newKey, "WORKER_STATUS_KEY_PREVIOUS": oldKey}[k]
	}
	var out bytes.Buffer
	n, err := ResignState(ctx, nil, getenv, &out)
	if err != nil {
		t.Fatalf("resign-state: %v\n%s", err, out.String())
	}
	if n != (ResignCounts{Read: 4, Resigned: 3, Refused: 1}) {
		t.Fatalf("resign-state %+v, want 4 read, 3 re-signed, 1 refused\n%s", n, out.String())
	}
	if n, err := ResignState(ctx, nil, getenv, &out); err != nil || n != (ResignCounts{Read: 4, Current: 3, Refused: 1}) {
		t.Fatalf("resign-state again: %+v (%v), want the 3 current and nothing to do", n, err)
	}

	after := testApplier(t, e, "after.db")
	after.changes.signer = signer(newKey) // the previous key gone
	shards := map[int]bool{}
	for _, id := range ids {
		shards[inbox.Shard(id, inbox.DefaultShards)] = true
	}
	for s := range shards {
		if _, _, err := after.changes.restore(ctx, after.store, s, func() time.Time { return time.Now().UTC() }); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if inv, _, err := after.store.Get(id); err != nil || inv.State != invoice.StateCreated {
			t.Fatalf("invoice %s after the rotation under the new key alone: %s (%v)", id, inv.State, err)
		}
	}
	// the old owner, restarted with the new key and the old as previous, writes on top
	// of its re-signed records: fenced once, the same version kept, then written
	before.changes.signer = signer(newKey, oldKey)
	failure := callbackFor(t, ids[0], "tx-1", "error", "100")
	for i := 0; i < 3; i++ {
		if err = before.handle(asDelivered(failure)); err == nil {
			break
		}
	}
	if inv, _, err2 := before.store.Get(ids[0]); err != nil || err2 != nil || inv.State != invoice.StateFailed {
		t.Fatalf("a change after the re-signing: %s (%v, %v)", inv.State, err, err2)
	}
}
