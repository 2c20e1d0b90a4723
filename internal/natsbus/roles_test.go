package natsbus_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/invoiceid"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// client is one role's connection to a server with the permissions on, recording the
// permissions violations the server reports.
type client struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream

	mu   sync.Mutex
	logs bytes.Buffer
}

func connect(t *testing.T, s *natstest.Server, role natsbus.Role) *client {
	t.Helper()
	c := &client{t: t}
	log := slog.New(slog.NewTextHandler(syncWriter{&c.mu, &c.logs}, &slog.HandlerOptions{Level: slog.LevelError}))
	nc, err := natsbus.ConnectAs(s.URL(), "test-"+string(role), role, s.Auth(role), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not connected within 10s: %s", role, c.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.nc = nc
	c.js, _ = jetstream.New(nc)
	return c
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (c *client) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

// refusedTo waits until the server has reported a permissions violation naming subject.
func (c *client) refusedTo(what, subject string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		// The text handler quotes the error: the subject's quotes are escaped.
		if l := c.log(); strings.Contains(l, "permissions violation") && strings.Contains(l, `\"`+subject+`\"`) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Errorf("%s: no permissions violation for %s; log:\n%s", what, subject, c.log())
}

// publishRefused publishes to subject and expects a permissions violation.
func (c *client) publishRefused(subject string) {
	c.t.Helper()
	if err := c.nc.Publish(subject, []byte(`{"forged":true}`)); err != nil {
		c.t.Fatal(err)
	}
	c.nc.Flush()
	c.refusedTo("publish", subject)
}

// subscribeRefused subscribes to subject and expects a permissions violation.
func (c *client) subscribeRefused(subject string) {
	c.t.Helper()
	if _, err := c.nc.SubscribeSync(subject); err != nil {
		c.t.Fatal(err)
	}
	c.nc.Flush()
	c.refusedTo("subscribe", subject)
}

// apiRefused calls a JetStream API and expects it to fail with a permissions violation
// for subject.
func (c *client) apiRefused(what, subject string, call func(ctx context.Context) error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := call(ctx); err == nil {
		c.t.Errorf("%s: succeeded, want a permissions violation", what)
		return
	}
	c.refusedTo(what, subject)
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func publishJS(t *testing.T, c *client, subject, id string) {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: []byte(`{"invoiceId":"123456789"}`)}
	msg.Header.Set(nats.MsgIdHdr, id)
	if _, err := c.js.PublishMsg(ctx(t), msg); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func streamMsgs(t *testing.T, c *client, stream string) uint64 {
	t.Helper()
	st, err := c.js.Stream(ctx(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

// setup starts a server with the permissions on, lets the streams identity, the owner
// of the streams and buckets, create them all, and returns the worker's client.
func setup(t *testing.T) (*natstest.Server, *client) {
	s := natstest.StartSecure(t)
	st := connect(t, s, natsbus.RoleStreams)
	if err := natsbus.EnsureAll(ctx(t), st.js, nil, natsbus.DefaultStreamsConfig()); err != nil {
		t.Fatalf("the streams identity ensures the streams and buckets: %v\n%s", err, st.log())
	}
	return s, connect(t, s, natsbus.RoleWorker)
}

func TestAnonymousAndWrongPasswordAreRefused(t *testing.T) {
	s := natstest.StartSecure(t)
	if _, err := nats.Connect(s.URL()); !natsbus.IsAuthError(err) {
		t.Fatalf("anonymous connect: %v, want an authorization violation", err)
	}
	if _, err := nats.Connect(s.URL(), nats.UserInfo("ingest", "not-its-password")); !natsbus.IsAuthError(err) {
		t.Fatalf("wrong password: %v, want an authorization violation", err)
	}
	if _, err := nats.Connect(s.URL(), nats.UserInfo("admin", "admin")); !natsbus.IsAuthError(err) {
		t.Fatalf("unknown user: %v, want an authorization violation", err)
	}
}

func TestRefusedLoginIsLoggedWithUserAndURLButNeverThePassword(t *testing.T) {
	s := natstest.StartSecure(t)
	var mu sync.Mutex
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(syncWriter{&mu, &out}, nil))
	const password = "wrong-password-4711"
	url := strings.Replace(s.URL(), "nats://", "nats://someone:url-secret@", 1)
	nc, err := natsbus.ConnectAs(url, "test", natsbus.RoleIngest, natsbus.Auth{User: "ingest", Password: password}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		l := out.String()
		mu.Unlock()
		if strings.Contains(l, "NATS refused the login") {
			if !strings.Contains(l, "user=ingest") || !strings.Contains(l, "127.0.0.1") {
				t.Errorf("the message must name the user and the URL:\n%s", l)
			}
			if strings.Contains(l, password) || strings.Contains(l, "url-secret") {
				t.Errorf("the message shows a password:\n%s", l)
			}
			if nc.IsConnected() {
				t.Error("connected with a wrong password")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refused-login message within 10s:\n%s", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIngestMayPublishCallbacksOnly(t *testing.T) {
	s, w := setup(t)
	in := connect(t, s, natsbus.RoleIngest)

	// Its job: bind to EPAY_INBOX (the worker made it), publish a callback with a PubAck.
	if err := natsbus.BindStreams(ctx(t), in.js, natsbus.StreamInbox); err != nil {
		t.Fatalf("bind EPAY_INBOX: %v", err)
	}
	publishJS(t, in, inbox.Subject(0, inbox.KindPostlink), "cb:1")
	if n := streamMsgs(t, w, natsbus.StreamInbox); n != 1 {
		t.Fatalf("EPAY_INBOX holds %d messages, want the callback", n)
	}

	// Not its job.
	in.publishRefused(inbox.Subject(0, inbox.KindStatus))
	in.publishRefused(inbox.Subject(0, inbox.KindResolve))
	in.publishRefused(inbox.Subject(0, inbox.KindOperation))
	in.publishRefused(inbox.Subject(3, inbox.KindInvoice))
	in.publishRefused(events.Subject(invoice.EventPaid))
	in.publishRefused(natsbus.DLQSubject(0))
	in.subscribeRefused("epay.inbox.>")
	in.subscribeRefused("_INBOX.>")
	in.apiRefused("change EPAY_INBOX", "$JS.API.STREAM.UPDATE.EPAY_INBOX", func(ctx context.Context) error {
		return updateInbox(ctx, in.js)
	})
	in.apiRefused("read EPAY_INBOX", "$JS.API.STREAM.MSG.GET.EPAY_INBOX", func(ctx context.Context) error {
		st, err := in.js.Stream(ctx, natsbus.StreamInbox) // STREAM.INFO: its readiness check
		if err != nil {
			return err
		}
		_, err = st.GetMsg(ctx, 1)
		return err
	})
	if n := streamMsgs(t, w, natsbus.StreamInbox); n != 1 {
		t.Errorf("EPAY_INBOX holds %d messages after the refused publishes, want 1", n)
	}
	if n := streamMsgs(t, w, natsbus.StreamEvents); n != 0 {
		t.Errorf("PAYMENT_EVENTS holds %d messages, want none", n)
	}
}

func TestInitiatorMayPublishInvoicesAndUseItsSequenceOnly(t *testing.T) {
	if natsbus.SequenceBucket != invoiceid.DefaultBucket {
		t.Fatalf("natsbus.SequenceBucket %q is not invoiceid.DefaultBucket %q", natsbus.SequenceBucket, invoiceid.DefaultBucket)
	}
	s, w := setup(t)
	in := connect(t, s, natsbus.RoleInitiator)

	if err := natsbus.BindStreams(ctx(t), in.js, natsbus.StreamInbox); err != nil {
		t.Fatalf("bind EPAY_INBOX: %v", err)
	}
	ids, err := invoiceid.New(in.js, invoiceid.Config{Scheme: invoiceid.DefaultScheme(), Bucket: invoiceid.DefaultBucket})
	if err != nil {
		t.Fatal(err)
	}
	if err := ids.Ready(ctx(t)); err != nil {
		t.Fatalf("sequence bucket: %v\n%s", err, in.log())
	}
	for range 3 {
		if _, err := ids.Next(ctx(t)); err != nil {
			t.Fatalf("next invoiceId: %v\n%s", err, in.log())
		}
	}
	publishJS(t, in, inbox.Subject(2, inbox.KindInvoice), "123456789")
	if n := streamMsgs(t, w, natsbus.StreamInbox); n != 1 {
		t.Fatalf("EPAY_INBOX holds %d messages, want invoice.created", n)
	}
	// The Idempotency-Keys bucket, as internal/initiator uses it.
	keys, err := natsbus.BindBucket(ctx(t), in.js, natsbus.IdempotencyBucket)
	if err != nil {
		t.Fatalf("Idempotency-Keys bucket: %v\n%s", err, in.log())
	}
	if _, err := keys.Create(ctx(t), "k1", []byte(`{"invoiceId":"123456789"}`)); err != nil {
		t.Fatalf("remember a key: %v", err)
	}
	if e, err := keys.Get(ctx(t), "k1"); err != nil || string(e.Value()) != `{"invoiceId":"123456789"}` {
		t.Fatalf("read a key back: %v", err)
	}
	in.apiRefused("read an inbox message", "$JS.API.STREAM.MSG.GET.EPAY_INBOX", func(ctx context.Context) error {
		st, err := in.js.Stream(ctx, natsbus.StreamInbox)
		if err != nil {
			return err
		}
		_, err = st.GetMsg(ctx, 1)
		return err
	})

	in.publishRefused(inbox.Subject(2, inbox.KindPostlink))
	in.publishRefused(inbox.Subject(2, inbox.KindStatus))
	in.publishRefused(inbox.Subject(2, inbox.KindResolve))
	in.publishRefused(inbox.Subject(2, inbox.KindOperation))
	in.publishRefused(events.Subject(invoice.EventPaid))
	in.subscribeRefused("payments.>")
	in.apiRefused("change EPAY_INBOX", "$JS.API.STREAM.UPDATE.EPAY_INBOX", func(ctx context.Context) error {
		return updateInbox(ctx, in.js)
	})
	in.apiRefused("read EPAY_INBOX", "$JS.API.CONSUMER.CREATE.EPAY_INBOX.peek", func(ctx context.Context) error {
		_, err := in.js.CreateOrUpdateConsumer(ctx, natsbus.StreamInbox, jetstream.ConsumerConfig{Durable: "peek"})
		return err
	})
	if n := streamMsgs(t, w, natsbus.StreamInbox); n != 1 {
		t.Errorf("EPAY_INBOX holds %d messages after the refused publishes, want 1", n)
	}
}

func TestWorkerMayConsumeAndPublishStatusEventsAndDLQButNoCallbacks(t *testing.T) {
	s, w := setup(t)
	in := connect(t, s, natsbus.RoleIngest)
	publishJS(t, in, inbox.Subject(0, inbox.KindPostlink), "cb:1")

	// Its shard consumer, as internal/worker creates it.
	cons, err := w.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamInbox, jetstream.ConsumerConfig{
		Durable: "worker-shard-0", FilterSubject: inbox.ShardFilter(0),
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatalf("shard consumer: %v\n%s", err, w.log())
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx(t)); err != nil {
			t.Fatalf("ack: %v", err)
		}
		n++
	}
	if n != 1 || batch.Error() != nil {
		t.Fatalf("fetched %d messages (%v), want the callback\n%s", n, batch.Error(), w.log())
	}
	if _, err := cons.Info(ctx(t)); err != nil {
		t.Fatalf("consumer info (lag gauge): %v", err)
	}

	publishJS(t, w, inbox.Subject(0, inbox.KindStatus), "st:1")
	publishJS(t, w, inbox.Subject(0, inbox.KindResolve), "rs:1")
	publishJS(t, w, inbox.Subject(0, inbox.KindOperation), "op:1")
	publishJS(t, w, events.Subject(invoice.EventPaid), "123456789-2")
	publishJS(t, w, natsbus.DLQSubject(0), "dlq:1")
	// the worker only publishes to the DLQ: reading or deleting entries is `worker dlq`'s
	// identity (RoleDLQ)
	dlq, err := w.js.Stream(ctx(t), natsbus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	w.apiRefused("DLQ show", "$JS.API.STREAM.MSG.GET.EPAY_DLQ", func(ctx context.Context) error {
		_, err := dlq.GetMsg(ctx, 1)
		return err
	})

	w.publishRefused(inbox.Subject(0, inbox.KindPostlink))
	w.publishRefused(inbox.Subject(0, inbox.KindInvoice))
	w.subscribeRefused("_INBOX.>")
	if got := streamMsgs(t, w, natsbus.StreamInbox); got != 4 {
		t.Errorf("EPAY_INBOX holds %d messages, want the callback, the status answer, the resolution and the operation step", got)
	}
}

func TestSubscriberMayReadPaymentEventsOnly(t *testing.T) {
	s, w := setup(t)
	in := connect(t, s, natsbus.RoleIngest)
	publishJS(t, in, inbox.Subject(0, inbox.KindPostlink), "cb:1")
	publishJS(t, w, events.Subject(invoice.EventPaid), "123456789-2")
	sub := connect(t, s, natsbus.RoleSubscriber)

	// Its job: a durable consumer on PAYMENT_EVENTS, fetch and ack; an event by sequence.
	cons, err := sub.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "merchant-crm", FilterSubject: "payments.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("consumer on PAYMENT_EVENTS: %v\n%s", err, sub.log())
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if m.Subject() != "payments.paid" {
			t.Errorf("got %s", m.Subject())
		}
		if err := m.DoubleAck(ctx(t)); err != nil {
			t.Fatalf("ack: %v", err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("fetched %d events (%v), want 1\n%s", n, batch.Error(), sub.log())
	}
	stream, err := sub.js.Stream(ctx(t), natsbus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.GetMsg(ctx(t), 1); err != nil {
		t.Fatalf("event by sequence: %v", err)
	}

	// Not its job: publish events, read the inbox (secret_hash, customer data), snoop on
	// other clients' replies (the worker pulls the inbox through them), remove consumers.
	sub.publishRefused(events.Subject(invoice.EventPaid))
	sub.publishRefused(inbox.Subject(0, inbox.KindStatus))
	sub.publishRefused(inbox.Subject(0, inbox.KindResolve))
	sub.subscribeRefused("epay.inbox.>")
	sub.subscribeRefused("_INBOX.>")
	sub.subscribeRefused("_INBOX.worker.>")
	sub.apiRefused("consumer on EPAY_INBOX", "$JS.API.CONSUMER.CREATE.EPAY_INBOX.peek", func(ctx context.Context) error {
		_, err := sub.js.CreateOrUpdateConsumer(ctx, natsbus.StreamInbox, jetstream.ConsumerConfig{Durable: "peek"})
		return err
	})
	sub.apiRefused("EPAY_INBOX info", "$JS.API.STREAM.INFO.EPAY_INBOX", func(ctx context.Context) error {
		_, err := sub.js.Stream(ctx, natsbus.StreamInbox)
		return err
	})
	sub.apiRefused("delete a consumer", "$JS.API.CONSUMER.DELETE.PAYMENT_EVENTS.merchant-crm", func(ctx context.Context) error {
		return sub.js.DeleteConsumer(ctx, natsbus.StreamEvents, "merchant-crm")
	})
	if n := streamMsgs(t, w, natsbus.StreamEvents); n != 1 {
		t.Errorf("PAYMENT_EVENTS holds %d messages, want 1", n)
	}
}

func TestEveryRoleHasItsOwnInboxAndNoWildcardOverIt(t *testing.T) {
	seen := map[string]natsbus.Role{}
	for _, r := range natsbus.Roles() {
		p := r.Permissions()
		if len(p.Publish) == 0 || len(p.Subscribe) != 1 || p.Subscribe[0] != r.InboxPrefix()+".>" {
			t.Errorf("%s: subscribe %v, want only its inbox %s.>", r, p.Subscribe, r.InboxPrefix())
		}
		if o, ok := seen[r.InboxPrefix()]; ok {
			t.Errorf("%s and %s share an inbox", r, o)
		}
		seen[r.InboxPrefix()] = r
		for _, s := range p.Publish {
			if s == ">" || s == "$JS.API.>" || strings.HasPrefix(s, "_INBOX") || s == "epay.inbox.>" {
				t.Errorf("%s may publish to %q: too wide", r, s)
			}
		}
	}
	if !natsbus.Role("nobody").Permissions().Equal(natsbus.Permissions{}) {
		t.Error("an unknown role has permissions")
	}
}

func TestAdminMayInspectAndRemoveConsumersButNotReadOrPublish(t *testing.T) {
	s, w := setup(t)
	if _, err := w.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamInbox, jetstream.ConsumerConfig{
		Durable: "worker-shard-1", FilterSubject: inbox.ShardFilter(1), AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	in := connect(t, s, natsbus.RoleIngest)
	publishJS(t, in, inbox.Subject(1, inbox.KindPostlink), "cb:1")
	admin := connect(t, s, natsbus.RoleAdmin)

	// `nats stream ls`, `nats consumer report`, `nats consumer rm` (moving a shard).
	var names []string
	for n := range admin.js.StreamNames(ctx(t)).Name() {
		names = append(names, n)
	}
	if len(names) != len(natsbus.Streams())+len(natsbus.Buckets()) {
		t.Errorf("stream names %v, want the streams and the buckets' streams", names)
	}
	if _, err := admin.js.Stream(ctx(t), natsbus.StreamInbox); err != nil {
		t.Fatalf("stream info: %v", err)
	}
	st, _ := admin.js.Stream(ctx(t), natsbus.StreamInbox)
	for range st.ListConsumers(ctx(t)).Info() {
	}
	if err := admin.js.DeleteConsumer(ctx(t), natsbus.StreamInbox, "worker-shard-1"); err != nil {
		t.Fatalf("consumer rm: %v", err)
	}

	admin.publishRefused(events.Subject(invoice.EventPaid))
	admin.publishRefused(inbox.Subject(1, inbox.KindStatus))
	admin.publishRefused(inbox.Subject(1, inbox.KindResolve))
	admin.apiRefused("read EPAY_INBOX", "$JS.API.STREAM.MSG.GET.EPAY_INBOX", func(ctx context.Context) error {
		_, err := st.GetMsg(ctx, 1)
		return err
	})
	admin.apiRefused("consumer on EPAY_INBOX", "$JS.API.CONSUMER.CREATE.EPAY_INBOX.peek", func(ctx context.Context) error {
		_, err := admin.js.CreateOrUpdateConsumer(ctx, natsbus.StreamInbox, jetstream.ConsumerConfig{Durable: "peek"})
		return err
	})
	admin.apiRefused("purge", "$JS.API.STREAM.PURGE.EPAY_DLQ", func(ctx context.Context) error {
		dlq, err := admin.js.Stream(ctx, natsbus.StreamDLQ)
		if err != nil {
			return err
		}
		return dlq.Purge(ctx)
	})
}

// A consumer's deliver subject is not checked against its creator's permissions: a push
// consumer on PAYMENT_EVENTS delivering to an inbox subject would copy events into
// EPAY_INBOX as soon as something subscribes to that subject. Nobody may subscribe to
// anything but its own reply subjects, so nothing is delivered and the inbox stays empty.
func TestSubscriberPushConsumerWritesNothingIntoTheInbox(t *testing.T) {
	s, w := setup(t)
	publishJS(t, w, events.Subject(invoice.EventPaid), "123456789-2")
	sub := connect(t, s, natsbus.RoleSubscriber)
	target := inbox.Subject(0, inbox.KindStatus)
	if _, err := sub.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "push", DeliverSubject: target, AckPolicy: jetstream.AckNonePolicy,
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range natsbus.Roles() {
		c := connect(t, s, r)
		c.subscribeRefused(target)
	}
	publishJS(t, w, events.Subject(invoice.EventPaid), "123456789-3")
	time.Sleep(time.Second)
	if n := streamMsgs(t, w, natsbus.StreamInbox); n != 0 {
		t.Fatalf("EPAY_INBOX holds %d messages delivered by the subscriber's push consumer", n)
	}
}

// `worker dlq` connects as dlq: it reads and deletes DLQ entries and republishes them to
// the inbox, any kind; it reads nothing else and publishes no payment event.
func TestDLQMayReadDeleteAndReplayDLQEntriesOnly(t *testing.T) {
	s, w := setup(t)
	publishJS(t, w, natsbus.DLQSubject(0), "dlq:1")
	d := connect(t, s, natsbus.RoleDLQ)
	dlq, err := d.js.Stream(ctx(t), natsbus.StreamDLQ)
	if err != nil {
		t.Fatalf("DLQ info: %v", err)
	}
	if _, err := dlq.GetMsg(ctx(t), 1); err != nil {
		t.Fatalf("DLQ show: %v", err)
	}
	for _, kind := range inbox.Kinds() {
		publishJS(t, d, inbox.Subject(0, kind), "replay:"+kind)
	}
	if err := dlq.DeleteMsg(ctx(t), 1); err != nil {
		t.Fatalf("DLQ delete: %v", err)
	}
	d.publishRefused(events.Subject(invoice.EventPaid))
	d.publishRefused(natsbus.DLQSubject(0))
	d.apiRefused("EPAY_INBOX info", "$JS.API.STREAM.INFO.EPAY_INBOX", func(ctx context.Context) error {
		_, err := d.js.Stream(ctx, natsbus.StreamInbox)
		return err
	})
	d.apiRefused("read EPAY_INBOX", "$JS.API.STREAM.MSG.GET.EPAY_INBOX", func(ctx context.Context) error {
		_, err := d.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.EPAY_INBOX", []byte(`{"seq":1}`))
		return err
	})
	d.subscribeRefused("_INBOX.>")
}

// Only `worker dlq` (RoleDLQ) records a discarded DLQ entry: the worker, which may publish
// to the DLQ, may not forge a discard record, nor may any other role; and nobody deletes a
// record.
func TestOnlyDLQRecordsDiscards(t *testing.T) {
	s, _ := setup(t)
	d := connect(t, s, natsbus.RoleDLQ)
	if err := natsbus.BindStreams(ctx(t), d.js, natsbus.StreamDLQDiscarded); err != nil {
		t.Fatalf("dlq binds to EPAY_DLQ_DISCARDED: %v", err)
	}
	publishJS(t, d, natsbus.DLQDiscardedSubject(3), "discard:1")
	st, err := d.js.Stream(ctx(t), natsbus.StreamDLQDiscarded)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetMsg(ctx(t), 1); err != nil {
		t.Fatalf("dlq reads its record: %v", err)
	}
	if err := st.DeleteMsg(ctx(t), 1); err == nil {
		t.Error("a discard record was deleted")
	}
	for _, r := range []natsbus.Role{natsbus.RoleWorker, natsbus.RoleIngest, natsbus.RoleInitiator, natsbus.RoleSubscriber, natsbus.RoleAdmin} {
		connect(t, s, r).publishRefused(natsbus.DLQDiscardedSubject(3))
	}
	w := connect(t, s, natsbus.RoleWorker)
	w.apiRefused("worker reads a discard record", "$JS.API.STREAM.MSG.GET.EPAY_DLQ_DISCARDED", func(ctx context.Context) error {
		_, err := w.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.EPAY_DLQ_DISCARDED", []byte(`{"seq":1}`))
		return err
	})
	if n := streamMsgs(t, d, natsbus.StreamDLQDiscarded); n != 1 {
		t.Fatalf("EPAY_DLQ_DISCARDED holds %d records, want the dlq's one", n)
	}
}

// updateInbox asks for an update of EPAY_INBOX to its default configuration (what
// EnsureStreams would ask of a stream configured otherwise).
func updateInbox(ctx context.Context, js jetstream.JetStream) error {
	sc, err := natsbus.DefaultStreamsConfig().StreamConfig(natsbus.StreamInbox)
	if err != nil {
		return err
	}
	_, err = js.UpdateStream(ctx, sc)
	return err
}
