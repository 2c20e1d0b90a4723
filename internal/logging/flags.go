package logging

import (
	"flag"
	"io"
	"log/slog"
)

// FlagEnvNames are the variables of the flags BindFlags declares, the same in every
// command.
var FlagEnvNames = map[string]string{"log-format": "LOG_FORMAT", "log-level": "LOG_LEVEL"}

// BindFlags declares -log-format and -log-level on fs, stored in *format and *level and
// defaulting to their values; New checks them.
func BindFlags(fs *flag.FlagSet, format, level *string) {
	fs.StringVar(format, "log-format", *format, "log format: json or text")
	fs.StringVar(level, "log-level", *level, "log level: debug, info, warn or error")
}

// Flags are a command's log settings (-log-format, -log-level; LOG_FORMAT, LOG_LEVEL):
// main's, for the logger it makes, never part of a service's configuration.
type Flags struct{ Format, Level string }

// DefaultFlags are JSON at info.
func DefaultFlags() Flags { return Flags{Format: "json", Level: "info"} }

// Bind declares the flags on fs, defaulting to f's values.
func (f *Flags) Bind(fs *flag.FlagSet) { BindFlags(fs, &f.Format, &f.Level) }

// New is the logger the flags describe, writing to w.
func (f Flags) New(w io.Writer) (*slog.Logger, error) { return New(w, f.Format, f.Level) }

// Check says what is wrong with the flags (nil: a logger can be made).
func (f Flags) Check() error {
	_, err := f.New(io.Discard)
	return err
}
