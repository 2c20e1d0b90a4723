package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/bolt"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// errFenced: the changelog refused a change because the invoice's last record is not
// the one the change was computed on: another worker wrote the invoice since (it owned
// the shard, or still thinks it does). The change is not committed; the worker adopts
// the newer record and applies the message again.
var errFenced = errors.New("the invoice's state was written by another worker")

// errStateWrite: the changelog did not take a record (EPAY_STATE unreachable, full, or
// leaderless). The message is applied again later, never given up for it: a state is
// never applied without its record, and a message sent to the DLQ for an outage of
// EPAY_STATE would let the invoice's later messages apply before it.
var errStateWrite = errors.New("changelog write")

// changelog is EPAY_STATE: each invoice's latest state, one record per invoice, written
// by the shard's owner before it commits the change to its store.
//
// Every write carries Nats-Expected-Last-Subject-Sequence, the sequence of the record
// the change was computed on (0 for an invoice without one). That is the fence: two
// workers that both believe they own a shard (one paused past its lease) cannot both
// extend an invoice's state; the second write is refused, and no effect of a refused
// change is committed or published.
//
// Every record is signed with the workers' status key (inbox.StatusSigner.SignState, on
// its subject), and a record is adopted only with that signature and on the subject of
// its own invoice: the worker's NATS password alone (which may write the stream) makes
// no invoice's state, and a record put on another invoice's subject is not taken for it.
type changelog struct {
	js     jetstream.JetStream
	shards int
	signer inbox.StatusSigner
	// refused is told of each record a restore skips (nil: nobody is).
	refused func(subject string, seq uint64, err error)
}

// write publishes ch's record as the state of its invoice, expecting the record the
// change was computed on (ch.Prev) as its last, and returns the new record's sequence.
func (c changelog) write(ctx context.Context, ch bolt.Change) (uint64, error) {
	data, err := ch.RecordJSON()
	if err != nil {
		return 0, fmt.Errorf("changelog record of invoice %s: %w", ch.Msg.InvoiceID, err)
	}
	prev := ch.Prev.Seq
	msg := c.message(ch.Msg.InvoiceID, data, prev)
	// jetstream's PublishMsg but for the PubAck, read in place (natsbus.PublishSync):
	// encoding/json's reading of it was 1.6% of a drain's CPU
	ack, err := natsbus.PublishSync(ctx, c.js.Conn(), msg)
	if err != nil {
		if isWrongLastSequence(err) {
			return 0, fmt.Errorf("%w: invoice %s, expected record %d: %v", errFenced, ch.Msg.InvoiceID, prev, err)
		}
		return 0, fmt.Errorf("%w of invoice %s: %w", errStateWrite, ch.Msg.InvoiceID, err)
	}
	return ack.Sequence, nil
}

// msg is the changelog message of rec, expecting prev as the invoice's last record.
func (c changelog) msg(rec bolt.Record, prev uint64) (*nats.Msg, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("changelog record of invoice %s: %w", rec.Invoice.InvoiceID, err)
	}
	return c.message(rec.Invoice.InvoiceID, data, prev), nil
}

// message is the changelog message of an invoice's record data, expecting prev as its
// last record (the fence).
func (c changelog) message(invoiceID string, data []byte, prev uint64) *nats.Msg {
	subject := c.subject(invoiceID)
	msg := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: data}
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(prev, 10))
	msg.Header.Set(inbox.HeaderStateSignature, c.signer.SignState(subject, data))
	return msg
}

// last reads an invoice's last record (ok false: it has none).
func (c changelog) last(ctx context.Context, invoiceID string) (bolt.Adopted, bool, error) {
	m, err := c.lastMsg(ctx, c.subject(invoiceID))
	if m == nil || err != nil {
		return bolt.Adopted{}, false, err
	}
	a, err := c.decodeRecord(m.Subject, m.Sequence, m.Data, m.Header.Get(inbox.HeaderStateSignature))
	if err != nil && c.refused != nil {
		c.refused(m.Subject, m.Sequence, err)
	}
	return a, err == nil, err
}

// lastOfShard is the sequence of a shard's last record (0: it has none).
func (c changelog) lastOfShard(ctx context.Context, shard int) (uint64, error) {
	m, err := c.lastMsg(ctx, natsbus.StateShardFilter(shard))
	if m == nil || err != nil {
		return 0, err
	}
	return m.Sequence, nil
}

