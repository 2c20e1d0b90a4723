package load

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
)

// InboxMsg is the message the ingest would publish for cb, made by the same builder
// (same subject, body, headers and Msg-Id), so a raw publish of it costs the broker what
// the ingest's publish costs. A body that does not decode is a bug of the load's.
func InboxMsg(cb Callback, shards int) *nats.Msg {
	b, err := inbox.NewBuilder(shards)
	if err != nil {
		panic(err)
	}
	return callbackMsg(b, cb)
}

func callbackMsg(b *inbox.Builder, cb Callback) *nats.Msg {
	dec, err := epay.DecodeCallback(cb.Body)
	if err != nil {
		panic(fmt.Sprintf("load: callback %s does not decode: %v", cb.InvoiceID, err))
	}
	return b.Callback(dec, inbox.Receipt{Route: cb.Route, RemoteAddr: "127.0.0.1:54321", RequestID: nuid.Next(),
		At: time.Now(), Verified: true})
}

// PublishCallbacks publishes callback i mod len(cbs) straight to EPAY_INBOX with a sync
// publish, as the ingest does: the broker's ceiling for the ingest.
func PublishCallbacks(js jetstream.JetStream, cbs []Callback, shards int) Op {
	msgs, _ := CallbackMsgs(cbs, shards)
	return func(ctx context.Context, i int, _ time.Time) (int, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.PublishMsg(ctx, msgs[i%len(msgs)], jetstream.WithExpectStream(inbox.Stream))
		if err != nil {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	}
}

// PublishAll publishes msgs asynchronously (at most window unacknowledged) and waits for
// every PubAck: the fastest way to pre-load a stream. It returns how many were stored
// (the others were duplicates of a Msg-Id, dropped by the stream).
func PublishAll(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg, ids []string, window int) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, window)
	stored := 0
	wait := func() error {
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				if !ack.Duplicate {
					stored++
				}
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		return nil
	}
	for i, m := range msgs {
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(ids[i]))
		if err != nil {
			return stored, fmt.Errorf("publish %d: %w", i, err)
		}
		if futures = append(futures, f); len(futures) == window {
			if err := wait(); err != nil {
				return stored, err
			}
		}
	}
	return stored, wait()
}

// CreatedMsgs are the invoice.created messages of invs as the initiator publishes them,
// signed with keys (EPAY_SECRET_KEYS), with their Msg-Ids.
func CreatedMsgs(invs []invoice.Created, keys *epay.Keyring, shards int) ([]*nats.Msg, []string) {
	b, err := inbox.NewBuilder(shards)
	if err != nil {
		panic(err)
	}
	msgs, ids := make([]*nats.Msg, len(invs)), make([]string, len(invs))
	for i, c := range invs {
		if msgs[i], err = b.Created(c, keys, time.Now()); err != nil {
			panic(err) // strings, numbers and a time, and a keyring: cannot fail
		}
		ids[i] = msgs[i].Header.Get(nats.MsgIdHdr)
	}
	return msgs, ids
}

// CallbackMsgs are the inbox messages of cbs as the ingest publishes them, with their Msg-Ids.
func CallbackMsgs(cbs []Callback, shards int) ([]*nats.Msg, []string) {
	b, err := inbox.NewBuilder(shards)
	if err != nil {
		panic(err)
	}
	msgs, ids := make([]*nats.Msg, len(cbs)), make([]string, len(cbs))
	for i, cb := range cbs {
		msgs[i] = callbackMsg(b, cb)
		ids[i] = msgs[i].Header.Get(nats.MsgIdHdr)
	}
	return msgs, ids
}
