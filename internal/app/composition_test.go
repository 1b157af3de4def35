package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/testutil/probe"
)

// hookSink is a webhook receiver that keeps the events it is sent.
type hookSink struct {
	URL    string
	mu     sync.Mutex
	events []map[string]any
}

func newHookSink(t *testing.T) *hookSink {
	t.Helper()
	h := &hookSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data map[string]any `json:"data"`
		}
		if b, err := io.ReadAll(r.Body); err == nil && json.Unmarshal(b, &body) == nil && body.Data != nil {
			h.mu.Lock()
			h.events = append(h.events, body.Data)
			h.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/hooks"
	return h
}

// event returns the first event of the type received, if any.
func (h *hookSink) event(typ string) (map[string]any, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e["event_type"] == typ {
			return e, true
		}
	}
	return nil, false
}

// waitComposition polls a composition until it is completed or failed.
func (s *server) waitComposition(id string, within time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, out := s.api("GET", "/room_compositions/"+id, nil)
		if code != 200 {
			s.t.Fatalf("get composition: %d %v", code, out)
		}
		c := data(out)
		if c["status"] == "completed" || c["status"] == "failed" {
			return c
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("composition %s not rendered within %v: %v", id, within, c)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// luma is the mean brightness (0 to 255) of a w x h area of a video
// file's picture at a time.
func luma(t *testing.T, path string, at time.Duration, x, y, w, h int) int {
	t.Helper()
	crop := "crop=" + strconv.Itoa(w) + ":" + strconv.Itoa(h) + ":" + strconv.Itoa(x) + ":" + strconv.Itoa(y) + ",scale=1:1:flags=area"
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-vf", crop, "-pix_fmt", "gray", "-f", "rawvideo", "-").Output()
	if err != nil || len(out) != 1 {
		t.Fatalf("read the picture at %v: %v (%d bytes)", at, err, len(out))
	}
	return int(out[0])
}

// TestCompositionOfARecordedMeeting: Alice and Bob meet, Bob arriving a
// second and a half after Alice; the ended session's recordings are
// composed side by side into one MP4, H.264 at the asked resolution and
// AAC, as long as the recordings span; Bob's half of the picture stays
// black until he joined. The composition's webhook brings its download
// link, and a layout that cannot fit is refused when the composition is
// asked for.
func TestCompositionOfARecordedMeeting(t *testing.T) {
	s := newServer(t, func(c *config.Config) { c.ComposeWorkers = 1 })
	hooks := newHookSink(t)
	room := s.room(map[string]any{"enable_recording": true})
	alice := s.join(room, "alice", true, true)
	s.waitRecordings(room, 2, "processing")
	// The meeting: Alice alone for a second and a half, then both for
	// three seconds.
	time.Sleep(1500 * time.Millisecond)
	bob := s.join(room, "bob", true, true)
	s.waitRecordings(room, 4, "processing")
	time.Sleep(3 * time.Second)
	ctx := t.Context()
	if err := alice.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	rs := s.waitRecordings(room, 4, "completed")
	session := alice.SessionID
	if code, out := s.api("POST", "/room_sessions/"+session+"/actions/end", nil); code != 200 {
		t.Fatalf("end the session: %d %v", code, out)
	}

	// The span of the recordings, and when each participant's video
	// started and ended.
	var first, last time.Time
	video := map[string][2]time.Time{}
	var audioID string
	for i, r := range rs {
		start, end := ts(t, r["started_at"]), ts(t, r["ended_at"])
		if i == 0 || start.Before(first) {
			first = start
		}
		if i == 0 || end.After(last) {
			last = end
		}
		if r["type"] == "video" {
			video[r["participant_id"].(string)] = [2]time.Time{start, end}
		} else {
			audioID = r["id"].(string)
		}
	}
	span := last.Sub(first)

	// Layouts that cannot work are refused at once.
	for _, bad := range []struct {
		layout  map[string]any
		pointer string
	}{
		{map[string]any{"grid": map[string]any{"x_pos": 640}}, "/video_layout/grid/x_pos"},
		{map[string]any{"grid": map[string]any{"video_sources": []string{audioID}}}, "/video_layout/grid/video_sources/0"},
		{map[string]any{"grid": map[string]any{"max_columns": 0}}, "/video_layout/grid/max_columns"},
	} {
		code, out := s.api("POST", "/room_compositions", map[string]any{"session_id": session, "resolution": "640x360", "video_layout": bad.layout})
		errs, _ := out["errors"].([]any)
		if code != 422 || len(errs) != 1 || errs[0].(map[string]any)["source"].(map[string]any)["pointer"] != bad.pointer {
			t.Errorf("layout %v: %d %v; want 422 at %s", bad.layout, code, out, bad.pointer)
		}
	}

	code, out := s.api("POST", "/room_compositions", map[string]any{"session_id": session, "resolution": "640x360",
		"webhook_event_url": hooks.URL,
		"video_layout":      map[string]any{"grid": map[string]any{"video_sources": []string{"*"}, "max_columns": 2, "max_rows": 1}}})
	if code != 202 || data(out)["status"] != "enqueued" || data(out)["failure_reason"] != nil {
		t.Fatalf("create composition: %d %v", code, out)
	}
	id := data(out)["id"].(string)
	asked := time.Now()
	c := s.waitComposition(id, 3*time.Minute)
	t.Logf("composition rendered in %v (started_at %v, completed_at %v)", time.Since(asked).Round(time.Millisecond),
		c["started_at"], c["completed_at"])
	if c["status"] != "completed" {
		t.Fatalf("composition %s: failure_reason %v", c["status"], c["failure_reason"])
	}
	for _, f := range []string{"started_at", "ended_at", "completed_at", "size_mb", "duration_secs", "download_url"} {
		if c[f] == nil {
			t.Errorf("completed composition: %s is null", f)
		}
	}
	if c["failure_reason"] != nil {
		t.Errorf("completed composition has failure_reason %v", c["failure_reason"])
	}
	signed, _ := c["download_url"].(string)
	if plain, _, _ := strings.Cut(signed, "?"); plain != s.URL+"/v2/room_compositions/"+id+"/download" || !strings.Contains(signed, "signature=") {
		t.Fatalf("download_url %q: want a signed link to this server", signed)
	}
	code, body, hdr := fetch(t, signed, false)
	if code != 200 || hdr.Get("Content-Type") != "video/mp4" {
		t.Fatalf("download: %d, Content-Type %q", code, hdr.Get("Content-Type"))
	}
	if d := c["size_mb"].(float64) - float64(len(body))/1e6; d < -0.001 || d > 0.001 {
		t.Errorf("size_mb %v, the file has %d bytes", c["size_mb"], len(body))
	}
	path := filepath.Join(t.TempDir(), "composition.mp4")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	p := probe.File(t, path)
	var h264, aac int
	for _, st := range p.Streams {
		switch {
		case st.CodecType == "video" && st.CodecName == "h264" && st.Width == 640 && st.Height == 360:
			h264++
		case st.CodecType == "audio" && st.CodecName == "aac":
			aac++
		default:
			t.Errorf("unexpected stream %+v", st)
		}
	}
	played := p.Duration()
	t.Logf("ffprobe: %s, %d streams (%d h264 640x360, %d aac), %v; the recordings span %v; %d bytes",
		p.Format.FormatName, len(p.Streams), h264, aac, played, span, len(body))
	if h264 != 1 || aac != 1 || len(p.Streams) != 2 {
		t.Errorf("streams %+v: want one h264 640x360 and one aac", p.Streams)
	}
	if d := played - span; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("the composition plays %v; the recordings span %v (%s to %s)", played, span, first.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))
	}
	if got, want := c["duration_secs"].(float64), span.Seconds(); got < want-1 || got > want+1 {
		t.Errorf("duration_secs %v, the recordings span %.2f s", got, want)
	}
	if errs := probe.Decode(t, path); errs != "" {
		t.Errorf("the composition does not decode cleanly: %s", errs)
	}

	// Alice (who started first) is on the left, Bob on the right; his
	// half is black until his video started.
	a, b := video[alice.ParticipantID], video[bob.ParticipantID]
	aliceOn, bobOn := a[0].Sub(first), b[0].Sub(first)
	bothOff := min(a[1].Sub(first), b[1].Sub(first))
	if bobOn-aliceOn < time.Second || bothOff-bobOn < 2*time.Second {
		t.Fatalf("the meeting's videos: Alice's %v to %v, Bob's %v to %v (from the first recording)", aliceOn, a[1].Sub(first), bobOn, b[1].Sub(first))
	}
	left := func(at time.Duration) int { return luma(t, path, at, 110, 130, 100, 100) }
	right := func(at time.Duration) int { return luma(t, path, at, 430, 130, 100, 100) }
	alone, together := aliceOn+(bobOn-aliceOn)/2, bobOn+(bothOff-bobOn)/2
	la, ra, lt, rt := left(alone), right(alone), left(together), right(together)
	t.Logf("brightness at %v (Alice alone): left %d, right %d; at %v (both): left %d, right %d", alone, la, ra, together, lt, rt)
	if la < 20 || ra > 5 || lt < 20 || rt < 20 {
		t.Errorf("want Alice's picture on the left throughout, and Bob's on the right only once he had joined")
	}

	// The composition's own webhook brings the completion and a link that
	// downloads the same file.
	testutil.Eventually(t, 30*time.Second, "video.room.composition.completed reaches the composition's webhook_event_url", func() bool {
		_, ok := hooks.event("video.room.composition.completed")
		return ok
	})
	ev, _ := hooks.event("video.room.composition.completed")
	pl, _ := ev["payload"].(map[string]any)
	if pl["composition_id"] != id || pl["session_id"] != session || pl["room_id"] != room || pl["resolution"] != "640x360" ||
		pl["format"] != "mp4" || pl["duration_secs"] != c["duration_secs"] || pl["size_mb"] != c["size_mb"] {
		t.Errorf("composition.completed payload: %v", pl)
	}
	link, _ := pl["download_url"].(string)
	if code, got, _ := fetch(t, link, false); code != 200 || string(got) != string(body) {
		t.Errorf("the webhook's download_url %q: %d, %d bytes (want the %d of the file)", link, code, len(got), len(body))
	}
	if code, out := s.api("GET", "/room_compositions?filter[status]=failed", nil); code != 200 || len(out["data"].([]any)) != 0 {
		t.Errorf("compositions failed: %d %v", code, out)
	}
}

