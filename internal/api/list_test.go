package api_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/api"
)

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	var created []string
	for i := range 251 {
		e.clock.Set(time.Date(2024, 3, 10, 12, 0, i, 0, time.UTC))
		created = append(created, e.createRoom(nil)["id"].(string))
	}
	slices.Reverse(created) // newest first

	def := e.req("GET", "/v2/rooms", nil).want(t, 200)
	if got := listIDs(def.list()); fmt.Sprint(got) != fmt.Sprint(created[:20]) {
		t.Errorf("default page is not the 20 newest")
	}
	wantMeta(t, def, 1, 20, 13, 251)

	for _, tc := range []struct {
		size, number, n, pages int
	}{
		{1, 1, 1, 251}, {1, 251, 1, 251}, {1, 252, 0, 251},
		{250, 1, 250, 2}, {250, 2, 1, 2}, {250, 3, 0, 2},
		{100, 3, 51, 3}, {20, 5000, 0, 13},
	} {
		r := e.req("GET", fmt.Sprintf("/v2/rooms?page[size]=%d&page[number]=%d", tc.size, tc.number), nil).want(t, 200)
		got := listIDs(r.list())
		if len(got) != tc.n {
			t.Errorf("size %d page %d: %d rooms, want %d", tc.size, tc.number, len(got), tc.n)
		} else if tc.n > 0 {
			start := (tc.number - 1) * tc.size
			if fmt.Sprint(got) != fmt.Sprint(created[start:start+tc.n]) {
				t.Errorf("size %d page %d: wrong rooms", tc.size, tc.number)
			}
		}
		if _, ok := r.body["data"].([]any); !ok {
			t.Errorf("size %d page %d: data is %s, want an array", tc.size, tc.number, r.raw[:20])
		}
		wantMeta(t, r, tc.number, tc.size, tc.pages, 251)
	}

	// A repeated parameter takes its last value, as the SDK's auto-pager
	// appends page[number] to a query that may already hold one.
	r := e.req("GET", "/v2/rooms?page%5Bsize%5D=5&page%5Bnumber%5D=1&page%5Bnumber%5D=2", nil).want(t, 200)
	if got := listIDs(r.list()); fmt.Sprint(got) != fmt.Sprint(created[5:10]) {
		t.Errorf("repeated page[number]: got the wrong page")
	}
	wantMeta(t, r, 2, 5, 51, 251)

	for _, q := range []struct{ query, param string }{
		{"page[size]=251", "page[size]"}, {"page[size]=0", "page[size]"}, {"page[size]=-1", "page[size]"},
		{"page[size]=ten", "page[size]"}, {"page[size]=2.5", "page[size]"},
		{"page[number]=0", "page[number]"}, {"page[number]=x", "page[number]"},
		{"page[number]=99999999999999999999", "page[number]"},
	} {
		e.req("GET", "/v2/rooms?"+q.query, nil).wantError(t, 422, "10015", "", q.param)
	}
}

func wantMeta(t *testing.T, r response, number, size, pages, total int) {
	t.Helper()
	m := r.meta()
	want := map[string]any{"page_number": float64(number), "page_size": float64(size), "total_pages": float64(pages), "total_results": float64(total)}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("meta = %v, want %v", m, want)
	}
}

func TestListEmpty(t *testing.T) {
	e := newEnv(t)
	r := e.req("GET", "/v2/rooms", nil).want(t, 200)
	if string(r.raw) != `{"data":[],"meta":{"page_number":1,"page_size":20,"total_pages":0,"total_results":0}}`+"\n" {
		t.Errorf("empty list = %s", r.raw)
	}
}

func TestListOrderTiesBrokenByID(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 5 { // same clock instant for all
		ids = append(ids, e.createRoom(nil)["id"].(string))
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	got := listIDs(e.req("GET", "/v2/rooms", nil).want(t, 200).list())
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("rooms created at one instant: got %v, want id descending %v", got, ids)
	}
}

// Rooms one microsecond either side of the midnights around 2024-03-10.
func TestListDateFilters(t *testing.T) {
	e := newEnv(t)
	day := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
	at := map[string]time.Time{
		"before": day.Add(-time.Microsecond),
		"first":  day,
		"last":   day.Add(24*time.Hour - time.Microsecond),
		"after":  day.Add(24 * time.Hour),
	}
	name := map[string]string{}
	for _, k := range []string{"before", "first", "last", "after"} {
		e.clock.Set(at[k])
		name[e.createRoom(map[string]any{"unique_name": k})["id"].(string)] = k
	}
	names := func(r response) []string {
		var out []string
		for _, id := range listIDs(r.list()) {
			out = append(out, name[id])
		}
		return out
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"filter[date_created_at][eq]=2024-03-10", []string{"last", "first"}},
		{"filter[date_created_at][gte]=2024-03-10", []string{"after", "last", "first"}},
		{"filter[date_created_at][lte]=2024-03-10", []string{"last", "first", "before"}},
		{"filter[date_created_at][gte]=2024-03-11", []string{"after"}},
		{"filter[date_created_at][lte]=2024-03-09", []string{"before"}},
		{"filter[date_created_at][gte]=2024-03-09&filter[date_created_at][lte]=2024-03-10", []string{"last", "first", "before"}},
		{"filter[date_created_at][gte]=2024-03-11&filter[date_created_at][lte]=2024-03-10", nil},
		{"filter[date_created_at][eq]=2024-03-10&filter[date_created_at][gte]=2024-03-11", nil},
		{"filter[date_created_at][eq]=2024-03-10&filter[unique_name]=first", []string{"first"}},
		{"filter[date_created_at][eq]=2024-03-10&filter[unique_name]=after", nil},
		{"filter[unique_name]=last", []string{"last"}},
		{"filter[unique_name]=LAST", nil},
		{"filter[unique_name]=", nil},
		// The form the official SDK sends: brackets percent-encoded.
		{"filter%5Bdate_created_at%5D%5Beq%5D=2024-03-10&page%5Bsize%5D=1", []string{"last"}},
	}
	for _, tc := range cases {
		r := e.req("GET", "/v2/rooms?"+tc.query, nil).want(t, 200)
		if fmt.Sprint(names(r)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.query, names(r), tc.want)
		}
		if n := r.meta()["total_results"]; n != float64(len(tc.want)) && tc.query[len(tc.query)-1] != '1' {
			t.Errorf("%s: total_results %v, want %d", tc.query, n, len(tc.want))
		}
	}

	// Updated-at filters follow the same whole-day rule.
	e.clock.Set(day.Add(48 * time.Hour))
	var firstID string
	for id, n := range name {
		if n == "first" {
			firstID = id
		}
	}
	e.req("PATCH", "/v2/rooms/"+firstID, map[string]any{"enable_recording": true}).want(t, 200)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"filter[date_updated_at][eq]=2024-03-12", []string{"first"}},
		{"filter[date_updated_at][gte]=2024-03-11", []string{"after", "first"}},
		{"filter[date_updated_at][lte]=2024-03-10", []string{"last", "before"}},
		{"filter[date_updated_at][lte]=2024-03-11&filter[date_created_at][eq]=2024-03-10", []string{"last"}},
	} {
		r := e.req("GET", "/v2/rooms?"+tc.query, nil).want(t, 200)
		if fmt.Sprint(names(r)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.query, names(r), tc.want)
		}
	}

	for _, q := range []string{
		"filter[date_created_at][eq]=2024-3-10", "filter[date_created_at][gte]=yesterday",
		"filter[date_created_at][lte]=2024-03-10T00:00:00Z", "filter[date_updated_at][eq]=2024-02-30",
		"filter[date_updated_at][lte]=10/03/2024",
	} {
		param, _, _ := cutEq(q)
		e.req("GET", "/v2/rooms?"+q, nil).wantError(t, 422, "10015", "", param)
	}
}

