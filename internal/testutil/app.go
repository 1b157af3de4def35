package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/postgres"
	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// OpenStore opens a new store and closes it when the test ends, after
// the cleanups registered later: an SQLite file in the test's temp
// directory, or, with ROOMSD_TEST_STORE=postgres, a new schema of
// ROOMSD_TEST_POSTGRES_URL's database (scripts/test.sh runs the HTTP
// tests both ways).
func OpenStore(t testing.TB) store.Store {
	t.Helper()
	var (
		st  store.Store
		err error
	)
	switch os.Getenv("ROOMSD_TEST_STORE") {
	case "", "sqlite":
		st, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "roomsd.db"))
	case "postgres":
		if os.Getenv("ROOMSD_TEST_POSTGRES_URL") == "" {
			t.Fatal("ROOMSD_TEST_STORE=postgres needs ROOMSD_TEST_POSTGRES_URL")
		}
		st, err = postgres.Open(context.Background(), PostgresSchema(t))
	default:
		t.Fatalf("ROOMSD_TEST_STORE=%q: want sqlite or postgres", os.Getenv("ROOMSD_TEST_STORE"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// App is a whole roomsd (REST, signaling, media on 127.0.0.1) served by
// httptest over a SQLite file in the test's temp directory (a new
// PostgreSQL schema with ROOMSD_TEST_STORE=postgres), with the API key
// "k".
type App struct {
	*app.App
	URL string // the server's root, without /v2
	t   testing.TB
}

// StartApp starts an App, after tweak has changed its configuration, and
// stops it when the test ends. What the server logs at info and above
// (warnings and errors, with the lifecycle lines around them) is shown
// when the test fails.
func StartApp(t testing.TB, tweak ...func(*config.Config)) *App {
	t.Helper()
	var log SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) > 300 {
				lines = lines[len(lines)-300:]
			}
			t.Logf("the server's log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
		}
	})
	return StartAppLogging(t, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo})), tweak...)
}

// StartAppLogging is StartApp with the server's log going to log.
func StartAppLogging(t testing.TB, log *slog.Logger, tweak ...func(*config.Config)) *App {
	t.Helper()
	c := config.Config{Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "roomsd.db"), APIKeys: []string{"k"},
		LogFormat: "text", ShutdownTimeout: 5 * time.Second, RTCLoopback: true, EmptyTimeout: time.Minute,
		ReconnectGrace: 5 * time.Second}
	if os.Getenv("ROOMSD_TEST_STORE") == "postgres" {
		c.DB = PostgresSchema(t)
		c.DataDir = t.TempDir()
	}
	// The listener comes first: download links name its address.
	srv := httptest.NewUnstartedServer(nil)
	c.PublicURL = "http://" + srv.Listener.Addr().String()
	for _, f := range tweak {
		f(&c)
	}
	a, err := app.New(context.Background(), c, app.Options{Stdout: io.Discard, Logger: log})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	// Served as roomsd serves itself: the app's own http.Server on a
	// listener that makes net/http's error answers JSON.
	srv.Config = a.HTTPServer(context.Background())
	srv.Listener = httpx.Listener(srv.Listener)
	srv.Start()
	if err := a.StartNode(context.Background(), c.PublicURL); err != nil {
		srv.Close()
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return &App{App: a, URL: srv.URL, t: t}
}

// Call sends a request to path (e.g. "/v2/rooms") with the API key and,
// unless body is nil, body as JSON. It returns the status and the decoded
// JSON answer (nil when the answer is empty), and fails the test if the
// request fails or a non-empty answer is not a JSON object.
func (a *App) Call(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			a.t.Fatalf("%s %s: %d, answer is not a JSON object: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}
