// Command epay-sandbox is a local imitation of Halyk ePay (serve, the default) and a
// callback trigger (trigger). See docs/SANDBOX.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/epaytest"
	"github.com/epayflow/epayflow/internal/logging"
	"github.com/epayflow/epayflow/internal/sandbox"
	"github.com/epayflow/epayflow/internal/version"
)

func main() {
	version.ExitIfAsked("epay-sandbox", "serve", "trigger")
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr) })
}

// run dispatches the subcommand and returns the exit code: 0 ok, 1 failure, 2 bad usage.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "trigger") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "trigger" {
		return trigger(ctx, args, getenv, stdout, stderr)
	}
	return serve(ctx, args, getenv, stderr)
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := sandbox.ParseFlagsTo("epay-sandbox [serve]", args, getenv, stderr)
	if code, done := usageError(err, stderr, ""); done {
		return code
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return cli.Status(stderr, "epay-sandbox", fmt.Errorf("%w: %v", sandbox.ErrConfig, err), sandbox.ErrConfig)
	}
	if err := sandbox.Run(ctx, cfg, log); err != nil {
		if errors.Is(err, sandbox.ErrConfig) { // a listen address that cannot be taken: one line, exit 2
			return cli.Status(stderr, "epay-sandbox", err, sandbox.ErrConfig)
		}
		log.Error("epay-sandbox stopped", "error", err)
		return cli.ExitFailed
	}
	return cli.ExitOK
}

func trigger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts, err := epaytest.ParseTriggerFlags("epay-sandbox trigger", args, getenv)
	if code, done := usageError(err, stderr, ""); done {
		return code
	}
	res, err := epaytest.Trigger(ctx, opts)
	res.WriteReport(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "epay-sandbox trigger:", err)
		return 1
	}
	if res.Unexpected() > 0 {
		return 1
	}
	return 0
}

// usageError turns a flag parsing result into an exit: 0 after -h (with hint, if any),
// 2 with one line on a bad configuration; done is false when err is nil.
func usageError(err error, stderr io.Writer, hint string) (code int, done bool) {
	if err == nil {
		return cli.ExitOK, false
	}
	if errors.Is(err, flag.ErrHelp) && hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return cli.Status(stderr, "epay-sandbox", err, sandbox.ErrConfig, epaytest.ErrTriggerOptions), true
}
