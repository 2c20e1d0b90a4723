package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
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

	read := func(url string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+testReadKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// ?history=none: the view alone (what the initiator's return page asks), forwarded as
	// asked; any other value is 400
	code, raw := read(even.url + "/v1/invoices/" + onOdd + "?history=none")
	var view map[string]json.RawMessage
	if err := json.Unmarshal(raw, &view); code != http.StatusOK || err != nil || view["history"] != nil || string(view["state"]) != `"created"` {
		t.Errorf("?history=none through the worker that does not own the shard: %d %s, want the view without history", code, raw)
	}
	if code, raw := read(even.url + "/v1/invoices/" + onOdd + "?history=some"); code != http.StatusBadRequest {
		t.Errorf("?history=some: %d %s, want 400", code, raw)
	}
	// A history of 15 MiB (its buyer's callbacks, 60 KiB each) comes back whole through the
	// forward, to a reader that pauses 7 s: it was cut at 8 MiB, then by the forward's 5 s,
	// each time with a 200 (reviews of session 28).
	pad := `"x":"` + strings.Repeat("a", 60<<10) + `",`
	const big = 250
	for i := range big {
		cb := successCallback(onOdd, fmt.Sprintf("tx-big-%03d", i), 10000)
		e.publish(callbackMsg(t, append([]byte("{"+pad), cb[1:]...), true, ""))
	}
	waitFor(t, 60*time.Second, "the big callbacks applied", func() bool {
		code, raw := read(odd.url + "/v1/invoices/" + onOdd + "?history=none")
		var v struct{ Version int }
		return code == http.StatusOK && json.Unmarshal(raw, &v) == nil && v.Version >= big+1
	})
	req, _ = http.NewRequest(http.MethodGet, even.url+"/v1/invoices/"+onOdd, nil)
	req.Header.Set("Authorization", "Bearer "+testReadKey)
	slow := &http.Client{Transport: &http.Transport{ReadBufferSize: 1024, DisableCompression: true}}
	resp, err := slow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1024)
	n, _ := io.ReadFull(resp.Body, first)
	time.Sleep(7 * time.Second) // longer than the forward's 5 s
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	code, raw = resp.StatusCode, append(first[:n], rest...)
	if err != nil {
		t.Errorf("the slow read: %v after %d bytes", err, len(raw))
	}
	var whole InvoiceResponse
	if err := json.Unmarshal(raw, &whole); code != http.StatusOK || err != nil || len(whole.History) != big+1 {
		t.Errorf("a read of %d bytes through the forward: %d, %d history entries, %v; want all %d", len(raw), code, len(whole.History), err, big+1)
	}

	if err := odd.stop(t); err != nil { // a clean stop gives the leases back at once
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "503 while the shard has no owner", func() bool {
		code, _ := get(t, even.url, onOdd)
		return code == http.StatusServiceUnavailable
	})
}

// A lease written by a holder of the worker's NATS password alone, naming its own server
// as a shard's owner (unsigned, signed with another key, a worker's signature over
// another time, or a worker's advert older than a live lease, put back when its address
// may be another's), gets no read forwarded, and so neither the reader's key nor a
// forged answer: the read is 503 as for a shard nobody owns, and the server is never asked.
func TestAReadIsNeverForwardedToAURLNoWorkerSigned(t *testing.T) {
	e := newEnv(t)
	var asked atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"invoiceId":"`+strings.TrimPrefix(r.URL.Path, "/v1/invoices/")+`","state":"paid"}`)
	}))
	defer thief.Close()
	var even []int
	for s := 0; s < inbox.DefaultShards; s += 2 {
		even = append(even, s)
	}
	cfg := e.config()
	cfg.OwnShards = even
	w := e.start(cfg)
	var onOdd string
	for i := 191111111; onOdd == ""; i++ {
		if id := strconv.Itoa(i); inbox.Shard(id, inbox.DefaultShards)%2 == 1 {
			onOdd = id
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := e.js.KeyValue(ctx, natsbus.ShardOwnersBucket)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := inbox.NewStatusSigner([]byte("not-the-workers-status-key"))
	workers, _ := inbox.NewStatusSigner([]byte(testStatusKey))
	now := time.Now().UTC().Truncate(time.Millisecond)
	// a worker's advert from before the lease could have expired: put back, its address may be another's now
	old := now.Add(-cfg.ShardLease - 2*advertSkew)
	for _, o := range []leaseOwner{
		{Owner: "zz", URL: thief.URL, Signed: now},
		{Owner: "zz", URL: thief.URL, Signed: now, URLSig: other.SignAdvert("zz", thief.URL, now)},
		{Owner: "zz", URL: thief.URL, Signed: now, URLSig: workers.SignAdvert("zz", thief.URL, old)},
		{Owner: "zz", URL: thief.URL, Signed: old, URLSig: workers.SignAdvert("zz", thief.URL, old)},
		{Owner: "zz", URL: thief.URL, Signed: now.Add(time.Hour), URLSig: workers.SignAdvert("zz", thief.URL, now.Add(time.Hour))},
	} {
		o.Since = now
		lease, _ := json.Marshal(o)
		if _, err := kv.Put(ctx, shardKey(inbox.Shard(onOdd, inbox.DefaultShards)), lease); err != nil {
			t.Fatal(err)
		}
		if code, got := get(t, w.url, onOdd); code != http.StatusServiceUnavailable {
			t.Fatalf("read of a shard under a forged lease %s: %d %+v, want 503", lease, code, got)
		}
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("the forged lease's server was asked %d times, with the reader's key", n)
	}
}
