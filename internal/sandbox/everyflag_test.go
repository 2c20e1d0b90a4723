package sandbox

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/epayflow/epayflow/internal/envflag"
)

// TestEveryFlagHasAVariable: each flag of the sandbox's serve can be set from the
// environment, and -h shows it. (The trigger's flags are its command line: an
// invoice, an amount; its URLs and keys have variables.)
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, err := ParseFlagsTo("epay-sandbox", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	flags := envflag.UsageFlags(usage.String())
	if len(flags) < 15 {
		t.Fatalf("-h shows %d flags:\n%s", len(flags), usage.String())
	}
	for name, env := range flags {
		if env == "" || env != envNames[name] {
			t.Errorf("-%s: variable %q in -h, %q in envNames; want one", name, env, envNames[name])
		}
	}
}
