package pionlog_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/pionlog"
	"github.com/roomsd/roomsd/internal/testutil"
)

// pion's lines come out in roomsd's format with their scope; its Info is
// Debug, so an info-level server shows only its warnings and errors.
func TestLinesTakeTheServersFormat(t *testing.T) {
	buf := &testutil.SyncBuffer{}
	f := pionlog.Factory{Log: slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l := f.NewLogger("ice")
	l.Infof("checking %d pairs", 3)
	l.Debug("details")
	l.Warnf("pair %s failed", "a")
	l.Warn("Failed to ping without candidate pairs. Connection is not possible yet.")
	l.Warnf("Incoming unhandled RTCP ssrc(%d), OnTrack will not be fired", 42)
	l.Error("gone")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q; want the warning and the error only", lines)
	}
	for i, want := range []struct{ level, msg string }{{"WARN", "pair a failed"}, {"ERROR", "gone"}} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", lines[i], err)
		}
		if m["level"] != want.level || m["msg"] != want.msg || m["pion"] != "ice" {
			t.Errorf("line %d: %v; want %s %q with pion=ice", i, m, want.level, want.msg)
		}
	}
}
