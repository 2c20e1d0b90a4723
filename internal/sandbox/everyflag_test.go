package sandbox

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
)

// TestEveryFlagHasAVariable: each flag of the sandbox's serve can be set from the
// environment, and -h shows it. (The trigger's flags are its command line: an
// invoice, an amount; its URLs and keys have variables.)
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, err := ParseFlagsTo("epay-sandbox", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	clitest.EveryFlagHasAVariable(t, usage.String(), envNames, 15)
}
