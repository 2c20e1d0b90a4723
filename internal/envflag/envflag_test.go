package envflag_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/epayflow/epayflow/internal/envflag"
)

var errTestConfig = errors.New("test config")

type settings struct {
	addr    string
	timeout time.Duration
	verbose bool
}

// newFlags returns a flag set with three flags bound to s, and their variables.
func newFlags(s *settings, out io.Writer) (*flag.FlagSet, map[string]string) {
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&s.addr, "addr", ":8080", "listen address")
	fs.DurationVar(&s.timeout, "timeout", 5*time.Second, "timeout of a request")
	fs.BoolVar(&s.verbose, "verbose", false, "say more")
	return fs, map[string]string{"addr": "SVC_ADDR", "timeout": "SVC_TIMEOUT", "verbose": "SVC_VERBOSE"}
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlagWinsOverItsVariableAndVariableOverDefault(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want settings
	}{
		{"defaults", nil, nil, settings{":8080", 5 * time.Second, false}},
		{"variable over default", nil, map[string]string{"SVC_ADDR": ":9000", "SVC_VERBOSE": "true"}, settings{":9000", 5 * time.Second, true}},
		{"flag over variable", []string{"-addr", ":9100"}, map[string]string{"SVC_ADDR": ":9000"}, settings{":9100", 5 * time.Second, false}},
		{"flag and variable of different flags", []string{"-timeout", "1s"}, map[string]string{"SVC_ADDR": ":9000"}, settings{":9000", time.Second, false}},
		{"empty variable is unset", nil, map[string]string{"SVC_ADDR": ""}, settings{":8080", 5 * time.Second, false}},
		{"flag false over variable true", []string{"-verbose=false"}, map[string]string{"SVC_VERBOSE": "true"}, settings{":8080", 5 * time.Second, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got settings
			fs, names := newFlags(&got, io.Discard)
			if err := envflag.Parse(fs, tt.args, envOf(tt.env), names); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseBadVariableValueNamesTheVariable(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		want string
	}{
		"duration": {map[string]string{"SVC_TIMEOUT": "soon"}, "SVC_TIMEOUT"},
		"bool":     {map[string]string{"SVC_VERBOSE": "maybe"}, "SVC_VERBOSE"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var s settings
			fs, names := newFlags(&s, io.Discard)
			err := envflag.Parse(fs, nil, envOf(tt.env), names)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want+": ") {
				t.Fatalf("err %v, want one starting with %q", err, tt.want)
			}
		})
	}
}

func TestParseRefusesAVariableForAnUnknownFlag(t *testing.T) {
	var s settings
	fs, names := newFlags(&s, io.Discard)
	names["port"] = "SVC_PORT"
	if err := envflag.Parse(fs, nil, envOf(nil), names); err == nil || !strings.Contains(err.Error(), "SVC_PORT") {
		t.Fatalf("err %v, want one naming SVC_PORT", err)
	}
}

func TestHelpListsEachFlagWithItsVariable(t *testing.T) {
	var s settings
	var out bytes.Buffer
	fs, names := newFlags(&s, &out)
	if err := envflag.ParseCommand(fs, []string{"-h"}, envOf(nil), names, errTestConfig); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage of svc:", "-addr string  (env SVC_ADDR)", `(default ":8080")`,
		"-timeout duration  (env SVC_TIMEOUT)", "-verbose  (env SVC_VERBOSE)", "say more"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseCommandErrorsAreOneLineWrappingTheSentinel(t *testing.T) {
	tests := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"unknown flag":        {[]string{"-port", "1"}, nil, "flag provided but not defined: -port"},
		"bad flag value":      {[]string{"-timeout", "soon"}, nil, "-timeout"},
		"bad variable value":  {nil, map[string]string{"SVC_TIMEOUT": "soon"}, "SVC_TIMEOUT"},
		"stray argument":      {[]string{"serve"}, nil, `unexpected argument "serve"`},
		"argument after flag": {[]string{"-addr", ":1", "x"}, nil, `unexpected argument "x"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var s settings
			var out bytes.Buffer
			fs, names := newFlags(&s, &out)
			err := envflag.ParseCommand(fs, tt.args, envOf(tt.env), names, errTestConfig)
			if !errors.Is(err, errTestConfig) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line wrapping errTestConfig and mentioning %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q, want nothing (the caller prints the one line)", out.String())
			}
		})
	}
}

func TestParseCommandKeepsTheOutput(t *testing.T) {
	var s settings
	var out bytes.Buffer
	fs, names := newFlags(&s, &out)
	if err := envflag.ParseCommand(fs, []string{"-addr", ":1"}, envOf(nil), names, errTestConfig); err != nil {
		t.Fatal(err)
	}
	if fs.Output() != &out {
		t.Fatal("the flag set's output is not restored")
	}
}

func TestMergeJoinsSetsLaterWinning(t *testing.T) {
	got := envflag.Merge(map[string]string{"a": "A", "b": "B"}, nil, map[string]string{"b": "B2", "c": "C"})
	if len(got) != 3 || got["a"] != "A" || got["b"] != "B2" || got["c"] != "C" {
		t.Fatalf("got %v", got)
	}
}
