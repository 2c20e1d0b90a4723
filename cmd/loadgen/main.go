// Command loadgen drives the ingest with valid signed ePay callbacks and measures it,
// and runs the benchmark suite (`make bench`).
//
//	loadgen run -url http://127.0.0.1:8081 -conns 64 -duration 10s          flat out
//	loadgen run -url http://127.0.0.1:8081 -rate 2000 -duration 10s         fixed rate (open loop)
//	loadgen suite [-quick] [-out docs/BENCHMARKS.md]                        the whole suite
//	loadgen suite -quick -profile DIR                                       the same with CPU profiles of the services
//	loadgen plain-http -addr A | pipeline -addr A -nats-url U -db F         baseline servers (the suite starts them)
//	loadgen naive-http -addr A -nats-url U                                  the naive HTTP-to-JetStream handler (a baseline)
//	loadgen pg-peer -addr A -dsn DSN -secret-keys K                         callbacks into PostgreSQL (the peer; the suite starts it)
//	loadgen serve-profiled [-cpuprofile F] [-no-changelog] ingest|worker    a service with a CPU profile (the suite starts it)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/epayflow/epayflow/bench/baseline"
	"github.com/epayflow/epayflow/bench/load"
	"github.com/epayflow/epayflow/bench/peer"
	"github.com/epayflow/epayflow/bench/suite"
	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/version"
)

func main() {
	version.ExitIfAsked("loadgen", "run", "suite", "plain-http", "naive-http", "pipeline", "pg-peer", "serve-profiled")
	cli.Main(func(ctx context.Context) int {
		return cli.Status(os.Stderr, "loadgen", run(ctx, os.Args[1:], os.Stdout, os.Stderr), errUsage)
	})
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: loadgen run|suite|plain-http|naive-http|pipeline|pg-peer [flags]", errUsage)
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("loadgen "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	parse := func() error {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return nil
	}
	switch cmd {
	case "run":
		return runLoad(ctx, fs, parse, stdout)
	case "suite":
		return runSuite(ctx, fs, parse, stderr)
	case "plain-http":
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		if err := parse(); err != nil {
			return err
		}
		return baseline.PlainHTTP(ctx, *addr, nil)
	case "naive-http":
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server")
		if err := parse(); err != nil {
			return err
		}
		return baseline.Naive(ctx, *addr, *natsURL, nil)
	case "pg-peer":
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		dsn := fs.String("dsn", "", "PostgreSQL connection string")
		pool := fs.Int("pool", 64, "connections to PostgreSQL")
		keys := fs.String("secret-keys", os.Getenv("EPAY_SECRET_KEYS"), "keys that verify secret_hash, KID:secret,... (EPAY_SECRET_KEYS)")
		if err := parse(); err != nil {
			return err
		}
		ring, err := epay.ParseKeyring(*keys)
		if err != nil {
			return fmt.Errorf("%w: -secret-keys (EPAY_SECRET_KEYS): %v", errUsage, err)
		}
		return peer.Serve(ctx, *addr, *dsn, *pool, ring, nil)
	case "serve-profiled":
		out := fs.String("cpuprofile", "", "CPU profile written when the service stops (none when empty)")
		noChangelog := fs.Bool("no-changelog", false, "worker: apply without the changelog (EPAY_STATE), to measure its cost")
		if err := parse(); err != nil {
			return err
		}
		return serveProfiled(ctx, fs.Arg(0), *out, *noChangelog, stderr)
	case "pipeline":
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server")
		db := fs.String("db", "pipeline.db", "bbolt file")
		if err := parse(); err != nil {
			return err
		}
		return baseline.Pipeline(ctx, *addr, *natsURL, *db, nil)
	}
	return fmt.Errorf("%w: unknown command %q: want run, suite, plain-http, naive-http, pipeline or pg-peer", errUsage, cmd)
}

func runSuite(ctx context.Context, fs *flag.FlagSet, parse func() error, stderr io.Writer) error {
	quick := fs.Bool("quick", false, "smaller counts and shorter loads (a few minutes), no 1M-invoice row")
	out := fs.String("out", "docs/BENCHMARKS.md", "where the Markdown report goes")
	dir := fs.String("dir", "", "scratch directory (default: a new temporary one, removed at the end)")
	notes := fs.String("notes", "bench/NOTES.md", "hand-written analysis appended to the report (skipped when missing)")
	profile := fs.String("profile", "", "run the services with CPU profiling, profiles into this directory")
	only := fs.String("phases", "", "run only these phases, comma-separated (names as the progress shows them, e.g. \"worker drain\"), and write no report")
	if err := parse(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	scratch := *dir
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "epayflow-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(scratch)
	}
	var phases []string
	if *only != "" {
		phases = strings.Split(*only, ",")
	}
	command := "loadgen suite"
	if *quick {
		command += " -quick"
	}
	return suite.Run(ctx, suite.Config{Quick: *quick, Dir: scratch, Out: filepath.Clean(*out), Self: self,
		Command: command, Notes: *notes, Log: stderr, ProfileDir: *profile, Phases: phases})
}

func runLoad(ctx context.Context, fs *flag.FlagSet, parse func() error, stdout io.Writer) error {
	url := fs.String("url", "http://127.0.0.1:8081", "base URL of the ingest")
	conns := fs.Int("conns", 64, "concurrent connections")
	rate := fs.Float64("rate", 0, "callbacks per second, open loop (0: flat out)")
	dur := fs.Duration("duration", 10*time.Second, "how long to send")
	n := fs.Int("n", 100_000, "at most this many callbacks")
	dup := fs.Float64("duplicates", 0.1, "share of callbacks that resend an earlier one")
	fail := fs.Float64("failures", 0.1, "share of invoices whose callback is a failure")
	first := fs.Int64("first-invoice", time.Now().Unix()%1_000_000*1_000_000, "first invoiceId (distinct runs need distinct ranges)")
	keys := fs.String("secret-keys", os.Getenv("EPAY_SECRET_KEYS"), "signing keys KID:secret,... (EPAY_SECRET_KEYS); the first signs")
	if err := parse(); err != nil {
		return err
	}
	ring, err := epay.ParseKeyring(*keys)
	if err != nil {
		return fmt.Errorf("%w: -secret-keys (EPAY_SECRET_KEYS): %v", errUsage, err)
	}
	plan := load.Plan{Conns: *conns, Rate: *rate, Duration: *dur, Max: *n}
	size := *n
	if *rate > 0 {
		size = min(size, int(*rate*dur.Seconds())+1)
	}
	c, err := load.NewCorpus(load.CorpusConfig{Keys: ring, FirstInvoice: *first, Callbacks: size, DuplicateShare: *dup, FailureShare: *fail, Seed: 1})
	if err != nil {
		return err
	}
	client := load.NewHTTPClient(*conns)
	res := load.Drive(ctx, plan, load.PostCallbacks(client, strings.TrimSuffix(*url, "/"), c.Callbacks))
	lat := res.Latency
	fmt.Fprintf(stdout, "%d requests in %s: %.0f/s; statuses %v; errors %d (first: %s); late starts %d\n",
		res.Requests, res.Elapsed.Round(time.Millisecond), res.Throughput(), res.Status, res.Errors, res.FirstErr, res.Late)
	fmt.Fprintf(stdout, "latency p50 %s p90 %s p99 %s p99.9 %s max %s (body %d bytes)\n",
		lat.Quantile(.5), lat.Quantile(.9), lat.Quantile(.99), lat.Quantile(.999), lat.Max(), c.MeanBodySize())
	return nil
}
