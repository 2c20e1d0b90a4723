package jspubsub_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/epayflow/epayflow/internal/jspubsub"
)

// An idle subscription asks the server for messages again within a few heartbeats: its
// pull requests are short-lived, so one the server no longer holds (while the client
// counts on it) is replaced within about a second, not after nats.go's 30 s (a drain
// waited that long with 535 messages on the server: bench/NOTES.md, "Drain stalls").
func TestAnIdleSubscriptionPullsAgainWithinAFewHeartbeats(t *testing.T) {
	url := startServer(t)
	_, sub := newPubSub(t, url, jspubsub.SubscriberConfig{}, "") // the default heartbeat, 500ms
	watch, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var pulls atomic.Int32
	// the pull requests of consumer "idle", as nats-server receives them
	if _, err := watch.Subscribe("$JS.API.CONSUMER.MSG.NEXT."+suiteStream+".idle", func(*nats.Msg) { pulls.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	subscribe(t, sub, "idle")
	deadline := time.Now().Add(10 * time.Second)
	for pulls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := pulls.Load(); n < 2 {
		t.Fatalf("%d pull requests in 10s from an idle subscription; want a new one within 5s (10 heartbeats of 500ms; nats.go alone: 30s)", n)
	}
}

func TestPullHeartbeatBelow500msIsRefused(t *testing.T) {
	_, err := jspubsub.NewSubscriber(nil, jspubsub.SubscriberConfig{Stream: "s", PullHeartbeat: 100 * time.Millisecond,
		Consumer: func(string) (jspubsub.Consumer, error) { return jspubsub.Consumer{}, nil }})
	if err == nil {
		t.Fatal("a 100ms pull heartbeat was taken (nats.go refuses it at Subscribe)")
	}
}

// A subscription whose slots are all taken keeps taking what the server sends: its pull
// request's heartbeats, while nobody reads, must not fill the client's buffer so that
// the messages published meanwhile are dropped ("slow consumer") and come again only
// after AckWait (a full benchmark's drains stalled 13-22 s that way: bench/NOTES.md).
func TestMessagesSentWhileEverySlotIsTakenAreNotDropped(t *testing.T) {
	url := startServer(t)
	const slots = 4
	pub, sub := newPubSub(t, url, jspubsub.SubscriberConfig{MaxInFlight: slots, AckWait: 30 * time.Second}, "")
	ch := subscribe(t, sub, "full")
	for i := range slots + 1 {
		publish(t, pub, "full", message.NewMessage("m"+strconv.Itoa(i), nil))
	}
	held := make([]*message.Message, slots)
	for i := range held {
		held[i] = recv(t, ch)
	}
	time.Sleep(3 * time.Second) // six heartbeats of the pull request still open, nobody reading
	for i := slots + 1; i < 2*slots+2; i++ {
		publish(t, pub, "full", message.NewMessage("m"+strconv.Itoa(i), nil))
	}
	for _, m := range held {
		m.Ack()
	}
	start := time.Now()
	for i := slots; i < 2*slots+2; i++ {
		select {
		case m := <-ch:
			m.Ack()
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of the %d messages sent while the slots were taken came within %s; the rest wait for AckWait (30s)",
				i-slots, slots+2, time.Since(start).Round(time.Millisecond))
		}
	}
}
