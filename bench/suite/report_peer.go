package suite

import (
	"strings"

	"github.com/epayflow/epayflow/bench/hist"
	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/bench/peer"
)

// peerConns is the peer's row at conns, if it ran there.
func (r *Results) peerConns(conns int) (load.Result, bool) {
	for _, c := range r.Peer.Conns {
		if c.Conns == conns {
			return c.Res, true
		}
	}
	return load.Result{}, false
}

// renderPeerTargets writes the Targets rows of issue 17's item 6: epayflow ahead of the
// PostgreSQL peer in throughput and end-to-end p99.
func (r *Results) renderPeerTargets(p printer) {
	if r.Peer.Skipped != "" {
		p("| ingest throughput >= the PostgreSQL peer, %d connections | not measured: PostgreSQL is not installed | | | not measured |", fixedConns)
		p("| end-to-end p99 <= the PostgreSQL peer's at %d callbacks/s | not measured: PostgreSQL is not installed | | | not measured |", e2eRate)
		return
	}
	ing := r.row64().Ingest
	pr, _ := r.peerConns(fixedConns)
	q := ing.Throughput() / pr.Throughput()
	p("| ingest throughput >= the PostgreSQL peer, %d connections | %.0f callbacks/s | %.0f callbacks/s PostgreSQL peer | %.2f | %s |",
		fixedConns, ing.Throughput(), pr.Throughput(), q, met(q >= 1 && pr.Requests > 0))
	e := r.E2E.Service
	lat, peerLat := e.Latency, r.Peer.Fixed.Latency
	if lat == nil {
		lat = hist.New()
	}
	if peerLat == nil {
		peerLat = hist.New()
	}
	p("| end-to-end p99 <= the PostgreSQL peer's at %d callbacks/s | %s to the payment event | %s PostgreSQL peer, to the commit | %.2f | %s |", e2eRate,
		ms(lat.Quantile(.99)), ms(peerLat.Quantile(.99)), ratio(lat.Quantile(.99), peerLat.Quantile(.99)),
		met(lat.Quantile(.99) <= peerLat.Quantile(.99) && e.Missing == 0 && r.Peer.Fixed.OK() > 0))
}

func (r *Results) renderPeer(p printer) {
	pe := r.Peer
	p("## Peer: what a merchant would build\n")
	if pe.Skipped != "" {
		p("**Not measured in this run:** %s. The rest of the report is complete; install PostgreSQL and run it again for this section.\n", pe.Skipped)
		return
	}
	p("The design most integrations use instead of epayflow (`bench/peer`): an HTTP handler that decodes and verifies")
	p("the callback with the same code as the ingest, then writes it into PostgreSQL in one transaction, `INSERT … ON")
	p("CONFLICT DO NOTHING` of the callback (keyed by invoice, transaction id and code) and the invoice's state update,")
	p("sent as one pgx batch (one round trip: the fastest form of that design), and answers 200 after the commit. Its")
	p("server is a private %s started by the suite (`initdb`, `pg_ctl`, loopback TCP) with %s;", orUnknown(pe.Version), "`"+strings.Join(peer.Settings, "`, `")+"`")
	p("the handler runs in its own process with a pool of %d connections. Each corpus's invoices are created (COPY)", peerPoolSize)
	p("before its callbacks are sent. For the peer a 200 is the end: the callback and the state are committed.\n")
	p("**Durability differs, and in the peer's favour at the first hop:** the peer's 200 means its WAL was fsynced")
	p("(`synchronous_commit = on`, concurrent commits sharing a flush); the ingest's 200 means JetStream's PubAck, written")
	p("to the OS and fsynced in the background (see above). epayflow's reconcile is fsynced (bbolt, before the ack), so the")
	p("end-to-end figures compare two fsynced paths; the ingest figures compare an acknowledgement that is not yet on")
	p("disk with one that is.\n")
	p("| connections | epayflow ingest callbacks/s | PostgreSQL peer callbacks/s | ingest / peer | ingest p50 / p99 | peer p50 / p99 | peer statuses | peer errors |\n|---|---|---|---|---|---|---|---|")
	for _, c := range r.IngestConns {
		pr, ok := r.peerConns(c.Conns)
		if !ok {
			continue
		}
		p("| %d | %.0f | %.0f | %.2f | %s / %s | %s / %s | %s | %d |", c.Conns, c.Ingest.Throughput(), pr.Throughput(),
			c.Ingest.Throughput()/pr.Throughput(), ms(c.Ingest.Latency.Quantile(.5)), ms(c.Ingest.Latency.Quantile(.99)),
			ms(pr.Latency.Quantile(.5)), ms(pr.Latency.Quantile(.99)), statuses(pr.Status), pr.Errors)
	}
	if pr, ok := r.peerConns(fixedConns); ok && r.Drain.Elapsed > 0 {
		p("\nReconciled, not only accepted: the worker's drain (every commit fsynced, every event published) reached")
		p("**%.0f msg/s**, %.2f of the peer's %.0f callbacks/s at %d connections (for the peer, accepting is reconciling).\n",
			r.Drain.Rate(), r.Drain.Rate()/pr.Throughput(), pr.Throughput(), fixedConns)
	}
	p("At %d callbacks/s (open loop, %d connections), each timed from its intended send: epayflow to its payment event on", e2eRate, fixedConns)
	p("PAYMENT_EVENTS (the end-to-end run above), the peer to its 200 (its commit).\n")
	p("| %d/s | sent | 200s | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|", e2eRate)
	e := r.E2E.Service
	for _, x := range []struct {
		name string
		sent load.Result
		lat  *hist.Histogram
	}{{"epayflow: ingest -> worker -> PAYMENT_EVENTS", e.Sent, e.Latency}, {"PostgreSQL peer: handler -> commit", pe.Fixed, pe.Fixed.Latency}} {
		lat := x.lat
		if lat == nil {
			lat = hist.New()
		}
		p("| %s | %d | %d | %s | %s | %s | %s | %s |", x.name, x.sent.Requests, x.sent.OK(),
			ms(lat.Quantile(.5)), ms(lat.Quantile(.9)), ms(lat.Quantile(.99)), ms(lat.Quantile(.999)), ms(lat.Max()))
	}
	p("\nWhat the peer's database holds at the end: %d callbacks stored (duplicates kept once), %d invoices paid and %d failed",
		pe.Counts.Callbacks, pe.Counts.Paid, pe.Counts.Failed)
	p("of %d created.\n", pe.Invoices)
}

func orUnknown(s string) string {
	if s == "" {
		return "PostgreSQL"
	}
	return s
}
