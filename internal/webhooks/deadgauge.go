package webhooks

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// deadLetterGauge exports the dead letters each endpoint holds now, counted in the bucket
// at each scrape: the same on every replica (alerts take the max), right after a restart,
// and down to 0 once they are replayed. The counter epayflow_webhooks_dead_letters_total
// says how many were moved there by this process, which cannot tell that.
type deadLetterGauge struct {
	store *Store
	desc  *prometheus.Desc
}

func newDeadLetterGauge(store *Store) *deadLetterGauge {
	return &deadLetterGauge{store: store, desc: prometheus.NewDesc("epayflow_webhooks_dead_letters",
		"Dead letters the endpoint holds (EPAY_WEBHOOKS bucket), by endpoint: replay or delete them.", []string{"endpoint"}, nil)}
}

func (g *deadLetterGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *deadLetterGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := g.store.keys(ctx, "dead.*.*")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	eps, err := g.store.keys(ctx, "endpoints.*")
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	n := map[string]int{}
	for _, k := range eps { // 0 for each endpoint without dead letters
		n[strings.TrimPrefix(k, "endpoints.")] = 0
	}
	gone := map[string]bool{}
	for _, k := range keys {
		id, _, ok := strings.Cut(strings.TrimPrefix(k, "dead."), ".")
		if !ok {
			continue
		}
		if _, listed := n[id]; !listed && !gone[id] {
			// Not listed: a deleted endpoint's, which a delivery under way wrote after
			// DELETE's sweep (Dispatcher.sweep removes it). Nobody can list, replay or
			// clear it through the API (404), and counted it would keep the alert firing
			// for good. Looked up, as a listing cut short by the timeout leaves endpoints
			// out.
			_, err := g.store.Endpoint(ctx, id)
			if errors.Is(err, ErrNotFound) {
				gone[id] = true
				continue
			}
			if err != nil {
				ch <- prometheus.NewInvalidMetric(g.desc, err)
				return
			}
		}
		if !gone[id] {
			n[id]++
		}
	}
	for id, c := range n {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(c), id)
	}
}
