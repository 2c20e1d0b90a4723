package worker

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// watermillLogger is Watermill's slog adapter (its info lowered to debug: Watermill logs
// every handler start at info), with the level checked before a record is built.
// Watermill logs each message it receives and acks at trace level, and its adapter
// builds the record's attributes before slog finds the level off: 2% of a drain's
// allocations, for nothing (bench/NOTES.md, session 20).
type watermillLogger struct {
	watermill.LoggerAdapter
	log *slog.Logger
}

func newWatermillLogger(log *slog.Logger) watermill.LoggerAdapter {
	log = log.With("component", "watermill")
	return watermillLogger{watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	}), log}
}

func (l watermillLogger) on(level slog.Level) bool { return l.log.Enabled(context.Background(), level) }

func (l watermillLogger) Info(msg string, fields watermill.LogFields) {
	if l.on(slog.LevelDebug) {
		l.LoggerAdapter.Info(msg, fields)
	}
}

func (l watermillLogger) Debug(msg string, fields watermill.LogFields) {
	if l.on(slog.LevelDebug) {
		l.LoggerAdapter.Debug(msg, fields)
	}
}

func (l watermillLogger) Trace(msg string, fields watermill.LogFields) {
	if l.on(watermill.LevelTrace) {
		l.LoggerAdapter.Trace(msg, fields)
	}
}

func (l watermillLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return watermillLogger{l.LoggerAdapter.With(fields), l.log}
}
