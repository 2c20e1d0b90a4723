package bolt

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// schemaOf reads the schema version a file records, with bbolt alone.
func schemaOf(t *testing.T, path string) string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.View(func(tx *bbolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get([]byte("schema")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// A file written by a worker of another schema is refused with ErrCorrupt and left as it
// is: this worker neither reads it nor rewrites its version.
func TestOpenRefusesAFileOfAnotherSchemaVersionAndLeavesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := schemaOf(t, path); v != schemaVersion {
		t.Fatalf("a new file records schema %q, want %q", v, schemaVersion)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte("5")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("a file of schema 5 was opened")
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `has schema "5", this worker reads "`+schemaVersion+`"`) {
		t.Fatalf("err = %v, want ErrCorrupt naming both versions", err)
	}
	if v := schemaOf(t, path); v != "5" {
		t.Fatalf("the refused file's schema is now %q, want it left at 5", v)
	}
}
