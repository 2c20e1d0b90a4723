// Command webhooks delivers payment events to merchants' HTTPS endpoints, signed as
// Standard Webhooks says, and serves the API that registers them.
package main

import (
	"context"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/version"
	"github.com/epayflow/epayflow/internal/webhooks"
)

func main() {
	version.ExitIfAsked("webhooks")
	cli.Main(func(ctx context.Context) int { return service.Main(ctx, os.Args[1:], os.Getenv, os.Stderr) })
}

var service = cli.Service[webhooks.Config]{Name: "webhooks", Parse: webhooks.ParseCommand, Run: webhooks.Run, ConfigErr: webhooks.ErrConfig}
