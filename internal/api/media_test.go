package api_test

import (
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

// recordings gives room A's ended session three recordings: Alice audio
// (30 s, completed), Alice video (90 s, completed), Bob video (processing).
type recordings struct {
	world
	aliceAudio, aliceVideo, bobVideo string
}

func newRecordings(t *testing.T, e *env) recordings {
	t.Helper()
	ctx := t.Context()
	e.clock.Set(time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC))
	room := e.createRoom(map[string]any{"enable_recording": true})["id"].(string)
	a, _ := e.svc.Join(ctx, room, "Alice")
	b, _ := e.svc.Join(ctx, room, "Bob")
	var r recordings
	r.roomA, r.oldSession, r.alice, r.bob = room, a.SessionID, a.ID, b.ID
	start := func(p, typ string, at time.Time) string {
		e.clock.Set(at)
		rec, err := e.svc.StartRecording(ctx, p, typ, map[string]string{"audio": "opus", "video": "vp8"}[typ])
		if err != nil {
			t.Fatal(err)
		}
		return rec.ID
	}
	r.aliceAudio = start(a.ID, "audio", time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC))
	r.aliceVideo = start(a.ID, "video", time.Date(2024, 3, 2, 10, 0, 0, 0, time.UTC))
	r.bobVideo = start(b.ID, "video", time.Date(2024, 3, 3, 10, 0, 0, 0, time.UTC))
	e.clock.Set(time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC))
	if _, err := e.svc.CompleteRecording(ctx, r.aliceAudio, 0.5, 30, "https://files.example/a.ogg"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CompleteRecording(ctx, r.aliceVideo, 12.25, 90, "https://files.example/a.webm"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.EndSession(ctx, r.oldSession, domain.ReasonAPI); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r recordings) names(items []map[string]any) string {
	out := ""
	for _, it := range items {
		out += map[string]string{r.aliceAudio: "aa", r.aliceVideo: "av", r.bobVideo: "bv"}[it["id"].(string)] + " "
	}
	return out
}

func TestRecordings(t *testing.T) {
	e := newEnv(t)
	r := newRecordings(t, e)
	d := e.req("GET", "/v2/room_recordings/"+r.aliceVideo, nil).want(t, 200).data()
	want := map[string]any{"id": r.aliceVideo, "room_id": r.roomA, "session_id": r.oldSession, "participant_id": r.alice,
		"status": "completed", "type": "video", "codec": "vp8", "size_mb": 12.25, "duration_secs": float64(90),
		"download_url": "https://files.example/a.webm", "started_at": "2024-03-02T10:00:00.000000Z",
		"ended_at": "2024-03-04T10:00:00.000000Z", "completed_at": "2024-03-04T10:00:00.000000Z",
		"created_at": "2024-03-02T10:00:00.000000Z", "updated_at": "2024-03-04T10:00:00.000000Z", "record_type": "room_recording"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	if len(d) != len(want) {
		t.Errorf("fields: %v", d)
	}
	if p := e.req("GET", "/v2/room_recordings/"+r.bobVideo, nil).data(); p["status"] != "processing" || p["download_url"] != nil || p["ended_at"] != nil {
		t.Errorf("processing recording: %v", p)
	}

	for _, tc := range []struct{ query, want string }{
		{"", "bv av aa "},
		{"?filter[type]=video", "bv av "},
		{"?filter[status]=processing", "bv "},
		{"?filter[participant_id]=" + r.alice, "av aa "},
		{"?filter[room_id]=" + r.roomA + "&filter[session_id]=" + r.oldSession, "bv av aa "},
		{"?filter[duration_secs][eq]=30", "aa "},
		{"?filter[duration_secs][gte]=31", "av "},
		{"?filter[duration_secs]=31", "av "},
		{"?filter[duration_secs]=30&filter[duration_secs][lte]=60", "aa "},
		{"?filter[duration_secs][lte]=90&filter[duration_secs][gte]=30", "av aa "},
		{"?filter[date_started_at][eq]=2024-03-02", "av "},
		{"?filter[date_started_at][gte]=2024-03-02", "bv av "},
		{"?filter[date_ended_at][eq]=2024-03-04", "av aa "},
		{"?page[size]=2&page[number]=2", "aa "},
	} {
		got := r.names(e.req("GET", "/v2/room_recordings"+tc.query, nil).want(t, 200).list())
		if got != tc.want {
			t.Errorf("GET /v2/room_recordings%s = %q, want %q", tc.query, got, tc.want)
		}
	}
	for _, q := range []struct{ query, param string }{
		{"filter[status]=done", "filter[status]"},
		{"filter[type]=screen", "filter[type]"},
		{"filter[duration_secs][eq]=abc", "filter[duration_secs][eq]"},
		{"filter[duration_secs][gte]=-1", "filter[duration_secs][gte]"},
		{"filter[duration_secs]=x", "filter[duration_secs]"},
		{"filter[room_id]=r1", "filter[room_id]"},
		{"filter[date_started_at][gte]=2024-13-01", "filter[date_started_at][gte]"},
	} {
		e.req("GET", "/v2/room_recordings?"+q.query, nil).wantError(t, 422, "10015", "", q.param)
		e.req("DELETE", "/v2/room_recordings?"+q.query, nil).wantError(t, 422, "10015", "", q.param)
	}

	// Bulk delete refuses to run without a filter, and deletes what it says.
	e.req("DELETE", "/v2/room_recordings", nil).wantError(t, 422, "10015", "", "filter")
	e.req("DELETE", "/v2/room_recordings?page[size]=1", nil).wantError(t, 422, "10015", "", "filter")
	if n := e.req("GET", "/v2/room_recordings", nil).meta()["total_results"]; n != float64(3) {
		t.Fatalf("refused bulk delete removed recordings: %v left", n)
	}
	res := e.req("DELETE", "/v2/room_recordings?filter[type]=video&page[size]=1", nil).want(t, 201)
	if string(res.raw) != `{"data":{"room_recordings":1}}`+"\n" {
		t.Errorf("bulk delete body: %s", res.raw)
	}
	if got := r.names(e.req("GET", "/v2/room_recordings", nil).list()); got != "av aa " {
		t.Errorf("after deleting the first page of videos: %q", got)
	}
	res = e.req("DELETE", "/v2/room_recordings?filter[participant_id]="+r.alice, nil).want(t, 201)
	if res.data()["room_recordings"] != float64(2) {
		t.Errorf("bulk delete count: %s", res.raw)
	}
	if res = e.req("DELETE", "/v2/room_recordings?filter[participant_id]="+r.alice, nil).want(t, 201); res.data()["room_recordings"] != float64(0) {
		t.Errorf("bulk delete of nothing: %s", res.raw)
	}

	// Single delete.
	r2 := newRecordings(t, e)
	e.req("DELETE", "/v2/room_recordings/"+r2.aliceAudio, nil).want(t, 204)
	e.req("GET", "/v2/room_recordings/"+r2.aliceAudio, nil).wantError(t, 404, "10005", "", "")
	e.req("DELETE", "/v2/room_recordings/"+r2.aliceAudio, nil).wantError(t, 404, "10005", "", "")
	e.req("GET", "/v2/room_recordings/zz", nil).wantError(t, 400, "10006", "", "room_recording_id")
}

func TestCompositions(t *testing.T) {
	e := newEnv(t)
	r := newRecordings(t, e)
	e.clock.Set(time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC))
	active := e.createRoom(nil)["id"].(string)
	p, _ := e.svc.Join(t.Context(), active, "Zed")

	cases := []struct {
		body    map[string]any
		code    string
		pointer string
	}{
		{map[string]any{}, "10004", "/session_id"},
		{map[string]any{"session_id": "x"}, "10015", "/session_id"},
		{map[string]any{"session_id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"}, "10015", "/session_id"},
		{map[string]any{"session_id": p.SessionID}, "10015", "/session_id"},
		{map[string]any{"session_id": r.oldSession, "format": "webm"}, "10015", "/format"},
		{map[string]any{"session_id": r.oldSession, "resolution": "1280x721"}, "10015", "/resolution"},
		{map[string]any{"session_id": r.oldSession, "resolution": "15x100"}, "10015", "/resolution"},
		{map[string]any{"session_id": r.oldSession, "resolution": "1281x16"}, "10015", "/resolution"},
		{map[string]any{"session_id": r.oldSession, "resolution": "big"}, "10015", "/resolution"},
		{map[string]any{"session_id": r.oldSession, "webhook_event_url": "nope"}, "10003", "/webhook_event_url"},
		{map[string]any{"session_id": r.oldSession, "webhook_timeout_secs": 31}, "10015", "/webhook_timeout_secs"},
		{map[string]any{"session_id": r.oldSession, "video_layout": "grid"}, "10015", "/video_layout"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"a": map[string]any{}, "b": map[string]any{}, "c": map[string]any{}}}, "10015", "/video_layout"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"width": 1281}}}, "10015", "/video_layout/main/width"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"x_pos": 640, "width": 641}}}, "10015", "/video_layout/main/width"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"height": 15}}}, "10015", "/video_layout/main/height"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"z_pos": 100}}}, "10015", "/video_layout/main/z_pos"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"max_rows": 0}}}, "10015", "/video_layout/main/max_rows"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"x_pos": "0"}}}, "10015", "/video_layout/main/x_pos"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"video_sources": []string{r.aliceAudio}}}}, "10015", "/video_layout/main/video_sources/0"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"video_sources": []string{"*", "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"}}}}, "10015", "/video_layout/main/video_sources/1"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"main": map[string]any{"video_sources": []string{"abc"}}}}, "10015", "/video_layout/main/video_sources/0"},
		// A region name with / or ~ is escaped in the pointer (RFC 6901).
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"a/b~c": map[string]any{"width": 1281}}}, "10015", "/video_layout/a~1b~0c/width"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"a/b": map[string]any{"x_pos": "0"}}}, "10015", "/video_layout/a~1b/x_pos"},
		{map[string]any{"session_id": r.oldSession, "video_layout": map[string]any{"a/b": map[string]any{"video_sources": []string{r.aliceAudio}}}}, "10015", "/video_layout/a~1b/video_sources/0"},
	}
	for _, tc := range cases {
		e.req("POST", "/v2/room_compositions", tc.body).wantError(t, 422, tc.code, tc.pointer, "")
	}
	if n := e.req("GET", "/v2/room_compositions", nil).meta()["total_results"]; n != float64(0) {
		t.Fatalf("refused compositions were stored: %v", n)
	}

	d := e.req("POST", "/v2/room_compositions", map[string]any{"session_id": r.oldSession}).want(t, 202).data()
	if d["status"] != "enqueued" || d["format"] != "mp4" || d["resolution"] != "1280x720" || d["room_id"] != r.roomA ||
		d["record_type"] != "room_composition" || d["download_url"] != nil || d["webhook_event_failover_url"] != "" ||
		d["completed_at"] != nil || d["created_at"] != "2024-03-05T10:00:00.000000Z" {
		t.Errorf("defaults: %v", d)
	}
	if reason, ok := d["failure_reason"]; !ok || reason != nil {
		t.Errorf("failure_reason of a new composition: %v (present %v), want null", reason, ok)
	}
	first := d["id"].(string)
	e.clock.Set(time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC))
	d = e.req("POST", "/v2/room_compositions", map[string]any{
		"session_id": r.oldSession, "format": "mp4", "resolution": "640x360", "webhook_event_url": "https://hooks.example/c",
		"webhook_timeout_secs": 10,
		"video_layout": map[string]any{
			"left":  map[string]any{"x_pos": 0, "y_pos": 0, "width": 320, "height": 360, "video_sources": []string{r.aliceVideo}},
			"right": map[string]any{"x_pos": 320, "y_pos": 0, "z_pos": -1, "width": 320, "height": 360, "max_columns": 2, "max_rows": 2, "video_sources": []string{"*"}},
		},
	}).want(t, 202).data()
	second := d["id"].(string)
	layout := d["video_layout"].(map[string]any)
	left := layout["left"].(map[string]any)
	if left["width"] != float64(320) || left["video_sources"].([]any)[0] != r.aliceVideo || left["max_rows"] != nil || d["webhook_timeout_secs"] != float64(10) {
		t.Errorf("layout: %v", d)
	}
	if got := e.req("GET", "/v2/room_compositions/"+second, nil).want(t, 200).data(); got["video_layout"].(map[string]any)["right"].(map[string]any)["z_pos"] != float64(-1) {
		t.Errorf("view: %v", got)
	}

	for _, tc := range []struct {
		query string
		n     int
	}{
		{"", 2}, {"?filter[session_id]=" + r.oldSession, 2}, {"?filter[session_id]=" + p.SessionID, 0},
		{"?filter[status]=enqueued", 2}, {"?filter[status]=completed", 0}, {"?filter[status]=failed", 0},
		{"?filter[date_created_at][eq]=2024-03-06", 1}, {"?page[size]=1&page[number]=2", 1},
	} {
		if got := e.req("GET", "/v2/room_compositions"+tc.query, nil).want(t, 200).list(); len(got) != tc.n {
			t.Errorf("GET /v2/room_compositions%s: %d, want %d", tc.query, len(got), tc.n)
		}
	}
	if l := e.req("GET", "/v2/room_compositions", nil).list(); l[0]["id"] != second || l[1]["id"] != first {
		t.Errorf("compositions not newest first")
	}
	e.req("GET", "/v2/room_compositions?filter[status]=done", nil).wantError(t, 422, "10015", "", "filter[status]")
	// A composition that could not be rendered shows failed and why.
	if _, err := e.svc.FailComposition(t.Context(), second, "nothing to compose"); err != nil {
		t.Fatal(err)
	}
	failed := e.req("GET", "/v2/room_compositions?filter[status]=failed", nil).want(t, 200).list()
	if len(failed) != 1 || failed[0]["id"] != second || failed[0]["status"] != "failed" || failed[0]["failure_reason"] != "nothing to compose" ||
		failed[0]["ended_at"] == nil || failed[0]["download_url"] != nil {
		t.Errorf("failed compositions: %v", failed)
	}
	e.req("DELETE", "/v2/room_compositions/"+first, nil).want(t, 204)
	e.req("GET", "/v2/room_compositions/"+first, nil).wantError(t, 404, "10005", "", "")
	e.req("DELETE", "/v2/room_compositions/"+first, nil).wantError(t, 404, "10005", "", "")
}
