// Package httpfuzz sends a whole roomsd, served as production serves it,
// thousands of malformed requests made by mutating valid ones, and checks
// what a client would see: every answer is well formed (below 500, errors
// in the JSON envelope, nosniff everywhere), no malformed request widens
// a list or a delete beyond what its valid form selects, and the data the
// requests were not meant to touch is, at the end, byte for byte what it
// was at the start.
//
// The count of requests is 3000; go test ./test/httpfuzz -httpfuzz.n=N
// sends N. The sequence is the same on every run (a fixed seed, which
// -httpfuzz.seed=S changes).
package httpfuzz

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/testutil"
)

var (
	requestCount = flag.Int("httpfuzz.n", 3000, "how many mutated requests TestMalformedRequestsNeverWiden sends")
	seed         = flag.Uint64("httpfuzz.seed", 20240310, "the seed of the mutated requests' sequence")
)

// allowedOrigin is the one origin whose pages may call the API, so that
// the CORS layer is on the path of every request too.
const allowedOrigin = "https://app.example.com"

func TestMalformedRequestsNeverWiden(t *testing.T) {
	w := setup(t)
	c := newClient(t, w.app.URL)
	before := snapshot(t, c, w, true)

	rng := rand.New(rand.NewPCG(*seed, 1))
	templates := w.templates()
	statuses := map[int]int{}
	var failures, checked int
	report := func(rq *request, format string, args ...any) {
		t.Helper()
		failures++
		t.Errorf("%s\n  request: %s", fmt.Sprintf(format, args...), rq)
		if failures >= 20 {
			t.Fatalf("stopping after %d failures", failures)
		}
	}
	start := time.Now()
	for i := range *requestCount {
		tm := templates[rng.IntN(len(templates))]
		rq := tm.instantiate(i)
		mutate(rng, rq)
		resp, body := c.send(rq)
		statuses[resp.StatusCode]++
		if resp.StatusCode >= 500 {
			report(rq, "status %d: %s", resp.StatusCode, cut(body))
		}
		for _, p := range responseProblems(rq, resp, body) {
			report(rq, "%s", p)
		}
		// An answer to another method (a CORS preflight, say) is not one
		// of the template's; the final snapshot covers what it did.
		if tm.check != nil && resp.StatusCode/100 == 2 && strings.EqualFold(rq.method, tm.method) {
			checked++
			if p := tm.check(body); p != "" {
				report(rq, "%d answer selects what the request did not ask for: %s\n  answer: %s", resp.StatusCode, p, cut(body))
			}
		}
	}
	elapsed := time.Since(start)

	// Requests no HTTP client would send, each with the answer net/http
	// or roomsd gives it by design (501 and 505 included).
	raws := w.rawRequests()
	for _, raw := range raws {
		resp, body := testutil.RawHTTP(t, c.addr, raw.text)
		statuses[resp.StatusCode]++
		rq := &request{method: "RAW", path: strconv.Quote(cut([]byte(raw.text)))}
		if resp.StatusCode != raw.want {
			report(rq, "status %d, want %d: %s", resp.StatusCode, raw.want, cut(body))
		}
		for _, p := range responseProblems(rq, resp, body) {
			report(rq, "%s", p)
		}
	}

	after := snapshot(t, c, w, false)
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if a, ok := after[k]; !ok {
			t.Errorf("%s is gone", k)
		} else if a != before[k] {
			t.Errorf("%s changed:\n  before: %s\n  after:  %s", k, before[k], a)
		}
	}

	var counts []string
	for _, s := range slices.Sorted(maps.Keys(statuses)) {
		counts = append(counts, fmt.Sprintf("%d: %d", s, statuses[s]))
	}
	t.Logf("%d mutated requests in %v (and %d raw ones); answers by status: %s; %d successful answers checked against their filter",
		*requestCount, elapsed.Round(time.Millisecond), len(raws), strings.Join(counts, ", "), checked)
}

// --- the server and its data

// world is a running roomsd and the data in it. The protected rooms, with
// their sessions, participants, recordings and composition, must come out
// of the run unchanged; the scratch room, which has no recordings, is
// what mutated writes aim at.
type world struct {
	app *testutil.App

	rooms        []string // protected rooms: rooms[0] has the ended session, rooms[1] the active one, rooms[2] none
	roomNames    []string
	ended        string   // protected ended session in rooms[0], with recordings
	active       string   // protected active session in rooms[1]
	participants []string // of ended, then of active
	endedParts   []string // of ended
	recordings   []string
	videoRec     string // a completed video recording of ended
	composition  string

	scratch        string // the room mutated writes aim at
	scratchSession string // an ended session of scratch, without recordings
	refreshToken   string // a refresh token for scratch
}

