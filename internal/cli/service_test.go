package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/logging"
)

// Every service command answers the same way: 0 for a clean stop or -h, 2 and one line
// for bad configuration (including bad log flags), 1 and one line for a failure while
// running; the logger is the one the log flags describe.
func TestServiceMain(t *testing.T) {
	type cfg struct{ fail string }

	svc := Service[cfg]{Name: "svc", ConfigErr: errTestConfig,
		Parse: func(name string, args []string, getenv func(string) string, usage io.Writer) (cfg, logging.Flags, error) {
			fs := flag.NewFlagSet(name, flag.ContinueOnError)
			fs.SetOutput(usage)
			lf := logging.DefaultFlags()
			lf.Bind(fs)
			var c cfg
			fs.StringVar(&c.fail, "fail", "", "")
			if err := fs.Parse(args); err != nil {
				return c, lf, err
			}
			if c.fail == "config" {
				return c, lf, fmt.Errorf("%w: -fail: bad", errTestConfig)
			}
			return c, lf, nil
		},
		Run: func(ctx context.Context, c cfg, log *slog.Logger) error {
			log.Info("running")
			log.Debug("debug line")
			if c.fail == "run" {
				return errors.New("the store is gone")
			}
			return nil
		},
	}
	for _, c := range []struct {
		args []string
		code int
		line string
	}{
		{nil, ExitOK, ""},
		{[]string{"-h"}, ExitOK, ""},
		{[]string{"-fail", "config"}, ExitUsage, "svc: svc config: -fail: bad\n"},
		{[]string{"-log-format", "xml"}, ExitUsage, `svc: svc config: log format "xml": want json or text`},
		{[]string{"-fail", "run"}, ExitFailed, "svc: the store is gone"},
	} {
		var stderr bytes.Buffer
		code := svc.Main(context.Background(), c.args, func(string) string { return "" }, &stderr)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, stderr.String())
		}
		if c.line != "" && !strings.Contains(stderr.String(), c.line) {
			t.Errorf("%v: stderr %q, want it to say %q", c.args, stderr.String(), c.line)
		}
	}
	var stderr bytes.Buffer
	if code := svc.Main(context.Background(), []string{"-log-format", "text", "-log-level", "warn"}, func(string) string { return "" }, &stderr); code != ExitOK ||
		strings.Contains(stderr.String(), "running") {
		t.Errorf("-log-level warn: exit %d, stderr %q; want the info line filtered out", code, stderr.String())
	}
	stderr.Reset()
	if svc.Main(context.Background(), []string{"-log-format", "json"}, func(string) string { return "" }, &stderr); !strings.Contains(stderr.String(), `"msg":"running"`) {
		t.Errorf("-log-format json: stderr %q, want a JSON line", stderr.String())
	}
}
