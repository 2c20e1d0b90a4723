// Command healthcheck asks a URL and exits 0 when it answers 2xx, 1 otherwise: the
// container health check of the image, which has no shell, curl or wget
// (deploy/compose/compose.yaml runs `healthcheck http://127.0.0.1:8081/readyz`).
//
//	healthcheck [-timeout 3s] URL
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/epayflow/epayflow/internal/cli"
	"github.com/epayflow/epayflow/internal/version"
)

func main() {
	version.ExitIfAsked("healthcheck")
	cli.Main(func(ctx context.Context) int {
		return cli.Status(os.Stderr, "healthcheck", run(ctx, os.Args[1:], os.Stdout, os.Stderr), errUsage)
	})
}

var errUsage = errors.New("usage")

// run asks the URL of args once and returns nil for a 2xx answer.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: healthcheck [-timeout 3s] URL   (exit 0 when URL answers 2xx, 1 otherwise)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want one URL, as in healthcheck http://127.0.0.1:8081/readyz", errUsage)
	}
	target := fs.Arg(0)
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q is not an http(s) URL", errUsage, target)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: -timeout %s: want more than 0", errUsage, *timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s %s", target, resp.Status, text)
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, resp.Status)
	return nil
}
