// Command worker reconciles every ePay invoice exactly once in bbolt and publishes
// payment events; `worker dlq ...` lists, shows and replays poisoned messages.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/dlq"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/version"
	"github.com/epayflow/epayflow/internal/worker"
)

func main() {
	version.ExitIfAsked("worker", "dlq")
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:]) })
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "dlq" {
		return cli.Status(os.Stderr, "worker dlq", dlq.Run(ctx, args[1:], os.Getenv, os.Stdout), dlq.ErrUsage)
	}
	cfg, err := worker.ParseFlags("worker", args, os.Getenv)
	if err != nil {
		return exit(err)
	}
	log, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return exit(fmt.Errorf("%w: %v", worker.ErrConfig, err))
	}
	return exit(worker.Run(ctx, cfg, log))
}

// exit prints one line for an error: 0 for none or -h, 2 for bad configuration, 1 otherwise.
func exit(err error) int { return cli.Status(os.Stderr, "worker", err, worker.ErrConfig) }