func setup(t *testing.T) *world {
	t.Helper()
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hooks.Close)
	db := filepath.Join(t.TempDir(), "roomsd.db")
	app := testutil.StartApp(t, func(c *config.Config) {
		c.DB = db
		c.CORSOrigins = []string{allowedOrigin}
	})
	w := &world{app: app}

	// Sessions, participants and recordings come into being through the
	// rooms operations on the server's database file, as e2e/fixture makes
	// them; rooms and the composition through the API.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := rooms.New(st)

	create := func(name string, i int) string {
		status, out := app.Call(http.MethodPost, "/v2/rooms", map[string]any{
			"unique_name": name, "max_participants": 10 + i, "enable_recording": true,
			"webhook_event_url":          fmt.Sprintf("%s/hooks/%s", hooks.URL, name),
			"webhook_event_failover_url": fmt.Sprintf("%s/failover/%s", hooks.URL, name),
			"webhook_timeout_secs":       5 + i,
		})
		if status != http.StatusCreated {
			t.Fatalf("create room %s: %d %v", name, status, out)
		}
		return out["data"].(map[string]any)["id"].(string)
	}
	for i := range 3 {
		name := fmt.Sprintf("protected-%d", i)
		w.rooms = append(w.rooms, create(name, i))
		w.roomNames = append(w.roomNames, name)
	}
	w.scratch = create("scratch", 3)

	join := func(room, context string) domain.Participant {
		p, err := svc.Join(ctx, room, context)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	record := func(p domain.Participant, media, codec string, complete bool) domain.Recording {
		r, err := svc.StartRecording(ctx, p.ID, media, codec)
		if err != nil {
			t.Fatal(err)
		}
		if complete {
			if r, err = svc.CompleteRecording(ctx, r.ID, 1.5, 42, "https://files.example.com/"+r.ID); err != nil {
				t.Fatal(err)
			}
		}
		w.recordings = append(w.recordings, r.ID)
		return r
	}

	// rooms[0]: an ended session of three, two of them recorded.
	ann, bob, cid := join(w.rooms[0], "ann"), join(w.rooms[0], "bob"), join(w.rooms[0], "cid")
	w.ended = ann.SessionID
	record(ann, domain.MediaAudio, "opus", true)
	w.videoRec = record(ann, domain.MediaVideo, "vp8", true).ID
	record(bob, domain.MediaAudio, "opus", false)
	record(bob, domain.MediaVideo, "vp8", false)
	if _, err := svc.Leave(ctx, cid.ID, domain.ReasonLeft); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.EndSession(ctx, w.ended, domain.ReasonAPI); err != nil {
		t.Fatal(err)
	}
	w.endedParts = []string{ann.ID, bob.ID, cid.ID}

	// rooms[1]: an active session of two, one recording in progress.
	dan, eve := join(w.rooms[1], "dan"), join(w.rooms[1], "eve")
	w.active = dan.SessionID
	record(dan, domain.MediaAudio, "opus", false)
	w.participants = append(slices.Clone(w.endedParts), dan.ID, eve.ID)

	// The scratch room: an ended session, never recorded.
	sp := join(w.scratch, "scratcher")
	w.scratchSession = sp.SessionID
	if _, _, err := svc.EndSession(ctx, w.scratchSession, domain.ReasonAPI); err != nil {
		t.Fatal(err)
	}

	status, out := app.Call(http.MethodPost, "/v2/room_compositions", map[string]any{
		"session_id": w.ended, "resolution": "640x360",
		"video_layout": map[string]any{"main": map[string]any{"x_pos": 0, "y_pos": 0, "width": 640, "height": 360,
			"video_sources": []string{w.videoRec}}},
	})
	if status != http.StatusAccepted {
		t.Fatalf("create composition: %d %v", status, out)
	}
	w.composition = out["data"].(map[string]any)["id"].(string)

	status, out = app.Call(http.MethodPost, "/v2/rooms/"+w.scratch+"/actions/generate_join_client_token", map[string]any{})
	if status != http.StatusCreated {
		t.Fatalf("generate token: %d %v", status, out)
	}
	w.refreshToken = out["data"].(map[string]any)["refresh_token"].(string)
	return w
}

// --- snapshots of the protected data

// snapshot reads every protected resource through the API: each by id,
// and each as an item of every list that holds it (all pages). The first
// snapshot checks that every list holds all it should; a later one leaves
// the differences to the comparison, which names them.
func snapshot(t *testing.T, c *client, w *world, first bool) map[string]string {
	t.Helper()
	protected := map[string]bool{}
	for _, ids := range [][]string{w.rooms, {w.ended, w.active}, w.participants, w.recordings, {w.composition}} {
		for _, id := range ids {
			protected[id] = true
		}
	}
	snap := map[string]string{}
	list := func(path string, want int) {
		found := 0
		for page := 1; ; page++ {
			var out struct {
				Data []json.RawMessage `json:"data"`
				Meta struct {
					TotalPages int `json:"total_pages"`
				} `json:"meta"`
			}
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			if !c.getJSON(fmt.Sprintf("%s%spage[size]=250&page[number]=%d", path, sep, page), &out, !first) {
				return
			}
			for _, item := range out.Data {
				var head struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(item, &head); err != nil {
					t.Fatalf("GET %s: item %s: %v", path, item, err)
				}
				if protected[head.ID] {
					snap["GET "+path+" item "+head.ID] = string(item)
					found++
				}
			}
			if page >= out.Meta.TotalPages {
				break
			}
		}
		if first && found != want {
			t.Fatalf("GET %s lists %d protected items, want %d", path, found, want)
		}
	}
	view := func(path string) {
		var out struct {
			Data json.RawMessage `json:"data"`
		}
		if c.getJSON(path, &out, !first) {
			snap["GET "+path] = string(out.Data)
		}
	}

	list("/v2/rooms", len(w.rooms))
	list("/v2/rooms?include_sessions=true", len(w.rooms))
	list("/v2/room_sessions?include_participants=true", 2)
	list("/v2/room_participants", len(w.participants))
	list("/v2/room_recordings", len(w.recordings))
	list("/v2/room_compositions", 1)
	list("/v2/rooms/"+w.rooms[0]+"/sessions", 1)
	list("/v2/rooms/"+w.rooms[1]+"/sessions?include_participants=true", 1)
	list("/v2/room_sessions/"+w.ended+"/participants", len(w.endedParts))
	for _, id := range w.rooms {
		view("/v2/rooms/" + id + "?include_sessions=true")
	}
	for _, id := range []string{w.ended, w.active} {
		view("/v2/room_sessions/" + id + "?include_participants=true")
	}
	for _, id := range w.participants {
		view("/v2/room_participants/" + id)
	}
	for _, id := range w.recordings {
		view("/v2/room_recordings/" + id)
	}
	view("/v2/room_compositions/" + w.composition)
	return snap
}

// --- templates: valid requests and what their answers may hold

// kind says what a query parameter's value is, so that a mutation can
// tell a different value that selects nothing from one that selects
// other data.
type kind int

const (
	kindID    kind = iota // a UUID
	kindEnum              // one of fixed words
	kindBool              // true or false
	kindInt               // a whole number
	kindDate              // YYYY-MM-DD
	kindText              // an exact match on free text
	kindPage              // page[size], page[number]
	kindOther             // not a filter
)

type param struct {
	name, value string // as sent: percent-encoded where needed
	kind        kind
	bare        bool // sent as the name alone, without =
	family      bool // a filter[...] or page[...] parameter
}

