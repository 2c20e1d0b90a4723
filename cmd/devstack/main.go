// Command devstack runs epayflow on a laptop: embedded NATS JetStream, the ePay sandbox,
// the ingest, the worker and the initiator in one process (`make run`).
//
//	devstack            start the stack (Ctrl-C stops it)
//	devstack trigger …  send signed ePay callbacks to any URL (see -h)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "trigger" {
		return trigger(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "var", "directory for NATS and bbolt data")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	err := envflag.Parse(fs, args, getenv, map[string]string{
		"data": "DEVSTACK_DATA", "log-format": "LOG_FORMAT", "log-level": "LOG_LEVEL",
	})
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	log, err := logging.New(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "devstack:", err)
		return errUsage
	}
	return devstack.Run(ctx, devstack.Config{DataDir: *dataDir, Getenv: getenv, Out: stdout}, log)
}
