package natsbus_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// PublishSync answers as jetstream's PublishMsg does to the worker's changelog writes
// on a real server: a record after the expected one is stored, a write expecting a
// record that is not the last is refused with the same API error (the fence between two
// owners of a shard), and a context without a deadline is bounded as jetstream bounds it.
func TestPublishSyncAnswersTheFenceAsJetStreamDoes(t *testing.T) {
	js := natstest.JetStream(t, natstest.Start(t).URL())
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "STATE", Subjects: []string{"state.>"}}); err != nil {
		t.Fatal(err)
	}
	record := func(subject string, prev uint64) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Data = []byte(`{"v":1}`)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(prev, 10))
		return m
	}
	// ours first, on its own subject each time, then jetstream's on its own
	for i, tc := range []struct {
		name string
		prev func(last uint64) uint64
	}{
		{name: "after the last record", prev: func(last uint64) uint64 { return last }},
		{name: "a stale owner's write", prev: func(last uint64) uint64 { return last + 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var acks [2]*jetstream.PubAck
			var errs [2]error
			for j, publish := range []func(*nats.Msg) (*jetstream.PubAck, error){
				func(m *nats.Msg) (*jetstream.PubAck, error) { return natsbus.PublishSync(context.Background(), nc, m) },
				func(m *nats.Msg) (*jetstream.PubAck, error) { return js.PublishMsg(context.Background(), m) },
			} {
				subject := "state." + strconv.Itoa(i) + "." + strconv.Itoa(j)
				first, err := js.PublishMsg(ctx, record(subject, 0))
				if err != nil {
					t.Fatal(err)
				}
				acks[j], errs[j] = publish(record(subject, tc.prev(first.Sequence)))
			}
			// the same error but for the last sequence the server names, which is the
			// subject's own in each
			upTo := func(err error) string { s, _, _ := strings.Cut(err.Error(), "description="); return s }
			if (errs[0] == nil) != (errs[1] == nil) || errs[0] != nil && upTo(errs[0]) != upTo(errs[1]) {
				t.Fatalf("ours %v, jetstream's %v", errs[0], errs[1])
			}
			var ours, theirs *jetstream.APIError
			if errs[0] != nil {
				if !errors.As(errs[0], &ours) || !errors.As(errs[1], &theirs) || ours.ErrorCode != theirs.ErrorCode || ours.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
					t.Fatalf("ours %#v, jetstream's %#v; want both the wrong-last-sequence API error", ours, theirs)
				}
				return
			}
			if acks[0].Stream != "STATE" || acks[1].Stream != "STATE" || acks[0].Duplicate || acks[1].Duplicate {
				t.Fatalf("ours %+v, jetstream's %+v", acks[0], acks[1])
			}
		})
	}
	// no deadline, a subscriber that never answers: bounded by PublishTimeout, as
	// jetstream bounds it
	if _, err := nc.Subscribe("silent", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := natsbus.PublishSync(context.Background(), nc, nats.NewMsg("silent"))
	if d := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || d < natsbus.PublishTimeout || d > natsbus.PublishTimeout+5*time.Second {
		t.Fatalf("a publish without a deadline, never answered: %v after %s; want a deadline after %s", err, d, natsbus.PublishTimeout)
	}
}
