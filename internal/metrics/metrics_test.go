package metrics_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/metrics"
)

// A request counted under its route and status, and one no route claims
// under "other".
func TestInstrumentCountsByRoute(t *testing.T) {
	m := metrics.New(metrics.Sources{}, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/rooms/{room_id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	h := m.Instrument(httpx.RouteOf(mux, mux))
	for _, path := range []string{"/v2/rooms/a", "/v2/rooms/b", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`roomsd_http_requests_total{code="404",route="GET /v2/rooms/{room_id}"} 2`,
		`roomsd_http_requests_total{code="200",route="other"} 1`,
	} {
		if !contains(rec.Body.String(), want) {
			t.Errorf("missing %s in\n%s", want, rec.Body.String())
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// BenchmarkInstrument is the cost metrics add to a request: the same
// routed request with and without them, in one run.
func BenchmarkInstrument(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/rooms/{room_id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	m := metrics.New(metrics.Sources{}, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"plain", mux},
		{"instrumented", m.Instrument(httpx.RouteOf(mux, mux))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/v2/rooms/01a2", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, req)
			}
		})
	}
}
