package api_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

var tsRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)

func TestCreateRoomFullAndShape(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(time.Date(2021, 4, 16, 9, 46, 20, 954863000, time.UTC))
	resp := e.req("POST", "/v2/rooms", map[string]any{
		"unique_name": "My Room", "max_participants": 50, "enable_recording": true,
		"webhook_event_url": "https://www.example.com", "webhook_event_failover_url": "https://failover.example.com",
		"webhook_timeout_secs": 25, "some_future_field": "ignored",
	}).want(t, 201)
	// Field order and formats exactly as the List rooms example.
	re := regexp.MustCompile(`^\{"data":\{"id":"[0-9a-f-]{36}","max_participants":50,"unique_name":"My Room",` +
		`"created_at":"2021-04-16T09:46:20.954863Z","updated_at":"2021-04-16T09:46:20.954863Z","active_session_id":null,` +
		`"enable_recording":true,"webhook_event_failover_url":"https://failover.example.com","webhook_timeout_secs":25,` +
		`"webhook_event_url":"https://www.example.com","record_type":"room"\}\}\n$`)
	if !re.Match(resp.raw) {
		t.Errorf("create response shape:\n%s", resp.raw)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	id := resp.data()["id"].(string)
	got := e.req("GET", "/v2/rooms/"+id, nil).want(t, 200)
	if string(got.raw) != string(resp.raw) {
		t.Errorf("view differs from create:\n%s\n%s", got.raw, resp.raw)
	}
}

func TestCreateRoomDefaults(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{"", "{}"} {
		resp := e.req("POST", "/v2/rooms", body).want(t, 201)
		d := resp.data()
		want := map[string]any{"max_participants": float64(10), "enable_recording": false, "unique_name": nil,
			"webhook_event_url": nil, "webhook_event_failover_url": "", "webhook_timeout_secs": nil,
			"active_session_id": nil, "record_type": "room"}
		for k, v := range want {
			if got, ok := d[k]; !ok || got != v {
				t.Errorf("body %q: %s = %#v (present %v), want %#v", body, k, got, ok, v)
			}
		}
		if _, ok := d["sessions"]; ok {
			t.Errorf("sessions present without include_sessions")
		}
		if !tsRE.MatchString(d["created_at"].(string)) || d["created_at"] != d["updated_at"] {
			t.Errorf("timestamps %v %v", d["created_at"], d["updated_at"])
		}
	}
	// Explicit nulls are kept as nulls.
	d := e.createRoom(map[string]any{"webhook_event_failover_url": nil, "webhook_timeout_secs": nil, "unique_name": nil})
	if d["webhook_event_failover_url"] != nil || d["webhook_timeout_secs"] != nil {
		t.Errorf("explicit nulls: %v", d)
	}
}

func TestCreateRoomValidation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		body    string
		status  int
		code    string
		pointer string
	}{
		{`{"max_participants":1}`, 422, "10015", "/max_participants"},
		{`{"max_participants":51}`, 422, "10015", "/max_participants"},
		{`{"max_participants":"10"}`, 422, "10015", "/max_participants"},
		{`{"max_participants":10.5}`, 422, "10015", "/max_participants"},
		{`{"max_participants":null}`, 422, "10015", "/max_participants"},
		{`{"enable_recording":"yes"}`, 422, "10015", "/enable_recording"},
		{`{"enable_recording":null}`, 422, "10015", "/enable_recording"},
		{`{"unique_name":42}`, 422, "10015", "/unique_name"},
		{`{"unique_name":""}`, 422, "10015", "/unique_name"},
		{`{"unique_name":"` + strings.Repeat("x", 256) + `"}`, 422, "10015", "/unique_name"},
		{`{"webhook_event_url":"example.com"}`, 422, "10003", "/webhook_event_url"},
		{`{"webhook_event_url":"ftp://example.com"}`, 422, "10003", "/webhook_event_url"},
		{`{"webhook_event_url":"https://"}`, 422, "10003", "/webhook_event_url"},
		{`{"webhook_event_url":["https://example.com"]}`, 422, "10015", "/webhook_event_url"},
		{`{"webhook_event_failover_url":"/relative"}`, 422, "10003", "/webhook_event_failover_url"},
		{`{"webhook_timeout_secs":-1}`, 422, "10015", "/webhook_timeout_secs"},
		{`{"webhook_timeout_secs":31}`, 422, "10015", "/webhook_timeout_secs"},
		{`{"webhook_timeout_secs":"5"}`, 422, "10015", "/webhook_timeout_secs"},
		{`{"max_participants":`, 400, "10023", ""},
		{`[1,2]`, 400, "10015", ""},
		{`"room"`, 400, "10015", ""},
		{`null`, 400, "10015", ""},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			e.req("POST", "/v2/rooms", tc.body).wantError(t, tc.status, tc.code, tc.pointer, "")
		})
	}
	// Boundaries that are allowed.
	for _, body := range []map[string]any{
		{"max_participants": 2}, {"max_participants": 50}, {"webhook_timeout_secs": 0}, {"webhook_timeout_secs": 30},
		{"unique_name": strings.Repeat("é", 255)}, {"webhook_event_url": "http://127.0.0.1:9000/hook?x=1"}, {"webhook_event_url": ""},
	} {
		e.req("POST", "/v2/rooms", body).want(t, 201)
	}
	// Nothing invalid was stored.
	if n := e.req("GET", "/v2/rooms", nil).want(t, 200).meta()["total_results"]; n != float64(7) {
		t.Errorf("total_results = %v, want 7 (only the valid creates)", n)
	}
}

