package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

// get fetches a path of the server with an optional bearer token.
func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// sample is the value of one series in Prometheus's text format: name
// and its labels as they appear ({a="x",b="y"}, sorted), or -1.
func sample(text, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func TestHealthAndReadiness(t *testing.T) {
	s := newServer(t)
	code, body := get(t, s.URL+"/healthz", "")
	if code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz = %d %s", code, body)
	}
	code, body = get(t, s.URL+"/readyz", "")
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != 200 || ready.Status != "ready" ||
		ready.Checks["database"] != "ok" || ready.Checks["media"] != "ok" {
		t.Errorf("/readyz = %d %s", code, body)
	}
	// Shut down (the database closed, the media port released): not
	// ready, and it says why.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	code, body = get(t, s.URL+"/readyz", "")
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != 503 || ready.Status != "not ready" ||
		ready.Checks["database"] == "ok" || ready.Checks["media"] != "the server is shutting down" {
		t.Errorf("/readyz after shutdown = %d %s", code, body)
	}
}

func TestMetricsTellWhatHappened(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.Metrics = true })
	// Some REST traffic: a room, tokens, a request without a key.
	room := s.room(nil)
	if code, _ := get(t, s.URL+"/v2/rooms", ""); code != 401 {
		t.Fatalf("GET /v2/rooms without a key = %d", code)
	}
	// A refused join, then two participants exchanging media.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Join(ctx, client.ConnectURL(s.URL, room), "not-a-token", client.Options{Loopback: true}); err == nil {
		t.Fatal("a join with a bad token was admitted")
	}
	alice := s.join(room, "Alice", true, true)
	bob := s.join(room, "Bob", true, true)
	testutil.Eventually(t, 30*time.Second, "both receive video from each other", func() bool {
		return received(alice, bob.ParticipantID, "video") > 20 && received(bob, alice.ParticipantID, "video") > 20
	})

	code, text := get(t, s.URL+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics = %d %s", code, text)
	}
	want := map[string]func(float64) bool{
		`roomsd_http_requests_total{code="201",route="POST /v2/rooms"}`:                                              eq(1),
		`roomsd_http_requests_total{code="201",route="POST /v2/rooms/{room_id}/actions/generate_join_client_token"}`: eq(2),
		`roomsd_http_requests_total{code="401",route="GET /v2/rooms"}`:                                               eq(1),
		`roomsd_http_requests_total{code="101",route="GET /v2/rooms/{room_id}/connect"}`:                             eq(1), // the refused one: open sockets count when they close
		`roomsd_http_request_duration_seconds_count{route="POST /v2/rooms"}`:                                         eq(1),
		`roomsd_sessions`:          eq(1),
		`roomsd_participants`:      eq(2),
		`roomsd_tracks_published`:  eq(4),
		`roomsd_tracks_subscribed`: eq(4),
		`roomsd_media_connections{candidate="host",transport="udp"}`:  eq(2),
		`roomsd_media_connections{candidate="relay",transport="udp"}`: eq(0),
		`roomsd_forwarded_packets_total`:                              atLeast(40),
		`roomsd_forwarded_bytes_total`:                                atLeast(40 * 12),
		`roomsd_keyframe_requests_total`:                              atLeast(1),
		`roomsd_signaling_sockets`:                                    eq(2),
		`roomsd_joins_refused_total{reason="unauthorized"}`:           eq(1),
		`roomsd_joins_refused_total{reason="room_full"}`:              eq(0),
		`roomsd_tokens_minted_total{via="api"}`:                       eq(2),
		`roomsd_tokens_refused_total{kind="join"}`:                    eq(1),
		`roomsd_webhook_queue_depth`:                                  eq(0),
		`roomsd_webhook_attempts_total{outcome="delivered"}`:          eq(0),
		`go_goroutines`:    atLeast(1),
		`process_open_fds`: atLeast(1),
	}
	for series, ok := range want {
		if v := sample(text, series); !ok(v) {
			t.Errorf("%s = %v", series, v)
		}
	}
	// The dashboard in docs/ charts only metrics that exist.
	dash, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`\b(?:roomsd|go|process)_[a-z_]+`).FindAllString(string(dash), -1) {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("the dashboard charts %s, which /metrics does not serve", name)
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", text)
	}
}

func TestMetricsToken(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.Metrics, c.MetricsToken = true, "m3tr1cs" })
	if code, body := get(t, s.URL+"/metrics", ""); code != 401 || !strings.Contains(body, `"code":"10009"`) {
		t.Errorf("/metrics without the token = %d %s", code, body)
	}
	if code, _ := get(t, s.URL+"/metrics", "k"); code != 401 {
		t.Errorf("/metrics with the API key instead of its token = %d", code)
	}
	if code, body := get(t, s.URL+"/metrics", "m3tr1cs"); code != 200 || !strings.Contains(body, "roomsd_participants 0") {
		t.Errorf("/metrics with the token = %d %.200s", code, body)
	}
	// Health stays public.
	if code, _ := get(t, s.URL+"/healthz", ""); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
}

func TestMetricsOff(t *testing.T) {
	s := newServer(t)
	if code, _ := get(t, s.URL+"/metrics", ""); code != 401 {
		t.Errorf("/metrics with metrics off = %d; want the API's 401 (no such public route)", code)
	}
}

func eq(want float64) func(float64) bool      { return func(v float64) bool { return v == want } }
func atLeast(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }
