package jspubsub_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/jspubsub"
)

// A reader that crashes leaves messages delivered and not acked. A subscriber with
// Takeover that starts on that consumer gets them at once and in stream order, before a
// newer message of the same key; without Takeover the newer one comes first (the others
// only after AckWait), and a key's order is lost. Prepare takes the consumer over the
// same way ahead of the Subscribe, which then asks JetStream nothing about the consumer.
func TestTakeoverRedeliversWhatACrashedReaderLeftInOrder(t *testing.T) {
	for _, mode := range []string{"without", "with", "prepared"} {
		takeover := mode != "without"
		t.Run(mode, func(t *testing.T) {
			url := startServer(t)
			pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
			var mu sync.Mutex
			var takeovers []string
			cfg := func() jspubsub.SubscriberConfig {
				return jspubsub.SubscriberConfig{Stream: suiteStream, AckWait: time.Minute, MaxInFlight: 4, OrderKey: orderByKey, Takeover: takeover,
					OnTakeover: func(reason string) { mu.Lock(); takeovers = append(takeovers, reason); mu.Unlock() },
					Consumer: func(topic string) (jspubsub.Consumer, error) {
						return jspubsub.Consumer{Durable: topic, Filter: suitePrefix + topic}, nil
					}}
			}
			publish(t, pub, "t", keyed("1", "k"), keyed("2", "k"), keyed("3", "k"))

			crashing, cut := crashableConnection(t, url)
			a, err := jspubsub.NewSubscriber(crashing, cfg())
			if err != nil {
				t.Fatal(err)
			}
			first := recv(t, subscribe(t, a, "t"))
			if first.UUID != "1" {
				t.Fatalf("first reader got %s first, want 1", first.UUID)
			}
			admin := connect(t, url)
			waitConsumer(t, admin, "t", "1, 2 and 3 not all delivered", func(info *jetstream.ConsumerInfo) bool {
				return info.Delivered.Stream == 3
			})
			cut()        // a crash: 1 handed out, 2 and 3 fetched, none acked, nothing more sent
			first.Nack() // settles it in the dead reader only: the nak cannot reach NATS
			// Until the server notices the closed connection, its pull request still waits on
			// the consumer, and 4 would be delivered there, into the void, until AckWait.
			waitNoPullWaiting(t, admin, "t")

			publish(t, pub, "t", keyed("4", "k"))
			b, err := jspubsub.NewSubscriber(connect(t, url), cfg())
			if err != nil {
				t.Fatal(err)
			}
			if mode == "prepared" {
				if err := b.Prepare(context.Background(), "t"); err != nil {
					t.Fatal(err)
				}
				// what Subscribe asks about the consumer: its info, its creation (not its pulls)
				api := connect(t, url).Conn()
				asked, err := api.SubscribeSync("$JS.API.CONSUMER.*." + suiteStream + ".>")
				if err != nil {
					t.Fatal(err)
				}
				if err := api.Flush(); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if n, _, _ := asked.Pending(); n != 0 {
						m, _ := asked.NextMsg(0)
						t.Errorf("Subscribe after Prepare made %d consumer API requests (first %s), want none", n, m.Subject)
					}
				}()
			}
			ch := subscribe(t, b, "t")
			if !takeover {
				got := recv(t, ch)
				got.Ack()
				if got.UUID != "4" {
					t.Fatalf("without takeover the new reader got %s first; the test expects 4 (the case Takeover exists for)", got.UUID)
				}
				return
			}
			deadline := time.After(10 * time.Second) // far below the minute of AckWait
			for _, want := range []string{"1", "2", "3", "4"} {
				select {
				case got := <-ch:
					if got.UUID != want {
						t.Fatalf("after the takeover got %s, want %s (stream order)", got.UUID, want)
					}
					got.Ack()
				case <-deadline:
					t.Fatalf("message %s not redelivered within 10s of the takeover (AckWait is a minute)", want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(takeovers, " ") != jspubsub.TakeoverStart {
				t.Fatalf("OnTakeover got %v, want one %s", takeovers, jspubsub.TakeoverStart)
			}
		})
	}
}

// waitNoPullWaiting waits (10 s at most) until the consumer has no pull request waiting.
func waitNoPullWaiting(t *testing.T, js jetstream.JetStream, durable string) {
	t.Helper()
	waitConsumer(t, js, durable, "the dead reader's pull request still waits", func(info *jetstream.ConsumerInfo) bool {
		return info.NumWaiting == 0
	})
}

// waitConsumer waits up to 10s for the consumer's info to satisfy ok.
func waitConsumer(t *testing.T, js jetstream.JetStream, durable, what string, ok func(*jetstream.ConsumerInfo) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := js.Consumer(ctx, suiteStream, durable)
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(ctx)
		}
		cancel()
		if err == nil && ok(info) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after 10s: %+v %v", what, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashableConnection is a JetStream connection whose cut ends its TCP connection at
// once, without a reconnect: a crash as the server sees it. (Closing a nats.go
// connection is no crash: what its subscriptions do as they stop, a nak, can still go
// out before the socket closes.)
func crashableConnection(t *testing.T, url string) (jetstream.JetStream, func()) {
	t.Helper()
	d := &cutDialer{}
	nc, err := nats.Connect(url, nats.SetCustomDialer(d), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, d.cut
}

type cutDialer struct {
	mu   sync.Mutex
	conn net.Conn
}

func (d *cutDialer) Dial(network, address string) (net.Conn, error) {
	c, err := net.Dial(network, address)
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	return c, err
}

func (d *cutDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conn.Close()
}

// A delivery the server made that never reached a running subscription (NATS killed with
// it in its socket, a cluster's route cut) is pending on the server until AckWait; the
// key's next message, delivered meanwhile, must not be handed out before it. A Takeover
// subscription sees its consumer's delivery sequence skip and takes the consumer over
// again, from its ack floor: the lost message comes at once and in stream order. Here a
// pull request of another connection takes the message and drops it, which leaves the
// server as a lost delivery does.
func TestADeliveryThatNeverArrivedComesBeforeTheNextOfItsKey(t *testing.T) {
	url := startServer(t)
	pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	// one in flight: while x is held, the subscription has no pull request waiting
	// (its next message waits for the slot), so the other connection's gets 2; the
	// heartbeat is long enough that no missed one asks for more meanwhile
	var mu sync.Mutex
	var takeovers []string
	sub, err := takeoverSubscriber(t, url, jspubsub.SubscriberConfig{MaxInFlight: 1, PullHeartbeat: 10 * time.Second, OnTakeover: func(reason string) { mu.Lock(); takeovers = append(takeovers, reason); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, sub, "lost")
	admin := connect(t, url)
	publish(t, pub, "lost", keyed("x", "x"))
	x := recv(t, ch)
	publish(t, pub, "lost", keyed("1", "k"))
	waitConsumer(t, admin, "lost", "1 not delivered, or a pull request of the subscriber still waits", func(info *jetstream.ConsumerInfo) bool {
		return info.Delivered.Stream == 2 && info.NumWaiting == 0
	})

	lost := loseNext(t, admin, "lost")
	publish(t, pub, "lost", keyed("2", "k"))
	if got := <-lost; got != "2" {
		t.Fatalf("the other connection's pull got %q, want 2", got)
	}
	publish(t, pub, "lost", keyed("3", "k"))
	x.Ack()

	// k's messages, each counted at its first hand-out (a takeover hands out again what
	// was acked past the floor: the handler is idempotent), within 15 s: AckWait is a
	// minute, so 2 before 3 means the subscription took it over
	var order []string
	seen := map[string]bool{}
	deadline := time.After(15 * time.Second)
	for len(order) < 3 {
		select {
		case m := <-ch:
			m.Ack()
			if m.UUID != "x" && !seen[m.UUID] {
				seen[m.UUID] = true
				order = append(order, m.UUID)
			}
		case <-deadline:
			t.Fatalf("key k handed out %v within 15 s, want 1 2 3 (2 was lost on its way; AckWait is a minute)", order)
		}
	}
	if strings.Join(order, " ") != "1 2 3" {
		t.Fatalf("key k handed out %v, want 1 2 3: the message after a lost delivery went first", order)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(takeovers, " ") != jspubsub.TakeoverLostDelivery {
		t.Fatalf("OnTakeover got %v, want one %s", takeovers, jspubsub.TakeoverLostDelivery)
	}
}

// The delivery lost may be the consumer's first since the subscription started: a
// Takeover subscription counts from the consumer's deliveries when it read it, so the
// first that arrives, past the next one, is a gap too. Here the other connection's pull
// request waits before the subscription's own.
func TestADeliveryLostBeforeTheFirstThatArrivesComesFirst(t *testing.T) {
	url := startServer(t)
	pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	sub, err := takeoverSubscriber(t, url, jspubsub.SubscriberConfig{MaxInFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sub.Prepare(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, url)
	lost := loseNext(t, admin, "first")
	ch := subscribe(t, sub, "first")
	waitConsumer(t, admin, "first", "the subscription's pull request not waiting", func(info *jetstream.ConsumerInfo) bool {
		return info.NumWaiting == 2
	})
	publish(t, pub, "first", keyed("1", "k"))
	if got := <-lost; got != "1" {
		t.Fatalf("the other connection's pull got %q, want 1", got)
	}
	publish(t, pub, "first", keyed("2", "k"))
	var order []string
	deadline := time.After(15 * time.Second)
	for len(order) < 2 {
		select {
		case m := <-ch:
			m.Ack()
			if !slices.Contains(order, m.UUID) {
				order = append(order, m.UUID)
			}
		case <-deadline:
			t.Fatalf("key k handed out %v within 15 s, want 1 2 (1 was lost on its way; AckWait is a minute)", order)
		}
	}
	if order[0] != "1" {
		t.Fatalf("key k handed out %v, want 1 2: the message after a lost first delivery went first", order)
	}
}

// loseNext makes the next delivery of the durable consumer a lost one: a pull request
// of js's connection waits on it (returned once it waits), takes one message and drops
// it unacked. The channel gets the message's payload (or the fetch's error).
func loseNext(t *testing.T, js jetstream.JetStream, durable string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, suiteStream, durable)
	if err != nil {
		t.Fatal(err)
	}
	lost := make(chan string, 1)
	go func() {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			lost <- err.Error()
			return
		}
		for m := range batch.Messages() {
			lost <- string(m.Data()) // and never acked
		}
		close(lost)
	}()
	waitConsumer(t, js, durable, "the other connection's pull request not waiting", func(info *jetstream.ConsumerInfo) bool {
		return info.NumWaiting >= 1
	})
	return lost
}

// A takeover deletes the consumer, then makes it again from the ack floor. When the
// second step failed (NATS away, the subscription ending between the two), the next
// try makes the consumer from that floor too: made afresh, it would deliver the
// shard's whole stream again from its first message.
func TestATakeoverCutShortIsFinishedFromItsFloor(t *testing.T) {
	url := startServer(t)
	pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	for i := 1; i <= 5; i++ {
		publish(t, pub, "cut", keyed(strconv.Itoa(i), "k"))
	}
	var takeovers []string
	sub, err := takeoverSubscriber(t, url, jspubsub.SubscriberConfig{MaxInFlight: 4, OnTakeover: func(reason string) { takeovers = append(takeovers, reason) }}) // on Subscribe's goroutine
	if err != nil {
		t.Fatal(err)
	}
	jspubsub.NoteUnfinishedTakeover(sub, "cut", 4) // 1 to 3 were acked; no consumer now
	ch := subscribe(t, sub, "cut")
	for _, want := range []string{"4", "5"} {
		got := recv(t, ch)
		got.Ack()
		if got.UUID != want {
			t.Fatalf("got %s, want %s: the consumer was made from the stream's start, not the takeover's floor", got.UUID, want)
		}
	}
	if strings.Join(takeovers, " ") != jspubsub.TakeoverStart {
		t.Fatalf("OnTakeover got %v, want one %s", takeovers, jspubsub.TakeoverStart)
	}
}

// A consumer deleted under a running Takeover subscription (another reader's takeover:
// a worker that has not yet seen its lease lost) and made again by that takeover is
// read again: the subscription goes on with what comes next instead of ending, which
// would leave its shard owned and unread.
func TestASubscriptionReadsItsConsumerAgainOnceATakeoverRemadeIt(t *testing.T) {
	url := startServer(t)
	pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	sub, err := takeoverSubscriber(t, url, jspubsub.SubscriberConfig{MaxInFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, sub, "remade")
	publish(t, pub, "remade", keyed("1", "k"))
	first := recv(t, ch)
	first.Ack()
	admin := connect(t, url)
	waitConsumer(t, admin, "remade", "1 not acked", func(info *jetstream.ConsumerInfo) bool { return info.AckFloor.Stream == 1 })

	// the other reader's takeover: delete, then make it again from the floor
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.DeleteConsumer(ctx, suiteStream, "remade"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the subscription meets the consumer missing
	if _, err := admin.CreateConsumer(ctx, suiteStream, jetstream.ConsumerConfig{Durable: "remade", FilterSubject: suitePrefix + "remade",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 2}); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, "remade", keyed("2", "k"))
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatal("the subscription ended when its consumer was deleted and made again")
		}
		got.Ack()
		if got.UUID != "2" {
			t.Fatalf("got %s after the consumer was made again from 2, want 2", got.UUID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing read from the consumer made again within 20 s")
	}
}

// takeoverSubscriber is a Subscriber with cfg on url's suite stream, the only reader of
// its consumers (Takeover), ordering by key, each topic's durable named after it.
func takeoverSubscriber(t *testing.T, url string, cfg jspubsub.SubscriberConfig) (*jspubsub.Subscriber, error) {
	t.Helper()
	cfg.Stream, cfg.AckWait, cfg.OrderKey, cfg.Takeover = suiteStream, time.Minute, orderByKey, true
	cfg.Consumer = func(topic string) (jspubsub.Consumer, error) {
		return jspubsub.Consumer{Durable: topic, Filter: suitePrefix + topic}, nil
	}
	return jspubsub.NewSubscriber(connect(t, url), cfg)
}

// A consumer deleted under a running Takeover subscription and made again by nobody (an
// operator's `nats consumer rm`) left the subscription waiting for it for good: its
// shard owned and unread, and no consumer for any alert to see. After RemakeAfter the
// subscription makes it itself, from the stream's first message of its filter, and
// reads on; OnTakeover says so.
func TestASubscriptionWhoseConsumerNobodyRemakesMakesItItself(t *testing.T) {
	url := startServer(t)
	pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
	var reasons []string
	var mu sync.Mutex
	sub, err := takeoverSubscriber(t, url, jspubsub.SubscriberConfig{MaxInFlight: 4, RemakeAfter: time.Second,
		OnTakeover: func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, sub, "gone")
	publish(t, pub, "gone", keyed("1", "k"))
	recv(t, ch).Ack()
	admin := connect(t, url)
	waitConsumer(t, admin, "gone", "1 not acked", func(info *jetstream.ConsumerInfo) bool { return info.AckFloor.Stream == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.DeleteConsumer(ctx, suiteStream, "gone"); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, "gone", keyed("2", "k"))
	var got []string
	for len(got) < 2 {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatal("the subscription ended")
			}
			m.Ack()
			got = append(got, m.UUID)
		case <-time.After(20 * time.Second):
			t.Fatalf("got %v within 20 s of the consumer's deletion, want 1 (again, a duplicate) and 2", got)
		}
	}
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("got %v from the consumer made again, want [1 2]: from the stream's first message, in order", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(reasons, jspubsub.TakeoverRemade) {
		t.Errorf("OnTakeover got %v, want %s", reasons, jspubsub.TakeoverRemade)
	}
}
