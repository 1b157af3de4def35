package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/app"
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

// pgSchema returns the URL of ROOMSD_TEST_POSTGRES_URL's database with
// search_path set to a new schema, dropped when the test ends; without
// the variable the test skips.
func pgSchema(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	base := os.Getenv("ROOMSD_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("ROOMSD_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL to run the tests on PostgreSQL")
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "roomsd_app_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

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