func TestUniqueNameDuplicate(t *testing.T) {
	e := newEnv(t)
	e.createRoom(map[string]any{"unique_name": "standup"})
	e.req("POST", "/v2/rooms", map[string]any{"unique_name": "standup"}).wantError(t, 422, "10012", "/unique_name", "")
	other := e.createRoom(map[string]any{"unique_name": "Standup"}) // case differs: a different name
	e.req("PATCH", "/v2/rooms/"+other["id"].(string), map[string]any{"unique_name": "standup"}).wantError(t, 422, "10012", "/unique_name", "")
	if got := e.req("GET", "/v2/rooms/"+other["id"].(string), nil).data()["unique_name"]; got != "Standup" {
		t.Errorf("failed rename changed the room: unique_name = %v", got)
	}
}

func TestPatchEachField(t *testing.T) {
	e := newEnv(t)
	room := e.createRoom(map[string]any{"unique_name": "before", "webhook_event_url": "https://a.example", "webhook_timeout_secs": 5})
	id := room["id"].(string)
	created := room["created_at"]
	prev := room["updated_at"].(string)
	steps := []struct {
		field string
		value any
	}{
		{"unique_name", "after"},
		{"unique_name", nil},
		{"max_participants", float64(2)},
		{"max_participants", float64(50)},
		{"enable_recording", true},
		{"webhook_event_url", "https://b.example/hook"},
		{"webhook_event_url", nil},
		{"webhook_event_failover_url", "https://fail.example"},
		{"webhook_event_failover_url", nil},
		{"webhook_timeout_secs", float64(30)},
		{"webhook_timeout_secs", nil},
	}
	for i, s := range steps {
		e.clock.Set(e.clock.Now().Add(time.Second))
		d := e.req("PATCH", "/v2/rooms/"+id, map[string]any{s.field: s.value}).want(t, 200).data()
		if d[s.field] != s.value {
			t.Errorf("step %d: %s = %#v, want %#v", i, s.field, d[s.field], s.value)
		}
		if up := d["updated_at"].(string); up <= prev || d["created_at"] != created {
			t.Errorf("step %d: updated_at %s after %s, created_at %v (was %v)", i, up, prev, d["created_at"], created)
		} else {
			prev = up
		}
		if got := e.req("GET", "/v2/rooms/"+id, nil).data(); fmt.Sprint(got) != fmt.Sprint(d) {
			t.Errorf("step %d: GET after PATCH differs:\n%v\n%v", i, got, d)
		}
	}
	// Untouched fields survive a partial update.
	d := e.req("PATCH", "/v2/rooms/"+id, map[string]any{"max_participants": 7}).want(t, 200).data()
	if d["enable_recording"] != true || d["max_participants"] != float64(7) {
		t.Errorf("partial update lost fields: %v", d)
	}
	// Invalid values are refused and change nothing.
	before := e.req("GET", "/v2/rooms/"+id, nil).raw
	e.req("PATCH", "/v2/rooms/"+id, `{"max_participants":51}`).wantError(t, 422, "10015", "/max_participants", "")
	e.req("PATCH", "/v2/rooms/"+id, `{"enable_recording":true,"webhook_event_url":"nope"}`).wantError(t, 422, "10003", "/webhook_event_url", "")
	e.req("PATCH", "/v2/rooms/"+id, `{"webhook_timeout_secs":true}`).wantError(t, 422, "10015", "/webhook_timeout_secs", "")
	if after := e.req("GET", "/v2/rooms/"+id, nil).raw; string(after) != string(before) {
		t.Errorf("refused PATCH changed the room:\n%s\n%s", before, after)
	}
	e.req("PATCH", "/v2/rooms/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", `{"max_participants":5}`).wantError(t, 404, "10005", "", "")
	e.req("PATCH", "/v2/rooms/not-a-uuid", `{"max_participants":5}`).wantError(t, 400, "10006", "", "room_id")
}