func cutEq(q string) (string, string, bool) {
	for i := range q {
		if q[i] == '=' {
			return q[:i], q[i+1:], true
		}
	}
	return q, "", false
}

func TestListIncludeSessions(t *testing.T) {
	e := newEnv(t)
	empty := e.createRoom(nil)["id"].(string)
	e.clock.Set(e.clock.Now().Add(time.Second))
	busy := e.createRoom(nil)["id"].(string)
	a, _ := e.svc.Join(t.Context(), busy, "Alice")
	e.svc.Join(t.Context(), busy, "Bob")
	e.svc.EndSession(t.Context(), a.SessionID, "api")
	e.clock.Set(e.clock.Now().Add(time.Second))
	c, _ := e.svc.Join(t.Context(), busy, "Carol")

	plain := e.req("GET", "/v2/rooms", nil).want(t, 200).list()
	for _, r := range plain {
		if _, ok := r["sessions"]; ok {
			t.Errorf("sessions without include_sessions")
		}
	}
	for _, v := range []string{"false", "FALSE"} {
		for _, r := range e.req("GET", "/v2/rooms?include_sessions="+v, nil).want(t, 200).list() {
			if _, ok := r["sessions"]; ok {
				t.Errorf("sessions with include_sessions=%s", v)
			}
		}
	}
	rs := e.req("GET", "/v2/rooms?include_sessions=true", nil).want(t, 200).list()
	if len(rs) != 2 || rs[0]["id"] != busy || rs[1]["id"] != empty {
		t.Fatalf("rooms: %v", listIDs(rs))
	}
	if ss, ok := rs[1]["sessions"].([]any); !ok || len(ss) != 0 {
		t.Errorf("room without sessions: sessions = %v, want []", rs[1]["sessions"])
	}
	ss := rs[0]["sessions"].([]any)
	if len(ss) != 2 || rs[0]["active_session_id"] != c.SessionID {
		t.Fatalf("busy room sessions: %v", rs[0])
	}
	cur, old := ss[0].(map[string]any), ss[1].(map[string]any)
	if cur["id"] != c.SessionID || cur["active"] != true || len(cur["participants"].([]any)) != 1 {
		t.Errorf("current session first: %v", cur)
	}
	if old["id"] != a.SessionID || old["active"] != false || old["ended_at"] == nil || len(old["participants"].([]any)) != 2 {
		t.Errorf("ended session: %v", old)
	}
	for _, p := range old["participants"].([]any) {
		if p.(map[string]any)["left_at"] == nil {
			t.Errorf("participant of an ended session has no left_at: %v", p)
		}
	}
	e.req("GET", "/v2/rooms?include_sessions=1x", nil).wantError(t, 422, "10015", "", "include_sessions")
}

func TestListQueryEscaping(t *testing.T) {
	e := newEnv(t)
	name := "team a&b=c [1]"
	e.createRoom(map[string]any{"unique_name": name})
	e.createRoom(nil)
	r := e.req("GET", "/v2/rooms?filter%5Bunique_name%5D="+url.QueryEscape(name), nil).want(t, 200)
	if len(r.list()) != 1 || r.list()[0]["unique_name"] != name {
		t.Errorf("filter by a name with reserved characters: %s", r.raw)
	}
}

// The load test's ceiling serves a page with the list's own encoder: the
// same bytes as the real list for the same page.
func TestFixedListHandlerEncodesLikeTheList(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.createRoom(map[string]any{"unique_name": fmt.Sprint("r", i), "webhook_event_url": "https://h.example/x"})
	}
	real := e.req("GET", "/v2/rooms", nil).want(t, 200).raw
	h, err := api.FixedListHandler(real)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v2/rooms", nil))
	if w.Body.String() != string(real) || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("baseline body differs from the list's:\n%s\n%s", w.Body.String(), real)
	}
}
