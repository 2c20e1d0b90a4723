package worker

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/proctest"
)

// crashed is the line the crash tests' hook (crashpoint_crashtest.go) writes before it
// SIGKILLs the worker.
var crashed = regexp.MustCompile(`crashtest: SIGKILL at (\w+) of message (\S+)`)

// crashWorker is the worker built with the crashtest tag (its handler's crashAt points
// can SIGKILL it, EPAYFLOW_CRASH_AT) as a process on e's NATS, e's file and a free port.
func crashWorker(t *testing.T, e *env) (*proctest.Proc, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	flags := []string{"-tags", "crashtest"}
	if raceBuild { // go test -race: the worker process too
		flags = append(flags, "-race")
	}
	bins, err := proctest.Builder{Dir: filepath.Join(dir, "bin"), Flags: flags}.Build(ctx, "worker")
	if err != nil {
		t.Fatal(err)
	}
	port, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := &proctest.Proc{Name: "worker", Path: bins["worker"], Log: filepath.Join(dir, "worker.log"),
		Env: []string{"HOME=" + os.Getenv("HOME"), "NATS_URL=" + e.ns.URL(), "WORKER_DB=" + e.db, "WORKER_ADDR=" + addr,
			"WORKER_SHARDS=all", "WORKER_ACK_WAIT=2s", "EPAY_SECRET_KEYS=A:worker-test-signing-key-01",
			"WORKER_READ_KEYS=tests:pii:" + testReadKey, "LOG_FORMAT=json"}}
	t.Cleanup(func() { p.Kill(10 * time.Second) })
	return p, "http://" + addr
}

// The worker is SIGKILLed (a crash, not a shutdown: nothing in flight settles) at each
// step between taking a message and its ack: with the change in the changelog only
// ("recorded"), in the store with its events unpublished ("committed"), and with its
// events out but the message unacked ("published"); restarted each time on the same
// file. In the end every invoice is in its final state with each message applied once,
// and PAYMENT_EVENTS holds exactly the events the model of the inbox expects, once
// each: the crashed message comes again and is a duplicate whose events are published
// (again, deduplicated by id) but never doubled, and no acked message is missing.
func TestWorkerSIGKILLedBetweenCommitAndAckLosesAndDoublesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the worker and runs it as a process; not with -short")
	}
	e := newEnv(t)
	sc := newScenario(t, 40) // 100 messages
	for _, m := range sc.msgs {
		e.publish(m)
	}
	p, url := crashWorker(t, e)
	base := p.Env
	crashedMsgs := map[string]string{} // message id -> the point its worker died at
	for _, point := range []string{"recorded", "committed", "published"} {
		p.Env = append(base[:len(base):len(base)], "EPAYFLOW_CRASH_AT="+point+":10")
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(90 * time.Second); !p.Exited(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the worker did not kill itself at %s within 90s:\n%s", point, p.Output())
			}
		}
		p.Kill(5 * time.Second) // gone already: ready for the next Start
		m := crashed.FindAllStringSubmatch(p.Output(), -1)
		if len(m) == 0 || m[len(m)-1][1] != point {
			t.Fatalf("the worker exited without crashing at %s:\n%s", point, p.Output())
		}
		crashedMsgs[m[len(m)-1][2]] = point
	}
	p.Env = base
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHTTP(context.Background(), url+"/readyz", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "all shards consumed", func() bool { return allConsumersDone(t, e, inbox.DefaultShards) })
	checkOneEventPerStateChange(t, e, url, sc)
	applied := map[string]int{}
	for id := range sc.final {
		code, body := get(t, url, id)
		if code != http.StatusOK {
			t.Fatalf("invoice %s: %d", id, code)
		}
		for _, h := range body.History {
			applied[h.MessageID]++
		}
	}
	for id, n := range applied {
		if n != 1 {
			t.Errorf("message %s applied %d times", id, n)
		}
	}
	if len(applied) != len(sc.msgs) {
		t.Errorf("%d messages applied, %d published", len(applied), len(sc.msgs))
	}
	if log, err := os.ReadFile(p.Log); err != nil || bytes.Contains(log, []byte("WARNING: DATA RACE")) {
		t.Errorf("the worker's log (%v) reports a data race:\n%s", err, log)
	}
	for id, point := range crashedMsgs {
		if applied[id] != 1 {
			t.Errorf("message %s, whose worker was killed at %s, applied %d times", id, point, applied[id])
		}
	}
}
