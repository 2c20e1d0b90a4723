package natsbus_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/epayflow/epayflow/internal/events"
	"github.com/epayflow/epayflow/internal/inbox"
	"github.com/epayflow/epayflow/internal/invoice"
	"github.com/epayflow/epayflow/internal/natsbus"
	"github.com/epayflow/epayflow/internal/natsembed/natstest"
)

// forgedPaid is a complete payments.paid CloudEvent that no worker made.
var forgedPaid = []byte(`{"specversion":"1.0","id":"100000000042-9","source":"epayflow","type":"kz.epay.payment.paid","subject":"100000000042","datacontenttype":"application/json","data":{"invoice":{"invoiceId":"100000000042","state":"paid","amount":5000000}}}`)

// paidEvents counts the payments.paid events a merchant's subscriber finds on
// PAYMENT_EVENTS (waiting at most 2s for them).
func paidEvents(t *testing.T, s *natstest.Server) int {
	t.Helper()
	sub := connect(t, s, natsbus.RoleSubscriber)
	cons, err := sub.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamEvents, jetstream.ConsumerConfig{Durable: "merchant-crm", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("subscriber's consumer: %v\n%s", err, sub.log())
	}
	b, err := cons.Fetch(5, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range b.Messages() {
		if m.Subject() == events.Subject(invoice.EventPaid) {
			n++
		}
	}
	return n
}

// tryAPI runs a JetStream API call that the role must not be allowed, with a short
// deadline (a refused request gets no answer), and reports whether it succeeded.
func tryAPI(call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return call(ctx)
}

// No role but the streams identity holds STREAM.CREATE or STREAM.UPDATE: with either, a
// role could give a stream a RePublish (or a subject transform, or sources) into
// payments.>, and the server would copy its messages into PAYMENT_EVENTS with no
// permission check. The worker neither (TestTheWorkerCannotChangeAStream).
func TestNoRoleButStreamsCanCreateOrUpdateAStream(t *testing.T) {
	for _, r := range natsbus.Roles() {
		for _, s := range r.Permissions().Publish {
			if r != natsbus.RoleStreams && (strings.Contains(s, "STREAM.CREATE") || strings.Contains(s, "STREAM.UPDATE") ||
				strings.HasPrefix(s, "$JS.API.STREAM.*") || strings.HasPrefix(s, "$JS.API.*") || s == "$JS.API.>" || s == ">") {
				t.Errorf("%s may publish to %s", r, s)
			}
		}
	}

	// The proofs of review 2 (F1), on the server with the roles' permissions.
	s, _ := setup(t)
	repub := func(bucket string) *jetstream.RePublish {
		return &jetstream.RePublish{Source: "$KV." + bucket + ".forged", Destination: events.Subject(invoice.EventPaid)}
	}
	// the initiator creates the Idempotency-Keys bucket with a RePublish
	ini := connect(t, s, natsbus.RoleInitiator)
	if err := tryAPI(func(ctx context.Context) error {
		kv, err := ini.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsbus.IdempotencyBucket, RePublish: repub(natsbus.IdempotencyBucket)})
		if err == nil {
			_, err = kv.Put(ctx, "forged", forgedPaid)
		}
		return err
	}); err == nil {
		t.Error("the initiator created the Idempotency-Keys bucket with a RePublish into payments.paid")
	}
	// the initiator and the webhooks update their buckets' streams with a RePublish
	for _, c := range []struct {
		role   natsbus.Role
		bucket string
	}{{natsbus.RoleInitiator, natsbus.SequenceBucket}, {natsbus.RoleWebhooks, natsbus.WebhooksBucket}} {
		cl := connect(t, s, c.role)
		if err := tryAPI(func(ctx context.Context) error {
			sc := jetstream.StreamConfig{Name: "KV_" + c.bucket, Subjects: []string{"$KV." + c.bucket + ".>"}, RePublish: repub(c.bucket)}
			if st, err := cl.js.Stream(ctx, "KV_"+c.bucket); err == nil {
				sc = st.CachedInfo().Config
				sc.RePublish = repub(c.bucket)
				_, err = cl.js.UpdateStream(ctx, sc)
				return err
			}
			_, err := cl.js.CreateStream(ctx, sc)
			return err
		}); err == nil {
			t.Errorf("%s gave KV_%s a RePublish into payments.paid", c.role, c.bucket)
		}
		if err := tryAPI(func(ctx context.Context) error {
			_, err := cl.nc.RequestWithContext(ctx, "$KV."+c.bucket+".forged", forgedPaid)
			return err
		}); err != nil {
			t.Logf("%s: put into %s: %v", c.role, c.bucket, err)
		}
	}
	// the ingest and the dlq create a missing stream with a RePublish into payments.paid
	for _, c := range []struct {
		role    natsbus.Role
		stream  string
		subject string
	}{{natsbus.RoleIngest, natsbus.StreamInbox, inbox.Subject(0, inbox.KindPostlink)}, {natsbus.RoleDLQ, natsbus.StreamDLQDiscarded, natsbus.DLQDiscardedSubject(0)}} {
		cl := connect(t, s, c.role)
		if err := tryAPI(func(ctx context.Context) error {
			_, err := cl.js.CreateStream(ctx, jetstream.StreamConfig{Name: c.stream + "_X", Subjects: []string{"never.used"}})
			return err
		}); err == nil {
			t.Errorf("%s created a stream", c.role)
		}
		if c.stream == natsbus.StreamDLQDiscarded {
			if err := tryAPI(func(ctx context.Context) error {
				_, err := cl.js.CreateStream(ctx, jetstream.StreamConfig{Name: c.stream, Subjects: []string{natsbus.DLQDiscardedSubjects},
					RePublish: &jetstream.RePublish{Source: natsbus.DLQDiscardedSubjects, Destination: events.Subject(invoice.EventPaid)}})
				if err == nil {
					_, err = cl.js.Publish(ctx, c.subject, forgedPaid)
				}
				return err
			}); err == nil {
				t.Errorf("%s created %s with a RePublish into payments.paid", c.role, c.stream)
			}
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := paidEvents(t, s); n > 0 {
		t.Errorf("PAYMENT_EVENTS holds %d payments.paid event(s) no worker published", n)
	}
}

// A stream carrying the fingerprint of the configuration asked, and a RePublish never
// asked (made by hand, or by a role that once could): EnsureStreams (`worker streams`, as
// the streams identity) takes the RePublish away, and says so. Review 2, F2.
func TestEnsureStreamsRemovesARePublishItDidNotConfigure(t *testing.T) {
	s := natstest.StartSecure(t)
	w := connect(t, s, natsbus.RoleStreams)
	cfg := natsbus.DefaultStreamsConfig()
	sc, err := cfg.StreamConfig(natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := natsbus.ConfigSum(sc) // what EnsureStreams computes, anybody can
	if err != nil {
		t.Fatal(err)
	}
	sc.Metadata = map[string]string{natsbus.MetadataConfig: sum}
	sc.RePublish = &jetstream.RePublish{Source: "epay.inbox.*.postlink", Destination: events.Subject(invoice.EventPaid)}
	if _, err := w.js.CreateStream(ctx(t), sc); err != nil {
		t.Fatalf("a backdoored EPAY_INBOX: %v", err)
	}

	logs := &syncBuffer{mu: make(chan struct{}, 1)}
	if err := natsbus.EnsureStreams(ctx(t), w.js, slog.New(slog.NewTextHandler(logs, nil)), cfg, natsbus.StreamInbox, natsbus.StreamEvents, natsbus.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	st, err := w.js.Stream(ctx(t), natsbus.StreamInbox)
	if err != nil {
		t.Fatal(err)
	}
	if rp := st.CachedInfo().Config.RePublish; rp != nil {
		t.Errorf("EPAY_INBOX keeps its RePublish %+v after the worker's EnsureStreams", *rp)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "RePublish") || !strings.Contains(l, "payments.paid") {
		t.Errorf("no warning naming the RePublish taken away:\n%s", l)
	}
	in := connect(t, s, natsbus.RoleIngest)
	msg := &nats.Msg{Subject: inbox.Subject(0, inbox.KindPostlink), Data: forgedPaid, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, "x-1")
	if _, err := in.js.PublishMsg(ctx(t), msg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := paidEvents(t, s); n > 0 {
		t.Errorf("an ingest-role publish became %d payments.paid event(s) on PAYMENT_EVENTS", n)
	}
}

// The webhooks service's durable on PAYMENT_EVENTS is its own: a merchant's subscriber
// may not pull from it, ack its messages, nor change it. Review 2, F4.
func TestASubscriberCannotUseTheWebhooksDurable(t *testing.T) {
	s, w := setup(t)
	wh := connect(t, s, natsbus.RoleWebhooks)
	// the webhooks service's own durable, as jspubsub makes it (pull, explicit ack)
	if _, err := wh.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamEvents, jetstream.ConsumerConfig{
		Durable: natsbus.WebhooksDurable, FilterSubject: events.Subjects, AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("webhooks consumer: %v\n%s", err, wh.log())
	}
	publishJS(t, w, events.Subject(invoice.EventPaid), "123456789-2")

	sub := connect(t, s, natsbus.RoleSubscriber)
	stolen := 0
	_ = tryAPI(func(ctx context.Context) error {
		cons, err := sub.js.Consumer(ctx, natsbus.StreamEvents, natsbus.WebhooksDurable)
		if err != nil {
			return err
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			if m.DoubleAck(ctx) == nil {
				stolen++
			}
		}
		return nil
	})
	// Bound to the consumer by its name alone (no info), it may still not pull nor ack.
	sub.apiRefused("pull from the webhooks durable", "$JS.API.CONSUMER.MSG.NEXT.PAYMENT_EVENTS.webhooks", func(ctx context.Context) error {
		_, err := sub.nc.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT.PAYMENT_EVENTS.webhooks", []byte(`{"batch":1,"expires":200000000}`))
		return err
	})
	sub.publishRefused("$JS.ACK.PAYMENT_EVENTS.webhooks.1.1.1.1.0")
	sub.apiRefused("change the webhooks durable", "$JS.API.CONSUMER.CREATE.PAYMENT_EVENTS.webhooks.payments.nothing", func(ctx context.Context) error {
		_, err := sub.js.UpdateConsumer(ctx, natsbus.StreamEvents, jetstream.ConsumerConfig{
			Durable: natsbus.WebhooksDurable, FilterSubject: "payments.nothing", AckPolicy: jetstream.AckExplicitPolicy,
		})
		return err
	})

	// the webhooks service still has its event, and its filter
	whc, err := wh.js.Consumer(ctx(t), natsbus.StreamEvents, natsbus.WebhooksDurable)
	if err != nil {
		t.Fatal(err)
	}
	b, err := whc.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range b.Messages() {
		got++
	}
	if stolen != 0 || got != 1 {
		t.Errorf("the subscriber took %d event(s) from the webhooks durable, which then fetched %d, want 0 and 1", stolen, got)
	}
	if info, err := whc.Info(ctx(t)); err != nil || info.Config.FilterSubject != events.Subjects {
		t.Errorf("the webhooks durable's filter: %v (%v), want %s", info, err, events.Subjects)
	}
}

// And the reverse: the webhooks service may use its own durable only, not a merchant's.
func TestTheWebhooksRoleCannotUseAMerchantsDurable(t *testing.T) {
	s, w := setup(t)
	sub := connect(t, s, natsbus.RoleSubscriber)
	if _, err := sub.js.CreateOrUpdateConsumer(ctx(t), natsbus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "merchant-crm", FilterSubject: events.Subjects, AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("a merchant's consumer: %v\n%s", err, sub.log())
	}
	publishJS(t, w, events.Subject(invoice.EventPaid), "123456789-2")
	wh := connect(t, s, natsbus.RoleWebhooks)
	wh.apiRefused("pull from a merchant's durable", "$JS.API.CONSUMER.MSG.NEXT.PAYMENT_EVENTS.merchant-crm", func(ctx context.Context) error {
		_, err := wh.nc.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT.PAYMENT_EVENTS.merchant-crm", []byte(`{"batch":1,"expires":200000000}`))
		return err
	})
	wh.publishRefused("$JS.ACK.PAYMENT_EVENTS.merchant-crm.1.1.1.1.0")
	wh.apiRefused("change a merchant's durable", "$JS.API.CONSUMER.CREATE.PAYMENT_EVENTS.merchant-crm.payments.nothing", func(ctx context.Context) error {
		_, err := wh.js.UpdateConsumer(ctx, natsbus.StreamEvents, jetstream.ConsumerConfig{
			Durable: "merchant-crm", FilterSubject: "payments.nothing", AckPolicy: jetstream.AckExplicitPolicy,
		})
		return err
	})
	cons, err := sub.js.Consumer(ctx(t), natsbus.StreamEvents, "merchant-crm")
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range b.Messages() {
		got++
	}
	if got != 1 {
		t.Errorf("the merchant's durable fetched %d events, want its 1", got)
	}
}

// The same for every route a stream or bucket may carry, whatever the fingerprint in
// its metadata: a bucket's RePublish, a stream's subject transform, a stream's sources.
// EnsureAll (`worker streams`) brings each back to the configuration asked, and warns.
func TestEnsureAllRemovesRoutesItDidNotConfigureFromStreamsAndBuckets(t *testing.T) {
	s := natstest.StartSecure(t)
	w := connect(t, s, natsbus.RoleStreams)
	cfg := natsbus.DefaultStreamsConfig()
	if err := natsbus.EnsureAll(ctx(t), w.js, nil, cfg); err != nil {
		t.Fatal(err)
	}
	paid := events.Subject(invoice.EventPaid)
	backdoor := func(name string, edit func(*jetstream.StreamConfig)) {
		t.Helper()
		st, err := w.js.Stream(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		c := st.CachedInfo().Config // its fingerprint kept
		edit(&c)
		if _, err := w.js.UpdateStream(ctx(t), c); err != nil {
			t.Fatalf("backdoor %s: %v", name, err)
		}
	}
	backdoor("KV_"+natsbus.WebhooksBucket, func(c *jetstream.StreamConfig) {
		c.RePublish = &jetstream.RePublish{Source: "$KV." + natsbus.WebhooksBucket + ".forged", Destination: paid}
	})
	backdoor(natsbus.StreamDLQDiscarded, func(c *jetstream.StreamConfig) {
		c.SubjectTransform = &jetstream.SubjectTransformConfig{Source: natsbus.DLQDiscardedSubjects, Destination: "epay.dlq-discarded.x.>"}
	})
	backdoor(natsbus.StreamDLQ, func(c *jetstream.StreamConfig) {
		c.Sources = []*jetstream.StreamSource{{Name: natsbus.StreamInbox}}
	})
	logs := &syncBuffer{mu: make(chan struct{}, 1)}
	if err := natsbus.EnsureAll(ctx(t), w.js, slog.New(slog.NewTextHandler(logs, nil)), cfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, field string }{
		{"KV_" + natsbus.WebhooksBucket, "RePublish"}, {natsbus.StreamDLQDiscarded, "SubjectTransform"}, {natsbus.StreamDLQ, "Sources"},
	} {
		st, err := w.js.Stream(ctx(t), c.name)
		if err != nil {
			t.Fatal(err)
		}
		live := st.CachedInfo().Config
		if live.RePublish != nil || live.SubjectTransform != nil || len(live.Sources) > 0 {
			t.Errorf("%s keeps a route: RePublish %v, SubjectTransform %v, Sources %v", c.name, live.RePublish, live.SubjectTransform, live.Sources)
		}
		found := false
		for _, l := range strings.Split(logs.String(), "\n") {
			found = found || strings.Contains(l, "level=WARN") && strings.Contains(l, c.name[strings.Index(c.name, "_")+1:]) && strings.Contains(l, c.field)
		}
		if !found {
			t.Errorf("no warning naming %s's %s:\n%s", c.name, c.field, logs.String())
		}
	}
}
