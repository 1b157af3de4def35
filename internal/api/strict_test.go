package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// A query pair that does not parse used to be dropped, and the filter it
// carried with it: every list answered unfiltered. Now each list refuses
// it, naming the parameter.
func TestMalformedQueryIsRefusedOnEveryList(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	rec := newRecordings(t, e)
	lists := []struct{ path, param, value string }{
		{"/v2/rooms", "filter[unique_name]", "A"},
		{"/v2/rooms", "filter[date_created_at][eq]", "2024-03-01"},
		{"/v2/rooms/" + w.roomA, "include_sessions", "true"},
		{"/v2/room_sessions", "filter[room_id]", w.roomA},
		{"/v2/room_sessions/" + w.curSession, "include_participants", "true"},
		{"/v2/rooms/" + w.roomA + "/sessions", "filter[active]", "true"},
		{"/v2/room_participants", "filter[session_id]", w.curSession},
		{"/v2/room_participants", "filter[context]", "Carol"},
		{"/v2/room_sessions/" + w.curSession + "/participants", "filter[context]", "Carol"},
		{"/v2/room_recordings", "filter[room_id]", rec.roomA},
		{"/v2/room_recordings", "filter[duration_secs][gte]", "30"},
		{"/v2/room_compositions", "filter[session_id]", rec.oldSession},
		{"/v2/webhook_deliveries", "filter[room_id]", w.roomA},
	}
	for _, l := range lists {
		page := "&page[size]=250"
		if strings.HasPrefix(l.param, "include_") {
			page = "" // a single resource
		}
		// The well-formed query is served.
		e.req("GET", l.path+"?"+l.param+"="+l.value+page, nil).want(t, 200)
		for _, bad := range []struct {
			suffix string
			status int
		}{{"%zz", 400}, {"%", 400}, {"%g1", 400}, {";", 400}, {";x=1", 400}, {"%00", 422}, {"%ff", 422}, {"%ed%a0%80", 422}} {
			e.req("GET", l.path+"?"+l.param+"="+l.value+bad.suffix+page, nil).
				wantError(t, bad.status, "10015", "", l.param)
		}
		// A malformed name is named as sent.
		e.req("GET", l.path+"?"+l.param+"="+l.value+"&x%zz=1", nil).wantError(t, 400, "10015", "", "x%zz")
	}
}

// Filter and page parameters an endpoint does not take are refused, in any
// case: a misspelt filter must not quietly widen a list. Other unknown
// parameters are ignored, as the Telnyx API ignores them.
func TestUnknownFilterIsRefused(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	for _, c := range []struct{ path, query, param string }{
		{"/v2/room_participants", "filter[sesion_id]=" + w.curSession, "filter[sesion_id]"},
		{"/v2/room_participants", "Filter[session_id]=" + w.curSession, "Filter[session_id]"},
		{"/v2/room_participants", "filter[session_id][eq]=" + w.curSession, "filter[session_id][eq]"},
		{"/v2/room_participants", "filter=" + w.curSession, "filter"},
		{"/v2/room_participants", "page[sise]=1", "page[sise]"},
		{"/v2/rooms", "filter[date_created_at]=2024-03-01", "filter[date_created_at]"},
		{"/v2/rooms", "filter[name]=A", "filter[name]"},
		{"/v2/rooms/" + w.roomA + "/sessions", "filter[room_id]=" + w.roomB, "filter[room_id]"},
		{"/v2/room_sessions/" + w.curSession + "/participants", "filter[session_id]=" + w.bSession, "filter[session_id]"},
		{"/v2/rooms/" + w.roomA, "filter[active]=true", "filter[active]"},
		{"/v2/room_compositions", "filter[room_id]=" + w.roomA, "filter[room_id]"},
	} {
		r := e.req("GET", c.path+"?"+c.query, nil)
		r.wantError(t, 422, "10015", "", c.param)
		if d := r.body["errors"].([]any)[0].(map[string]any)["detail"].(string); !strings.Contains(d, "it takes") {
			t.Errorf("%s?%s: the error does not list what the endpoint takes: %s", c.path, c.query, d)
		}
	}
	if got := w.names(e.req("GET", "/v2/room_participants?filter[session_id]="+w.curSession+"&utm_source=x", nil).want(t, 200).list()); got != "dave carol " {
		t.Errorf("an unknown non-filter parameter changed the list: %q", got)
	}
}

