// Package pionlog sends pion's log lines through roomsd's slog logger, so
// that they take the server's format (text or JSON) and level. pion's
// chatty Info becomes Debug; its warnings and errors stay what they are.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// Factory makes pion loggers that write to a slog logger, with the pion
// scope (ice, dtls, sctp, …) as the "pion" attribute.
type Factory struct{ Log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return leveled{log: f.Log.With("pion", scope)}
}

type leveled struct{ log *slog.Logger }

// routine are pion warnings about what happens in every healthy
// connection, told at Debug: checks that start before the client's
// trickled candidates come (every connection the server offers), and a
// report on a stream whose first packet has not come yet.
var routine = []string{
	"Failed to ping without candidate pairs",
	"Incoming unhandled RTCP ssrc(%d), OnTrack will not be fired",
}

// warnLevel is the level of a pion warning (its message or format).
func warnLevel(msg string) slog.Level {
	for _, r := range routine {
		if strings.HasPrefix(msg, r) {
			return slog.LevelDebug
		}
	}
	return slog.LevelWarn
}

func (l leveled) at(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

// atf formats only when the level is on: pion passes its own live objects
// to its debug lines, and formatting them when nobody reads the line
// would read them while pion's other goroutines change them.
func (l leveled) atf(level slog.Level, format string, args []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l leveled) Trace(msg string)                  { l.at(slog.LevelDebug-4, msg) }
func (l leveled) Tracef(format string, args ...any) { l.atf(slog.LevelDebug-4, format, args) }
func (l leveled) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l leveled) Debugf(format string, args ...any) { l.atf(slog.LevelDebug, format, args) }
func (l leveled) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l leveled) Infof(format string, args ...any)  { l.atf(slog.LevelDebug, format, args) }
func (l leveled) Warn(msg string)                   { l.at(warnLevel(msg), msg) }
func (l leveled) Warnf(format string, args ...any)  { l.atf(warnLevel(format), format, args) }
func (l leveled) Error(msg string)                  { l.at(slog.LevelError, msg) }
func (l leveled) Errorf(format string, args ...any) { l.atf(slog.LevelError, format, args) }
