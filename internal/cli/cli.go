package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit statuses of every command.
const (
	ExitOK     = 0 // done, stopped cleanly, or -h
	ExitFailed = 1 // failed while running
	ExitUsage  = 2 // bad configuration or command line
)

// Main runs run with a context that SIGINT and SIGTERM cancel, then exits the process
// with the status run returns. It is the whole of a command's func main.
func Main(run func(ctx context.Context) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

// Status returns the exit status for err and prints a failure as one line on stderr:
// ExitOK, printing nothing, for nil and flag.ErrHelp (the usage is already printed);
// ExitUsage when err wraps one of usage (the command's config sentinels); ExitFailed
// otherwise. The line is "name: err", or err alone when it already starts with "name: ".
func Status(stderr io.Writer, name string, err error, usage ...error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	line := err.Error()
	if !strings.HasPrefix(line, name+": ") {
		line = name + ": " + line
	}
	fmt.Fprintln(stderr, line)
	for _, u := range usage {
		if errors.Is(err, u) {
			return ExitUsage
		}
	}
	return ExitFailed
}
