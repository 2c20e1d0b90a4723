package dlq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/dlq"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// dlqEnv is a NATS server with the roles' permissions on, EPAY_DLQ made by the worker's
// identity, and entries put there as the worker puts them.
type dlqEnv struct {
	t      *testing.T
	s      *natstest.Server
	worker jetstream.JetStream
}

// newDLQEnv starts NATS with the permissions on, EPAY_DLQ and EPAY_DLQ_DISCARDED made as
// the worker makes them.
func newDLQEnv(t *testing.T) *dlqEnv {
	t.Helper()
	return newDLQEnvWith(t, natsbus.StreamDLQ, natsbus.StreamDLQDiscarded)
}

// newDLQEnvWith is newDLQEnv with only the streams named made.
func newDLQEnvWith(t *testing.T, streams ...string) *dlqEnv {
	t.Helper()
	s := natstest.StartSecure(t)
	e := &dlqEnv{t: t, s: s, worker: e0js(t, s, natsbus.RoleWorker)}
	if err := natsbus.EnsureStreams(ctxT(t), e0js(t, s, natsbus.RoleStreams), nil, natsbus.DefaultStreamsConfig(), streams...); err != nil {
		t.Fatal(err)
	}
	return e
}

func e0js(t *testing.T, s *natstest.Server, role natsbus.Role) jetstream.JetStream {
	t.Helper()
	nc, err := natsbus.ConnectAs(s.URL(), "test-"+string(role), role, s.Auth(role), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// poison puts an entry on EPAY_DLQ as the worker does and returns its body.
func (e *dlqEnv) poison(shard int, streamSeq uint64) []byte {
	e.t.Helper()
	body := []byte(fmt.Sprintf(`{"id":"tx-%d","invoiceId":"12345678%d","code":"ok"}`, streamSeq, shard))
	p := dlq.Poisoned{Subject: inbox.Subject(shard, inbox.KindPostlink), MsgID: fmt.Sprintf("cb:%d", streamSeq),
		StreamSeq: streamSeq, Deliveries: 5, Reason: "poison message: test", Header: nats.Header{inbox.HeaderInvoiceID: {"1"}},
		Data: body, At: time.Now()}
	if _, err := e.worker.PublishMsg(ctxT(e.t), p.Msg()); err != nil {
		e.t.Fatal(err)
	}
	return body
}

// run runs `worker dlq args...` as the dlq user, as an operator does in a worker's pod.
func (e *dlqEnv) run(args ...string) (string, error) {
	e.t.Helper()
	a := e.s.Auth(natsbus.RoleDLQ)
	env := map[string]string{"NATS_URL": e.s.URL(), "DLQ_NATS_USER": a.User, "DLQ_NATS_PASSWORD": a.Password,
		"NATS_USER": "worker", "NATS_PASSWORD": "not-this-one"}
	var out bytes.Buffer
	err := dlq.Run(ctxT(e.t), args, func(k string) string { return env[k] }, &out)
	return out.String(), err
}

func (e *dlqEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("worker dlq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *dlqEnv) entries() []dlq.Entry {
	e.t.Helper()
	list, err := dlq.New(e0js(e.t, e.s, natsbus.RoleDLQ)).List(ctxT(e.t), 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// A discarded entry leaves EPAY_DLQ (whose depth the alert reads) and is kept whole on
// EPAY_DLQ_DISCARDED with who discarded it and why; the other entries stay.
func TestDiscardKeepsTheEntryWithWhoAndWhy(t *testing.T) {
	e := newDLQEnv(t)
	body := e.poison(3, 41)
	e.poison(5, 42)
	entries := e.entries()
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	first := entries[0]

	out := e.mustRun("discard", fmt.Sprint(first.Seq), "-reason", "test callback sent to prod by mistake", "-by", "alice")
	if !strings.Contains(out, "discarded DLQ 1") || !strings.Contains(out, "alice") || !strings.Contains(out, natsbus.StreamDLQDiscarded) {
		t.Errorf("discard said %q", out)
	}
	left := e.entries()
	if len(left) != 1 || left[0].MsgID != "cb:42" {
		t.Fatalf("entries after the discard: %+v", left)
	}

	recs, err := dlq.New(e0js(t, e.s, natsbus.RoleDLQ)).Discarded(ctxT(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d discard records", len(recs))
	}
	r := recs[0]
	if r.By != "alice" || r.Reason != "test callback sent to prod by mistake" || time.Since(r.At) > time.Minute {
		t.Errorf("discard %+v", r.Discard)
	}
	if r.Entry.Seq != first.Seq || r.Entry.Subject != first.Subject || r.Entry.MsgID != "cb:41" ||
		r.Entry.Reason != "poison message: test" || !bytes.Equal(r.Entry.Data, body) ||
		r.Entry.Header.Get(inbox.HeaderInvoiceID) != "1" || !r.Entry.Time.Equal(first.Time) {
		t.Errorf("the record does not keep the entry: %+v, want %+v", r.Entry, first)
	}
	list := e.mustRun("discarded")
	for _, want := range []string{"alice", "cb:41", "test callback sent to prod by mistake", first.Subject} {
		if !strings.Contains(list, want) {
			t.Errorf("discarded lacks %q:\n%s", want, list)
		}
	}

	// gone: a second discard finds nothing, and records nothing more
	if _, err := e.run("discard", fmt.Sprint(first.Seq), "-reason", "again", "-by", "bob"); !errors.Is(err, dlq.ErrNoEntry) {
		t.Errorf("second discard: %v, want ErrNoEntry", err)
	}
	if recs, _ := dlq.New(e0js(t, e.s, natsbus.RoleDLQ)).Discarded(ctxT(t), 10); len(recs) != 1 {
		t.Errorf("%d discard records after a discard of nothing", len(recs))
	}
}

// A discard that says nothing of why or who is refused and removes nothing.
func TestDiscardWithoutReasonOrNameIsRefused(t *testing.T) {
	e := newDLQEnv(t)
	e.poison(1, 7)
	seq := fmt.Sprint(e.entries()[0].Seq)
	for _, args := range [][]string{
		{"discard", seq},
		{"discard", seq, "-by", "alice"},
		{"discard", seq, "-reason", "  ", "-by", "alice"},
		{"discard", seq, "-reason", "dup"},
		{"discard", "-reason", "dup", "-by", "alice"},
	} {
		out, err := e.run(args...)
		if !dlq.IsUsageError(err) {
			t.Errorf("worker dlq %s: %v (want a usage error)\n%s", strings.Join(args, " "), err, out)
		}
	}
	if n := len(e.entries()); n != 1 {
		t.Fatalf("%d entries after refused discards", n)
	}
	if out := e.mustRun("discarded"); !strings.Contains(out, "(nothing discarded)") {
		t.Errorf("discarded: %s", out)
	}
}

// The record comes first: when it cannot be kept (here EPAY_DLQ_DISCARDED does not
// exist), the entry stays in the DLQ.
func TestDiscardKeepsTheEntryWhenItCannotRecordIt(t *testing.T) {
	e := newDLQEnvWith(t, natsbus.StreamDLQ)
	e.poison(2, 9)
	seq := e.entries()[0].Seq
	q := dlq.New(e0js(t, e.s, natsbus.RoleDLQ))
	if _, err := q.Discard(ctxT(t), seq, dlq.Discard{Reason: "r", By: "alice"}); err == nil {
		t.Fatal("discard succeeded with nowhere to record it")
	}
	if n := len(e.entries()); n != 1 {
		t.Fatalf("%d entries: the entry went without its record", n)
	}
}

// Before the worker made EPAY_DLQ_DISCARDED (a worker of an older version), a discard
// refuses, saying that the worker makes it, and the entry stays: the dlq user may not
// create a stream. Once the worker made it, the discard goes through.
func TestDiscardWaitsForTheWorkersRecordStream(t *testing.T) {
	e := newDLQEnvWith(t, natsbus.StreamDLQ)
	e.poison(3, 41)
	out, err := e.run("discard", "1", "-reason", "test", "-by", "alice")
	if !errors.Is(err, natsbus.ErrNotCreated) || !strings.Contains(err.Error(), natsbus.StreamDLQDiscarded) {
		t.Fatalf("discard before the worker made %s: %v\n%s, want an error saying the worker creates it", natsbus.StreamDLQDiscarded, err, out)
	}
	if n := len(e.entries()); n != 1 {
		t.Fatalf("%d entries after the refused discard, want the 1", n)
	}
	if err := natsbus.EnsureStreams(ctxT(t), e0js(t, e.s, natsbus.RoleStreams), nil, natsbus.DefaultStreamsConfig(), natsbus.StreamDLQDiscarded); err != nil {
		t.Fatal(err)
	}
	e.mustRun("discard", "1", "-reason", "test", "-by", "alice")
	if n := len(e.entries()); n != 0 {
		t.Fatalf("%d entries after the discard, want none", n)
	}
}
