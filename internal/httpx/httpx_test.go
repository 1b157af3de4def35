package httpx_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/testutil"
)

// envelope fails the test unless an answer is the error envelope, and
// returns its error.
func envelope(t *testing.T, resp *http.Response, body []byte) map[string]any {
	t.Helper()
	e, err := testutil.ErrorEnvelope(resp.Header, body)
	if err != nil {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	return e
}

// serve runs h as roomsd does: its own http.Server with the header limit,
// on a loopback listener wrapped by httpx.Listener, behind httpx.Guard.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(httpx.Guard(h))
	srv.Config.MaxHeaderBytes = httpx.MaxHeaderBytes
	srv.Listener = httpx.Listener(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// The answers net/http writes by itself, before any handler runs, come as
// JSON in the error envelope with their status kept.
func TestListenerMakesServerErrorsJSON(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":"ok"}`)
	}))
	huge := strings.Repeat("a", httpx.MaxHeaderBytes+8192)
	for _, c := range []struct {
		name, request string
		status        int
		detail        string
	}{
		{"bad request line", "garbage\r\n\r\n", 400, "not valid HTTP/1.1"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "malformed Host header"},
		{"bad header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, "invalid header name"},
		{"NUL in a header", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400, "not valid HTTP/1.1"},
		{"huge headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + huge + "\r\n\r\n", 431, "64 KiB"},
		{"unknown transfer encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "transfer encoding"},
		{"unknown version", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "unsupported protocol version"},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417, "100-continue"},
	} {
		resp, body := testutil.RawHTTP(t, addr, c.request)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d; %q", c.name, resp.StatusCode, c.status, body)
			continue
		}
		e := envelope(t, resp, body)
		if d, _ := e["detail"].(string); !strings.Contains(d, c.detail) {
			t.Errorf("%s: detail %q, want it to mention %q", c.name, d, c.detail)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", c.name)
		}
	}
	// A well-formed request on the same kind of connection is untouched,
	// and so is a keep-alive connection's next request.
	resp, b := testutil.RawHTTP(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || string(b) != `{"data":"ok"}` {
		t.Errorf("plain GET: %d %q", resp.StatusCode, b)
	}
}

// Error answers written as plain text by a handler or library (http.Error,
// ServeMux) become the envelope; JSON answers and successes pass as they
// are; paths that are not canonical are a JSON 404, never a redirect.
func TestGuard(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom: internal detail", http.StatusConflict)
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, `{"errors":[{"code":"1","title":"mine","detail":"kept"}]}`)
	})
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
	mux.HandleFunc("GET /dir/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dir") })
	addr := serve(t, mux)
	get := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		return testutil.RawHTTP(t, addr, method+" "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	}

	resp, body := get("GET", "/plain")
	e := envelope(t, resp, body)
	if resp.StatusCode != 409 || strings.Contains(string(body), "internal detail") || e["title"] != "Conflict" {
		t.Errorf("http.Error: %d %s", resp.StatusCode, body)
	}
	if resp, body = get("GET", "/json"); resp.StatusCode != 418 || !strings.Contains(string(body), `"kept"`) {
		t.Errorf("a JSON error was changed: %d %s", resp.StatusCode, body)
	}
	if resp, body = get("GET", "/ok"); resp.StatusCode != 200 || string(body) != "fine" {
		t.Errorf("a success was changed: %d %q", resp.StatusCode, body)
	}
	for _, p := range []string{"/nothing", "//ok", "/./ok", "/x/../ok", "/ok/.", "/dir//", "/%2e%2e/ok", "/dir/%2E/"} {
		resp, body := get("GET", p)
		e := envelope(t, resp, body)
		if resp.StatusCode != 404 || e["code"] != httpx.CodeNotFound || resp.Header.Get("Location") != "" {
			t.Errorf("GET %s: %d %s (Location %q)", p, resp.StatusCode, body, resp.Header.Get("Location"))
		}
	}
	if resp, body = get("POST", "/ok"); resp.StatusCode != 405 {
		t.Errorf("POST /ok: %d %s", resp.StatusCode, body)
	} else {
		envelope(t, resp, body)
	}
	if resp, body = get("HEAD", "/plain"); resp.StatusCode != 409 || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD of an error: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ = get("GET", "/dir/"); resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET /dir/: %d, nosniff %q", resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
	}
}

func TestCanonical(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/v2/rooms": true, "/v2/rooms/": true, "/a.b/c": true, "/...": true,
		"": false, "v2": false, "//": false, "/v2//rooms": false, "/v2/./rooms": false, "/v2/../v2": false,
		"/v2/rooms/..": false, "/v2/rooms/.": false, "*": false,
	} {
		if got := httpx.Canonical(p); got != want {
			t.Errorf("Canonical(%q) = %v, want %v", p, got, want)
		}
	}
}
