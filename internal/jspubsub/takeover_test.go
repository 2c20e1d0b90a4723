package jspubsub_test

import (
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/jspubsub"
)

// A reader that crashes leaves messages delivered and not acked. A subscriber with
// Takeover that starts on that consumer gets them at once and in stream order, before a
// newer message of the same key; without Takeover the newer one comes first (the others
// only after AckWait), and a key's order is lost.
func TestTakeoverRedeliversWhatACrashedReaderLeftInOrder(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		t.Run(map[bool]string{false: "without", true: "with"}[takeover], func(t *testing.T) {
			url := startServer(t)
			pub, _ := newPubSub(t, url, jspubsub.SubscriberConfig{}, "")
			cfg := func() jspubsub.SubscriberConfig {
				return jspubsub.SubscriberConfig{Stream: suiteStream, AckWait: time.Minute, MaxInFlight: 4, OrderKey: orderByKey, Takeover: takeover,
					Consumer: func(topic string) (jspubsub.Consumer, error) {
						return jspubsub.Consumer{Durable: topic, Filter: suitePrefix + topic}, nil
					}}
			}
			publish(t, pub, "t", keyed("1", "k"), keyed("2", "k"), keyed("3", "k"))

			crashing := connect(t, url)
			a, err := jspubsub.NewSubscriber(crashing, cfg())
			if err != nil {
				t.Fatal(err)
			}
			first := recv(t, subscribe(t, a, "t"))
			if first.UUID != "1" {
				t.Fatalf("first reader got %s first, want 1", first.UUID)
			}
			crashing.Conn().Close() // a crash: 1 handed out, 2 and 3 fetched, none acked
			first.Nack()            // settles it in the dead reader only: the nak cannot reach NATS

			publish(t, pub, "t", keyed("4", "k"))
			b, err := jspubsub.NewSubscriber(connect(t, url), cfg())
			if err != nil {
				t.Fatal(err)
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
		})
	}
}
