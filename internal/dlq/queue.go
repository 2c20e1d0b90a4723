// Package dlq is EPAY_DLQ, where the worker puts the inbox messages it gave up on: what
// an entry holds (Poisoned, the headers), and the operator's tools to list, show, replay
// and discard entries (Queue, and the `worker dlq` command, Run). EPAY_DLQ keeps entries
// with no age limit, so an entry leaves only by a replay or a discard; a discard keeps the
// entry whole, with who discarded it and why, on EPAY_DLQ_DISCARDED. A replay goes only back to
// the inbox subject of the entry's own shard and kind, so a planted entry cannot turn an
// operator's replay into anything else; the worker decodes and verifies a replayed
// message like any other.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// ErrNoEntry is wrapped when a DLQ sequence holds no message, or not one of the worker's.
var ErrNoEntry = errors.New("no such DLQ entry")

// ErrReplayRefused is wrapped when an entry names a subject it may not be replayed to:
// anything but the inbox subject of its own shard and a known kind (a planted entry must
// not turn an operator's replay into a payment event). The entry stays in the DLQ.
var ErrReplayRefused = errors.New("DLQ replay refused")

// Entry is one poisoned message on EPAY_DLQ.
type Entry struct {
	Seq     uint64      // sequence on EPAY_DLQ
	Time    time.Time   // when it was put there
	Subject string      // the inbox subject it came from
	MsgID   string      // its original Nats-Msg-Id
	Reason  string      // why the worker gave up
	Header  nats.Header // every header as stored
	Data    []byte      // the original body, verbatim

	dlqSubject string // the EPAY_DLQ subject it is stored on (epay.dlq.<shard>)
}

// Queue lists, shows and replays poisoned messages.
type Queue struct{ js jetstream.JetStream }

// New works on the EPAY_DLQ stream through js.
func New(js jetstream.JetStream) *Queue { return &Queue{js: js} }

// List returns up to limit entries, oldest first.
func (d *Queue) List(ctx context.Context, limit int) ([]Entry, error) {
	st, err := d.js.Stream(ctx, natsbus.StreamDLQ)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", natsbus.StreamDLQ, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && len(out) < limit && info.State.Msgs > 0; seq++ {
		e, err := d.get(ctx, st, seq)
		if errors.Is(err, ErrNoEntry) {
			continue // deleted after a replay
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Show returns one entry. The error wraps ErrNoEntry when seq holds none.
func (d *Queue) Show(ctx context.Context, seq uint64) (Entry, error) {
	st, err := d.js.Stream(ctx, natsbus.StreamDLQ)
	if err != nil {
		return Entry{}, fmt.Errorf("stream %s: %w", natsbus.StreamDLQ, err)
	}
	return d.get(ctx, st, seq)
}

func (d *Queue) get(ctx context.Context, st jetstream.Stream, seq uint64) (Entry, error) {
	raw, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, fmt.Errorf("%w: sequence %d", ErrNoEntry, seq)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("DLQ sequence %d: %w", seq, err)
	}
	e := Entry{Seq: raw.Sequence, Time: raw.Time, Header: raw.Header, Data: raw.Data, dlqSubject: raw.Subject,
		Subject: raw.Header.Get(HeaderSubject), MsgID: raw.Header.Get(HeaderMsgID), Reason: raw.Header.Get(HeaderReason)}
	if e.Subject == "" {
		return e, fmt.Errorf("%w: sequence %d has no %s header", ErrNoEntry, seq, HeaderSubject)
	}
	return e, nil
}

// Replay republishes entry seq to its original inbox subject with its original headers
// and Nats-Msg-Id + ":replay:<seq>" (so the inbox's duplicate window does not swallow
// it; the worker dedupes by content), waits for the PubAck, then deletes the entry.
// It returns the new message id.
func (d *Queue) Replay(ctx context.Context, seq uint64) (string, error) {
	e, err := d.Show(ctx, seq)
	if err != nil {
		return "", err
	}
	if err := e.replayable(); err != nil {
		return "", err
	}
	h := nats.Header{}
	for k, v := range e.Header {
		if !isDLQHeader(k) {
			h[k] = v
		}
	}
	id := e.MsgID + ":replay:" + strconv.FormatUint(seq, 10)
	h.Set(nats.MsgIdHdr, id)
	if _, err := d.js.PublishMsg(ctx, &nats.Msg{Subject: e.Subject, Header: h, Data: e.Data}, jetstream.WithExpectStream(inbox.Stream)); err != nil {
		return "", fmt.Errorf("republish DLQ %d to %s: %w", seq, e.Subject, err)
	}
	st, err := d.js.Stream(ctx, natsbus.StreamDLQ)
	if err == nil {
		err = st.DeleteMsg(ctx, seq)
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return id, fmt.Errorf("replayed DLQ %d but could not delete it: %w", seq, err)
	}
	return id, nil
}

// ReplayAll replays every entry present when it starts (entries that come back, poisoned
// again, are left for the next run); it stops at the first error.
func (d *Queue) ReplayAll(ctx context.Context) (int, error) {
	st, err := d.js.Stream(ctx, natsbus.StreamDLQ)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", natsbus.StreamDLQ, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var refused []error
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		_, err := d.Replay(ctx, seq)
		switch {
		case errors.Is(err, ErrNoEntry):
			continue
		case errors.Is(err, ErrReplayRefused):
			refused = append(refused, err) // left in the DLQ; the others are replayed
			continue
		case err != nil:
			return n, err
		}
		n++
	}
	return n, errors.Join(refused...)
}

// replayable says why e may not be replayed: its subject must be
// epay.inbox.<shard>.<kind>, with the shard of the DLQ subject it was stored on
// (epay.dlq.<shard>) and a kind the worker consumes.
func (e Entry) replayable() error {
	refuse := func(why string) error {
		return fmt.Errorf("%w: sequence %d names subject %q: %s; left in the DLQ", ErrReplayRefused, e.Seq, e.Subject, why)
	}
	shard, _, ok := inbox.ParseSubject(e.Subject)
	if !ok {
		return refuse("not an inbox subject of a kind the worker consumes")
	}
	if e.dlqSubject != natsbus.DLQSubject(shard) {
		return refuse("not the shard of the DLQ subject " + strconv.Quote(e.dlqSubject) + " it was stored on")
	}
	return nil
}

func isDLQHeader(k string) bool {
	switch k {
	case HeaderReason, HeaderSubject, HeaderMsgID, HeaderStreamSeq, HeaderDeliveries, HeaderAt, HeaderCorrelationID, nats.MsgIdHdr:
		return true
	}
	return false
}
