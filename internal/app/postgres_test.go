package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/testutil"
)

// An unreachable PostgreSQL server fails the start with a message that
// names the database but not its password.
func TestPostgresUnreachable(t *testing.T) {
	c := cfg(t, "postgres://roomsd:s3cret@127.0.0.1:1/roomsd?connect_timeout=5")
	c.DataDir = t.TempDir()
	_, err := app.New(context.Background(), c, app.Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "open database postgres://roomsd:xxxxx@127.0.0.1:1/roomsd") ||
		strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable postgres: %v", err)
	}
}

func pgSchema(t *testing.T) string { return testutil.PostgresSchema(t) }

// A server on PostgreSQL: it starts, serves the API, and keeps its keys
// in the database, the same on every start.
func TestOnPostgres(t *testing.T) {
	ctx := context.Background()
	c := cfg(t, pgSchema(t), "k1")
	c.DataDir = t.TempDir()
	keys, err := app.LoadKeys(ctx, c)
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	a, err := app.New(ctx, c, app.Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer a.Close()
	if got := status(t, a.Handler(), "k1"); got != 200 {
		t.Errorf("GET /v2/rooms: status %d, want 200", got)
	}
	again, err := app.LoadKeys(ctx, c)
	if err != nil || again != keys {
		t.Errorf("keys changed between starts: %+v then %+v (%v)", keys, again, err)
	}
}
