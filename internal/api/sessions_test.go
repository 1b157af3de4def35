package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

// world is two rooms with history: room A had an ended session (Alice,
// Bob) and has an active one (Carol, Dave); room B has an active session
// (Erin).
type world struct {
	roomA, roomB                     string
	oldSession, curSession, bSession string
	alice, bob, carol, dave, erin    string
}

func newWorld(t *testing.T, e *env) world {
	t.Helper()
	ctx := t.Context()
	var w world
	e.clock.Set(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC))
	w.roomA = e.createRoom(map[string]any{"unique_name": "A"})["id"].(string)
	w.roomB = e.createRoom(map[string]any{"unique_name": "B"})["id"].(string)
	join := func(room, who string) domain.Participant {
		p, err := e.svc.Join(ctx, room, who)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := join(w.roomA, "Alice"), join(w.roomA, "Bob")
	w.alice, w.bob, w.oldSession = a.ID, b.ID, a.SessionID
	e.clock.Set(time.Date(2024, 3, 2, 10, 0, 0, 0, time.UTC))
	if _, _, err := e.svc.EndSession(ctx, w.oldSession, domain.ReasonAPI); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2024, 3, 3, 10, 0, 0, 0, time.UTC))
	c := join(w.roomA, "Carol")
	w.carol, w.curSession = c.ID, c.SessionID
	e.clock.Set(time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC))
	w.dave = join(w.roomA, "Dave").ID
	e.clock.Set(time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC))
	er := join(w.roomB, "Erin")
	w.erin, w.bSession = er.ID, er.SessionID
	return w
}

func (w world) name(id string) string {
	return map[string]string{w.oldSession: "old", w.curSession: "cur", w.bSession: "b", w.alice: "alice", w.bob: "bob",
		w.carol: "carol", w.dave: "dave", w.erin: "erin"}[id]
}

func (w world) names(items []map[string]any) string {
	out := ""
	for _, it := range items {
		out += w.name(it["id"].(string)) + " "
	}
	return out
}

func TestListSessions(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	for _, tc := range []struct{ query, want string }{
		{"", "b cur old "},
		{"?filter[room_id]=" + w.roomA, "cur old "},
		{"?filter[active]=true", "b cur "},
		{"?filter[active]=false", "old "},
		{"?filter[date_created_at][eq]=2024-03-03", "cur "},
		{"?filter[date_created_at][lte]=2024-03-03", "cur old "},
		{"?filter[date_ended_at][eq]=2024-03-02", "old "},
		{"?filter[date_ended_at][gte]=2024-03-03", ""},
		{"?filter[date_updated_at][gte]=2024-03-02&filter[active]=false", "old "},
		{"?page[size]=1&page[number]=2", "cur "},
		{"?filter[room_id]=0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", ""},
	} {
		r := e.req("GET", "/v2/room_sessions"+tc.query, nil).want(t, 200)
		if got := w.names(r.list()); got != tc.want {
			t.Errorf("GET /v2/room_sessions%s = %q, want %q", tc.query, got, tc.want)
		}
	}
	r := e.req("GET", "/v2/room_sessions?page[size]=2", nil).want(t, 200)
	wantMeta(t, r, 1, 2, 2, 3)
	for _, s := range r.list() {
		if _, ok := s["participants"]; ok {
			t.Errorf("participants without include_participants")
		}
	}
	// Scoped to a room.
	r = e.req("GET", "/v2/rooms/"+w.roomA+"/sessions?include_participants=true", nil).want(t, 200)
	ss := r.list()
	if w.names(ss) != "cur old " {
		t.Fatalf("room A sessions: %q", w.names(ss))
	}
	old := ss[1]
	if old["active"] != false || old["ended_at"] != "2024-03-02T10:00:00.000000Z" || old["record_type"] != "room_session" || old["room_id"] != w.roomA {
		t.Errorf("ended session: %v", old)
	}
	parts, _ := old["participants"].([]any)
	if len(parts) != 2 {
		t.Fatalf("old session participants: %v", old["participants"])
	}
	for _, p := range parts {
		if p.(map[string]any)["left_at"] != "2024-03-02T10:00:00.000000Z" {
			t.Errorf("participant of the ended session: %v", p)
		}
	}
	if cur := ss[0]; cur["ended_at"] != nil || cur["active"] != true {
		t.Errorf("active session: %v", cur)
	}
	e.req("GET", "/v2/rooms/"+w.roomA+"/sessions?filter[active]=false", nil).want(t, 200)
	e.req("GET", "/v2/rooms/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0/sessions", nil).wantError(t, 404, "10005", "", "")
	e.req("GET", "/v2/rooms/nope/sessions", nil).wantError(t, 400, "10006", "", "room_id")
	for _, q := range []struct{ query, param string }{
		{"filter[active]=maybe", "filter[active]"},
		{"filter[room_id]=abc", "filter[room_id]"},
		{"filter[date_ended_at][eq]=yesterday", "filter[date_ended_at][eq]"},
		{"include_participants=1", "include_participants"},
		{"page[size]=251", "page[size]"},
	} {
		e.req("GET", "/v2/room_sessions?"+q.query, nil).wantError(t, 422, "10015", "", q.param)
	}
}

