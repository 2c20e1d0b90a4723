package logging

import (
	"flag"
	"io"
	"testing"
)

func TestBindFlagsDefaultsToTheValuesGiven(t *testing.T) {
	tests := []struct {
		name                  string
		args                  []string
		wantFormat, wantLevel string
	}{
		{"defaults", nil, "text", "warn"},
		{"set", []string{"-log-format", "json", "-log-level", "debug"}, "json", "debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format, level := "text", "warn"
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			BindFlags(fs, &format, &level)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if format != tt.wantFormat || level != tt.wantLevel {
				t.Fatalf("got %s %s, want %s %s", format, level, tt.wantFormat, tt.wantLevel)
			}
			for name := range FlagEnvNames {
				if fs.Lookup(name) == nil {
					t.Errorf("no flag %q", name)
				}
			}
		})
	}
}
