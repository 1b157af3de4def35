package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/app"
)

// The meeting page and its assets are served without an API key; every
// other path stays the REST API's, which wants a key and answers in JSON.
func TestMeetingPageIsPublic(t *testing.T) {
	a, err := app.New(context.Background(), cfg(t, filepath.Join(t.TempDir(), "roomsd.db"), "k"),
		app.Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	get := func(method, path, key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		a.Handler().ServeHTTP(w, r)
		return w
	}
	for path, want := range map[string]struct{ ctype, body string }{
		"/":                          {"text/html; charset=utf-8", `<form id="join"`},
		"/join":                      {"text/html; charset=utf-8", `<form id="join"`},
		"/?room=x&token=y":           {"text/html; charset=utf-8", `<script src="/web/app.js"`},
		"/web/app.js":                {"text/javascript; charset=utf-8", "window.roomsd"},
		"/web/style.css":             {"text/css; charset=utf-8", ".tile"},
		"/join?room=x&token=y&name=": {"text/html; charset=utf-8", "<title>"},
	} {
		w := get("GET", path, "")
		if w.Code != 200 || w.Header().Get("Content-Type") != want.ctype || !strings.Contains(w.Body.String(), want.body) {
			t.Errorf("GET %s: %d %q, body without %q", path, w.Code, w.Header().Get("Content-Type"), want.body)
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self' ws://example.com wss://example.com;") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", path, w.Header())
		}
	}
	if w := get("HEAD", "/", ""); w.Code != 200 {
		t.Errorf("HEAD /: %d", w.Code)
	}
	for _, c := range []struct {
		method, path, key string
		code              int
	}{
		{"GET", "/v2/rooms", "", 401},
		{"GET", "/index.html", "", 401},
		{"GET", "/web/other.js", "", 401},
		{"POST", "/", "", 401},
		{"GET", "/index.html", "k", 404},
		{"GET", "/web/", "k", 404},
		{"GET", "/join/x", "k", 404},
		{"POST", "/", "k", 404},
	} {
		w := get(c.method, c.path, c.key)
		if w.Code != c.code || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || !strings.Contains(w.Body.String(), `"errors"`) {
			t.Errorf("%s %s (key %q): %d %q %s; want the API's JSON %d", c.method, c.path, c.key, w.Code, w.Header().Get("Content-Type"), w.Body.String(), c.code)
		}
	}
}
