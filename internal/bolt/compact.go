package bolt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// UpgradeRecords rewrites every record still in schema 1 (a file upgraded on open keeps
// them until they change) in schema 2 and moves the record references of the records
// bucket into their invoices (schema 4), a thousand keys a transaction, and returns how
// many records it rewrote.
func (s *Store) UpgradeRecords() (int, error) {
	n := 0
	for _, name := range [][]byte{bucketInvoices, bucketHistory} {
		var after []byte
		for {
			var done bool
			err := s.db.Update(func(tx *bbolt.Tx) error {
				var err error
				var m int
				after, m, done, err = upgradeChunk(tx, name, after, 1000)
				n += m
				return err
			})
			if err != nil {
				return n, err
			}
			if done {
				break
			}
		}
	}
	for {
		var m int
		err := s.db.Update(func(tx *bbolt.Tx) error {
			var err error
			m, err = moveRefs(tx, 1000)
			return err
		})
		if n += m; err != nil || m == 0 {
			return n, err
		}
	}
}

// moveRefs moves up to limit record references of the records bucket into their
// invoices (re-encoded: a schema 1 reference is JSON), and returns how many it moved.
// A reference without its invoice is dropped.
func moveRefs(tx *bbolt.Tx, limit int) (int, error) {
	var ids []string
	c := tx.Bucket(bucketRecords).Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
		ids = append(ids, string(k))
	}
	recs := tx.Bucket(bucketRecords)
	for _, id := range ids { // after the walk: a put moves the cursor's pages
		// re-encoded into the invoice (putInvoice takes it out of the bucket)
		err := rewriteRef(tx, id, func(ref RecordRef) (RecordRef, bool, error) { return ref, true, nil })
		if err != nil {
			return 0, err
		}
		if recs.Get([]byte(id)) != nil { // no invoice to move it into
			if err := recs.Delete([]byte(id)); err != nil {
				return 0, err
			}
		}
	}
	return len(ids), nil
}

// upgradeChunk upgrades up to limit keys of bucket after the key after (nil: from the
// first) and returns the last key it looked at and whether it reached the end.
func upgradeChunk(tx *bbolt.Tx, name, after []byte, limit int) ([]byte, int, bool, error) {
	type kv struct{ k, v []byte }
	var todo []kv
	c := tx.Bucket(name).Cursor()
	k, v := c.First()
	if after != nil {
		if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	seen := 0
	for ; k != nil && seen < limit; k, v = c.Next() {
		seen++
		after = bytes.Clone(k)
		nv, err := upgradeValue(tx, name, k, v)
		if err != nil {
			return after, 0, false, err
		}
		if nv != nil {
			todo = append(todo, kv{after, nv})
		}
	}
	b := bucketFor(tx, name)
	for _, e := range todo { // after the walk: a put moves the cursor's pages
		if err := b.Put(e.k, e.v); err != nil {
			return after, 0, false, err
		}
	}
	return after, len(todo), k == nil, nil
}

// CompactFile rewrites the store file at path into a new file with bbolt's compaction
// (every page full, no free pages, pages of DefaultPageSize), after upgrading its
// records to the current schema, and puts
// the new file in its place. It takes the file's lock for the whole time, so it fails
// with ErrLocked while a worker runs on it; a crash part way leaves the old file as it
// was (the copy is written beside it, fsynced, then renamed over it). It returns the
// file's size before and after.
func CompactFile(path string, lockTimeout time.Duration) (before, after int64, err error) {
	s, err := Open(path, Options{LockTimeout: lockTimeout})
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	if _, err := s.UpgradeRecords(); err != nil {
		return 0, 0, fmt.Errorf("upgrade the records of %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		before = fi.Size()
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".compact")
	os.Remove(tmp) // a copy left by a compaction that died: never the store itself
	dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: lockTimeout, PageSize: DefaultPageSize})
	if err != nil {
		return before, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := bbolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return before, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return before, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return before, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	// the rename happens while the old file's lock is still held: no worker can open
	// the old file in between
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return before, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // the rename is durable
		d.Close()
	}
	s.Close()
	s = nil
	if fi, err := os.Stat(path); err == nil {
		after = fi.Size()
	}
	return before, after, nil
}
