// Command worker reconciles every ePay invoice exactly once in bbolt and publishes
// payment events; `worker dlq ...` lists, shows and replays poisoned messages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "dlq" {
		return exit(worker.RunDLQ(ctx, args[1:], os.Getenv, os.Stdout))
	}
	cfg, err := worker.ParseFlags("worker", args, os.Getenv)
	if err != nil {
		return exit(err)
	}
	log, err := logging.New(os.Stderr, envOr("LOG_FORMAT", "json"), envOr("LOG_LEVEL", "info"))
	if err != nil {
		return exit(fmt.Errorf("%w: %v", worker.ErrConfig, err))
	}
	return exit(worker.Run(ctx, cfg, log))
}

// exit prints one line for an error: 0 for none or -h, 2 for bad configuration, 1 otherwise.
func exit(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case worker.IsUsageError(err):
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
