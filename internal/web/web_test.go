package web

import (
	"net/http"
	"net/http/httptest"
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
