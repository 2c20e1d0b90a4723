package jspubsub_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/jspubsub"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// recv is the next message of ch, failing the test after 10s or when ch is closed.
func recv(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("messages channel closed")
		}
		return msg
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return nil
}

func subscribe(t *testing.T, sub *jspubsub.Subscriber, topic string) <-chan *message.Message {
	t.Helper()
	ch, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return ch
}

func publish(t *testing.T, pub message.Publisher, topic string, msgs ...*message.Message) {
	t.Helper()
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

// keyed is a message whose order key (the metadata "key", see orderByKey) is key.
func keyed(uuid, key string) *message.Message {
	msg := message.NewMessage(uuid, []byte(uuid))
	msg.Metadata.Set("key", key)
	return msg
}

func orderByKey(msg *message.Message) string { return msg.Metadata.Get("key") }

// A message published without the publisher (the ingest's way: headers of its own, no
// Watermill UUID) gets its Nats-Msg-Id as UUID (the stream's name and sequence without
// one), its headers as metadata, the correlation header's value as correlation id, and the subscriber's metadata; a nack redelivers it
// with the delay NakDelay gives for its delivery count, and its count goes up.
func TestSubscriberMetadataAndNakDelay(t *testing.T) {
	url := startServer(t)
	js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := nats.Header{"Req-Id": {"req-1"}, "Two": {"a", "b"}, nats.MsgIdHdr: {"m-1"}}
	published := time.Now()
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: suitePrefix + "meta", Header: h, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	asked := make(chan uint64, 1)
	_, sub := newPubSub(t, url, jspubsub.SubscriberConfig{Correlation: func(h nats.Header) string { return h.Get("Req-Id") }, NakDelay: func(delivered uint64) time.Duration {
		asked <- delivered
		return 10 * time.Millisecond
	}}, "")
	ch := subscribe(t, sub, "meta")

	msg := recv(t, ch)
	want := map[string]string{
		jspubsub.MetadataSubject: suitePrefix + "meta", jspubsub.MetadataStreamSeq: "1", jspubsub.MetadataDelivered: "1",
		jspubsub.MetadataMsgID: "m-1", middleware.CorrelationIDMetadataKey: "req-1", "Two": "a", "Req-Id": "req-1",
	}
	for k, v := range want {
		if got := msg.Metadata.Get(k); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
	if msg.UUID != "m-1" || string(msg.Payload) != "x" {
		t.Errorf("message %s %q, want m-1 \"x\"", msg.UUID, msg.Payload)
	}
	// when the stream stored it, by the server's clock (the same host's here)
	if at, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(jspubsub.MetadataStreamTime)); err != nil ||
		at.Before(published.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("metadata %s = %q (%v), want the time it was published", jspubsub.MetadataStreamTime, msg.Metadata.Get(jspubsub.MetadataStreamTime), err)
	}
	msg.Nack()
	if got := <-asked; got != 1 {
		t.Errorf("NakDelay asked for delivery %d, want 1", got)
	}
	again := recv(t, ch)
	if again.UUID != msg.UUID || jspubsub.Deliveries(again) != 2 {
		t.Fatalf("redelivered %s, delivery %d; want %s, delivery 2", again.UUID, jspubsub.Deliveries(again), msg.UUID)
	}
	again.Ack()
}

// Messages of one order key wait for each other, in stream order; another key's go
// past them.
func TestOneUnsettledKeyHoldsOnlyItsOwnMessages(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{AckWait: 30 * time.Second, MaxInFlight: 16, OrderKey: orderByKey}, "")
	var msgs []*message.Message
	for i := range 8 {
		msgs = append(msgs, keyed("a"+strconv.Itoa(i), "a"))
	}
	publish(t, pub, "keys", append(msgs, keyed("b", "b"))...)
	ch := subscribe(t, sub, "keys")

	// a0 and b have no one before them: both come, in either order (each is handed out
	// on a goroutine of its own); a1..a7 wait for a0
	first, second := recv(t, ch), recv(t, ch)
	a, b := first, second
	if a.UUID == "b" {
		a, b = second, first
	}
	if a.UUID != "a0" || b.UUID != "b" {
		t.Fatalf("with a0 unsettled got %s and %s, want a0 and b (the other a's wait for a0)", first.UUID, second.UUID)
	}
	b.Ack()
	for i := 1; i < 8; i++ {
		a.Ack()
		if a = recv(t, ch); a.UUID != "a"+strconv.Itoa(i) {
			t.Fatalf("after a%d's ack got %s, want a%d", i-1, a.UUID, i)
		}
	}
	a.Ack()
}

