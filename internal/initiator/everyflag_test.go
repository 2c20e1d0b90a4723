package initiator

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
)

// TestEveryFlagHasAVariable: each flag of the initiator can be set from the
// environment, as a Kubernetes or compose deployment does, and -h shows it.
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, err := parseFlags("initiator", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	clitest.EveryFlagHasAVariable(t, usage.String(), envNames, 20)
}
