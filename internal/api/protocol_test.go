package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// Every route, and every unknown one, refuses requests without a valid key.
func TestAuthOnEveryRoute(t *testing.T) {
	e := newEnv(t)
	id := e.createRoom(nil)["id"].(string)
	x := "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
	routes := [][2]string{
		{"GET", "/v2/rooms"}, {"POST", "/v2/rooms"}, {"GET", "/v2/rooms/" + id}, {"PATCH", "/v2/rooms/" + id},
		{"DELETE", "/v2/rooms/" + id}, {"GET", "/v2/nothing-here"}, {"GET", "/"}, {"PUT", "/v2/rooms"},
		{"GET", "/v2/rooms/" + id + "/sessions"}, {"POST", "/v2/rooms/" + id + "/actions/generate_join_client_token"},
		{"GET", "/v2/room_sessions"}, {"GET", "/v2/room_sessions/" + x}, {"GET", "/v2/room_sessions/" + x + "/participants"},
		{"POST", "/v2/room_sessions/" + x + "/actions/end"}, {"POST", "/v2/room_sessions/" + x + "/actions/kick"},
		{"POST", "/v2/room_sessions/" + x + "/actions/mute"}, {"POST", "/v2/room_sessions/" + x + "/actions/unmute"},
		{"GET", "/v2/room_participants"}, {"GET", "/v2/room_participants/" + x},
		{"GET", "/v2/room_recordings"}, {"DELETE", "/v2/room_recordings"}, {"GET", "/v2/room_recordings/" + x},
		{"DELETE", "/v2/room_recordings/" + x}, {"GET", "/v2/room_compositions"}, {"POST", "/v2/room_compositions"},
		{"GET", "/v2/room_compositions/" + x}, {"DELETE", "/v2/room_compositions/" + x}, {"GET", "/v2/webhook_deliveries"},
		// Only the refresh action and the JWKS are public; this look-alike is not.
		{"POST", "/v2/rooms/" + id + "/actions/refresh_client_token/x"},
	}
	for _, rt := range routes {
		for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + testKey, "Bearer " + testKey + "x", testKey} {
			r := e.req(rt[0], rt[1], "{}", "Authorization", auth)
			r.wantError(t, 401, "10009", "", "")
			if r.header.Get("X-Request-Id") == "" || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without X-Request-Id or WWW-Authenticate", rt[0], rt[1])
			}
		}
	}
	// The refused DELETE and PATCH changed nothing.
	if d := e.req("GET", "/v2/rooms/"+id, nil).want(t, 200).data(); d["updated_at"] != d["created_at"] {
		t.Errorf("unauthenticated PATCH changed the room")
	}
	e.req("GET", "/v2/rooms", nil, "Authorization", "bearer "+testKey).want(t, 200)
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for range 3 {
		id := e.req("GET", "/v2/rooms", nil).header.Get("X-Request-Id")
		if len(id) != 36 || seen[id] {
			t.Errorf("generated X-Request-Id %q is not a fresh UUID", id)
		}
		seen[id] = true
	}
	if got := e.req("GET", "/v2/rooms/nope", nil, "X-Request-Id", "trace-123").header.Get("X-Request-Id"); got != "trace-123" {
		t.Errorf("incoming X-Request-Id not echoed: %q", got)
	}
	if got := e.req("GET", "/v2/rooms", nil, "X-Request-Id", strings.Repeat("a", 200)).header.Get("X-Request-Id"); len(got) != 36 {
		t.Errorf("over-long incoming X-Request-Id was kept: %q", got)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/", "/rooms", "/v2", "/v2/room", "/v2/rooms/a/b", "/v1/rooms"} {
		e.req("GET", p, nil).wantError(t, 404, "10005", "", "")
	}
	r := e.req("PUT", "/v2/rooms", "{}")
	r.wantError(t, 405, "10015", "", "")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
}

func TestMediaTypeAndBodyLimits(t *testing.T) {
	e := newEnv(t)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "", "application/jsonx"} {
		e.req("POST", "/v2/rooms", `{"unique_name":"x"}`, "Content-Type", ct).wantError(t, 415, "10014", "", "")
	}
	e.req("POST", "/v2/rooms", `{"unique_name":"a"}`, "Content-Type", "application/json; charset=utf-8").want(t, 201)
	e.req("POST", "/v2/rooms", `{"unique_name":"b"}`, "Content-Type", "application/vnd.api+json").want(t, 201)
	big := `{"unique_name":"` + strings.Repeat("x", 70<<10) + `"}`
	e.req("POST", "/v2/rooms", big).wantError(t, http.StatusRequestEntityTooLarge, "10015", "", "")
	if n := e.req("GET", "/v2/rooms", nil).meta()["total_results"]; n != float64(2) {
		t.Errorf("total_results = %v after refused creates, want 2", n)
	}
}

// A failure below the API is a 500 in the Telnyx shape, with a request id
// to quote, and without driver or SQL text.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	for _, rt := range [][2]string{{"GET", "/v2/rooms"}, {"POST", "/v2/rooms"}, {"GET", "/v2/rooms/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"}} {
		r := e.req(rt[0], rt[1], "{}")
		r.wantError(t, 500, "10007", "", "")
		body := strings.ToLower(string(r.raw))
		for _, leak := range []string{"sql", "database", "closed", ".go", "goroutine"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s %s: 500 body mentions %q: %s", rt[0], rt[1], leak, r.raw)
			}
		}
		if id := r.header.Get("X-Request-Id"); !strings.Contains(string(r.raw), id) {
			t.Errorf("500 body does not carry the request id %s", id)
		}
	}
	if !strings.Contains(e.logs.String(), "request failed") {
		t.Errorf("500 not logged: %s", e.logs.String())
	}
}
