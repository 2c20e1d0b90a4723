// Command ingest takes ePay's postLink and failurePostLink callbacks, verifies their
// secret_hash and stores them on NATS JetStream (EPAY_INBOX), answering 200 only once
// they are stored. `ingest sign <terminal> <invoiceId>` prints the secret_hash of an
// invoice for EPAY_SECRET_KEYS, to sign a hand-made callback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/epay"
	"github.com/epayflow/epayflow/internal/ingest"
	"github.com/epayflow/epayflow/internal/version"
)

func main() {
	version.ExitIfAsked("ingest", "sign")
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr) })
}

// run is the whole command; it returns the exit status: 0, 1 when it failed while
// running, 2 for bad configuration or usage (one line on stderr).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sign" {
		return exit(stderr, sign(args[1:], getenv, stdout, stderr))
	}
	return service.Main(ctx, args, getenv, stderr)
}

var service = cli.Service[ingest.Config]{Name: "ingest", Parse: ingest.ParseCommand, Run: ingest.Run, ConfigErr: ingest.ErrConfig}

// errUsage is wrapped by the errors of a command line that makes no sense.
var errUsage = errors.New("usage")

// sign prints the secret_hash of terminal and invoiceId, signed by the first key.
func sign(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ingest sign [-secret-keys KID:secret,...] <terminal> <invoiceId>   (keys default to EPAY_SECRET_KEYS)")
	}
	keys := fs.String("secret-keys", getenv("EPAY_SECRET_KEYS"), "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: ingest sign <terminal> <invoiceId>", errUsage)
	}
	terminal, invoiceID := fs.Arg(0), fs.Arg(1)
	if *keys == "" {
		return fmt.Errorf("%w: EPAY_SECRET_KEYS (or -secret-keys) is required to sign", ingest.ErrConfig)
	}
	ring, err := epay.ParseKeyring(*keys)
	if err != nil {
		return fmt.Errorf("%w: EPAY_SECRET_KEYS: %v", ingest.ErrConfig, err)
	}
	if terminal == "" {
		return fmt.Errorf("%w: terminal is empty", errUsage)
	}
	if err := epay.ValidateInvoiceID(invoiceID); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	_, err = fmt.Fprintln(stdout, ring.Sign(terminal, invoiceID))
	return err
}

// exit prints one line for an error and returns the exit status.
func exit(stderr io.Writer, err error) int {
	return cli.Status(stderr, "ingest", err, ingest.ErrConfig, errUsage)
}
