// Command initiator serves POST /v1/payments, the demo shop page and the return pages.
// Flags and their environment variables: initiator -h.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/version"
)

func main() {
	version.ExitIfAsked("initiator")
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Getenv, os.Stderr) })
}

// run returns the exit code: 0 after a clean shutdown or -h, 2 on bad configuration,
// 1 when the service fails.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := initiator.ParseFlagsTo("initiator", args, getenv, stderr)
	if err != nil {
		return cli.Status(stderr, "initiator", err, initiator.ErrConfig)
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return cli.Status(stderr, "initiator", fmt.Errorf("%w: %v", initiator.ErrConfig, err), initiator.ErrConfig)
	}
	if err := initiator.Run(ctx, cfg, log); err != nil {
		if errors.Is(err, initiator.ErrConfig) { // a listen address that cannot be taken: one line, exit 2
			return cli.Status(stderr, "initiator", err, initiator.ErrConfig)
		}
		log.Error("initiator stopped", "err", err)
		return cli.ExitFailed
	}
	return cli.ExitOK
}
