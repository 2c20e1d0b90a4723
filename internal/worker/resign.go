package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// ResignStateUsage is `worker resign-state`'s line in the worker's -h.
const ResignStateUsage = "worker resign-state"

// ResignCounts is what `worker resign-state` did with EPAY_STATE's records.
type ResignCounts struct {
	Read     int // records read
	Current  int // signed with WORKER_STATUS_KEY already
	Resigned int // signed with a previous key: written again, signed with WORKER_STATUS_KEY
	Changed  int // replaced by a newer record while read (signed by a worker since)
	Refused  int // signed with no key the worker has: left as they are
}

// ResignState is `worker resign-state`, the step of a WORKER_STATUS_KEY rotation after
// every worker signs with the new key: it reads every record of EPAY_STATE and writes
// again, signed with WORKER_STATUS_KEY, each one only a key of WORKER_STATUS_KEY_PREVIOUS
// signed (an invoice that has not changed since the rotation). Each is written expecting
// itself as its subject's last record, so a newer record is never overwritten. Once it
// reports none left, WORKER_STATUS_KEY_PREVIOUS can be emptied. It takes the worker's
// own settings (its NATS user, its keys); bad ones wrap ErrConfig.
func ResignState(ctx context.Context, args []string, getenv func(string) string, out io.Writer) (ResignCounts, error) {
	cfg, _, err := ParseCommand("worker resign-state", args, getenv, out)
	if err != nil {
		return ResignCounts{}, err
	}
	if cfg.StatusKey == "" || len(cfg.StatusKeysPrevious) == 0 {
		return ResignCounts{}, fmt.Errorf("%w: worker resign-state re-signs what WORKER_STATUS_KEY_PREVIOUS signed with WORKER_STATUS_KEY: set both", ErrConfig)
	}
	current, err := inbox.NewStatusSigner([]byte(cfg.StatusKey))
	if err != nil {
		return ResignCounts{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	previous := make([][]byte, len(cfg.StatusKeysPrevious))
	for i, k := range cfg.StatusKeysPrevious {
		previous[i] = []byte(k)
	}
	accepted, err := inbox.NewStatusSigner([]byte(cfg.StatusKey), previous...)
	if err != nil {
		return ResignCounts{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	nc, err := natsbus.ConnectAs(cfg.NATSURL, "epayflow-worker-resign", natsbus.RoleWorker, cfg.NATS, slog.New(slog.DiscardHandler))
	if err != nil {
		return ResignCounts{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return ResignCounts{}, err
	}
	n, err := resignState(ctx, js, current, accepted)
	fmt.Fprintf(out, "EPAY_STATE: %d records read: %d signed with WORKER_STATUS_KEY already, %d re-signed, %d changed meanwhile, %d signed with no key this worker has (left as they are)\n",
		n.Read, n.Current, n.Resigned, n.Changed, n.Refused)
	return n, err
}

// resignState walks EPAY_STATE through a consumer without acks (deleted when done) and
// writes again, signed by current, each record that only accepted (current and the
// previous keys) verifies. It reads up to the stream's last record when it starts: what
// it writes itself comes after.
func resignState(ctx context.Context, js jetstream.JetStream, current, accepted inbox.StatusSigner) (ResignCounts, error) {
	var n ResignCounts
	st, err := js.Stream(ctx, natsbus.StreamState)
	if err != nil {
		return n, fmt.Errorf("EPAY_STATE: %w", err)
	}
	last := st.CachedInfo().State.LastSeq
	cons, err := js.CreateConsumer(ctx, natsbus.StreamState, jetstream.ConsumerConfig{
		FilterSubject: natsbus.StateSubjects, AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute, MemoryStorage: true, Replicas: 1,
	})
	if err != nil {
		return n, fmt.Errorf("EPAY_STATE consumer: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		js.DeleteConsumer(dctx, natsbus.StreamState, cons.CachedInfo().Name)
	}()
	for more, empty := last > 0 && cons.CachedInfo().NumPending > 0, 0; more; {
		var msgs jetstream.MessageBatch
		if empty == 0 {
			msgs, err = cons.FetchNoWait(512)
		} else {
			msgs, err = cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		}
		if err != nil {
			return n, fmt.Errorf("EPAY_STATE fetch: %w", err)
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return n, err
			}
			more = md.NumPending > 0 && md.Sequence.Stream < last
			if md.Sequence.Stream > last {
				continue // written since the start (by this walk, or a worker)
			}
			n.Read++
			sig := m.Headers().Get(inbox.HeaderStateSignature)
			switch {
			case current.CheckState(m.Subject(), m.Data(), sig) == nil:
				n.Current++
				continue
			case accepted.CheckState(m.Subject(), m.Data(), sig) != nil:
				n.Refused++
				continue
			}
			again := &nats.Msg{Subject: m.Subject(), Header: nats.Header{}, Data: m.Data()}
			again.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(md.Sequence.Stream, 10))
			again.Header.Set(inbox.HeaderStateSignature, current.SignState(m.Subject(), m.Data()))
			if _, err := js.PublishMsg(ctx, again); err != nil {
				if isWrongLastSequence(err) {
					n.Changed++ // a worker wrote the invoice since: signed with the current key
					continue
				}
				return n, fmt.Errorf("re-sign %s: %w", m.Subject(), err)
			}
			n.Resigned++
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return n, fmt.Errorf("EPAY_STATE fetch: %w", err)
		}
		if got == 0 {
			if empty++; empty > 5 {
				return n, fmt.Errorf("EPAY_STATE fetch: no record within 10s, %d read, more pending", n.Read)
			}
			continue
		}
		empty = 0
	}
	return n, nil
}
