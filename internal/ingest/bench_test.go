package ingest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// The ingest against the limit it is built on, each on its own embedded server with 64
// concurrent senders: BenchmarkIngestHTTP posts distinct signed callbacks through the
// real handler and HTTP stack (the HTTP client runs in the same process, on the same
// cores); BenchmarkRawPublish publishes the same bodies straight to JetStream with the
// same Msg-Id and expected stream; BenchmarkBaselineHTTP is the least an HTTP bridge does.

const benchSenders = 64

func BenchmarkIngestHTTP(b *testing.B) {
	ti := mustStartIngest(b)
	postLoad(b, ti.URL, ti.Keys)
}

func BenchmarkRawPublish(b *testing.B) {
	ns := natstest.Start(b)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := natsbus.EnsureStreams(context.Background(), js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox); err != nil {
		b.Fatal(err)
	}
	keys := mustKeyring(b, testKeys)
	var n atomic.Int64
	b.SetParallelism(benchSenders / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			inv := strconv.FormatInt(100000000+i, 10)
			id := "tx-" + strconv.FormatInt(i, 10)
			msg := &nats.Msg{Subject: inbox.Subject(inbox.Shard(inv, 8), inbox.KindPostlink), Data: callback(keys, inv, id, "ok"), Header: nats.Header{}}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(inbox.CallbackMsgID(inv, id, "ok")), jetstream.WithExpectStream(natsbus.StreamInbox))
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkBaselineHTTP is the least an HTTP-to-JetStream bridge can do (read the body,
// publish it with a Msg-Id, answer 200), in the same harness as BenchmarkIngestHTTP: the
// ingest's own cost is the difference between the two.
func BenchmarkBaselineHTTP(b *testing.B) {
	ns := natstest.Start(b)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := natsbus.EnsureStreams(context.Background(), js, nil, natsbus.DefaultStreamsConfig(), natsbus.StreamInbox); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		_, err := js.PublishMsg(ctx, &nats.Msg{Subject: "epay.inbox.0.postlink", Data: body},
			jetstream.WithMsgID(strconv.FormatInt(seq.Add(1), 10)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("OK"))
	}))
	defer srv.Close()
	postLoad(b, srv.URL, mustKeyring(b, testKeys))
}

// postLoad posts distinct signed callbacks to base from benchSenders goroutines.
func postLoad(b *testing.B, base string, keys *epay.Keyring) {
	tr := &http.Transport{MaxIdleConnsPerHost: benchSenders, MaxConnsPerHost: benchSenders}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var n atomic.Int64
	b.SetParallelism(benchSenders / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := callback(keys, strconv.FormatInt(100000000+i, 10), "tx-"+strconv.FormatInt(i, 10), "ok")
			res, err := hc.Post(base+RoutePostlink, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
