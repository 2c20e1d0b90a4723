package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/natsbus"
)

// Headers a discard record adds to the entry it keeps.
const (
	HeaderDiscardedSeq    = "Epay-Dlq-Discarded-Seq"    // the entry's sequence on EPAY_DLQ
	HeaderDiscardedSubj   = "Epay-Dlq-Discarded-From"   // the EPAY_DLQ subject it was stored on
	HeaderDiscardReason   = "Epay-Dlq-Discard-Reason"   // why the operator discarded it
	HeaderDiscardedBy     = "Epay-Dlq-Discarded-By"     // who did
	HeaderDiscardedAt     = "Epay-Dlq-Discarded-At"     // when, RFC 3339 UTC
	HeaderDiscardedOrigAt = "Epay-Dlq-Discarded-Dlq-At" // when the entry was put in the DLQ
)

// ErrDiscardUnexplained is wrapped when a discard names no reason or nobody.
var ErrDiscardUnexplained = errors.New("a discard needs a reason and who discards it")

// Discard says why an entry is discarded and who discards it; both are kept.
type Discard struct {
	Reason string
	By     string
	At     time.Time // when; zero: now
}

// Discarded is the record of a discarded entry: the entry as it was, and the discard.
type Discarded struct {
	Seq   uint64 // its sequence on EPAY_DLQ_DISCARDED
	Entry Entry  // the entry, Seq being its sequence on EPAY_DLQ
	Discard
}

// Discard removes entry seq from EPAY_DLQ for good, after recording it whole on
// EPAY_DLQ_DISCARDED with who discarded it and why (Nats-Msg-Id "discard:<seq>": a discard
// run again after a failed delete records it once). The record is acknowledged by
// JetStream before the entry is deleted, so an entry is never gone without its record. The
// error wraps ErrDiscardUnexplained without a reason or a name, ErrNoEntry when seq holds
// no entry; EPAY_DLQ_DISCARDED must exist (`worker streams` makes it: natsbus.EnsureStreams).
func (d *Queue) Discard(ctx context.Context, seq uint64, why Discard) (Discarded, error) {
	why.Reason, why.By = strings.TrimSpace(why.Reason), strings.TrimSpace(why.By)
	if why.Reason == "" || why.By == "" {
		return Discarded{}, ErrDiscardUnexplained
	}
	if why.At.IsZero() {
		why.At = time.Now()
	}
	e, err := d.Show(ctx, seq)
	if err != nil {
		return Discarded{}, err
	}
	if _, err := d.js.PublishMsg(ctx, discardMsg(e, why)); err != nil {
		return Discarded{}, fmt.Errorf("record the discard of DLQ %d on %s: %w; the entry stays", seq, natsbus.StreamDLQDiscarded, err)
	}
	st, err := d.js.Stream(ctx, natsbus.StreamDLQ)
	if err == nil {
		err = st.DeleteMsg(ctx, seq)
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return Discarded{}, fmt.Errorf("recorded the discard of DLQ %d but could not delete it (run it again): %w", seq, err)
	}
	return Discarded{Entry: e, Discard: why}, nil
}

// discardMsg is the record of e's discard: its headers and body as stored, the discard's
// headers, on the discard subject of e's shard.
func discardMsg(e Entry, why Discard) *nats.Msg {
	h := nats.Header{}
	for k, v := range e.Header {
		if !strings.HasPrefix(k, "Epay-Dlq-Discard") {
			h[k] = v
		}
	}
	h.Set(HeaderDiscardedSeq, strconv.FormatUint(e.Seq, 10))
	h.Set(HeaderDiscardedSubj, e.dlqSubject)
	h.Set(HeaderDiscardReason, why.Reason)
	h.Set(HeaderDiscardedBy, why.By)
	h.Set(HeaderDiscardedAt, why.At.UTC().Format(time.RFC3339Nano))
	h.Set(HeaderDiscardedOrigAt, e.Time.UTC().Format(time.RFC3339Nano))
	h.Set(nats.MsgIdHdr, "discard:"+strconv.FormatUint(e.Seq, 10))
	return &nats.Msg{Subject: natsbus.DLQDiscardedSubject(dlqShard(e.dlqSubject)), Header: h, Data: e.Data}
}

// dlqShard is the shard of a DLQ subject (epay.dlq.<shard>), 0 when it names none.
func dlqShard(subject string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(subject, "epay.dlq."))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Discarded returns up to limit discard records, oldest first; none when nothing was
// ever discarded (no EPAY_DLQ_DISCARDED yet).
func (d *Queue) Discarded(ctx context.Context, limit int) ([]Discarded, error) {
	st, err := d.js.Stream(ctx, natsbus.StreamDLQDiscarded)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", natsbus.StreamDLQDiscarded, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []Discarded
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && len(out) < limit && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("%s sequence %d: %w", natsbus.StreamDLQDiscarded, seq, err)
		}
		out = append(out, decodeDiscarded(raw))
	}
	return out, nil
}

func decodeDiscarded(raw *jetstream.RawStreamMsg) Discarded {
	h := raw.Header
	dlqSeq, _ := strconv.ParseUint(h.Get(HeaderDiscardedSeq), 10, 64)
	dlqAt, _ := time.Parse(time.RFC3339Nano, h.Get(HeaderDiscardedOrigAt))
	at, _ := time.Parse(time.RFC3339Nano, h.Get(HeaderDiscardedAt))
	return Discarded{
		Seq: raw.Sequence,
		Entry: Entry{Seq: dlqSeq, Time: dlqAt, Subject: h.Get(HeaderSubject), MsgID: h.Get(HeaderMsgID),
			Reason: h.Get(HeaderReason), Header: h, Data: raw.Data, dlqSubject: h.Get(HeaderDiscardedSubj)},
		Discard: Discard{Reason: h.Get(HeaderDiscardReason), By: h.Get(HeaderDiscardedBy), At: at},
	}
}
