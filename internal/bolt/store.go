package bolt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors of Open and of the store's methods.
var (
	// ErrLocked: another process holds the file (another worker on the same volume).
	ErrLocked = errors.New("database is locked")
	// ErrCorrupt: the file is not a bbolt database this worker can read. It is never reset.
	ErrCorrupt = errors.New("database file is corrupt or not a bbolt database")
	// ErrNotFound: no such invoice.
	ErrNotFound = errors.New("invoice not found")
)

var (
	bucketInvoices = []byte("invoices")
	// bucketSeen held every applied message id until each invoice's own list
	// (invoice.Invoice.Applied) became the one dedupe record; a store that has it drops it.
	bucketSeen    = []byte("seen")
	bucketHistory = []byte("history")
	bucketOutbox  = []byte("outbox")
	bucketMeta    = []byte("meta")
	allBuckets    = [][]byte{bucketInvoices, bucketHistory, bucketOutbox, bucketMeta, bucketPending, bucketRecords}
)

// schemaVersion is the file's layout (meta "schema"): 2 since the compact encodings of
// encoding.go, 3 since history entries are keyed by their sequence alone, listed by
// their invoice (historyKey), 4 since an invoice keeps its record reference (no more
// records bucket). A file of an older schema is upgraded on open (its records stay
// readable: encoding.go, eachHistory, getInvoiceStored); any other version is refused,
// and a worker of an older schema refuses a file of this one.
const (
	schemaVersion = "4"
	schemaV1      = "1"
)

// upgradedOnOpen are the schemas a file may have that this worker reads and upgrades.
var upgradedOnOpen = []string{schemaV1, "2", "3"}

// DefaultMaxBatchTime is Options.MaxBatchTime's default: a transaction's calls run for
// a fifth of a second at most, so that its callers, who all wait for its fsync, are
// answered within about that (the longest pause of a drain: issue 17, item 5), while a
// transaction still takes hundreds of calls.
const DefaultMaxBatchTime = 200 * time.Millisecond

// DefaultPageSize is the page size of a new file (Options.PageSize). bbolt leaves part
// of a page empty at each split: an entry that does not fit, and two entries at least on
// the right of a split, so that a worker committing a few messages at a time filled 4 KiB
// pages (the OS page) to 63-85% and took 2,183 B a paid invoice; 8 KiB pages hold
// 1,847 B, with the drain's rate unchanged (bench/NOTES.md, session 13).
const DefaultPageSize = 8192

// Options tune the store. Zero fields take the defaults.
type Options struct {
	// PageSize is the page size of a file the store creates. Default DefaultPageSize. An
	// existing file keeps the page size it was made with (CompactFile rewrites it with
	// the default).
	PageSize int
	// LockTimeout bounds the wait for the file lock. Default 1s.
	LockTimeout time.Duration
	// MaxBatchSize bounds the Apply calls that share one transaction. Default 512.
	// MaxBatchDelay is how long a transaction with fewer callers waits for more before
	// it commits. Default 0: none is needed, as the callers that arrive while one
	// transaction commits all share the next (group commit).
	MaxBatchSize  int
	MaxBatchDelay time.Duration
	// MaxBatchTime bounds how long the calls sharing one transaction run: once they
	// ran this long, the calls left wait for the next transaction. Default
	// DefaultMaxBatchTime; negative: no bound.
	MaxBatchTime time.Duration
	// NoSync skips fsync: only for benchmarks and throwaway stores.
	NoSync bool
	// OnCommit, when set, is told how long each write transaction took, begin to durable.
	OnCommit func(time.Duration)
	// MaxPending and MaxPendingBytes bound the callbacks kept for one unmatched invoice
	// (ErrPendingFull beyond). Defaults DefaultMaxPending, DefaultMaxPendingBytes.
	MaxPending      int
	MaxPendingBytes int
}

func (o *Options) setDefaults() {
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = 512
	}
	o.MaxBatchDelay = max(o.MaxBatchDelay, 0)
	switch {
	case o.MaxBatchTime == 0:
		o.MaxBatchTime = DefaultMaxBatchTime
	case o.MaxBatchTime < 0:
		o.MaxBatchTime = 0
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
}

// Store is the worker's bbolt store. Its methods are safe for concurrent use.
type Store struct {
	db       *bbolt.DB
	group    *committer
	path     string
	onCommit func(time.Duration)
	lastTx   atomic.Pointer[bbolt.Tx]

	maxPending, maxPendingBytes int
	id                          string
	// pageSize is the file's page size, read at Open: bbolt's DB.Info reads the map's
	// address without a lock, a data race with a commit that remaps the file.
	pageSize int
}

