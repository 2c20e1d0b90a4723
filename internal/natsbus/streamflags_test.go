package natsbus

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestStreamFlagsDefaultToTheConfigAndSetIt(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want StreamsConfig
	}{
		{"defaults", nil, DefaultStreamsConfig()},
		{"all set", []string{"-stream-replicas", "3", "-duplicate-window", "20m", "-stream-max-age", "48h", "-stream-max-bytes", "-1"},
			StreamsConfig{Replicas: 3, DuplicateWindow: 20 * time.Minute, MaxAge: 48 * time.Hour, MaxBytes: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultStreamsConfig()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.BindFlags(fs, "each stream")
			c.BindLimitFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Fatalf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestStreamFlagEnvNamesNameBoundFlags(t *testing.T) {
	c := DefaultStreamsConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.BindFlags(fs, "EPAY_INBOX")
	for name := range StreamFlagEnvNames {
		if fs.Lookup(name) == nil {
			t.Errorf("no flag %q", name)
		}
	}
}