func TestViewSession(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	d := e.req("GET", "/v2/room_sessions/"+w.curSession, nil).want(t, 200).data()
	if d["id"] != w.curSession || d["room_id"] != w.roomA || d["active"] != true || d["participants"] != nil {
		t.Errorf("session: %v", d)
	}
	d = e.req("GET", "/v2/room_sessions/"+w.curSession+"?include_participants=true", nil).want(t, 200).data()
	parts, _ := d["participants"].([]any)
	if len(parts) != 2 || parts[0].(map[string]any)["context"] != "Carol" {
		t.Errorf("participants in join order: %v", d["participants"])
	}
	e.req("GET", "/v2/room_sessions/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", nil).wantError(t, 404, "10005", "", "")
	e.req("GET", "/v2/room_sessions/x", nil).wantError(t, 400, "10006", "", "room_session_id")
}

func TestListParticipants(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	for _, tc := range []struct{ path, want string }{
		{"/v2/room_participants", "erin dave carol bob alice "},
		{"/v2/room_participants?filter[session_id]=" + w.oldSession, "bob alice "},
		{"/v2/room_participants?filter[context]=Dave", "dave "},
		{"/v2/room_participants?filter[context]=dave", ""},
		{"/v2/room_participants?filter[date_joined_at][gte]=2024-03-04", "erin dave "},
		{"/v2/room_participants?filter[date_left_at][eq]=2024-03-02", "bob alice "},
		{"/v2/room_participants?filter[date_updated_at][lte]=2024-03-03", "carol bob alice "},
		{"/v2/room_participants?page[size]=2&page[number]=3", "alice "},
		{"/v2/room_sessions/" + w.curSession + "/participants", "dave carol "},
		{"/v2/room_sessions/" + w.curSession + "/participants?filter[context]=Carol", "carol "},
		{"/v2/room_sessions/" + w.oldSession + "/participants?filter[date_joined_at][eq]=2024-03-01", "bob alice "},
	} {
		r := e.req("GET", tc.path, nil).want(t, 200)
		if got := w.names(r.list()); got != tc.want {
			t.Errorf("GET %s = %q, want %q", tc.path, got, tc.want)
		}
	}
	e.req("GET", "/v2/room_sessions/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0/participants", nil).wantError(t, 404, "10005", "", "")
	e.req("GET", "/v2/room_participants?filter[session_id]=nope", nil).wantError(t, 422, "10015", "", "filter[session_id]")
	e.req("GET", "/v2/room_participants?filter[date_left_at][lte]=03/02/2024", nil).wantError(t, 422, "10015", "", "filter[date_left_at][lte]")

	d := e.req("GET", "/v2/room_participants/"+w.bob, nil).want(t, 200).data()
	want := map[string]any{"id": w.bob, "session_id": w.oldSession, "context": "Bob", "joined_at": "2024-03-01T10:00:00.000000Z",
		"left_at": "2024-03-02T10:00:00.000000Z", "updated_at": "2024-03-02T10:00:00.000000Z", "record_type": "room_participant"}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("participant = %v\nwant %v", d, want)
	}
	e.req("GET", "/v2/room_participants/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", nil).wantError(t, 404, "10005", "", "")
}