// member is one field of a JSON object body: the key's text as it goes
// between the quotes, and the value as raw JSON.
type member struct{ key, value string }

type template struct {
	name   string
	method string
	path   string
	query  []param
	body   []member // nil: no body
	public bool     // served without the API key
	// check says what is wrong with a 2xx answer's body, or "".
	check func(body []byte) string
	// vary makes each instance's body unique (a room name).
	vary func(i int) []member
}

func (w *world) templates() []*template {
	p := func(name, value string, k kind) param {
		return param{name: name, value: value, kind: k,
			family: strings.HasPrefix(name, "filter[") || strings.HasPrefix(name, "page[")}
	}
	nothing := everyItem(func(map[string]any) string { return "the filter selects nothing" })
	s := w.scratch
	endedAction := func(action string, body []member) *template {
		return &template{name: "session " + action, method: http.MethodPost,
			path: "/v2/room_sessions/" + w.ended + "/actions/" + action, body: body}
	}
	scratchAction := func(action string, body []member) *template {
		return &template{name: "scratch session " + action, method: http.MethodPost,
			path: "/v2/room_sessions/" + w.scratchSession + "/actions/" + action, body: body}
	}
	quoted := func(s string) string { return strconv.Quote(s) }
	ids := func(ids ...string) string {
		q := make([]string, len(ids))
		for i, id := range ids {
			q[i] = quoted(id)
		}
		return "[" + strings.Join(q, ",") + "]"
	}
	return []*template{
		// Lists, filtered on known data.
		{name: "rooms by name", method: http.MethodGet, path: "/v2/rooms",
			query: []param{p("filter[unique_name]", w.roomNames[1], kindText), p("include_sessions", "true", kindBool), p("page[size]", "250", kindPage)},
			check: everyItem(func(it map[string]any) string {
				if it["unique_name"] != w.roomNames[1] {
					return "unique_name is not " + w.roomNames[1]
				}
				return sessionsOf(it, "room_id", it["id"])
			})},
		{name: "rooms created long ago", method: http.MethodGet, path: "/v2/rooms",
			query: []param{p("filter[date_created_at][lte]", "2000-01-01", kindDate), p("page[number]", "1", kindPage)}, check: nothing},
		{name: "rooms updated in the future", method: http.MethodGet, path: "/v2/rooms",
			query: []param{p("filter[date_updated_at][gte]", "9999-12-31", kindDate), p("filter[unique_name]", w.roomNames[0], kindText)}, check: nothing},
		{name: "sessions of a room", method: http.MethodGet, path: "/v2/rooms/" + w.rooms[0] + "/sessions",
			query: []param{p("include_participants", "true", kindBool), p("page[size]", "250", kindPage)},
			check: everyItem(func(it map[string]any) string {
				if it["room_id"] != w.rooms[0] {
					return "room_id is not " + w.rooms[0]
				}
				return sessionsOf(it, "session_id", it["id"])
			})},
		{name: "active sessions of a room", method: http.MethodGet, path: "/v2/room_sessions",
			query: []param{p("filter[room_id]", w.rooms[1], kindID), p("filter[active]", "true", kindBool), p("include_participants", "true", kindBool)},
			check: everyItem(func(it map[string]any) string {
				if it["room_id"] != w.rooms[1] || it["active"] != true {
					return "not an active session of " + w.rooms[1]
				}
				return sessionsOf(it, "session_id", it["id"])
			})},
		{name: "sessions ended long ago", method: http.MethodGet, path: "/v2/room_sessions",
			query: []param{p("filter[room_id]", w.rooms[0], kindID), p("filter[date_ended_at][lte]", "2000-01-01", kindDate)}, check: nothing},
		{name: "participants of a session by context", method: http.MethodGet, path: "/v2/room_sessions/" + w.ended + "/participants",
			query: []param{p("filter[context]", "bob", kindText)},
			check: fields("session_id", w.ended, "context", "bob")},
		{name: "participants of a session", method: http.MethodGet, path: "/v2/room_participants",
			query: []param{p("filter[session_id]", w.ended, kindID), p("page[size]", "250", kindPage), p("page[number]", "1", kindPage)},
			check: fields("session_id", w.ended)},
		{name: "participants who left long ago", method: http.MethodGet, path: "/v2/room_participants",
			query: []param{p("filter[session_id]", w.active, kindID), p("filter[date_left_at][lte]", "2000-01-01", kindDate)}, check: nothing},
		{name: "video recordings of a room", method: http.MethodGet, path: "/v2/room_recordings",
			query: []param{p("filter[room_id]", w.rooms[0], kindID), p("filter[type]", "video", kindEnum)},
			check: fields("room_id", w.rooms[0], "type", "video")},
		{name: "completed recordings of a session", method: http.MethodGet, path: "/v2/room_recordings",
			query: []param{p("filter[session_id]", w.ended, kindID), p("filter[status]", "completed", kindEnum)},
			check: fields("session_id", w.ended, "status", "completed")},
		{name: "recordings of a participant", method: http.MethodGet, path: "/v2/room_recordings",
			query: []param{p("filter[participant_id]", w.endedParts[1], kindID)}, check: fields("participant_id", w.endedParts[1])},
		{name: "long recordings", method: http.MethodGet, path: "/v2/room_recordings",
			query: []param{p("filter[room_id]", w.rooms[0], kindID), p("filter[duration_secs][gte]", "100000", kindInt)}, check: nothing},
		{name: "recordings of the scratch room", method: http.MethodGet, path: "/v2/room_recordings",
			query: []param{p("filter[room_id]", s, kindID), p("filter[type]", "audio", kindEnum)}, check: nothing},
		{name: "compositions of a session", method: http.MethodGet, path: "/v2/room_compositions",
			query: []param{p("filter[session_id]", w.ended, kindID), p("filter[status]", "enqueued", kindEnum)},
			check: fields("session_id", w.ended, "status", "enqueued")},
		{name: "webhook deliveries of a room", method: http.MethodGet, path: "/v2/webhook_deliveries",
			query: []param{p("filter[room_id]", w.rooms[0], kindID)}, check: fields("room_id", w.rooms[0])},

		// Views by id.
		{name: "room", method: http.MethodGet, path: "/v2/rooms/" + w.rooms[0], query: []param{p("include_sessions", "true", kindBool)},
			check: isResource(w.rooms[0])},
		{name: "session", method: http.MethodGet, path: "/v2/room_sessions/" + w.ended, query: []param{p("include_participants", "true", kindBool)},
			check: isResource(w.ended)},
		{name: "participant", method: http.MethodGet, path: "/v2/room_participants/" + w.participants[0], check: isResource(w.participants[0])},
		{name: "recording", method: http.MethodGet, path: "/v2/room_recordings/" + w.videoRec, check: isResource(w.videoRec)},
		{name: "composition", method: http.MethodGet, path: "/v2/room_compositions/" + w.composition, check: isResource(w.composition)},

		// The bulk delete, aimed at the scratch room, which has no recordings.
		{name: "bulk delete", method: http.MethodDelete, path: "/v2/room_recordings",
			query: []param{p("filter[room_id]", s, kindID), p("filter[type]", "audio", kindEnum)}, check: deletedNone},
		{name: "bulk delete by page", method: http.MethodDelete, path: "/v2/room_recordings",
			query: []param{p("filter[room_id]", s, kindID), p("filter[status]", "completed", kindEnum), p("page[size]", "5", kindPage)},
			check: deletedNone},

		// Writes to the scratch room.
		{name: "update scratch", method: http.MethodPatch, path: "/v2/rooms/" + s,
			body:  []member{{"max_participants", "12"}, {"webhook_event_url", quoted("https://example.com/scratch")}, {"webhook_timeout_secs", "7"}},
			check: isResource(s)},
		{name: "rename scratch", method: http.MethodPatch, path: "/v2/rooms/" + s,
			body: []member{{"unique_name", quoted("scratch")}, {"enable_recording", "false"}, {"webhook_event_failover_url", "null"}}, check: isResource(s)},
		{name: "create room", method: http.MethodPost, path: "/v2/rooms",
			vary: func(i int) []member {
				return []member{{"unique_name", quoted(fmt.Sprintf("fuzz-%d", i))}, {"max_participants", "4"}}
			}},
		{name: "generate token", method: http.MethodPost, path: "/v2/rooms/" + s + "/actions/generate_join_client_token",
			body: []member{{"token_ttl_secs", "600"}, {"refresh_token_ttl_secs", "3600"}}},
		{name: "refresh token", method: http.MethodPost, path: "/v2/rooms/" + s + "/actions/refresh_client_token", public: true,
			body: []member{{"refresh_token", quoted(w.refreshToken)}, {"token_ttl_secs", "60"}}},
		{name: "compose scratch", method: http.MethodPost, path: "/v2/room_compositions",
			body: []member{{"session_id", quoted(w.scratchSession)}, {"resolution", quoted("640x360")},
				{"video_layout", `{"main":{"x_pos":0,"y_pos":0,"video_sources":["*"]}}`}}},
		{name: "delete unknown room", method: http.MethodDelete, path: "/v2/rooms/" + fixedUUID(1)},
		{name: "delete unknown recording", method: http.MethodDelete, path: "/v2/room_recordings/" + fixedUUID(2)},

		// Actions on ended sessions: never allowed, whatever the body.
		endedAction("kick", []member{{"participants", quoted("all")}}),
		endedAction("kick", []member{{"participants", ids(w.endedParts[0])}}),
		endedAction("mute", []member{{"exclude", ids(w.endedParts[1])}}),
		endedAction("unmute", []member{{"participants", ids(w.endedParts...)}}),
		endedAction("end", []member{}),
		scratchAction("kick", []member{{"exclude", ids(fixedUUID(3))}}),
		scratchAction("end", []member{}),

		// Everything else a client can reach.
		{name: "connect without upgrade", method: http.MethodGet, path: "/v2/rooms/" + s + "/connect", public: true},
		{name: "meeting page", method: http.MethodGet, path: "/", public: true,
			query: []param{p("room", s, kindOther), p("name", "Ann", kindOther)}},
		{name: "join page", method: http.MethodGet, path: "/join", public: true},
		{name: "page script", method: http.MethodGet, path: "/web/app.js", public: true},
		{name: "page style", method: http.MethodGet, path: "/web/style.css", public: true},
		{name: "token keys", method: http.MethodGet, path: "/.well-known/jwks.json", public: true},
		{name: "webhook key", method: http.MethodGet, path: "/.well-known/webhook-public-key", public: true},
		{name: "preflight", method: http.MethodOptions, path: "/v2/room_recordings", public: true,
			query: []param{p("filter[room_id]", s, kindID)}},
	}
}

