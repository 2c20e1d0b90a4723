package worker

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/invoice"
)

// A measurement, not a check (EPAYFLOW_MEASURE=1 runs it; bench/NOTES.md has its
// figures): the buyer of one invoice (who knows its secret_hash) posts 511 verified
// 64 KiB callbacks; every full read of that invoice then loads, masks and encodes ~32 MiB
// on the shard's owner. It reports one read's allocation and the peak heap of 16 reads
// at once (the review of session 28 that found it: 1.5 GiB, most reads cut by the
// server's write timeout, before the reads of whole histories took turns).
//
//	EPAYFLOW_MEASURE=1 go test -count=1 -run TestMeasureReadsOfAFloodedInvoice -v ./internal/worker/
func TestMeasureReadsOfAFloodedInvoice(t *testing.T) {
	if os.Getenv("EPAYFLOW_MEASURE") == "" {
		t.Skip("a measurement: EPAYFLOW_MEASURE=1 runs it")
	}
	e := newEnv(t)
	cfg := e.config()
	cfg.ReadKeys, _ = ParseReadKeys("tests:pii:" + testReadKey + ",initiator:operate:" + testSupportKey)
	w := e.start(cfg)
	const victim = "300000071"
	e.publishCreated(createdFor(victim, 10000))
	e.publish(callbackMsg(t, successCallback(victim, "tx-real", 10000), true, ""))
	waitState(t, w.url, victim, invoice.StatePaid)
	pad := `"x":"` + strings.Repeat("a", 63<<10) + `",`
	for i := 2; i < invoice.MaxMessagesForCallbacks; i++ {
		raw := successCallback(victim, fmt.Sprintf("%064d", i), 10000)
		raw = append([]byte("{"+pad), raw[1:]...)
		e.publish(callbackMsg(t, raw, true, ""))
	}
	waitFor(t, 120*time.Second, "flood applied", func() bool {
		_, got := get(t, w.url, victim)
		return got.Version >= invoice.MaxMessagesForCallbacks-1
	})
	read := func() (int, int64) {
		req, _ := http.NewRequest(http.MethodGet, w.url+"/v1/invoices/"+victim, nil)
		req.Header.Set("Authorization", "Bearer "+testSupportKey) // the initiator's operate key: masked view
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		n, _ := io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, n
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	code, n := read()
	runtime.ReadMemStats(&after)
	t.Logf("one read: %d, %d bytes answered, %s, %d MiB allocated", code, n, time.Since(start).Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20)

	// 16 concurrent reads (a buyer reloading the return page), peak heap
	var peak uint64
	stop := make(chan struct{})
	var mon sync.WaitGroup
	mon.Go(func() {
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	var wg sync.WaitGroup
	start = time.Now()
	for range 16 {
		wg.Go(func() { read() })
	}
	wg.Wait()
	close(stop)
	mon.Wait()
	t.Logf("16 concurrent reads: %s, peak heap in use %d MiB (before: %d MiB)", time.Since(start).Round(time.Millisecond), peak>>20, before.HeapInuse>>20)
}
