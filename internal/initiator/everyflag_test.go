package initiator

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/epayflow/epayflow/internal/envflag"
)

// TestEveryFlagHasAVariable: each flag of the initiator can be set from the
// environment, as a Kubernetes or compose deployment does, and -h shows it.
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, err := parseFlags("initiator", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	flags := envflag.UsageFlags(usage.String())
	if len(flags) < 20 {
		t.Fatalf("-h shows %d flags:\n%s", len(flags), usage.String())
	}
	for name, env := range flags {
		if env == "" || env != envNames[name] {
			t.Errorf("-%s: variable %q in -h, %q in envNames; want one", name, env, envNames[name])
		}
	}
}
