package bolt

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

func TestAFailingCallRunsAloneAndTheOthersCommit(t *testing.T) {
	s := openTest(t, Options{})
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.group.do(func(tx *bbolt.Tx) error {
				if err := tx.Bucket(bucketMeta).Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
					return err
				}
				if i == 7 {
					return boom
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := error(nil); i == 7 && !errors.Is(err, boom) || i != 7 && err != want {
			t.Errorf("call %d: %v", i, err)
		}
	}
	s.db.View(func(tx *bbolt.Tx) error {
		for i := range errs {
			if got := tx.Bucket(bucketMeta).Get(fmt.Appendf(nil, "k%d", i)); (got != nil) != (i != 7) {
				t.Errorf("key %d stored: %v", i, got != nil)
			}
		}
		return nil
	})
}

func TestApplyAfterCloseFails(t *testing.T) {
	s := openTest(t, Options{})
	s.Close()
	if _, err := s.Apply(createdMsg("000000000042"), t0); err == nil {
		t.Fatal("Apply after Close succeeded")
	}
}