func TestViewAndDelete(t *testing.T) {
	e := newEnv(t)
	room := e.createRoom(nil)
	id := room["id"].(string)
	keep := e.createRoom(nil)["id"].(string)
	a, err := e.svc.Join(t.Context(), id, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	e.req("GET", "/v2/rooms/"+strings.ToUpper(id), nil).want(t, 200) // ids are case-insensitive UUIDs
	e.req("GET", "/v2/rooms/"+id+"?include_sessions=yes", nil).wantError(t, 422, "10015", "", "include_sessions")
	e.req("GET", "/v2/rooms/"+id+"x", nil).wantError(t, 400, "10006", "", "room_id")
	d := e.req("GET", "/v2/rooms/"+id+"?include_sessions=true", nil).want(t, 200).data()
	sessions, _ := d["sessions"].([]any)
	if len(sessions) != 1 || d["active_session_id"] != a.SessionID {
		t.Fatalf("include_sessions: %v", d)
	}
	s := sessions[0].(map[string]any)
	ps, _ := s["participants"].([]any)
	if s["record_type"] != "room_session" || s["active"] != true || s["ended_at"] != nil || len(ps) != 1 {
		t.Fatalf("session: %v", s)
	}
	p := ps[0].(map[string]any)
	if p["id"] != a.ID || p["context"] != "Alice" || p["record_type"] != "room_participant" || p["left_at"] != nil || p["session_id"] != a.SessionID {
		t.Errorf("participant: %v", p)
	}

	e.req("DELETE", "/v2/rooms/"+id, nil).want(t, 204)
	e.req("GET", "/v2/rooms/"+id, nil).wantError(t, 404, "10005", "", "")
	e.req("DELETE", "/v2/rooms/"+id, nil).wantError(t, 404, "10005", "", "")
	if _, err := e.store.GetParticipant(t.Context(), a.ID); err == nil {
		t.Error("participant survived its room's deletion")
	}
	if _, err := e.store.GetSession(t.Context(), a.SessionID); err == nil {
		t.Error("session survived its room's deletion")
	}
	e.req("GET", "/v2/rooms/"+keep, nil).want(t, 200)
}
