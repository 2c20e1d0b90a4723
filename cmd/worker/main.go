// Command worker reconciles every ePay invoice exactly once in bbolt and publishes
// payment events; `worker dlq ...` lists, shows and replays poisoned messages; `worker
// compact` rewrites a stopped worker's file without its free pages; `worker
// resign-state` signs EPAY_STATE's records again with a rotated WORKER_STATUS_KEY; `worker
// streams` makes the streams and buckets as the NATS user streams (the worker's may not).
package main

import (
	"context"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/dlq"
	"github.com/epayflow/epayflow/internal/version"
	"github.com/epayflow/epayflow/internal/worker"
)

func main() {
	version.ExitIfAsked("worker", "dlq", "compact", "resign-state", "events-key", "streams")
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:]) })
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "dlq" {
		return cli.Status(os.Stderr, "worker dlq", dlq.Run(ctx, args[1:], os.Getenv, os.Stdout), dlq.ErrUsage)
	}
	if len(args) > 0 && args[0] == "compact" {
		return cli.Status(os.Stderr, "worker compact", worker.Compact(args[1:], os.Getenv, os.Stdout), worker.ErrConfig)
	}
	if len(args) > 0 && args[0] == "events-key" {
		return cli.Status(os.Stderr, "worker events-key", worker.EventsKey(args[1:], os.Getenv, os.Stdout), worker.ErrConfig)
	}
	if len(args) > 0 && args[0] == "streams" {
		return cli.Status(os.Stderr, "worker streams", worker.Streams(ctx, args[1:], os.Getenv, os.Stderr), worker.ErrConfig)
	}
	if len(args) > 0 && args[0] == "resign-state" {
		_, err := worker.ResignState(ctx, args[1:], os.Getenv, os.Stdout)
		return cli.Status(os.Stderr, "worker resign-state", err, worker.ErrConfig)
	}
	return service.Main(ctx, args, os.Getenv, os.Stderr)
}

var service = cli.Service[worker.Config]{Name: "worker", Parse: worker.ParseCommand, Run: worker.Run, ConfigErr: worker.ErrConfig}