// A nacked message comes back before the next message of its key (its delivery count
// one up, after NakDelay's delay): an invoice's messages stay in stream order when a
// handler fails for a moment (RetryInTurn). Naked to the server instead, a1 would come
// back after a2.
func TestANackedMessageComesBackBeforeTheNextOfItsKey(t *testing.T) {
	url := startServer(t)
	asked := make(chan uint64, 4)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{AckWait: 5 * time.Second, MaxInFlight: 8, OrderKey: orderByKey, RetryInTurn: true,
		NakDelay: func(d uint64) time.Duration { asked <- d; return 50 * time.Millisecond }}, "")
	publish(t, pub, "nacked", keyed("a1", "a"), keyed("a2", "a"))
	ch := subscribe(t, sub, "nacked")

	var got []string
	for i := 0; i < 4 && len(got) < 4; i++ {
		msg := recv(t, ch)
		got = append(got, msg.UUID+"#"+strconv.FormatUint(jspubsub.Deliveries(msg), 10))
		if msg.UUID == "a1" && jspubsub.Deliveries(msg) < 3 {
			msg.Nack()
			continue
		}
		msg.Ack()
		if msg.UUID == "a2" {
			break
		}
	}
	if want := "a1#1 a1#2 a1#3 a2#1"; strings.Join(got, " ") != want {
		t.Fatalf("handled %q, want %q", strings.Join(got, " "), want)
	}
	if d1, d2 := <-asked, <-asked; d1 != 1 || d2 != 2 {
		t.Errorf("NakDelay asked for deliveries %d, %d; want 1, 2", d1, d2)
	}
}

// With RetryInTurn a handler that takes longer than AckWait (the worker waiting for its
// events' PubAcks, or out a NATS failover for its changelog write) keeps its turn for as
// long as it works: the next message of its key waits for it, and the server, told it is
// in progress, does not redeliver it meanwhile. (It used to let go after five ack waits,
// and a race-built chaos run applied an invoice's message after its successor.)
func TestASlowHandlerKeepsItsTurnWithRetryInTurn(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{AckWait: 300 * time.Millisecond, MaxInFlight: 8, OrderKey: orderByKey, RetryInTurn: true}, "")
	publish(t, pub, "slowturn", keyed("a1", "a"), keyed("a2", "a"))
	ch := subscribe(t, sub, "slowturn")

	a1 := recv(t, ch)
	if a1.UUID != "a1" {
		t.Fatalf("first %s, want a1", a1.UUID)
	}
	select { // eight ack waits, more than the five after which the turn was let go
	case msg := <-ch:
		t.Fatalf("%s (delivery %d) handed out while a1's handler was still at work", msg.UUID, jspubsub.Deliveries(msg))
	case <-time.After(8 * 300 * time.Millisecond):
	}
	a1.Ack()
	if a2 := recv(t, ch); a2.UUID != "a2" || jspubsub.Deliveries(a2) != 1 {
		t.Fatalf("after a1's ack got %s (delivery %d), want a2 (delivery 1)", a2.UUID, jspubsub.Deliveries(a2))
	} else {
		a2.Ack()
	}
}

// A message its handler never settles stops holding up its key after AckWait, and the
// server redelivers it.
func TestUnsettledMessageReleasesItsKeyAfterAckWait(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{AckWait: 500 * time.Millisecond, MaxInFlight: 8, OrderKey: orderByKey}, "")
	publish(t, pub, "slow", keyed("a1", "a"), keyed("a2", "a"))
	ch := subscribe(t, sub, "slow")

	if first := recv(t, ch); first.UUID != "a1" {
		t.Fatalf("first message %s, want a1", first.UUID)
	} // never settled
	got := map[string]uint64{}
	for len(got) < 2 {
		msg := recv(t, ch)
		got[msg.UUID] = max(got[msg.UUID], jspubsub.Deliveries(msg))
		msg.Ack()
	}
	if got["a2"] != 1 || got["a1"] < 2 {
		t.Fatalf("deliveries %v, want a2 once and a1 again", got)
	}
}

