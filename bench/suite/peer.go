package suite

import (
	"context"
	"fmt"
	"time"

	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/bench/peer"
	"github.com/epayflow/epayflow/internal/proctest"
)

// PeerResult is the PostgreSQL peer (bench/peer): what a merchant would build instead.
type PeerResult struct {
	Skipped  string // why it did not run ("": it ran)
	Version  string // postgres --version
	Conns    []PeerRow
	Fixed    load.Result // at e2eRate from fixedConns connections: each 200 is its commit
	Counts   peer.Counts
	Invoices int // invoices created before the callbacks
}

// PeerRow is the peer flat out at one concurrency.
type PeerRow struct {
	Conns int
	Res   load.Result
}

// peerPoolSize is the peer's connections to PostgreSQL: as many as the ingest's busiest
// fixed-rate run has HTTP connections.
const peerPoolSize = fixedConns

// peer runs the PostgreSQL peer flat out at naiveConns and at e2eRate, each corpus's
// invoices created in the database first. Without PostgreSQL's binaries it records why
// and skips: the report says so.
func (s *suite) peer(ctx context.Context) error {
	bin, err := peer.FindBinaries()
	if err != nil {
		s.res.Peer.Skipped = err.Error()
		s.logf("   skipped: %v", err)
		return nil
	}
	s.res.Peer.Version = peer.Version(bin)
	port, err := proctest.FreePort()
	if err != nil {
		return err
	}
	pg, err := peer.Start(ctx, bin, port)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer pg.Stop()
	if err := peer.Setup(ctx, pg.DSN); err != nil {
		return err
	}
	proc, url, err := s.startSelf(ctx, "pg-peer", "pg-peer", "-dsn", pg.DSN, "-pool", fmt.Sprint(peerPoolSize), "-secret-keys", keySpec)
	if err != nil {
		return err
	}
	defer proc.Stop(10 * time.Second)
	if _, err := s.peerRun(ctx, url, pg.DSN, load.Plan{Conns: 64, Duration: time.Second, Max: 2000}); err != nil { // warm up
		return err
	}
	flatMax := int(s.sz.flatFor.Seconds() * maxFlatRate)
	for _, conns := range s.sz.conns {
		if !naiveConns[conns] {
			continue
		}
		res, err := s.peerRun(ctx, url, pg.DSN, load.Plan{Conns: conns, Duration: s.sz.flatFor, Max: flatMax})
		if err != nil {
			return err
		}
		s.res.Peer.Conns = append(s.res.Peer.Conns, PeerRow{Conns: conns, Res: res})
		s.logf("   %3d conns: PostgreSQL peer %6.0f/s", conns, res.Throughput())
	}
	if s.res.Peer.Fixed, err = s.peerRun(ctx, url, pg.DSN, load.Plan{Conns: fixedConns, Rate: e2eRate, Duration: s.sz.e2eFor}); err != nil {
		return err
	}
	s.logf("   %d/s: PostgreSQL peer p99 %s", e2eRate, s.res.Peer.Fixed.Latency.Quantile(.99))
	s.res.Peer.Counts, err = peer.Count(ctx, pg.DSN)
	s.rss("PostgreSQL peer handler", proc)
	return err
}

// peerRun creates the invoices of a new corpus in the peer's database, then sends its
// callbacks under plan.
func (s *suite) peerRun(ctx context.Context, url, dsn string, plan load.Plan) (load.Result, error) {
	c, err := s.corpusFor(plan)
	if err != nil {
		return load.Result{}, err
	}
	ids := make([]string, len(c.Invoices))
	for i, inv := range c.Invoices {
		ids[i] = inv.InvoiceID
	}
	if err := peer.CreateInvoices(ctx, dsn, ids); err != nil {
		return load.Result{}, fmt.Errorf("create invoices: %w", err)
	}
	s.res.Peer.Invoices += len(ids)
	client := load.NewHTTPClient(plan.Conns)
	defer client.CloseIdleConnections()
	return load.Drive(ctx, plan, load.PostCallbacks(client, url, c.Callbacks)), nil
}
