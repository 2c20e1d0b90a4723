package bolt

import (
	"encoding/binary"
	"os"

	bbolt "go.etcd.io/bbolt"

	"github.com/epayflow/epayflow/internal/invoice"
)

var keyOutbox = []byte("outbox")

func stateKey(s invoice.State) []byte { return []byte("state/" + s) }

func addCounter(tx *bbolt.Tx, key []byte, delta int64) error {
	meta := tx.Bucket(bucketMeta)
	return meta.Put(key, binary.BigEndian.AppendUint64(nil, uint64(readCounter(meta, key)+delta)))
}

func readCounter(meta *bbolt.Bucket, key []byte) int64 {
	v := meta.Get(key)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func countStates(tx *bbolt.Tx, before, after invoice.State) error {
	if before == after {
		return nil
	}
	if before != "" {
		if err := addCounter(tx, stateKey(before), -1); err != nil {
			return err
		}
	}
	return addCounter(tx, stateKey(after), 1)
}

// Stats are the store's counters, kept in the meta bucket in the transactions that
// change them, so reading them is cheap.
type Stats struct {
	Invoices      map[invoice.State]int64
	OutboxBacklog int64
	// FileBytes is the file's size; FreeBytes the part of it in free pages (reused by
	// new writes; CompactFile gives it back to the disk).
	FileBytes, FreeBytes int64
}

// Stats reads the counters.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Invoices: make(map[invoice.State]int64, len(invoice.States))}
	err := s.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, state := range invoice.States {
			st.Invoices[state] = readCounter(meta, stateKey(state))
		}
		st.OutboxBacklog = readCounter(meta, keyOutbox)
		return nil
	})
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	dbs := s.db.Stats()
	st.FreeBytes = int64(dbs.FreePageN+dbs.PendingPageN) * int64(s.pageSize)
	return st, err
}
