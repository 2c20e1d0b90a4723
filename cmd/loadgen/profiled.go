package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/worker"
)

// serveProfiled runs the ingest or the worker exactly as cmd/ingest and cmd/worker do
// (configuration from the environment), with a CPU profile written to path when it
// stops (path not empty): the services have no pprof endpoint, and the suite's -profile
// needs one. noChangelog runs the worker without its changelog (the suite's measure of
// what the changelog costs).
func serveProfiled(ctx context.Context, service, path string, noChangelog bool, stderr io.Writer) error {
	log, err := logging.New(stderr, envOr("LOG_FORMAT", "json"), envOr("LOG_LEVEL", "info"))
	if err != nil {
		return err
	}
	var run func() error
	switch service {
	case "ingest":
		cfg, err := ingest.ParseFlags("ingest", nil, os.Getenv)
		if err != nil {
			return err
		}
		run = func() error { return ingest.Run(ctx, cfg, log) }
	case "worker":
		cfg, err := worker.ParseFlags("worker", nil, os.Getenv)
		if err != nil {
			return err
		}
		cfg.WithoutChangelog = noChangelog
		run = func() error { return worker.Run(ctx, cfg, log) }
	default:
		return fmt.Errorf("%w: serve-profiled ingest|worker", errUsage)
	}
	if path == "" {
		return run()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return run()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
