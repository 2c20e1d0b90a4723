// Command initiator serves POST /v1/payments, the demo shop page and the return pages.
// Flags and their environment variables: initiator -h.
package main

import (
	"context"
	"io"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/initiator"
	"github.com/epayflow/epayflow/internal/version"
)

func main() {
	version.ExitIfAsked("initiator")
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Getenv, os.Stderr) })
}

// run returns the exit code: 0 after a clean shutdown or -h, 2 on bad configuration,
// 1 when the service fails (one line on stderr for both).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	return service.Main(ctx, args, getenv, stderr)
}

var service = cli.Service[initiator.Config]{Name: "initiator", Parse: initiator.ParseCommand, Run: initiator.Run, ConfigErr: initiator.ErrConfig}
