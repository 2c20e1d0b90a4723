// Command initiator serves POST /v1/payments, the demo shop page and the return pages.
// Flags and their environment variables: initiator -h.
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

	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

// run returns the exit code: 0 after a clean shutdown or -h, 2 on bad configuration,
// 1 when the service fails.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := initiator.ParseFlags("initiator", args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err) // already "initiator: invalid config: ..."
		return 2
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "initiator:", err)
		return 2
	}
	if err := initiator.Run(ctx, cfg, log); err != nil {
		log.Error("initiator stopped", "err", err)
		return 1
	}
	return 0
}
