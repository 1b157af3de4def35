package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConditionalGet(t *testing.T) {
	h := New()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/web/app.js", nil))
	etag := w.Header().Get("ETag")
	if w.Code != 200 || etag == "" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET: %d, ETag %q, Cache-Control %q", w.Code, etag, w.Header().Get("Cache-Control"))
	}
	r := httptest.NewRequest("GET", "/web/app.js", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", w.Code)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/web/index.html", nil))
	if w.Code != 404 {
		t.Errorf("unknown asset: %d", w.Code)
	}
}

// The page may open WebSockets to the host it was loaded from; a Host that
// is not a plain host[:port] cannot add anything to the policy.
// In a cluster, the page may also connect to the other nodes, where a
// join may be redirected; a peer that is not a plain host[:port] is left
// out.
func TestCSPPeers(t *testing.T) {
	csp := CSP("a.example:8080", "a.example:8080", "b.example:8443", "evil; script-src *")
	if want := "connect-src 'self' ws://a.example:8080 wss://a.example:8080 ws://b.example:8443 wss://b.example:8443;"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q, want %q", csp, want)
	}
}

func TestCSPHost(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:8080":            "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;",
		"meet.example.com":          "connect-src 'self' ws://meet.example.com wss://meet.example.com;",
		"[::1]:8080":                "connect-src 'self' ws://[::1]:8080 wss://[::1]:8080;",
		"evil; script-src *":        "connect-src 'self';",
		"a.example 'unsafe-inline'": "connect-src 'self';",
		"":                          "connect-src 'self';",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		New().ServeHTTP(w, r)
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, want) || strings.Count(csp, "script-src") != 0 {
			t.Errorf("Host %q: CSP %q, want %q", host, csp, want)
		}
	}
}
