package webhooks

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/epayflow/epayflow/internal/cli/clitest"
)

// Each flag can be set from the environment, as a deployment does, and -h shows it.
func TestEveryFlagHasAVariable(t *testing.T) {
	var usage bytes.Buffer
	if _, _, err := ParseCommand("webhooks", []string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	clitest.EveryFlagHasAVariable(t, usage.String(), envNames, 12)
}
