package worker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

// The gate drops only what the logger's level drops: Watermill's trace and debug (and
// its info, lowered to debug) pass at trace level, with their fields and those given to
// With; at info level only errors pass.
func TestWatermillLoggerKeepsTheLevelsAndFields(t *testing.T) {
	for _, tt := range []struct {
		level slog.Level
		want  []string
		not   []string
	}{
		{watermill.LevelTrace, []string{"msg=trace", "msg=debug", "msg=info", "msg=error", "uuid=u-1", "handler=h"}, nil},
		{slog.LevelDebug, []string{"msg=debug", "msg=info", "msg=error"}, []string{"msg=trace"}},
		{slog.LevelInfo, []string{"msg=error", "error=boom"}, []string{"msg=trace", "msg=debug", "msg=info"}},
	} {
		var buf bytes.Buffer
		l := newWatermillLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))).
			With(watermill.LogFields{"handler": "h"})
		fields := watermill.LogFields{"uuid": "u-1"}
		l.Trace("trace", fields)
		l.Debug("debug", fields)
		l.Info("info", fields)
		l.Error("error", errors.New("boom"), fields)
		out := buf.String()
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("level %v: %q missing from\n%s", tt.level, w, out)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(out, n) {
				t.Errorf("level %v: %q logged:\n%s", tt.level, n, out)
			}
		}
		if !strings.Contains(out, "component=watermill") {
			t.Errorf("level %v: the component is not named:\n%s", tt.level, out)
		}
	}
}

// At the worker's usual level a message's trace lines cost no allocation.
func TestWatermillLoggerTraceOffAllocatesNothing(t *testing.T) {
	var buf bytes.Buffer
	l := newWatermillLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	fields := watermill.LogFields{"message_uuid": "u-1"}
	if n := testing.AllocsPerRun(100, func() { l.Trace("Received message", fields) }); n != 0 {
		t.Fatalf("a trace line at info level: %v allocations", n)
	}
}