// Open opens (or creates) the store at path. It fails with an error wrapping ErrLocked
// when another process holds the file for longer than the lock timeout, and with one
// wrapping ErrCorrupt when the file is not a bbolt database: it never resets a file.
func Open(path string, opts Options) (*Store, error) {
	opts.setDefaults()
	db, err := openLocked(path, &bbolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, PageSize: opts.PageSize})
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, onCommit: opts.OnCommit, maxPending: opts.MaxPending, maxPendingBytes: opts.MaxPendingBytes,
		pageSize: db.Info().PageSize}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	s.group = newCommitter(db, opts.MaxBatchSize, opts.MaxBatchDelay, opts.MaxBatchTime)
	return s, nil
}

// openLocked opens path with bbolt and its lock, and makes sure the file it locked is
// still the one at path: a process that waited for the lock while `worker compact`
// renamed the compacted copy over the path would otherwise get the old, unlinked file,
// commit there (lost at its next start), and leave the path's file unlocked for a second
// worker with the same store id. Such a file is closed and the path opened again.
func openLocked(path string, o *bbolt.Options) (*bbolt.DB, error) {
	const attempts = 3
	for range attempts {
		var f *os.File
		o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			var err error
			f, err = os.OpenFile(name, flag, perm)
			return f, err
		}
		db, err := bbolt.Open(path, 0o600, o)
		if err != nil {
			return nil, openError(path, err)
		}
		locked, lerr := f.Stat()
		at, perr := os.Stat(path)
		if lerr == nil && perr == nil && os.SameFile(locked, at) {
			return db, nil
		}
		db.Close() // replaced while this process waited for its lock: open the new one
	}
	return nil, fmt.Errorf("%w: database %s was replaced %d times while this process waited for its lock (a compaction?): start again", ErrLocked, path, attempts)
}

// openError is bbolt.Open's error as the store reports it: ErrLocked, ErrCorrupt, or
// the error with the path.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: database %s is locked by another process (is another worker running?)", ErrLocked, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return fmt.Errorf("%w: %s: %v (restore it from a backup or move it aside; the worker never resets it)", ErrCorrupt, path, err)
	}
	return fmt.Errorf("open database %s: %w", path, corruptIfGarbage(path, err))
}

// corruptIfGarbage marks other open errors on an existing, non-empty regular file as
// corruption (bbolt reports a short or mangled file in several ways).
func corruptIfGarbage(path string, err error) error {
	fi, statErr := os.Stat(path)
	if statErr != nil || !fi.Mode().IsRegular() || fi.Size() == 0 || errors.Is(err, os.ErrPermission) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("%w: %s: bucket %s: %v", ErrCorrupt, s.path, name, err)
			}
		}
		if tx.Bucket(bucketSeen) != nil {
			if err := tx.DeleteBucket(bucketSeen); err != nil {
				return fmt.Errorf("%s: drop the seen bucket: %w", s.path, err)
			}
		}
		if err := ensureOpenIndex(tx); err != nil {
			return fmt.Errorf("%s: open index: %w", s.path, err)
		}
		meta := tx.Bucket(bucketMeta)
		if id := meta.Get([]byte("store-id")); id != nil {
			s.id = string(id)
		} else {
			b := make([]byte, 12)
			rand.Read(b) // never fails (crypto/rand)
			s.id = hex.EncodeToString(b)
			if err := meta.Put([]byte("store-id"), []byte(s.id)); err != nil {
				return err
			}
		}
		switch v := meta.Get([]byte("schema")); {
		case v == nil, slices.Contains(upgradedOnOpen, string(v)): // their records stay readable
			return meta.Put([]byte("schema"), []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("%w: %s has schema %q, this worker reads %q (and upgrades %s)", ErrCorrupt, s.path, v, schemaVersion, strings.Join(upgradedOnOpen, ", "))
		}
		return nil
	})
}

// ID identifies this store file: made at random when the file is created, the same for
// as long as the file lives (a worker restarted on its file is the same owner of its
// shards; another file is another owner).
func (s *Store) ID() string { return s.id }

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close closes the file. Apply calls made after it fail.
func (s *Store) Close() error {
	s.group.close()
	return s.db.Close()
}

// Ping reports whether the store can serve a read transaction.
func (s *Store) Ping() error {
	return s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketInvoices) == nil {
			return fmt.Errorf("%s: bucket invoices missing", s.path)
		}
		return nil
	})
}

// timeTx arranges for OnCommit to hear of tx once. The functions sharing a transaction
// run one after the other inside the single writer, so the first to see a new tx
// registers the hook.
func (s *Store) timeTx(tx *bbolt.Tx) {
	if s.onCommit == nil || s.lastTx.Swap(tx) == tx {
		return
	}
	start := time.Now()
	tx.OnCommit(func() { s.onCommit(time.Since(start)) })
}
