package worker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/epayflow/epayflow/internal/inbox"
)

// The lag of each subscribed shard's consumer is sampled under its shard's label: the
// subscriber knows topics, the worker maps them back to shards.
func TestConsumerLagIsSampledPerShard(t *testing.T) {
	e := newEnv(t)
	sub, err := newInboxSubscriber(e.js, e.config(), nil, nil, e.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	const shard, n = 3, 5
	if _, err := sub.Subscribe(context.Background(), inbox.ShardFilter(shard)); err != nil {
		t.Fatal(err)
	}
	for i := range n { // nobody reads the channel: all n stay pending or unacked
		e.publish(&nats.Msg{Subject: inbox.Subject(shard, inbox.KindInvoice), Data: []byte(strconv.Itoa(i))})
	}
	m := NewMetrics(prometheus.NewRegistry())
	w := &service{js: e.js, metrics: m, log: e.log}
	waitFor(t, 10*time.Second, "lag of shard 3 sampled", func() bool {
		w.sampleOnce(context.Background(), sub)
		return gaugeValue(t, m.ConsumerPending.WithLabelValues(strconv.Itoa(shard))) == n
	})
}

func gaugeValue(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestInboxConsumerOfShardTopicsOnly(t *testing.T) {
	c, err := inboxConsumer(inbox.ShardFilter(3))
	if err != nil || c.Durable != "worker-shard-3" || c.Filter != "epay.inbox.3.>" {
		t.Fatalf("consumer of shard 3: %+v, %v", c, err)
	}
	for _, topic := range []string{"epay.inbox.3.postlink", "epay.inbox.03.>", "epay.inbox.x.>", "epay.inbox.>", "payments.>", ""} {
		if c, err := inboxConsumer(topic); err == nil {
			t.Errorf("topic %q: consumer %+v, want refused", topic, c)
		}
	}
}