// TestCompositionResumesAfterRestart: a composition enqueued on a server
// that renders none (ROOMSD_COMPOSE_WORKERS=0) waits in the database; the
// next server on that database takes it up. The session recorded nothing,
// so it fails, saying there was nothing to compose.
func TestCompositionResumesAfterRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "roomsd.db")
	var id string
	t.Run("first server", func(t *testing.T) {
		s := newServer(t, func(c *config.Config) { c.DB = db })
		room := s.room(nil)
		alice := s.join(room, "alice", false, false)
		if code, out := s.api("POST", "/room_sessions/"+alice.SessionID+"/actions/end", nil); code != 200 {
			t.Fatalf("end the session: %d %v", code, out)
		}
		code, out := s.api("POST", "/room_compositions", map[string]any{"session_id": alice.SessionID})
		if code != 202 {
			t.Fatalf("create composition: %d %v", code, out)
		}
		id = data(out)["id"].(string)
	})
	s := newServer(t, func(c *config.Config) { c.DB, c.ComposeWorkers = db, 1 })
	c := s.waitComposition(id, time.Minute)
	if reason, _ := c["failure_reason"].(string); c["status"] != "failed" || !strings.Contains(reason, "nothing to compose") ||
		c["ended_at"] == nil || c["download_url"] != nil {
		t.Errorf("after the restart: %v", c)
	}
}
