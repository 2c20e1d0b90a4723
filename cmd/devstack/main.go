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

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/devstack"
	"github.com/epayflow/epayflow/internal/envflag"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/version"
)

func main() {
	version.ExitIfAsked("devstack", "trigger")
	cli.Main(func(ctx context.Context) int {
		err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		if errors.Is(err, errUsage) {
			return cli.ExitUsage // run has printed why
		}
		return cli.Status(os.Stderr, "devstack", err)
	})
}

// errUsage is returned for a bad command line once its message is printed.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "trigger" {
		return trigger(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "var", "directory for NATS and bbolt data")
	logFormat, logLevel := "text", "warn"
	logging.BindFlags(fs, &logFormat, &logLevel)
	err := envflag.Parse(fs, args, getenv, envflag.Merge(logging.FlagEnvNames, map[string]string{"data": "DEVSTACK_DATA"}))
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	log, err := logging.New(stderr, logFormat, logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "devstack:", err)
		return errUsage
	}
	return devstack.Run(ctx, devstack.Config{DataDir: *dataDir, Getenv: getenv, Out: stdout}, log)
}