func TestSessionActions(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	e.clock.Set(time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC))
	act := func(action string, body any) response { return e.act(w.curSession, action, body) }
	okBody := `{"data":{"result":"ok"}}` + "\n"

	// Mute everyone but Dave, then unmute Carol.
	if r := act("mute", map[string]any{"participants": "all", "exclude": []string{w.dave}}).want(t, 200); string(r.raw) != okBody {
		t.Errorf("mute body = %s", r.raw)
	}
	if !e.participant(w.carol).AudioMuted || e.participant(w.dave).AudioMuted {
		t.Errorf("after mute all but Dave: carol %v, dave %v", e.participant(w.carol).AudioMuted, e.participant(w.dave).AudioMuted)
	}
	act("unmute", map[string]any{"participants": []string{w.carol}}).want(t, 200)
	if e.participant(w.carol).AudioMuted {
		t.Errorf("carol still muted")
	}

	// Bad selections change nothing.
	for _, tc := range []struct {
		body          any
		status        int
		code, pointer string
	}{
		{map[string]any{}, 422, "10004", "/participants"},
		{map[string]any{"participants": nil}, 422, "10004", "/participants"},
		{map[string]any{"participants": "everyone"}, 422, "10015", "/participants"},
		{map[string]any{"participants": []string{}}, 422, "10015", "/participants"},
		{map[string]any{"participants": []any{42}}, 422, "10015", "/participants/0"},
		{map[string]any{"participants": []string{w.carol, "not-a-uuid"}}, 422, "10015", "/participants/1"},
		{map[string]any{"participants": []string{w.carol, w.erin}}, 422, "10015", "/participants/1"},
		{map[string]any{"participants": []string{"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"}}, 422, "10015", "/participants/0"},
		{map[string]any{"participants": "all", "exclude": []string{w.erin}}, 422, "10015", "/exclude/0"},
		{map[string]any{"participants": "all", "exclude": "x"}, 422, "10015", "/exclude"},
		{`{"participants":`, 400, "10023", ""},
	} {
		act("kick", tc.body).wantError(t, tc.status, tc.code, tc.pointer, "")
	}
	if e.participant(w.carol).LeftAt != nil || e.participant(w.dave).LeftAt != nil {
		t.Fatalf("a refused kick removed someone")
	}

	// Kick Carol; a kicked participant named again is simply skipped.
	act("kick", map[string]any{"participants": []string{w.carol}}).want(t, 200)
	if p := e.participant(w.carol); p.LeftAt == nil || p.LeftReason != domain.ReasonKicked || e.participant(w.dave).LeftAt != nil {
		t.Errorf("after kick: carol %+v", p)
	}
	act("kick", map[string]any{"participants": []string{w.carol}}).want(t, 200)

	// End: the session ends, Dave leaves, the room is idle.
	act("end", nil).want(t, 200)
	s := e.req("GET", "/v2/room_sessions/"+w.curSession, nil).data()
	if s["active"] != false || s["ended_at"] != "2024-03-06T10:00:00.000000Z" {
		t.Errorf("session after end: %v", s)
	}
	if e.participant(w.dave).LeftAt == nil {
		t.Errorf("dave still present after end")
	}
	if r := e.req("GET", "/v2/rooms/"+w.roomA, nil).data(); r["active_session_id"] != nil {
		t.Errorf("room still has an active session: %v", r["active_session_id"])
	}
	for _, a := range []string{"end", "kick", "mute", "unmute"} {
		act(a, map[string]any{"participants": "all"}).wantError(t, 422, "10015", "", "")
	}
	e.req("POST", "/v2/room_sessions/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0/actions/end", nil).wantError(t, 404, "10005", "", "")
	e.req("POST", "/v2/room_sessions/"+w.bSession+"/actions/explode", nil).wantError(t, 404, "10005", "", "")
	e.req("POST", "/v2/room_sessions/"+w.bSession+"/actions/end", nil, "Authorization", "").wantError(t, 401, "10009", "", "")
	if r := e.req("GET", "/v2/room_sessions/"+w.bSession, nil).data(); r["active"] != true {
		t.Errorf("unauthenticated end ended the session")
	}
}