// The publisher waits for the PubAck, so the stream has the message with its metadata
// as headers; the same message again on the same topic is dropped by the stream's
// duplicate window, but not on another topic.
func TestPublisherDedupesPerSubject(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	msg := message.NewMessage("u-1", []byte("body"))
	msg.Metadata.Set("Kind", "test")
	msg.Metadata.Set(jspubsub.MetadataSubject, "not published")
	publish(t, pub, "a", msg)
	publish(t, pub, "a", msg)
	publish(t, pub, "b", msg)

	st := stream(t, url)
	if n := storedMsgs(t, st); n != 2 {
		t.Fatalf("stream has %d messages, want 2 (a once, b once)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantHdr := map[string]string{nats.MsgIdHdr: suitePrefix + "a u-1", jspubsub.HeaderUUID: "u-1", "Kind": "test", jspubsub.MetadataSubject: ""}
	for k, v := range wantHdr {
		if got := raw.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	got := recv(t, subscribe(t, sub, "a"))
	if got.UUID != "u-1" || string(got.Payload) != "body" || got.Metadata.Get("Kind") != "test" {
		t.Fatalf("received %s %q %v", got.UUID, got.Payload, got.Metadata)
	}
	got.Ack()
}

// Metadata a NATS header cannot carry is an error, not a corrupted message.
func TestPublisherRefusesMetadataNATSCannotCarry(t *testing.T) {
	url := startServer(t)
	pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	for name, md := range map[string][2]string{
		"line break in value": {"K", "a\r\nb"}, "space in name": {"a b", "v"}, "colon in name": {"a:b", "v"}, "empty name": {"", "v"},
	} {
		msg := message.NewMessage("u-"+name, nil)
		msg.Metadata.Set(md[0], md[1])
		if err := pub.Publish("bad", msg); err == nil {
			t.Errorf("%s: published", name)
		}
	}
	if err := pub.Publish("bad", message.NewMessage("u\n2", nil)); err == nil {
		t.Error("a UUID with a line break was published")
	}
	if err := pub.Publish("bad", message.NewMessage("fine", nil)); err != nil {
		t.Fatalf("a good message after bad ones: %v", err)
	}
	if n := storedMsgs(t, stream(t, url)); n != 1 {
		t.Fatalf("stream has %d messages, want only the good one", n)
	}
}

// stream is the suite's stream.
func stream(t *testing.T, url string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := connect(t, url).Stream(ctx, suiteStream)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// storedMsgs is how many messages st holds.
func storedMsgs(t *testing.T, st jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestTopicsTheConsumerFuncRefusesAreRefused(t *testing.T) {
	url := startServer(t)
	errNoTopic := errors.New("no such topic")
	sub, err := jspubsub.NewSubscriber(connect(t, url), jspubsub.SubscriberConfig{Stream: suiteStream,
		Consumer: func(topic string) (jspubsub.Consumer, error) {
			if topic == "unnamed" {
				return jspubsub.Consumer{Filter: suitePrefix + topic}, nil
			}
			return jspubsub.Consumer{}, errNoTopic
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(context.Background(), "other"); !errors.Is(err, errNoTopic) {
		t.Fatalf("Subscribe of a refused topic: %v, want %v", err, errNoTopic)
	}
	if _, err := sub.Subscribe(context.Background(), "unnamed"); err == nil {
		t.Fatal("a consumer without a durable name was accepted")
	}
	if n := len(sub.Consumers()); n != 0 {
		t.Fatalf("%d consumers after refused topics", n)
	}
}

func TestClosedPubSubRefuses(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	for range 2 {
		if err := errors.Join(pub.Close(), sub.Close()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, err := sub.Subscribe(context.Background(), "closed"); !errors.Is(err, jspubsub.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if err := pub.Publish("closed", message.NewMessage("u", nil)); !errors.Is(err, jspubsub.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
}

// A message the handler acked is acked on the server: the consumer's ack floor passes
// it and nothing is left pending.
func TestHandlerAckAcksOnTheServer(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{MaxInFlight: 4}, "")
	for i := range 10 {
		publish(t, pub, "acks", message.NewMessage(strconv.Itoa(i), nil))
	}
	ch := subscribe(t, sub, "acks")
	for range 10 {
		recv(t, ch).Ack()
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	js := connect(t, url)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := js.Consumer(ctx, suiteStream, "acks")
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(ctx)
		}
		cancel()
		if err == nil && info.AckFloor.Stream == 10 && info.NumAckPending == 0 && info.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer after 10 acks: %+v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Watermill's TestReconnect needs a command that restarts the broker; this restarts the
// embedded one: messages published before and after are all received.
func TestSubscriberSurvivesServerRestart(t *testing.T) {
	ns := natstest.Start(t)
	js := connect(t, ns.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: suiteStream, Subjects: []string{suitePrefix + ">"}}); err != nil {
		t.Fatal(err)
	}
	pub, sub := newPubSub(t, ns.URL(), jspubsub.SubscriberConfig{MaxInFlight: 4}, "")
	var sent []string
	batch := func(prefix string) {
		for i := range 20 {
			id := prefix + string(rune('a'+i))
			for pub.Publish("restart", message.NewMessage(id, nil)) != nil { // retried while reconnecting
				if ctx.Err() != nil {
					t.Fatalf("publish %s: no reconnect within the deadline", id)
				}
				time.Sleep(100 * time.Millisecond)
			}
			sent = append(sent, id)
		}
	}
	batch("before-")
	ch := subscribe(t, sub, "restart")
	got := map[string]bool{}
	for range 10 {
		msg := recv(t, ch)
		got[msg.UUID] = true
		msg.Ack()
	}
	ns.Restart()
	batch("after-")
	for len(got) < len(sent) {
		select {
		case msg := <-ch:
			got[msg.UUID] = true
			msg.Ack()
		case <-ctx.Done():
			t.Fatalf("%d of %d messages received after the restart", len(got), len(sent))
		}
	}
}

// Subscribe while JetStream is unavailable (NATS down: no responders, timeouts) keeps
// trying instead of failing the router for good, and returns once NATS is back; a
// refusal that will not change is returned at once.
func TestSubscribeWaitsOutJetStreamUnavailable(t *testing.T) {
	t.Cleanup(jspubsub.SetAttemptTimeout(300 * time.Millisecond)) // tries that fail within the outage
	ns := natstest.Start(t)
	js := connect(t, ns.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: suiteStream, Subjects: []string{suitePrefix + ">"}}); err != nil {
		t.Fatal(err)
	}
	pub, sub := newPubSub(t, ns.URL(), jspubsub.SubscriberConfig{}, "")
	t.Cleanup(func() { sub.Close() })
	ns.Stop()
	type result struct {
		ch  <-chan *message.Message
		err error
	}
	done := make(chan result, 1)
	go func() {
		ch, err := sub.Subscribe(ctx, "blip")
		done <- result{ch, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Subscribe with NATS down returned at once: %v", r.err)
	case <-time.After(2 * time.Second): // still trying
	}
	ns.Restart()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("Subscribe did not return after NATS came back")
	}
	if r.err != nil {
		t.Fatalf("Subscribe after NATS came back: %v", r.err)
	}
	for pub.Publish("blip", message.NewMessage("m1", nil)) != nil { // retried while reconnecting
		if ctx.Err() != nil {
			t.Fatal("publish: no reconnect within the deadline")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := recv(t, r.ch); got.UUID != "m1" {
		t.Fatalf("got %s, want m1", got.UUID)
	} else {
		got.Ack()
	}
}

// A subscription stopped while a message it handed out is still being handled closes its
// channel only once that message is settled: a router that waits for the channel (a
// worker giving a shard back) knows nothing is left in flight when it releases the shard.
func TestAStoppedSubscriptionClosesOnlyOnceItsMessagesAreSettled(t *testing.T) {
	url := startServer(t)
	pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	sub, err := jspubsub.NewSubscriber(connect(t, url), jspubsub.SubscriberConfig{Stream: suiteStream, AckWait: time.Minute,
		Consumer: func(topic string) (jspubsub.Consumer, error) {
			return jspubsub.Consumer{Durable: topic, Filter: suitePrefix + topic}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	publish(t, pub, "stop", keyed("1", "a"))
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, "stop")
	if err != nil {
		t.Fatal(err)
	}
	msg := recv(t, ch)
	cancel() // the handler stops while msg is in flight
	select {
	case _, open := <-ch:
		t.Fatalf("the channel gave something (open %v) while its message was still being handled", open)
	case <-time.After(500 * time.Millisecond): // bounded: it must stay open as long as msg is unsettled
	}
	msg.Ack()
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("a message after the stop")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the channel did not close within 10s of the last message's ack")
	}
}

// Without RetryInTurn, a nack goes back to the server and the next message of the key is
// handed out; NackInTurn asks for that one nack to come again in turn, and the next nack
// of the same message (plain Nack) goes back to the server again.
func TestNackInTurnKeepsTheTurnForThatNackOnly(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{AckWait: 5 * time.Second, MaxInFlight: 8, OrderKey: orderByKey,
		NakDelay: func(uint64) time.Duration { return 50 * time.Millisecond }}, "")
	publish(t, pub, "inturn", keyed("a1", "a"), keyed("a2", "a"))
	ch := subscribe(t, sub, "inturn")

	var got []string
	for len(got) < 4 {
		msg := recv(t, ch)
		got = append(got, msg.UUID+"#"+strconv.FormatUint(jspubsub.Deliveries(msg), 10))
		switch {
		case msg.UUID == "a1" && jspubsub.Deliveries(msg) == 1:
			jspubsub.NackInTurn(msg) // comes again before a2
		case msg.UUID == "a1" && jspubsub.Deliveries(msg) == 2 && !slices.Contains(got, "a2#1"):
			msg.Nack() // back to the server: a2 goes first
		default:
			msg.Ack()
		}
	}
	// the server counts its own deliveries: the one in turn was the subscriber's
	if want := "a1#1 a1#2 a2#1 a1#2"; strings.Join(got, " ") != want {
		t.Fatalf("handled %q, want %q", strings.Join(got, " "), want)
	}
}

// MaxInFlightTotal bounds the unsettled messages over every subscription: three topics
// of ten messages, four in flight each but five over all, hand out five until one
// settles, then one more, and in the end all thirty, never more than five unsettled
// together or four of one topic.
func TestMaxInFlightTotalBoundsEverySubscriptionTogether(t *testing.T) {
	url := startServer(t)
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{MaxInFlight: 4, MaxInFlightTotal: 5, AckWait: 30 * time.Second}, "")
	topics := []string{"total-a", "total-b", "total-c"}
	for _, topic := range topics {
		for i := range 10 {
			publish(t, pub, topic, message.NewMessage(topic+"-"+strconv.Itoa(i), nil))
		}
	}
	all := make(chan *message.Message)
	for _, topic := range topics {
		ch := subscribe(t, sub, topic)
		go func() {
			for msg := range ch {
				all <- msg
			}
		}()
	}
	// nothing more comes while five are held: waited for 1 s
	held := func(want int) []*message.Message {
		t.Helper()
		var got []*message.Message
		for len(got) < want {
			got = append(got, recv(t, all))
		}
		select {
		case msg := <-all:
			t.Fatalf("message %s handed out with %d unsettled, the bound is 5", msg.UUID, len(got))
		case <-time.After(time.Second):
		}
		return got
	}
	got := held(5)
	seen := map[string]bool{}
	for _, msg := range got {
		seen[msg.UUID] = true
	}
	got[0].Ack()
	got = append(got[1:], held(1)...)
	seen[got[4].UUID] = true
	// then: take what comes, and settle the oldest held when nothing came for 100 ms.
	// Which topic's message comes next is the subscriber's choice: with one topic's four
	// held and the others drained, only settling one of them lets its fifth come.
	topicOf := func(msg *message.Message) string { return msg.UUID[:strings.LastIndexByte(msg.UUID, '-')] }
	deadline := time.After(30 * time.Second)
	for len(seen) < 30 || len(got) > 0 {
		select {
		case msg := <-all:
			if seen[msg.UUID] {
				t.Fatalf("message %s handed out twice", msg.UUID)
			}
			seen[msg.UUID] = true
			if len(got) == 5 {
				t.Fatalf("message %s handed out with 5 unsettled, the bound is 5", msg.UUID)
			}
			of := 0
			for _, h := range got {
				if topicOf(h) == topicOf(msg) {
					of++
				}
			}
			if of == 4 {
				t.Fatalf("message %s handed out with 4 of its topic unsettled, the bound is 4", msg.UUID)
			}
			got = append(got, msg)
		case <-time.After(100 * time.Millisecond):
			if len(got) == 0 {
				t.Fatalf("nothing held and nothing handed out; %d of 30 seen", len(seen))
			}
			got[0].Ack()
			got = got[1:]
		case <-deadline:
			t.Fatalf("after 30 s: %d of 30 seen, %d held", len(seen), len(got))
		}
	}
}
