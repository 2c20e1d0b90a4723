package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/epayflow/epayflow/internal/logging"
)

// Service is the shape of every epayflow service command (ingest, initiator, worker):
// parse the command line and the environment (a flag wins over its variable), make the
// logger the log flags describe, and run until ctx ends. It answers with the exit
// status: 0 after a clean stop or -h, 2 with one line for bad configuration (an error
// wrapping ConfigErr), 1 with one line for a failure while running.
type Service[C any] struct {
	Name string
	// Parse reads the configuration and the log flags; -h prints to usage and returns
	// flag.ErrHelp.
	Parse func(name string, args []string, getenv func(string) string, usage io.Writer) (C, logging.Flags, error)
	// Run runs the service until ctx ends.
	Run       func(ctx context.Context, cfg C, log *slog.Logger) error
	ConfigErr error
}

// Main runs the service with args and getenv, writing the usage, the log and the
// failure line to stderr, and returns the exit status.
func (s Service[C]) Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, lf, err := s.Parse(s.Name, args, getenv, stderr)
	if err != nil {
		return Status(stderr, s.Name, err, s.ConfigErr)
	}
	log, err := lf.New(stderr)
	if err != nil {
		return Status(stderr, s.Name, fmt.Errorf("%w: %v", s.ConfigErr, err), s.ConfigErr)
	}
	return Status(stderr, s.Name, s.Run(ctx, cfg, log), s.ConfigErr)
}
