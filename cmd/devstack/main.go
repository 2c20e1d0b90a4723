// Command devstack runs epayflow on a laptop: embedded NATS JetStream, the ePay sandbox,
// the ingest, the worker, the initiator and the webhooks service in one process (`make run`).
//
//	devstack            start the stack (Ctrl-C stops it); -h lists its flags and variables
//	devstack trigger …  send signed ePay callbacks to any URL (see -h)
//
// Its addresses are the services' own variables (INITIATOR_ADDR, INGEST_ADDR,
// WORKER_ADDR, SANDBOX_ADDR, WEBHOOKS_ADDR) and NATS_ADDR: `make run INITIATOR_ADDR=127.0.0.1:18080`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/devstack"
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
		return cli.Status(os.Stderr, "devstack", err, devstack.ConfigErrors...)
	})
}

// errUsage is returned for a bad command line once its message is printed.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "trigger" {
		return trigger(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := devstack.ParseFlags("devstack", args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("%w: %v", devstack.ErrConfig, err)
	}
	cfg.Out = stdout
	return devstack.Run(ctx, cfg, log)
}
