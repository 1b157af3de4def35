package api_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/api"
	"github.com/roomsd/roomsd/internal/auth"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/token"
)

const testKey = "rsk_test_key"

// clock is a settable time source, so tests can place rooms on chosen days.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// env is one roomsd API over a real SQLite file, served on loopback.
type env struct {
	t     *testing.T
	url   string
	clock *clock
	svc   *rooms.Service
	store store.Store
	logs  *testutil.SyncBuffer
	// signer is the key the server signs client tokens with.
	signer *token.Signer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := testutil.OpenStore(t)
	c := &clock{t: time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.NewSigner(key, c.Now)
	svc := rooms.New(st, rooms.WithClock(c.Now), rooms.WithSigner(signer))
	logs := &testutil.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	srv := httptest.NewServer(api.New(svc, auth.NewKeyring([]string{testKey}, nil), logger, api.WithPublicURL("https://meet.example.com")))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, clock: c, svc: svc, store: st, logs: logs, signer: signer}
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// req sends a request with the test key unless headers override it. A
// string body is sent as application/json.
func (e *env) req(method, path string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	r, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+testKey)
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
		}
	}
	return out
}

// want fails the test unless the response has the given status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	return r
}

// wantError checks status, code and where the error points.
func (r response) wantError(t *testing.T, status int, code, pointer, parameter string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	errs, _ := r.body["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("want one error, got %s", r.raw)
	}
	e := errs[0].(map[string]any)
	if e["code"] != code {
		t.Errorf("code = %v, want %q; body %s", e["code"], code, r.raw)
	}
	if s, _ := e["title"].(string); s == "" {
		t.Errorf("error without a title: %s", r.raw)
	}
	if s, _ := e["detail"].(string); s == "" {
		t.Errorf("error without a detail: %s", r.raw)
	}
	src, _ := e["source"].(map[string]any)
	if pointer != "" && (src == nil || src["pointer"] != pointer) {
		t.Errorf("source.pointer = %v, want %q; body %s", src, pointer, r.raw)
	}
	if parameter != "" && (src == nil || src["parameter"] != parameter) {
		t.Errorf("source.parameter = %v, want %q; body %s", src, parameter, r.raw)
	}
}

func (r response) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (r response) list() []map[string]any {
	items, _ := r.body["data"].([]any)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = it.(map[string]any)
	}
	return out
}

func (r response) meta() map[string]any {
	m, _ := r.body["meta"].(map[string]any)
	return m
}

func (e *env) createRoom(body map[string]any) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return e.req("POST", "/v2/rooms", body).want(e.t, 201).data()
}

func listIDs(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it["id"].(string)
	}
	return out
}

// act posts a session action (end, kick, mute, unmute).
func (e *env) act(sessionID, action string, body any) response {
	e.t.Helper()
	return e.req("POST", "/v2/room_sessions/"+sessionID+"/actions/"+action, body)
}

// participant reads a participant from the store, mute state included.
func (e *env) participant(id string) domain.Participant {
	e.t.Helper()
	p, err := e.store.GetParticipant(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}
