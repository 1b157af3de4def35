package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

func cfg(t *testing.T, db string, keys ...string) config.Config {
	t.Helper()
	return config.Config{Addr: "127.0.0.1:0", DB: db, APIKeys: keys, LogFormat: "text", ShutdownTimeout: 5 * time.Second}
}

func status(t *testing.T, h http.Handler, key string) int {
	t.Helper()
	r := httptest.NewRequest("GET", "/v2/rooms", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

var keyRE = regexp.MustCompile(`rsk_[A-Za-z0-9_-]{43}`)

func TestFirstStartCreatesKeyOnce(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "roomsd.db")
	var out, logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	a, err := app.New(ctx, cfg(t, db), app.Options{Stdout: &out, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	key := keyRE.FindString(out.String())
	if key == "" || !strings.Contains(out.String(), "Authorization: Bearer "+key) || !strings.Contains(out.String(), "TELNYX_API_KEY="+key) {
		t.Fatalf("first start did not print a key with a usage hint:\n%s", out.String())
	}
	if got := status(t, a.Handler(), key); got != 200 {
		t.Errorf("new key: status %d", got)
	}
	if got := status(t, a.Handler(), "rsk_other"); got != 401 {
		t.Errorf("other key: status %d", got)
	}
	a.Close()

	out.Reset()
	a, err = app.New(ctx, cfg(t, db), app.Options{Stdout: &out, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if out.Len() != 0 {
		t.Errorf("second start printed again:\n%s", out.String())
	}
	if got := status(t, a.Handler(), key); got != 200 {
		t.Errorf("stored key after restart: status %d", got)
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("the log contains the key")
	}
}

func TestConfiguredKeysReplaceStoredOnes(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "roomsd.db")
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg(t, db), app.Options{Stdout: &out, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	stored := keyRE.FindString(out.String())
	a.Close()

	out.Reset()
	a, err = app.New(ctx, cfg(t, db, "k1", "k2"), app.Options{Stdout: &out, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for key, want := range map[string]int{"k1": 200, "k2": 200, stored: 401, "k3": 401} {
		if got := status(t, a.Handler(), key); got != want {
			t.Errorf("key %q: status %d, want %d", key, got, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("printed a key although keys are configured: %s", out.String())
	}
}

// A request still sending its body when shutdown starts is served to the
// end; then Serve returns and the database is closed cleanly.
func TestGracefulShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "roomsd.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ln, cancel, served := serve(t, cfg(t, db, "k"), logger)

	body, bodyW := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v2/rooms", body)
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(`{"unique_name":"late"}`))
	// With Expect: 100-continue the client hands over the body only once
	// the handler has started reading it, so the first Write below returns
	// when the request is in flight on the server.
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{code: resp.StatusCode}
	}()
	if _, err := bodyW.Write([]byte(`{"unique_name":`)); err != nil { // the server is now reading the body
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond): // a bounded look: Serve must still be waiting
	}
	bodyW.Write([]byte(`"late"}`))
	bodyW.Close()
	r := <-done
	if r.err != nil || r.code != 201 {
		t.Fatalf("in-flight request: %d, %v; want 201", r.code, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the last request finished")
	}
	// The room was committed and the database closed cleanly: it reopens.
	a2, err := app.New(context.Background(), cfg(t, db, "k"), app.Options{Stdout: io.Discard, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	rec := httptest.NewRecorder()
	get := httptest.NewRequest("GET", "/v2/rooms?filter[unique_name]=late", nil)
	get.Header.Set("Authorization", "Bearer k")
	a2.Handler().ServeHTTP(rec, get)
	if !strings.Contains(rec.Body.String(), `"total_results":1`) {
		t.Errorf("room from the in-flight request not found after restart: %s", rec.Body.String())
	}
}

func post(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer k")
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The signing key is created once and kept: a refresh token issued before
// a restart still works after it. A configured key replaces it.
func TestSigningKeySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "roomsd.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(c config.Config) *app.App {
		a, err := app.New(ctx, c, app.Options{Stdout: io.Discard, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open(cfg(t, db, "k"))
	created := post(t, a.Handler(), "/v2/rooms", `{}`)
	roomID := regexp.MustCompile(`"id":"([0-9a-f-]{36})"`).FindStringSubmatch(created.Body.String())[1]
	toks := post(t, a.Handler(), "/v2/rooms/"+roomID+"/actions/generate_join_client_token", `{}`)
	refresh := regexp.MustCompile(`"refresh_token":"([^"]+)"`).FindStringSubmatch(toks.Body.String())[1]
	a.Close()

	a = open(cfg(t, db, "k"))
	if w := post(t, a.Handler(), "/v2/rooms/"+roomID+"/actions/refresh_client_token", `{"refresh_token":"`+refresh+`"}`); w.Code != 201 {
		t.Errorf("refresh after restart: %d %s", w.Code, w.Body.String())
	}
	a.Close()

	withKey := cfg(t, db, "k")
	withKey.TokenKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	a = open(withKey)
	defer a.Close()
	if w := post(t, a.Handler(), "/v2/rooms/"+roomID+"/actions/refresh_client_token", `{"refresh_token":"`+refresh+`"}`); w.Code != 403 {
		t.Errorf("a token of the stored key under ROOMSD_TOKEN_KEY: %d, want 403", w.Code)
	}

	bad := cfg(t, db, "k")
	bad.TokenKey = "short"
	if _, err := app.New(ctx, bad, app.Options{Stdout: io.Discard, Logger: logger}); err == nil || !strings.Contains(err.Error(), "ROOMSD_TOKEN_KEY") {
		t.Errorf("bad ROOMSD_TOKEN_KEY: %v", err)
	}
}

// ROOMSD_DEBUG_ADDR opens a second listener with Go's profiler on it, and
// only there: the API listener does not serve it.
func TestProfilerOnlyOnTheDebugAddress(t *testing.T) {
	db := filepath.Join(t.TempDir(), "roomsd.db")
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	c := cfg(t, db, "k")
	c.DebugAddr = "127.0.0.1:0"
	ln, cancel, served := serve(t, c, logger)
	defer func() { cancel(); <-served }()
	url := regexp.MustCompile(`profiler listening without authentication" url=(\S+)`)
	var debug string
	testutil.Eventually(t, 10*time.Second, "the profiler's address in the log", func() bool {
		if m := url.FindStringSubmatch(logs.String()); m != nil {
			debug = m[1]
			return true
		}
		return false
	})
	resp, err := http.Get(debug + "goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "goroutine profile") {
		t.Fatalf("profiler: %d %.200s", resp.StatusCode, b)
	}
	resp, err = http.Get("http://" + ln.Addr().String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 && resp.StatusCode != 401 {
		t.Errorf("the API listener answers /debug/pprof/ with %d", resp.StatusCode)
	}
}

// serve runs an App built from c as production does (App.Serve on a
// listener of 127.0.0.1); cancel starts its shutdown, and served yields
// what Serve returned.
func serve(t *testing.T, c config.Config, logger *slog.Logger) (ln net.Listener, cancel context.CancelFunc, served chan error) {
	t.Helper()
	a, err := app.New(context.Background(), c, app.Options{Stdout: io.Discard, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served = make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	return ln, cancel, served
}
