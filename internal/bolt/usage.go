package bolt

import (
	"fmt"
	"os"
	"sort"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// BucketUsage is the space one bucket takes in the file, from bbolt's page statistics.
type BucketUsage struct {
	Name string
	Keys int
	// Pages counts its leaf, branch and overflow pages; Bytes is what they take in the
	// file (Pages x page size), InUse the part of it that holds keys, values and headers.
	Pages int
	Bytes int64
	InUse int64
}

// Usage is how the file's space is spent.
type Usage struct {
	FileBytes int64
	PageSize  int
	// FreeBytes is the space of free pages (free or pending on the freelist): bbolt
	// reuses it for new writes, and only a compaction (worker compact) gives it back to
	// the disk.
	FreeBytes int64
	Buckets   []BucketUsage // by name
}

// Ahead is the part of the file past its pages in use and free: bbolt grows a file ahead
// of its pages, up to 16 MiB at a time.
func (u Usage) Ahead() int64 {
	n := u.FileBytes - u.FreeBytes - 2*int64(u.PageSize) // the two meta pages
	for _, b := range u.Buckets {
		n -= b.Bytes
	}
	return max(n, 0)
}

// Bucket returns the usage of the bucket name (zero if the file has none).
func (u Usage) Bucket(name string) BucketUsage {
	for _, b := range u.Buckets {
		if b.Name == name {
			return b
		}
	}
	return BucketUsage{Name: name}
}

// Usage walks every bucket of the store and reports its pages. It reads every page of
// the file: for a report or a command, not for a metric.
func (s *Store) Usage() (Usage, error) { return usageOf(s.db, s.path) }

// FileUsage is Store.Usage for a file no worker holds (it takes the lock: a read-only
// bbolt does not load the freelist). The error wraps ErrLocked while a worker holds it,
// and is the os.Stat error for a missing file.
func FileUsage(path string) (Usage, error) {
	if _, err := os.Stat(path); err != nil { // never a new, empty store
		return Usage{}, err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return Usage{}, openError(path, err)
	}
	defer db.Close()
	return usageOf(db, path)
}

func usageOf(db *bbolt.DB, path string) (Usage, error) {
	var u Usage
	st := db.Stats()
	err := db.View(func(tx *bbolt.Tx) error {
		// DB.Info reads the map's address without a lock; a read transaction holds the
		// lock a remap takes, so it is read here (a data race with a commit otherwise).
		u.PageSize = db.Info().PageSize
		u.FreeBytes = int64(st.FreePageN+st.PendingPageN) * int64(u.PageSize)
		u.FileBytes = tx.Size()
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			bs := b.Stats()
			pages := bs.BranchPageN + bs.BranchOverflowN + bs.LeafPageN + bs.LeafOverflowN
			u.Buckets = append(u.Buckets, BucketUsage{Name: string(name), Keys: bs.KeyN, Pages: pages,
				Bytes: int64(pages) * int64(u.PageSize), InUse: int64(bs.BranchInuse + bs.LeafInuse)})
			return nil
		})
	})
	if err != nil {
		return Usage{}, fmt.Errorf("usage of %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		u.FileBytes = fi.Size()
	}
	sort.Slice(u.Buckets, func(i, j int) bool { return u.Buckets[i].Name < u.Buckets[j].Name })
	return u, nil
}
