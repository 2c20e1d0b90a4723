package envflag_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epayflow/epayflow/internal/envflag"
)

// numberFlags is a flag set with a flag of each of the flag package's number types.
func numberFlags() (*flag.FlagSet, map[string]string) {
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("shards", 16, "")
	fs.Uint64("deliveries", 10, "")
	fs.Float64("rate", 0, "")
	fs.Duration("timeout", 0, "")
	fs.Bool("verbose", false, "")
	fs.String("addr", "", "")
	return fs, map[string]string{"shards": "EPAY_SHARDS", "deliveries": "SVC_DELIVERIES", "rate": "SVC_RATE",
		"timeout": "SVC_TIMEOUT", "verbose": "SVC_VERBOSE", "addr": "SVC_ADDR"}
}

// TestBadValueSaysWhichVariableAndWhatIsWrong: EPAY_SHARDS=abc is "EPAY_SHARDS: "abc" is
// not an integer", not the flag package's bare "parse error"; the same for a flag.
func TestBadValueSaysWhichVariableAndWhatIsWrong(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"int variable", nil, map[string]string{"EPAY_SHARDS": "abc"}, `EPAY_SHARDS: "abc" is not an integer`},
		{"int out of range", nil, map[string]string{"EPAY_SHARDS": "99999999999999999999"}, `EPAY_SHARDS: "99999999999999999999" is out of range: want an integer`},
		{"uint variable", nil, map[string]string{"SVC_DELIVERIES": "-1"}, `SVC_DELIVERIES: "-1" is not a whole number (0 or more)`},
		{"float variable", nil, map[string]string{"SVC_RATE": "fast"}, `SVC_RATE: "fast" is not a number`},
		{"duration variable", nil, map[string]string{"SVC_TIMEOUT": "10"}, `SVC_TIMEOUT: "10" is not a duration such as 500ms, 30s, 5m or 1h30m`},
		{"bool variable", nil, map[string]string{"SVC_VERBOSE": "yes"}, `SVC_VERBOSE: "yes" is not true or false`},
		{"int flag", []string{"-shards", "abc"}, nil, `-shards "abc" is not an integer`},
		{"int flag with =", []string{"-shards="}, nil, `-shards "" is not an integer`},
		{"duration flag", []string{"-timeout=soon"}, nil, `-timeout "soon" is not a duration`},
		{"bool flag", []string{"-verbose=yes"}, nil, `-verbose "yes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, names := numberFlags()
			err := envflag.ParseCommand(fs, tt.args, envOf(tt.env), names, errTestConfig)
			if !errors.Is(err, errTestConfig) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "parse error") {
				t.Fatalf("err %v, want one wrapping errTestConfig with %q", err, tt.want)
			}
		})
	}
}

// TestBadValueFromAFileIsNotQuoted: a value read from X_FILE may be a secret put in
// the wrong file: the error says what is wrong without it.
func TestBadValueFromAFileIsNotQuoted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "shards")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, names := numberFlags()
	err := envflag.Parse(fs, nil, envOf(map[string]string{"EPAY_SHARDS_FILE": file}), names)
	if err == nil || err.Error() != "EPAY_SHARDS_FILE: the file's value is not an integer" {
		t.Fatalf("err %v", err)
	}
}

// TestHelpWordAndSubcommands: `svc help` is `svc -h`; the usage lists the subcommands,
// and a stray argument's error names them.
func TestHelpWordAndSubcommands(t *testing.T) {
	subs := []envflag.Subcommand{{Usage: "svc sign <terminal> <invoiceId>", Doc: "print a secret_hash"},
		{Usage: "svc dlq list|show|replay", Doc: "the dead letters"}}
	for _, args := range [][]string{{"help"}, {"-h"}, {"-help"}, {"--help"}} {
		var s settings
		var out bytes.Buffer
		fs, names := newFlags(&s, &out)
		if err := envflag.ParseCommand(fs, args, envOf(nil), names, errTestConfig, subs...); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v: err %v, want flag.ErrHelp", args, err)
		}
		for _, want := range []string{"Usage of svc:", "-addr string  (env SVC_ADDR)", "Subcommands (each has its own -h):",
			"  svc sign <terminal> <invoiceId>\n    \tprint a secret_hash", "  svc dlq list|show|replay\n"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: usage lacks %q:\n%s", args, want, out.String())
			}
		}
	}
	var s settings
	fs, names := newFlags(&s, io.Discard)
	err := envflag.ParseCommand(fs, []string{"sing"}, envOf(nil), names, errTestConfig, subs...)
	want := `unexpected argument "sing": the subcommands are sign and dlq (svc -h lists the flags and subcommands)`
	if !errors.Is(err, errTestConfig) || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("err %v, want %q", err, want)
	}
}

func TestMissingNamesEverySetting(t *testing.T) {
	for names, want := range map[string]string{
		"":      "",
		"A":     "A is required",
		"A B":   "A and B are required",
		"A B C": "A, B and C are required",
	} {
		if got := envflag.Missing(strings.Fields(names)); got != want {
			t.Errorf("Missing(%s) = %q, want %q", names, got, want)
		}
	}
}

func TestUsageFlagsReadsBackEveryFlagAndItsVariable(t *testing.T) {
	var s settings
	var out bytes.Buffer
	fs, names := newFlags(&s, &out)
	fs.Int("no-variable", 0, "a flag without a variable\nover two lines")
	envflag.ParseCommand(fs, []string{"-h"}, envOf(nil), names, errTestConfig, envflag.Subcommand{Usage: "svc sub", Doc: "d"})
	got := envflag.UsageFlags(out.String())
	want := map[string]string{"addr": "SVC_ADDR", "timeout": "SVC_TIMEOUT", "verbose": "SVC_VERBOSE", "no-variable": ""}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}