// lastMsg is the last record on subject (a wildcard for a shard's), nil when none is.
func (c changelog) lastMsg(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	s, err := c.js.Stream(ctx, natsbus.StreamState)
	if err != nil {
		return nil, fmt.Errorf("changelog read of %s: %w", subject, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("changelog read of %s: %w", subject, err)
	}
	return m, nil
}

func (c changelog) subject(invoiceID string) string {
	return natsbus.StateSubject(inbox.Shard(invoiceID, c.shards), invoiceID)
}

// errRecordRefused: a changelog record that is not the workers' (no or another
// signature, or on another invoice's subject): never adopted.
var errRecordRefused = errors.New("changelog record refused")

// decodeRecord reads the record seq stored on subject with signature sig: the workers'
// signature on it, and its invoice's own subject, or errRecordRefused.
func (c changelog) decodeRecord(subject string, seq uint64, data []byte, sig string) (bolt.Adopted, error) {
	a := bolt.Adopted{Seq: seq}
	if err := c.signer.CheckState(subject, data, sig); err != nil {
		return a, fmt.Errorf("%w: %d on %s: %v", errRecordRefused, seq, subject, err)
	}
	if err := json.Unmarshal(data, &a.Record); err != nil || a.Record.Invoice.InvoiceID == "" {
		return a, fmt.Errorf("%w: %d on %s is not a record: %v", errRecordRefused, seq, subject, err)
	}
	if want := c.subject(a.Record.Invoice.InvoiceID); subject != want {
		return a, fmt.Errorf("%w: %d on %s is invoice %s's, whose subject is %s", errRecordRefused, seq, subject, a.Record.Invoice.InvoiceID, want)
	}
	return a, nil
}

// restore brings the store up to date with a shard's records: it reads every record of
// the shard written after the store's mark (all of them for a new store), adopts those
// newer than the store's copy, and moves the mark. It reads through an ephemeral
// consumer without acks, deleted when done.
func (c changelog) restore(ctx context.Context, store *bolt.Store, shard int, now func() time.Time) (restored, read int, err error) {
	from, err := store.RestoredUpTo(shard)
	if err != nil {
		return 0, 0, err
	}
	// the shard's last record first: a shard with nothing written since the mark (every
	// shard of a new cluster, a restart's) costs one read, not a consumer made and deleted
	if last, err := c.lastOfShard(ctx, shard); err != nil || last <= from {
		return 0, 0, err
	}
	cfg := jetstream.ConsumerConfig{
		FilterSubject: natsbus.StateShardFilter(shard), AckPolicy: jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute,
		MemoryStorage: true, Replicas: 1,
	}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
	}
	cons, err := c.js.CreateConsumer(ctx, natsbus.StreamState, cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("changelog consumer for shard %d: %w", shard, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		c.js.DeleteConsumer(dctx, natsbus.StreamState, cons.CachedInfo().Name) // else it goes after InactiveThreshold
	}()
	mark := from
	const batch = 512
	for more, empty := cons.CachedInfo().NumPending > 0, 0; more; {
		// what is there now, without waiting for a full batch; the last message's
		// NumPending says whether more follow. A new consumer (a cluster's above all) can
		// answer a no-wait fetch with nothing while it still has records to give: that is
		// waited for, a message at a time, never taken for the end of the shard.
		var msgs jetstream.MessageBatch
		if empty == 0 {
			msgs, err = cons.FetchNoWait(batch)
		} else {
			msgs, err = cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		}
		if err != nil {
			return restored, read, fmt.Errorf("changelog fetch for shard %d: %w", shard, err)
		}
		recs, got := make([]bolt.Adopted, 0, batch), 0
		for m := range msgs.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return restored, read, err
			}
			mark = max(mark, md.Sequence.Stream)
			more = md.NumPending > 0
			read++
			a, err := c.decodeRecord(m.Subject(), md.Sequence.Stream, m.Data(), m.Headers().Get(inbox.HeaderStateSignature))
			if err != nil {
				// not the workers': skipped (the store keeps its own copy), and told
				if c.refused != nil {
					c.refused(m.Subject(), md.Sequence.Stream, err)
				}
				continue
			}
			recs = append(recs, a)
		}
		if err := msgs.Error(); err != nil {
			return restored, read, fmt.Errorf("changelog fetch for shard %d: %w", shard, err)
		}
		if got == 0 {
			if empty++; empty > 5 {
				return restored, read, fmt.Errorf("changelog fetch for shard %d: no record within 10s, %d read, more pending", shard, read)
			}
			continue
		}
		empty = 0
		if len(recs) == 0 {
			continue
		}
		n, err := store.Adopt(recs, now())
		if err != nil {
			return restored, read, err
		}
		restored += n
	}
	if mark == from {
		return restored, read, nil
	}
	return restored, read, store.SetRestoredUpTo(shard, mark)
}