// instantiate makes the i-th request from tm: half of the requests to
// public paths carry the API key anyway.
func (tm *template) instantiate(i int) *request {
	rq := &request{tmpl: tm, method: tm.method, path: tm.path, query: slices.Clone(tm.query), header: http.Header{}}
	body := tm.body
	if tm.vary != nil {
		body = tm.vary(i)
	}
	if body != nil {
		rq.members = slices.Clone(body)
		rq.hasBody = true
		rq.header.Set("Content-Type", "application/json")
	}
	if !tm.public || i%2 == 0 {
		rq.header.Set("Authorization", "Bearer k")
	}
	if tm.method == http.MethodOptions {
		rq.header.Set("Origin", allowedOrigin)
		rq.header.Set("Access-Control-Request-Method", http.MethodDelete)
	}
	return rq
}

// everyItem checks each item of a list answer.
func everyItem(bad func(item map[string]any) string) func([]byte) string {
	return func(body []byte) string {
		var out struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return "not a list: " + err.Error()
		}
		for _, it := range out.Data {
			if p := bad(it); p != "" {
				return fmt.Sprintf("item %v: %s", it["id"], p)
			}
		}
		return ""
	}
}

// fields checks that every item of a list has the given values:
// fields("room_id", id, "type", "video").
func fields(pairs ...string) func([]byte) string {
	return everyItem(func(it map[string]any) string {
		for i := 0; i+1 < len(pairs); i += 2 {
			if name, want := pairs[i], pairs[i+1]; it[name] != want {
				return fmt.Sprintf("%s is %v, not %s", name, it[name], want)
			}
		}
		return ""
	})
}

