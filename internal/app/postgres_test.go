package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/signal"
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
// in the database, the same on every start. Reading the keys of a
// database no server has started on creates nothing.
func TestOnPostgres(t *testing.T) {
	ctx := context.Background()
	c := cfg(t, pgSchema(t), "k1")
	c.DataDir = t.TempDir()
	if _, err := app.LoadKeys(ctx, c); !errors.Is(err, app.ErrNoDatabase) {
		t.Fatalf("LoadKeys before any start: %v, want ErrNoDatabase", err)
	}
	a, err := app.New(ctx, c, app.Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer a.Close()
	if got := status(t, a.Handler(), "k1"); got != 200 {
		t.Errorf("GET /v2/rooms: status %d, want 200", got)
	}
	keys, err := app.LoadKeys(ctx, c)
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	again, err := app.LoadKeys(ctx, c)
	if err != nil || again != keys {
		t.Errorf("keys changed between reads: %+v then %+v (%v)", keys, again, err)
	}
}

// A leave that cannot be recorded when it happens (the database does not
// answer within its deadline) is recorded later, by the node's sweep:
// the participant does not keep a max_participants slot.
func TestFailedLeaveRecordedLater(t *testing.T) {
	db := testutil.PostgresSchema(t)
	s, log := loggedServer(t, func(c *config.Config) { c.DB, c.DataDir = db, t.TempDir() })
	room := s.room(nil)
	alice := s.join(room, "alice", false, false)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE room_participants IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	// The leave message only: the answer to it waits for the record.
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := alice.Send(lctx, signal.Message{Type: signal.TypeLeave}); err != nil {
		t.Fatal(err)
	}
	// The leave's transaction waits for the lock (its first statement
	// locks the room FOR UPDATE through the participant's row), then
	// gives up at its deadline and says so. (Whether anything still waits
	// on the table tells nothing: the node's sweep queries it too, and
	// retries the leave.)
	testutil.Eventually(t, 30*time.Second, "the leave waits for the locked table", func() bool { return waitsFor(t, admin, "room_participants") })
	testutil.Eventually(t, 60*time.Second, "the leave gives up at its deadline", func() bool {
		return strings.Contains(log.String(), "record leave; it is tried again")
	})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the leave recorded by the sweep", func() bool {
		code, out := s.api("GET", "/room_participants/"+alice.ParticipantID, nil)
		return code == 200 && data(out)["left_at"] != nil
	})
	// Recorded as her own leave, not by the end of the emptied session.
	if code, out := s.api("GET", "/rooms/"+room, nil); code != 200 || data(out)["active_session_id"] == nil {
		t.Errorf("the room's session ended: %d %v", code, out)
	}
}

// The end of an emptied session that cannot be recorded when its empty
// timeout passes (the database does not answer within the deadline) is
// made later, by the node's sweep: the room does not keep a session
// nobody is in.
func TestFailedEmptyEndMadeLater(t *testing.T) {
	db := testutil.PostgresSchema(t)
	s, log := loggedServer(t, func(c *config.Config) { c.DB, c.DataDir, c.EmptyTimeout = db, t.TempDir(), 2*time.Second })
	room := s.room(nil)
	alice := s.join(room, "alice", false, false)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := alice.Leave(lctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE room_sessions IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the empty end waits for the locked table", func() bool { return waitsFor(t, admin, "room_sessions") })
	// It gives up at its deadline and says so (the sweep's own queries
	// wait on the table too, so waiting tells nothing).
	testutil.Eventually(t, 60*time.Second, "the empty end gives up at its deadline", func() bool {
		return strings.Contains(log.String(), "end empty session; it is tried again")
	})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the session ended by the sweep", func() bool {
		code, out := s.api("GET", "/rooms/"+room, nil)
		return code == 200 && data(out)["active_session_id"] == nil
	})
}

// loggedServer is newServer whose log (info and up) the test reads; it is
// shown when the test fails.
func loggedServer(t *testing.T, tweak ...func(*config.Config)) (*server, *testutil.SyncBuffer) {
	t.Helper()
	log := &testutil.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the server's log:\n%s", log.String())
		}
	})
	a := testutil.StartAppLogging(t, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})), tweak...)
	return &server{App: a, t: t}, log
}

// waitsFor reports whether a transaction waits for a lock on table (of
// conn's schema).
func waitsFor(t *testing.T, conn *pgx.Conn, table string) bool {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass`,
		table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