// A parameter given twice must carry one value; page[number] and
// page[size] take their last, for the SDK's auto-pager. Typed parameters
// refuse an empty value instead of reading it as absent.
func TestRepeatedAndEmptyParameters(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	e.req("GET", "/v2/room_participants?filter[session_id]="+w.curSession+"&filter[session_id]="+w.bSession, nil).
		wantError(t, 422, "10015", "", "filter[session_id]")
	if got := w.names(e.req("GET", "/v2/room_participants?filter[session_id]="+w.curSession+"&filter%5Bsession_id%5D="+w.curSession, nil).want(t, 200).list()); got != "dave carol " {
		t.Errorf("the same filter twice: %q", got)
	}
	if got := w.names(e.req("GET", "/v2/room_participants?page[size]=1&page[number]=1&page[number]=2&page[size]=2", nil).want(t, 200).list()); got != "carol bob " {
		t.Errorf("repeated page parameters: %q, want the last of each", got)
	}
	for _, c := range []struct{ path, param string }{
		{"/v2/room_participants", "filter[session_id]"},
		{"/v2/room_participants", "filter[date_joined_at][eq]"},
		{"/v2/room_sessions", "filter[active]"},
		{"/v2/room_sessions", "filter[room_id]"},
		{"/v2/room_recordings", "filter[status]"},
		{"/v2/room_recordings", "filter[duration_secs]"},
		{"/v2/rooms", "page[size]"},
		{"/v2/rooms", "include_sessions"},
	} {
		e.req("GET", c.path+"?"+c.param+"=", nil).wantError(t, 422, "10015", "", c.param)
	}
	// Exact-match text filters take the empty string as a value.
	if r := e.req("GET", "/v2/rooms?filter[unique_name]=", nil).want(t, 200); len(r.list()) != 0 {
		t.Errorf("filter[unique_name]= matched %d rooms", len(r.list()))
	}
	// Dates start at year 1: year 0 would make an open bound.
	e.req("GET", "/v2/rooms?filter[date_created_at][lte]=0000-12-31", nil).wantError(t, 422, "10015", "", "filter[date_created_at][lte]")
}

// The reported defect: a bulk delete whose room filter did not parse lost
// that filter and deleted the audio recordings of other rooms. Every form
// of it is refused now, and nothing is deleted.
func TestBulkDeleteNeverWidens(t *testing.T) {
	e := newEnv(t)
	rec := newRecordings(t, e)
	empty := e.createRoom(nil)["id"].(string) // a room without recordings
	total := func() float64 {
		return e.req("GET", "/v2/room_recordings", nil).want(t, 200).meta()["total_results"].(float64)
	}
	if n := total(); n != 3 {
		t.Fatalf("%v recordings to start with, want 3", n)
	}
	for _, c := range []struct {
		query  string
		status int
		param  string
	}{
		{"filter[room_id]=" + empty + "%zz&filter[type]=audio", 400, "filter[room_id]"},
		{"filter[room_id]=" + empty + ";&filter[type]=audio", 400, "filter[room_id]"},
		{"filter[room_id]=" + empty + ";filter[type]=audio", 400, "filter[room_id]"},
		{"filter[type]=audio&filter[room_id]=" + empty + "%00", 422, "filter[room_id]"},
		{"filter[room_id]=" + empty + "%ff&filter[type]=audio", 422, "filter[room_id]"},
		{"filter[room_id]=&filter[type]=audio", 422, "filter[room_id]"},
		{"filter[room-id]=" + empty + "&filter[type]=audio", 422, "filter[room-id]"},
		{"Filter[room_id]=" + empty + "&filter[type]=audio", 422, "Filter[room_id]"},
		{"filter[room_id][eq]=" + empty + "&filter[type]=audio", 422, "filter[room_id][eq]"},
		{"filter[room_id]=" + empty + "&filter[room_id]=" + rec.roomA + "&filter[type]=audio", 422, "filter[room_id]"},
		{"room_id=" + empty + "&filter[type]=audio", 422, "room_id"},
		{"filter[type]=audio&page[size]=1%zz", 400, "page[size]"},
		{"filter[type]=audio&page[sise]=1", 422, "page[sise]"},
		{"filter[date_started_at][gte]=0001-01-01", 422, "filter[date_started_at][gte]"},
		{"filter[date_started_at][lte]=0000-12-31", 422, "filter[date_started_at][lte]"},
	} {
		e.req("DELETE", "/v2/room_recordings?"+c.query, nil).wantError(t, c.status, "10015", "", c.param)
		if n := total(); n != 3 {
			t.Fatalf("DELETE ?%s removed recordings: %v left", c.query, n)
		}
	}
	// The well-formed request deletes exactly what it names: nothing.
	if r := e.req("DELETE", "/v2/room_recordings?filter[room_id]="+empty+"&filter[type]=audio", nil).want(t, 201); r.data()["room_recordings"] != float64(0) {
		t.Errorf("deleting the empty room's audio: %s", r.raw)
	}
	if r := e.req("DELETE", "/v2/room_recordings?filter%5Broom_id%5D="+rec.roomA+"&filter[type]=audio", nil).want(t, 201); r.data()["room_recordings"] != float64(1) {
		t.Errorf("deleting room A's audio: %s", r.raw)
	}
	if n := total(); n != 2 {
		t.Errorf("%v recordings left, want 2", n)
	}
}