// sessionsOf checks the embedded sessions or participants of an item: each
// must name the item as its parent in parentField.
func sessionsOf(item map[string]any, parentField string, parent any) string {
	for _, key := range []string{"sessions", "participants"} {
		children, _ := item[key].([]any)
		for _, c := range children {
			child, _ := c.(map[string]any)
			if child[parentField] != parent {
				return fmt.Sprintf("embedded %s %v belongs to %v, not %v", key, child["id"], child[parentField], parent)
			}
			if key == "sessions" {
				if p := sessionsOf(child, "session_id", child["id"]); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// isResource checks that an answer is the resource with this id.
func isResource(id string) func([]byte) string {
	return func(body []byte) string {
		var out struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &out); err != nil || out.Data.ID != id {
			return "not the resource " + id
		}
		return ""
	}
}

// deletedNone checks a bulk delete answer: the scratch room has no
// recordings, so any recording deleted was not asked for.
func deletedNone(body []byte) string {
	var out struct {
		Data struct {
			RoomRecordings *int `json:"room_recordings"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data.RoomRecordings == nil {
		return "not a bulk delete answer"
	}
	if n := *out.Data.RoomRecordings; n != 0 {
		return fmt.Sprintf("deleted %d recordings", n)
	}
	return ""
}

// --- requests and their mutations

type request struct {
	tmpl      *template
	method    string
	path      string // the request path as sent
	query     []param
	queryTail string // appended to the query as it is
	header    http.Header
	members   []member
	hasBody   bool
	rawBody   []byte // when set, sent instead of members
	mutations []string
}

func (rq *request) rawQuery() string {
	parts := make([]string, len(rq.query))
	for i, p := range rq.query {
		parts[i] = p.name
		if !p.bare {
			parts[i] += "=" + p.value
		}
	}
	return strings.Join(parts, "&") + rq.queryTail
}

func (rq *request) body() []byte {
	if rq.rawBody != nil {
		return rq.rawBody
	}
	if !rq.hasBody {
		return nil
	}
	return encodeMembers(rq.members)
}

func encodeMembers(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + m.key + `":` + m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (rq *request) String() string {
	name := "raw"
	if rq.tmpl != nil {
		name = rq.tmpl.name
	}
	s := fmt.Sprintf("%s %s", rq.method, cut([]byte(rq.path)))
	if q := rq.rawQuery(); q != "" {
		s += "?" + cut([]byte(q))
	}
	s += fmt.Sprintf(" (%s; mutations %v)", name, rq.mutations)
	for _, k := range slices.Sorted(maps.Keys(rq.header)) {
		s += fmt.Sprintf("\n    %s: %q", k, rq.header[k])
	}
	if b := rq.body(); b != nil {
		s += "\n    body: " + strconv.Quote(cut(b))
	}
	return s
}

// cut bounds text shown in a failure.
func cut(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// A mutation changes one token of a request, or says it does not apply.
// None removes a parameter or turns a value into another valid value that
// selects protected data: every mutated request asks for at most what its
// template asks for, or is malformed.
type mutation struct {
	name  string
	apply func(r *rand.Rand, rq *request) bool
}

func mutate(r *rand.Rand, rq *request) {
	n := 1 + r.IntN(3)
	if r.IntN(20) == 0 {
		n = 0 // one in twenty goes out as it is
	}
	for range n {
		for range 20 {
			m := mutations[r.IntN(len(mutations))]
			was := rq.clone()
			if !m.apply(r, rq) {
				continue
			}
			if !keepsFilters(rq) {
				*rq = *was // it made a filter into another parameter
				continue
			}
			rq.mutations = append(rq.mutations, m.name)
			break
		}
	}
}

func (rq *request) clone() *request {
	c := *rq
	c.query = slices.Clone(rq.query)
	c.header = rq.header.Clone()
	c.members = slices.Clone(rq.members)
	c.rawBody = slices.Clone(rq.rawBody)
	c.mutations = slices.Clone(rq.mutations)
	return &c
}

// keepsFilters reports whether every filter and page parameter of rq is
// still one: a pair whose name decodes cleanly must still name the filter
// or page family, or the mutation would have dropped the filter, not
// malformed it. (A pair that does not decode must be refused anyway.)
func keepsFilters(rq *request) bool {
	for _, p := range rq.query {
		if !p.family || strings.Contains(p.name+p.value, ";") {
			continue
		}
		name, err := url.QueryUnescape(p.name)
		value, verr := url.QueryUnescape(p.value)
		if err != nil || verr != nil || !clean(name) || !clean(value) {
			continue
		}
		l := strings.ToLower(name)
		if !strings.HasPrefix(l, "filter") && !strings.HasPrefix(l, "page") {
			return false
		}
	}
	return true
}

// clean reports whether decoded text is what roomsd takes in a query:
// valid UTF-8 without NUL.
func clean(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// pick returns a random element.
func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// insertAt puts frag into s at a random byte offset.
func insertAt(r *rand.Rand, s, frag string) string {
	i := r.IntN(len(s) + 1)
	return s[:i] + frag + s[i:]
}

// onParam applies f to a random parameter, if there is one.
func onParam(f func(r *rand.Rand, p *param) bool) func(*rand.Rand, *request) bool {
	return func(r *rand.Rand, rq *request) bool {
		if len(rq.query) == 0 {
			return false
		}
		return f(r, &rq.query[r.IntN(len(rq.query))])
	}
}

// onNameOrValue inserts one of frags into a random parameter's name or
// value.
func onNameOrValue(frags ...string) func(*rand.Rand, *request) bool {
	return onParam(func(r *rand.Rand, p *param) bool {
		frag := pick(r, frags...)
		if r.IntN(3) == 0 {
			p.name = insertAt(r, p.name, frag)
		} else {
			p.value = insertAt(r, p.value, frag)
		}
		return true
	})
}

// differentValue is another value for a parameter that either does not
// parse or selects nothing that the template's value does not.
func differentValue(r *rand.Rand, p param) string {
	switch p.kind {
	case kindID:
		return pick(r, fixedUUID(r.IntN(1000)+100), asciiUpper(p.value), p.value+"0")
	case kindText:
		return p.value + "-other"
	default:
		return p.value + "x"
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// segmentBoundary returns the offset of a random / after the first.
func segmentBoundary(r *rand.Rand, path string) int {
	var at []int
	for i := 1; i < len(path); i++ {
		if path[i] == '/' {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return len(path)
	}
	return pick(r, at...)
}

var mutations = []mutation{
	// The query, token by token.
	// A % before two hex digits would be a valid escape, so each
	// fragment is malformed whatever follows it.
	{"bad escape", onNameOrValue("%zz", "%", "%g1", "%%", "%x")},
	{"semicolon", onNameOrValue(";", "%3B;", ";x=1")},
	{"NUL", onNameOrValue("%00")},
	{"invalid UTF-8", onNameOrValue("%ff", "%c3", "%ed%a0%80", "%c0%af", "\xff", "\xc3(")},
	{"duplicate", func(r *rand.Rand, rq *request) bool {
		if len(rq.query) == 0 {
			return false
		}
		rq.query = append(rq.query, rq.query[r.IntN(len(rq.query))])
		return true
	}},
	{"repeat with another value", func(r *rand.Rand, rq *request) bool {
		if len(rq.query) == 0 {
			return false
		}
		p := rq.query[r.IntN(len(rq.query))]
		q := p
		q.value = differentValue(r, p)
		if r.IntN(2) == 0 {
			rq.query = append(rq.query, q)
		} else {
			rq.query = append([]param{q}, rq.query...)
		}
		return true
	}},
	{"misspelt name", onParam(func(r *rand.Rand, p *param) bool {
		if !strings.Contains(p.name, "[") {
			return false
		}
		switch r.IntN(6) {
		case 0:
			p.name = strings.Replace(p.name, "_", "", 1)
		case 1:
			p.name = strings.Replace(p.name, "]", "", 1)
		case 2:
			p.name = strings.Replace(p.name, "[", "s[", 1)
		case 3:
			p.name = strings.Replace(p.name, "]", "] ", 1)
		case 4:
			p.name += "]"
		default:
			// A letter inside the brackets: without the filter or page
			// prefix the name would be another parameter, not a misspelt
			// filter.
			open := strings.IndexByte(p.name, '[')
			if open+1 == len(p.name) {
				return false
			}
			i := open + 1 + r.IntN(len(p.name)-open-1)
			p.name = p.name[:i] + p.name[i+1:]
		}
		return true
	})},
	{"empty value", onParam(func(r *rand.Rand, p *param) bool {
		if p.kind == kindText || p.kind == kindOther || p.value == "" {
			return false // an empty text filter is a different, valid filter
		}
		p.value = ""
		if r.IntN(2) == 0 {
			p.bare = true
		}
		return true
	})},
	{"name case", onParam(func(r *rand.Rand, p *param) bool {
		if r.IntN(2) == 0 {
			p.name = asciiUpper(p.name)
		} else {
			p.name = asciiUpper(p.name[:1]) + p.name[1:]
		}
		return true
	})},
	{"value case", onParam(func(_ *rand.Rand, p *param) bool {
		p.value = asciiUpper(p.value)
		return true
	})},
	{"long value", onParam(func(r *rand.Rand, p *param) bool {
		// Nines, not zeros: an emptied number padded with zeros would be
		// a valid 0.
		p.value += strings.Repeat(pick(r, "a", "%41", "9"), pick(r, 300, 5000, 70000))
		return true
	})},
	{"value with a space", onParam(func(r *rand.Rand, p *param) bool {
		p.value = insertAt(r, p.value, pick(r, "+", "%20", "%09"))
		return true
	})},
	{"encoded brackets", onParam(func(_ *rand.Rand, p *param) bool {
		if !strings.Contains(p.name, "[") {
			return false
		}
		p.name = strings.NewReplacer("[", "%5B", "]", "%5D").Replace(p.name)
		return true
	})},
	{"encoded value", onParam(func(r *rand.Rand, p *param) bool {
		if !strings.Contains(p.value, "-") {
			return false
		}
		p.value = strings.ReplaceAll(p.value, "-", pick(r, "%2D", "%2d", "%252D"))
		return true
	})},
	{"nameless pair", func(r *rand.Rand, rq *request) bool {
		rq.queryTail += pick(r, "&=x", "&=", "&%3D=1")
		return true
	}},
	{"empty pairs", func(r *rand.Rand, rq *request) bool {
		rq.queryTail += pick(r, "&", "&&", "&&&a")
		return true
	}},
	{"unknown parameter", func(r *rand.Rand, rq *request) bool {
		rq.query = append(rq.query, param{name: pick(r, "foo", "filter[nope]", "page[after]", "Filter[room_id]", "filter"), value: "1", kind: kindOther})
		return true
	}},
	{"semicolon separator", func(r *rand.Rand, rq *request) bool {
		if len(rq.query) < 2 {
			return false
		}
		i := r.IntN(len(rq.query) - 1)
		rq.query[i].value += ";" + rq.query[i+1].name + "=" + rq.query[i+1].value
		rq.query = slices.Delete(rq.query, i+1, i+2)
		return true
	}},

	// The path.
	{"double slash", func(r *rand.Rand, rq *request) bool {
		i := segmentBoundary(r, rq.path)
		rq.path = rq.path[:i] + "/" + rq.path[i:]
		return true
	}},
	{"dot segment", func(r *rand.Rand, rq *request) bool {
		i := segmentBoundary(r, rq.path)
		rq.path = rq.path[:i] + pick(r, "/.", "/..", "/%2e%2e", "/%2E", "/.%2e", "/x/..") + rq.path[i:]
		return true
	}},
	{"trailing slash", func(_ *rand.Rand, rq *request) bool {
		if strings.HasSuffix(rq.path, "/") {
			return false
		}
		rq.path += "/"
		return true
	}},
	{"path case", func(_ *rand.Rand, rq *request) bool {
		up := strings.Replace(rq.path, "/v2/", "/V2/", 1)
		if up == rq.path {
			up = asciiUpper(rq.path)
		}
		rq.path = up
		return true
	}},
	{"path escape", func(r *rand.Rand, rq *request) bool {
		rq.path = rq.path[:1] + insertAt(r, rq.path[1:], pick(r, "%zz", "%", "%00", "%ff", "%2F", "\xff"))
		return true
	}},
	{"encoded slash", func(r *rand.Rand, rq *request) bool {
		i := segmentBoundary(r, rq.path)
		if i == len(rq.path) {
			return false
		}
		rq.path = rq.path[:i] + pick(r, "%2F", "%2f", "%5C") + rq.path[i+1:]
		return true
	}},
	{"id case", func(_ *rand.Rand, rq *request) bool {
		if !uuidRE.MatchString(rq.path) {
			return false
		}
		rq.path = uuidRE.ReplaceAllStringFunc(rq.path, asciiUpper)
		return true
	}},
	{"broken id", func(r *rand.Rand, rq *request) bool {
		loc := uuidRE.FindStringIndex(rq.path)
		if loc == nil {
			return false
		}
		id := rq.path[loc[0]:loc[1]]
		id = pick(r, id[:35], id+"0", "{"+id+"}", strings.ReplaceAll(id, "-", ""), id+"%00", id[:8]+"%ff"+id[8:], "urn:uuid:"+id)
		rq.path = rq.path[:loc[0]] + id + rq.path[loc[1]:]
		return true
	}},

	// Headers.
	{"no key", func(_ *rand.Rand, rq *request) bool {
		if rq.header.Get("Authorization") == "" {
			return false
		}
		rq.header.Del("Authorization")
		return true
	}},
	{"wrong key", func(r *rand.Rand, rq *request) bool {
		rq.header.Set("Authorization", pick(r, "Bearer kk", "Basic k", "Bearer", "k", "Bearer k\xff", "Bearer K", "Token k", "Bearer k k"))
		return true
	}},
	{"content type", func(r *rand.Rand, rq *request) bool {
		if r.IntN(4) == 0 {
			rq.header.Del("Content-Type")
			return true
		}
		rq.header.Set("Content-Type", pick(r, "text/plain", "application/json; charset=latin1", "application/json; charset=utf-16",
			"application/json;charset=\"UTF-8\"", "application/x-www-form-urlencoded", "application/json, text/plain",
			"application/merge-patch+json", "application/json; charset", "application/jsonx", "multipart/form-data; boundary=x",
			"application/json; charset=utf-8; charset=latin1", "*/*"))
		return true
	}},
	{"request id", func(r *rand.Rand, rq *request) bool {
		rq.header.Set("X-Request-Id", pick(r, strings.Repeat("r", 200), "a b", "\xff\xfe", "ok-id"))
		return true
	}},
	{"origin", func(r *rand.Rand, rq *request) bool {
		rq.header.Set("Origin", pick(r, allowedOrigin, "https://evil.example.com", "null", "https://app.example.com:443", "\xff"))
		if r.IntN(2) == 0 {
			rq.header.Set("Access-Control-Request-Method", pick(r, "DELETE", "PUT", "delete", ""))
		}
		return true
	}},
	{"odd method", func(r *rand.Rand, rq *request) bool {
		// Never a method that would be valid for another route here
		// (DELETE of a protected room is a valid request, not a mutation).
		rq.method = pick(r, "PUT", "OPTIONS", "TRACE", "PROPFIND", "FOO", "get", "post", "delete", "Delete", "patch", "HEAD")
		return true
	}},

	// The body.
	{"invalid UTF-8 in a value", onStringValue("\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80")},
	{"NUL in a value", onStringValue(`\u0000`, "\x00")},
	{"lone surrogate in a value", onStringValue(`\ud800`, `\udc00`, `\udbff\u0041`)},
	{"bad text in a key", func(r *rand.Rand, rq *request) bool {
		if len(rq.members) == 0 || rq.rawBody != nil {
			return false
		}
		m := &rq.members[r.IntN(len(rq.members))]
		m.key = insertAt(r, m.key, pick(r, "\xff", `\u0000`, `\ud800`, "/", "~"))
		return true
	}},
	{"duplicate key", func(r *rand.Rand, rq *request) bool {
		if len(rq.members) == 0 || rq.rawBody != nil {
			return false
		}
		m := rq.members[r.IntN(len(rq.members))]
		dup := member{key: m.key, value: pick(r, m.value, "null", `"x"`, "1")}
		if r.IntN(2) == 0 {
			dup.key = pick(r, m.key, strings.ReplaceAll(m.key, "_", `\u005f`))
		}
		rq.members = append(rq.members, dup)
		return true
	}},
	{"wrong type", func(r *rand.Rand, rq *request) bool {
		if len(rq.members) == 0 || rq.rawBody != nil {
			return false
		}
		m := &rq.members[r.IntN(len(rq.members))]
		m.value = pick(r, "1", "-1", "1.5", "1e400", "true", "null", "[]", "{}", `""`, `"1"`, strings.Repeat("[", 20000)+strings.Repeat("]", 20000))
		return true
	}},
	{"broken JSON", func(r *rand.Rand, rq *request) bool {
		b := rq.body()
		if b == nil {
			b = []byte("{}")
		}
		switch r.IntN(7) {
		case 0:
			b = b[:r.IntN(len(b)+1)]
		case 1:
			b = append(slices.Clone(b), pick(r, " x", "{}", ",", "\x00")...)
		case 2:
			b = append(append([]byte("["), b...), ']')
		case 3:
			b = append([]byte("\xef\xbb\xbf"), b...)
		case 4:
			b = []byte(pick(r, "null", "[]", "\"{}\"", "1", "{", "}", "{\"a\"}", "\x00"))
		case 5:
			b = append(bytes.Repeat([]byte(" "), 70<<10), b...)
		default:
			b = []byte(url.Values{"unique_name": {"x"}}.Encode())
		}
		rq.rawBody = b
		if len(b) == 0 {
			rq.rawBody = []byte{}
		}
		return true
	}},
	{"body where none belongs", func(r *rand.Rand, rq *request) bool {
		if rq.hasBody || rq.rawBody != nil {
			return false
		}
		rq.rawBody = []byte(pick(r, `{"filter":{"room_id":null}}`, "{", "\xff"))
		rq.header.Set("Content-Type", "application/json")
		return true
	}},
}

// asciiUpper upper-cases ASCII letters and leaves every other byte as it
// is: strings.ToUpper would turn invalid UTF-8, which an earlier mutation
// may have put there on purpose, into valid U+FFFD.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// onStringValue inserts one of frags inside a random string value of the
// body.
func onStringValue(frags ...string) func(*rand.Rand, *request) bool {
	return func(r *rand.Rand, rq *request) bool {
		if rq.rawBody != nil {
			return false
		}
		var strs []int
		for i, m := range rq.members {
			if len(m.value) >= 2 && m.value[0] == '"' {
				strs = append(strs, i)
			}
		}
		if len(strs) == 0 {
			return false
		}
		m := &rq.members[pick(r, strs...)]
		inner := m.value[1 : len(m.value)-1]
		m.value = `"` + insertAt(r, inner, pick(r, frags...)) + `"`
		return true
	}
}

// fixedUUID is a UUID no resource of the test has.
func fixedUUID(n int) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("httpfuzz/"+strconv.Itoa(n))).String()
}

// --- sending

type client struct {
	t    *testing.T
	base string
	addr string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	// ExpectContinueTimeout only says how long a large body waits for 100
	// Continue before it goes anyway; roomsd answers long before.
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4, ExpectContinueTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: base, addr: u.Host, http: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// send sends rq with its path and query exactly as they are, and returns
// the answer with its whole body.
func (c *client) send(rq *request) (*http.Response, []byte) {
	c.t.Helper()
	var body io.Reader
	if b := rq.body(); b != nil {
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(rq.method, c.base, body)
	if err != nil {
		c.t.Fatalf("%s: %v", rq, err)
	}
	// Opaque is sent as the request target unchanged, malformed or not.
	req.URL = &url.URL{Scheme: "http", Host: c.addr, Opaque: rq.path, RawQuery: rq.rawQuery()}
	req.Header = rq.header.Clone()
	if len(rq.body()) > 16<<10 {
		// A server that refuses the request line or headers answers
		// before it reads the body and closes, and the rest of a large
		// body would reach a closed socket and reset the connection
		// before the client read the answer. Waiting for 100 Continue,
		// as curl does with large bodies, sends the body only to a
		// server that reads it.
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", rq, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s: read answer: %v", rq, err)
	}
	return resp, b
}

// getJSON gets path with the API key and decodes the 200 answer into v.
// A 404 is reported as false when missing is allowed.
func (c *client) getJSON(path string, v any, missing bool) bool {
	c.t.Helper()
	p, q, _ := strings.Cut(path, "?")
	rq := &request{method: http.MethodGet, path: p, queryTail: q, header: http.Header{"Authorization": {"Bearer k"}}}
	resp, body := c.send(rq)
	if missing && resp.StatusCode == http.StatusNotFound {
		return false
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return true
}

type rawRequest struct {
	text string
	want int
}

// rawRequests are requests no HTTP client would send, written straight to
// the socket. The malformed bulk deletes name a protected room: refused,
// they delete nothing, which the final snapshot confirms.
func (w *world) rawRequests() []rawRequest {
	auth := "Authorization: Bearer k\r\n"
	get := "GET /v2/rooms HTTP/1.1\r\nHost: x\r\n" + auth
	del := "DELETE /v2/room_recordings?filter[room_id]=" + w.rooms[0]
	return []rawRequest{
		{"GARBAGE\r\n\r\n", 400},
		{"GET /v2/rooms\r\n\r\n", 400},
		{"GET /v2/rooms HTTP/1.1\r\n" + auth + "\r\n", 400}, // no Host
		{get + "X-Big: " + strings.Repeat("b", 70<<10) + "\r\n\r\n", 431},
		{"POST /v2/rooms HTTP/1.1\r\nHost: x\r\n" + auth + "Expect: foo\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 417},
		{"POST /v2/rooms HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: gzip\r\nContent-Type: application/json\r\n\r\n", 501},
		{"GET /v2/rooms HTTP/3.0\r\nHost: x\r\n" + auth + "\r\n", 505},
		{get + "Content-Length: -1\r\n\r\n", 400},
		{get + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		{"GET /v2/ro oms HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400},
		{"GET /v2/rooms\x01 HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400},
		{get + "Bad Header: y\r\n\r\n", 400},
		{"GET /v2/rooms HTTP/1.1\r\nHost: a b\r\n" + auth + "\r\n", 400},
		{"GET /v2/room_recordings HTTP/1.0\r\n\r\n", 401},
		{"GET http://x/v2/rooms/../rooms HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 404},
		{"GET /v2/room_recordings?filter[room_id]=" + w.rooms[0] + "%zz HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400},
		{del + "%00&filter[type]=audio HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 422},
		{del + "\xff HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 422},
		{del + ";filter[type]=audio HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400},
		{del + "%zz&filter[type]=audio HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400},
		{"PATCH /v2/rooms/" + w.scratch + " HTTP/1.1\r\nHost: x\r\n" + auth +
			"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	}
}

// --- what every answer must be

// responseProblems says what is wrong with an answer, whatever the
// request and its status: an error not in the JSON envelope, a missing
// nosniff.
func responseProblems(rq *request, resp *http.Response, body []byte) []string {
	var out []string
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		out = append(out, fmt.Sprintf("status %d without X-Content-Type-Options: nosniff (%q)", resp.StatusCode, got))
	}
	if resp.StatusCode < 400 {
		return out
	}
	if rq.method == http.MethodHead {
		if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			out = append(out, fmt.Sprintf("status %d with Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type")))
		}
		return out
	}
	if _, err := testutil.ErrorEnvelope(resp.Header, body); err != nil {
		out = append(out, fmt.Sprintf("status %d: %v", resp.StatusCode, err))
	}
	return out
}
