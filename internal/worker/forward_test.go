package worker

import (
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/proctest"
)

// Two workers own half of the shards each. A read for an invoice on the other's shard
// is answered by the owner through the worker asked (with the reader's key and scope),
// so a client or the initiator may ask any worker; a wrong key is still 401; a read
// forwarded once is never forwarded again; a shard nobody owns answers 503.
func TestAReadOfAnotherWorkersShardIsAnsweredByItsOwner(t *testing.T) {
	e := newEnv(t)
	half := func(odd bool) []int {
		var out []int
		for s := range inbox.DefaultShards {
			if s%2 == 1 == odd {
				out = append(out, s)
			}
		}
		return out
	}
	start := func(name string, shards []int) *running {
		port, err := proctest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cfg := e.config()
		cfg.DB = filepath.Join(t.TempDir(), name+".db")
		cfg.Addr = "127.0.0.1:" + strconv.Itoa(port)
		cfg.AdvertiseURL = "http://" + cfg.Addr
		cfg.OwnShards = shards
		return e.start(cfg)
	}
	even, odd := start("even", half(false)), start("odd", half(true))
	var onOdd string // an invoice of an odd shard: the odd worker's
	for i := 191111111; onOdd == ""; i++ {
		if id := strconv.Itoa(i); inbox.Shard(id, inbox.DefaultShards)%2 == 1 {
			onOdd = id
		}
	}
	e.publishCreated(createdFor(onOdd, 10000))
	waitState(t, odd.url, onOdd, invoice.StateCreated)

	code, got := get(t, even.url, onOdd)
	if code != http.StatusOK || got.InvoiceID != onOdd || got.State != invoice.StateCreated || len(got.History) != 1 {
		t.Fatalf("read through the worker that does not own the shard: %d %+v, want the owner's answer", code, got)
	}
	if code, _ := getAs(t, even.url, onOdd, "not-a-read-key-at-all"); code != http.StatusUnauthorized {
		t.Errorf("forwarded read with a wrong key: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, odd.url+"/v1/invoices/"+onOdd, nil)
	req.Header.Set("Authorization", "Bearer "+testReadKey)
	req.Header.Set(HeaderForwardedBy, "another-worker")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a forwarded read to the owner: %v %v, want 200 from its store", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequest(http.MethodGet, even.url+"/v1/invoices/"+onOdd, nil)
	req.Header.Set("Authorization", "Bearer "+testReadKey)
	req.Header.Set(HeaderForwardedBy, "another-worker")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a forwarded read to a worker that does not own the shard: %v %v, want 404, not a second forward", resp, err)
	} else {
		resp.Body.Close()
	}

	if err := odd.stop(t); err != nil { // a clean stop gives the leases back at once
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "503 while the shard has no owner", func() bool {
		code, _ := get(t, even.url, onOdd)
		return code == http.StatusServiceUnavailable
	})
}
