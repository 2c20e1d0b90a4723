package webhooks_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed"
	"github.com/epayflow/epayflow/internal/webhooks"
)

// Tests of the review of session 25's own changes (its reproductions, kept).

// startRootStack is startStack plus a "root" NATS user that may do anything (an
// operator's own account, or the system account), returned as a JetStream.
func startRootStack(t *testing.T, cfg webhooks.Config) (*stack, jetstream.JetStream) {
	t.Helper()
	rootPassword := rand.Text()
	s := startStack(t, cfg, natsembed.User{Name: "root", Password: rootPassword, Publish: []string{">"}, Subscribe: []string{">"}})
	rnc, err := nats.Connect(s.nats, nats.UserInfo("root", rootPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rnc.Close)
	root, _ := jetstream.New(rnc)
	return s, root
}

// position is the bucket's position entry ("" when there is none).
func position(t *testing.T, s *stack) string {
	t.Helper()
	kv := webhooksBucket(t, s)
	e, err := kv.Get(context.Background(), "position")
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// PAYMENT_EVENTS deleted and made again (`worker streams` makes it at a worker's start; the outage
// test does so), or restored from an older backup: its sequences start over. The
// position kept from the old stream (5) made the consumer start at 6, and the new
// stream's events 1..5, new payments, were never delivered. A position is now used only
// on the stream it was kept on (its creation time) and within what the stream holds.
func TestAStreamMadeAgainIsReadFromItsFirstEvent(t *testing.T) {
	s, root := startRootStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, rc.URL)
	for i := 1; i <= 5; i++ {
		s.publish(t, "old-"+strconv.Itoa(i), "paid", "INV-old-"+strconv.Itoa(i))
	}
	waitFor(t, "5 delivered", func() bool { return len(rc.delivered()) == 5 })
	s.waitSettled(t)
	waitFor(t, "position 5", func() bool { return strings.Contains(position(t, s), `"seq":5`) })

	s.stop()
	cancel, done := s.start(t)
	defer cancel()
	ctx, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	waitFor(t, "the service reading its consumer", func() bool {
		c, err := root.Consumer(ctx, events.Stream, "webhooks")
		return err == nil && c.CachedInfo().NumWaiting > 0
	})
	if err := root.DeleteStream(ctx, events.Stream); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("Run after PAYMENT_EVENTS was deleted: %v", err)
	case <-time.After(20 * time.Second):
		t.Log("Run did not end after the stream's deletion; stopping it")
		cancel()
		<-done
	}
	if err := natsbus.EnsureAll(ctx, s.streams, nil, natsbus.DefaultStreamsConfig()); err != nil { // `worker streams`, at a worker's start
		t.Fatal(err)
	}
	s.stop = s.run(t) // the restart
	for i := 1; i <= 3; i++ {
		s.publish(t, "new-"+strconv.Itoa(i), "paid", "INV-new-"+strconv.Itoa(i))
	}
	// deliveries run side by side (old-5 can come before old-4): wait for all three, not the last published
	allNew := func() bool {
		got := rc.delivered()
		return slices.Contains(got, "new-1") && slices.Contains(got, "new-2") && slices.Contains(got, "new-3")
	}
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) && !allNew() {
		time.Sleep(50 * time.Millisecond)
	}
	c, err := root.Consumer(ctx, events.Stream, "webhooks")
	if err == nil {
		i := c.CachedInfo()
		t.Logf("consumer: deliver policy %v, opt_start_seq %d, num_pending %d, delivered.stream %d; stream last seq 3",
			i.Config.DeliverPolicy, i.Config.OptStartSeq, i.NumPending, i.Delivered.Stream)
	}
	if got := rc.delivered(); !allNew() {
		t.Errorf("after PAYMENT_EVENTS was made again, delivered %v: new-1..new-3 (stream seqs 1..3, new payments) never delivered", got)
	}
}

// The copy check ran on first deliveries only: a copy whose first handling failed for a
// moment (here the bucket refusing writes, as in a NATS leader election, or as a worker
// password can arrange) came again as a redelivery and was delivered a second time.
func TestACopyWhoseFirstHandlingFailedIsStillACopy(t *testing.T) {
	s := startStack(t, testConfig())
	rc := newReceiver(t, func(int, request) int { return http.StatusOK })
	s.register(t, rc.URL)
	ce := events.CloudEvent{SpecVersion: "1.0", ID: "ev-dup", Source: "test", Type: events.TypePrefix + "paid", Time: time.Now().UTC(),
		Subject: "INV-D", DataContentType: "application/json", Data: events.Data{Invoice: events.View{InvoiceID: "INV-D"}}}
	msg := signedEvent(testEventSigner(t), ce)
	msg.Header.Del(nats.MsgIdHdr) // as after the stream's 15-minute duplicate window
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.worker.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivered once", func() bool { return len(rc.delivered()) == 1 })
	s.waitSettled(t)

	s.bucketWrites(t, false)
	if _, err := s.worker.PublishMsg(ctx, msg); err != nil { // the same genuine message again
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	s.bucketWrites(t, true)
	s.waitSettled(t)
	time.Sleep(500 * time.Millisecond)
	if got := rc.delivered(); len(got) != 1 {
		t.Errorf("delivered %v: the copy (another stream sequence) was delivered again", got)
	}
}
