package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
)

// InboxMsg is the message the ingest would publish for cb: same subject, body, headers
// (values of the same length) and Msg-Id, so a raw publish of it costs the broker what
// the ingest's publish costs.
func InboxMsg(cb Callback, shards int) *nats.Msg {
	kind := natsbus.CallbackFailure
	if cb.Success {
		kind = natsbus.CallbackSuccess
	}
	return &nats.Msg{
		Subject: natsbus.InboxSubject(natsbus.Shard(cb.InvoiceID, shards), natsbus.KindPostlink),
		Data:    cb.Body,
		Header: nats.Header{
			natsbus.HeaderKind:          {kind},
			natsbus.HeaderRoute:         {cb.Route},
			natsbus.HeaderReceivedAt:    {time.Now().UTC().Format(time.RFC3339Nano)},
			natsbus.HeaderRemoteAddr:    {"127.0.0.1:54321"},
			natsbus.HeaderRequestID:     {nuid.Next()},
			natsbus.HeaderVerified:      {"true"},
			natsbus.HeaderWatermillUUID: {nuid.Next()},
		},
	}
}

// callbackMsgID is the ingest's Msg-Id of cb (the sandbox's codes: "ok" or "error").
func callbackMsgID(cb Callback) string {
	code := "ok"
	if !cb.Success {
		code = "error"
	}
	return natsbus.CallbackMsgID(cb.InvoiceID, cb.TxID, code)
}

// PublishCallbacks publishes callback i mod len(cbs) straight to EPAY_INBOX with a sync
// publish, as the ingest does: the broker's ceiling for the ingest.
func PublishCallbacks(js jetstream.JetStream, cbs []Callback, shards int) Op {
	return func(ctx context.Context, i int, _ time.Time) (int, error) {
		cb := cbs[i%len(cbs)]
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.PublishMsg(ctx, InboxMsg(cb, shards),
			jetstream.WithMsgID(callbackMsgID(cb)), jetstream.WithExpectStream(natsbus.StreamInbox))
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
// with their Msg-Ids.
func CreatedMsgs(invs []invoice.Created, shards int) ([]*nats.Msg, []string) {
	msgs, ids := make([]*nats.Msg, len(invs)), make([]string, len(invs))
	for i, c := range invs {
		body, _ := json.Marshal(c) // strings, numbers and a time: cannot fail
		msgs[i] = &nats.Msg{Subject: natsbus.InboxSubject(natsbus.Shard(c.InvoiceID, shards), natsbus.KindInvoice), Data: body,
			Header: nats.Header{natsbus.HeaderReceivedAt: {time.Now().UTC().Format(time.RFC3339Nano)}}}
		ids[i] = natsbus.InvoiceMsgID(c.InvoiceID)
	}
	return msgs, ids
}

// CallbackMsgs are the inbox messages of cbs as the ingest publishes them, with their Msg-Ids.
func CallbackMsgs(cbs []Callback, shards int) ([]*nats.Msg, []string) {
	msgs, ids := make([]*nats.Msg, len(cbs)), make([]string, len(cbs))
	for i, cb := range cbs {
		msgs[i], ids[i] = InboxMsg(cb, shards), callbackMsgID(cb)
	}
	return msgs, ids
}