// Text that is not valid UTF-8 (or holds a NUL) is refused, naming the
// field, rather than stored with replacement characters; so is a field
// given twice and a charset other than UTF-8. Nothing changes.
func TestBodyTextHygiene(t *testing.T) {
	e := newEnv(t)
	room := e.createRoom(map[string]any{"unique_name": "kept"})
	path := "/v2/rooms/" + room["id"].(string)
	for _, c := range []struct {
		body    string
		status  int
		code    string
		pointer string
	}{
		{"{\"unique_name\":\"caf\xe9\"}", 422, "10015", "/unique_name"},
		{"{\"unique_name\":\"\xed\xa0\x80\"}", 422, "10015", "/unique_name"},
		{`{"unique_name":"\ud800"}`, 422, "10015", "/unique_name"},
		{`{"unique_name":"\udc00x"}`, 422, "10015", "/unique_name"},
		{`{"unique_name":"\ud800\u0041"}`, 422, "10015", "/unique_name"},
		{`{"unique_name":"a\u0000b"}`, 422, "10015", "/unique_name"},
		{`{"webhook_event_url":"https://h.example/\u0000"}`, 422, "10015", "/webhook_event_url"},
		{`{"max_participants":5,"max_participants":60}`, 422, "10015", "/max_participants"},
		{"{\"caf\xe9\":1}", 422, "10015", ""},
		{`{"\ud800":1}`, 422, "10015", ""},
	} {
		for _, method := range []string{"POST", "PATCH"} {
			target := "/v2/rooms"
			if method == "PATCH" {
				target = path
			}
			r := e.req(method, target, c.body)
			r.wantError(t, c.status, c.code, c.pointer, "")
			if d := r.body["errors"].([]any)[0].(map[string]any)["detail"].(string); strings.ContainsRune(d, '\uFFFD') {
				t.Errorf("%s %q: the detail echoes a replacement character: %s", method, c.body, d)
			}
		}
	}
	for _, ct := range []string{"application/json; charset=latin1", "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded"} {
		e.req("POST", "/v2/rooms", `{"unique_name":"x"}`, "Content-Type", ct).wantError(t, 415, "10014", "", "")
	}
	if got := e.req("GET", path, nil).data(); fmt.Sprint(got) != fmt.Sprint(room) {
		t.Errorf("refused requests changed the room: %v", got)
	}
	if n := e.req("GET", "/v2/rooms", nil).meta()["total_results"]; n != float64(1) {
		t.Fatalf("refused requests created rooms: %v", n)
	}
	// Valid text in every form is kept exactly: a surrogate pair, UTF-8,
	// and an explicit UTF-8 charset in any case.
	r := e.req("POST", "/v2/rooms", `{"unique_name":"\ud83d\ude00 café ☕"}`, "Content-Type", "application/json; charset=UTF-8").want(t, 201)
	if got := r.data()["unique_name"]; got != "😀 café ☕" {
		t.Errorf("unique_name = %q", got)
	}
}

// Token answers hold credentials: no cache may keep them.
func TestTokenResponsesAreNotStored(t *testing.T) {
	e := newEnv(t)
	room := e.createRoom(nil)["id"].(string)
	r := e.req("POST", "/v2/rooms/"+room+"/actions/generate_join_client_token", map[string]any{}).want(t, 201)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("generate: Cache-Control %q", cc)
	}
	r = e.req("POST", "/v2/rooms/"+room+"/actions/refresh_client_token", map[string]any{"refresh_token": r.data()["refresh_token"]}, "Authorization", "").want(t, 201)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("refresh: Cache-Control %q", cc)
	}
}

// participants is optional, as in the Telnyx API: mute and unmute without
// it act on everyone; kick without it needs exclude, and then kicks
// everyone else.
func TestActionsWithoutParticipants(t *testing.T) {
	e := newEnv(t)
	w := newWorld(t, e)
	act := func(action string, body any) response { return e.act(w.curSession, action, body) }
	act("mute", map[string]any{}).want(t, 200)
	if !e.participant(w.carol).AudioMuted || !e.participant(w.dave).AudioMuted {
		t.Errorf("mute {} left someone unmuted")
	}
	act("unmute", nil).want(t, 200)
	if e.participant(w.carol).AudioMuted || e.participant(w.dave).AudioMuted {
		t.Errorf("unmute with no body left someone muted")
	}
	act("mute", map[string]any{"participants": nil, "exclude": []string{w.dave}}).want(t, 200)
	if !e.participant(w.carol).AudioMuted || e.participant(w.dave).AudioMuted {
		t.Errorf("mute all but Dave: carol %v, dave %v", e.participant(w.carol).AudioMuted, e.participant(w.dave).AudioMuted)
	}
	act("kick", map[string]any{}).wantError(t, 422, "10004", "/participants", "")
	act("kick", nil).wantError(t, 422, "10004", "/participants", "")
	if e.participant(w.carol).LeftAt != nil || e.participant(w.dave).LeftAt != nil {
		t.Fatalf("a refused kick removed someone")
	}
	act("kick", map[string]any{"exclude": []string{w.dave}}).want(t, 200)
	if e.participant(w.carol).LeftAt == nil || e.participant(w.dave).LeftAt != nil {
		t.Errorf("kick all but Dave: carol left %v, dave left %v", e.participant(w.carol).LeftAt, e.participant(w.dave).LeftAt)
	}
}
