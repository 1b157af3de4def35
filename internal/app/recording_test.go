package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/bot"
	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/testutil/probe"
)

// recordings lists a room's recordings (up to 50).
func (s *server) recordings(roomID string) []map[string]any {
	s.t.Helper()
	code, out := s.api("GET", "/room_recordings?filter[room_id]="+roomID+"&page[size]=50", nil)
	if code != 200 {
		s.t.Fatalf("list recordings: %d %v", code, out)
	}
	var rs []map[string]any
	for _, r := range out["data"].([]any) {
		rs = append(rs, r.(map[string]any))
	}
	return rs
}

// waitRecordings waits until the room has n recordings, all with the
// given status, and returns them.
func (s *server) waitRecordings(roomID string, n int, status string) []map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs := s.recordings(roomID)
		ok := len(rs) == n
		for _, r := range rs {
			ok = ok && r["status"] == status
		}
		if ok {
			return rs
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("room %s: want %d recordings %s, have %v\nthe media server's and recorder's goroutines:\n%s", roomID, n, status, rs,
				mediaGoroutines())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mediaGoroutines is the stacks of this process's goroutines that run
// media server or recorder code (the server runs in the test's process):
// what a recording that does not finish waits on.
func mediaGoroutines() string {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	var out []string
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "roomsd/internal/sfu.") || strings.Contains(g, "roomsd/internal/recording.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// fetch GETs a URL (with the API key when key is set) and returns the
// status and body.
func fetch(t *testing.T, url string, key bool, header ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key {
		req.Header.Set("Authorization", "Bearer k")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func ts(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %v: %v", v, err)
	}
	return at
}

// probeRecording downloads a recording through its signed download_url
// (no API key) and reads it with ffprobe.
func probeRecording(t *testing.T, r map[string]any) probe.Probe {
	t.Helper()
	url, _ := r["download_url"].(string)
	code, body, hdr := fetch(t, url, false)
	if code != 200 {
		t.Fatalf("download %s: %d %s", url, code, body)
	}
	if sz := r["size_mb"].(float64); sz <= 0 || abs(sz-float64(len(body))/1e6) > 0.001 {
		t.Errorf("recording %s: size_mb %v, file has %d bytes", r["id"], sz, len(body))
	}
	path := filepath.Join(t.TempDir(), "rec")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"opus": "audio/ogg", "vp8": "video/webm"}[r["codec"].(string)]
	if got := hdr.Get("Content-Type"); got != want {
		t.Errorf("Content-Type %q, want %q", got, want)
	}
	if errs := probe.Decode(t, path); errs != "" {
		t.Errorf("recording %s (%s) does not decode cleanly: %s", r["id"], r["codec"], errs)
	}
	return probe.File(t, path)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// checkRecording checks a completed recording's row and its file: codec,
// one stream of its type, and a duration within half a second of the
// time from started_at to ended_at.
func checkRecording(t *testing.T, r map[string]any) (span, played time.Duration) {
	t.Helper()
	typ, codec := r["type"].(string), r["codec"].(string)
	if want := map[string]string{"audio": "opus", "video": "vp8"}[typ]; codec != want {
		t.Errorf("recording %s: %s codec %q, want %q", r["id"], typ, codec, want)
	}
	for _, f := range []string{"started_at", "ended_at", "completed_at", "download_url", "duration_secs", "size_mb"} {
		if r[f] == nil {
			t.Errorf("recording %s: %s is null", r["id"], f)
		}
	}
	span = ts(t, r["ended_at"]).Sub(ts(t, r["started_at"]))
	p := probeRecording(t, r)
	played = p.Duration()
	if p.Count(typ) != 1 || len(p.Streams) != 1 || p.Streams[0].CodecName != codec {
		t.Errorf("recording %s: streams %+v, want one %s %s", r["id"], p.Streams, typ, codec)
	}
	if d := played - span; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("recording %s (%s): plays %v, but was recorded from %v to %v (%v)", r["id"], typ, played, r["started_at"], r["ended_at"], span)
	}
	t.Logf("recording %s %s: plays %v, recorded over %v, %v MB", r["id"], codec, played, span, r["size_mb"])
	if got, want := r["duration_secs"].(float64), played.Seconds(); abs(got-want) > 1 {
		t.Errorf("recording %s: duration_secs %v, file plays %.2f s", r["id"], got, want)
	}
	return span, played
}

// TestRecordedMeeting: two participants publish audio and video into a
// room with recording on; when they leave, each of their four tracks is a
// completed recording whose file decodes and plays as long as the track
// was recorded, and as long as they were in the room.
func TestRecordedMeeting(t *testing.T) {
	s := newServer(t)
	room := s.room(map[string]any{"enable_recording": true})
	joined := time.Now()
	alice := s.join(room, "alice", true, true)
	bob := s.join(room, "bob", true, true)
	rs := s.waitRecordings(room, 4, "processing")
	for _, r := range rs {
		if r["download_url"] != nil || r["ended_at"] != nil {
			t.Errorf("processing recording %v has download_url or ended_at", r)
		}
	}
	// The meeting: four seconds of media.
	time.Sleep(4 * time.Second)
	ctx := t.Context()
	if err := alice.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	rs = s.waitRecordings(room, 4, "completed")
	who := map[string]int{}
	for _, r := range rs {
		who[r["participant_id"].(string)+"/"+r["type"].(string)]++
		span, played := checkRecording(t, r)
		// The file plays as long as the track was recorded, and the
		// recording covers most of the meeting: it starts once media
		// flows (later on a loaded machine: a ratio, not a fixed time)
		// and ends with it.
		meeting := left.Sub(joined)
		if played < span-500*time.Millisecond || span < meeting*6/10 || span > meeting+500*time.Millisecond {
			t.Errorf("recording %s plays %v over %v in a %v meeting", r["id"], played, span, meeting)
		}
	}
	for _, p := range []string{alice.ParticipantID, bob.ParticipantID} {
		if who[p+"/audio"] != 1 || who[p+"/video"] != 1 {
			t.Errorf("participant %s: recordings %v, want one audio and one video", p, who)
		}
	}
}

// TestRecordingDownloadAndDelete: a recording's file is served to the API
// key and to its signed link, not to an expired or altered link or to
// nobody; Range requests get exactly the bytes asked for; deleting the
// recording (one, or in bulk) deletes its file.
func TestRecordingDownloadAndDelete(t *testing.T) {
	s := newServer(t)
	room := s.room(map[string]any{"enable_recording": true})
	alice := s.join(room, "alice", true, true)
	s.waitRecordings(room, 2, "processing")
	time.Sleep(time.Second)
	if err := alice.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	rs := s.waitRecordings(room, 2, "completed")
	var audio, video map[string]any
	for _, r := range rs {
		if r["type"] == "audio" {
			audio = r
		} else {
			video = r
		}
	}
	id := video["id"].(string)
	signed := video["download_url"].(string)
	plain, _, _ := strings.Cut(signed, "?")
	if plain != s.URL+"/v2/room_recordings/"+id+"/download" || !strings.Contains(signed, "signature=") {
		t.Fatalf("download_url %q: want a signed link to this server", signed)
	}
	code, full, _ := fetch(t, plain, true)
	if code != 200 || len(full) < 1000 {
		t.Fatalf("download with the API key: %d, %d bytes", code, len(full))
	}
	if code, b, _ := fetch(t, signed, false); code != 200 || string(b) != string(full) {
		t.Errorf("download with the signed link: %d, %d bytes (want the %d of the file)", code, len(b), len(full))
	}
	if code, b, _ := fetch(t, plain, false); code != 401 || !strings.Contains(string(b), "signed download_url") {
		t.Errorf("download without key or signature: %d %s, want 401 saying how", code, b)
	}
	expired := s.Links().SignUntil(plain, time.Now().Add(-time.Minute))
	if code, b, _ := fetch(t, expired, false); code != 403 || !strings.Contains(string(b), "expired") {
		t.Errorf("download with an expired link: %d %s, want 403 saying it expired", code, b)
	}
	other := strings.Replace(signed, id, audio["id"].(string), 1)
	if code, _, _ := fetch(t, other, false); code != 403 {
		t.Errorf("another recording's id under this link's signature: %d, want 403", code)
	}
	code, part, hdr := fetch(t, signed, false, "Range", "bytes=100-1099")
	if code != 206 || string(part) != string(full[100:1100]) || hdr.Get("Content-Range") != "bytes 100-1099/"+itoa(len(full)) {
		t.Errorf("Range 100-1099: %d, %d bytes, Content-Range %q", code, len(part), hdr.Get("Content-Range"))
	}

	// Files are named by id only: no path reaches outside.
	for _, p := range []string{"/v2/room_recordings/..%2F..%2Froomsd.db/download", "/v2/room_recordings/" + id + "/../../../roomsd.db"} {
		if code, b, _ := fetch(t, s.URL+p, true); code != 400 && code != 404 {
			t.Errorf("GET %s: %d %s, want 400 or 404", p, code, b)
		}
	}

	files := s.Files()
	if _, err := files.Stat(t.Context(), domain.RecordingKey(id)); err != nil {
		t.Fatalf("the file before delete: %v", err)
	}
	if code, _ := s.api("DELETE", "/room_recordings/"+id, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if _, err := files.Stat(t.Context(), domain.RecordingKey(id)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("after delete the file is still there (%v)", err)
	}
	if code, _, _ := fetch(t, plain, true); code != 404 {
		t.Errorf("download of a deleted recording: %d, want 404", code)
	}
	if code, _ := s.api("DELETE", "/room_recordings?filter[room_id]="+room, nil); code != 201 {
		t.Fatalf("bulk delete: %d", code)
	}
	if _, err := files.Stat(t.Context(), domain.RecordingKey(audio["id"].(string))); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("after bulk delete the audio file is still there (%v)", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// download saves a recording's file (through its signed link) and
// returns its path.
func download(t *testing.T, r map[string]any) string {
	t.Helper()
	code, body, _ := fetch(t, r["download_url"].(string), false)
	if code != 200 {
		t.Fatalf("download %v: %d", r["id"], code)
	}
	path := filepath.Join(t.TempDir(), r["id"].(string))
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRecordingToggledAndMuted: turning enable_recording on in a running
// session starts recording its tracks, turning it off finishes them while
// the meeting goes on, and on again starts new recordings. A mute in the
// middle stays a silence of the mute's length at its place in time, so
// the audio plays as long as it was recorded.
func TestRecordingToggledAndMuted(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	alice := s.join(room, "alice", true, true)
	bob := s.join(room, "bob", false, false)
	testutil.Eventually(t, 15*time.Second, "Bob hears and sees Alice", func() bool {
		return received(bob, alice.ParticipantID, "audio") > 20 && received(bob, alice.ParticipantID, "video") > 20
	})
	if rs := s.recordings(room); len(rs) != 0 {
		t.Fatalf("recording off: %d recordings", len(rs))
	}
	toggle := func(on bool) time.Time {
		if code, out := s.api("PATCH", "/rooms/"+room, map[string]any{"enable_recording": on}); code != 200 {
			t.Fatalf("PATCH enable_recording=%v: %d %v", on, code, out)
		}
		return time.Now()
	}
	on := toggle(true)
	s.waitRecordings(room, 2, "processing")
	time.Sleep(time.Second)
	// Each action takes effect between the request and its answer.
	action := func(name string) (sent, answered time.Time) {
		sent = time.Now()
		if code, _ := s.api("POST", "/room_sessions/"+alice.SessionID+"/actions/"+name, map[string]any{"participants": "all"}); code != 200 {
			t.Fatalf("%s: %d", name, code)
		}
		return sent, time.Now()
	}
	muteSent, muteDone := action("mute")
	time.Sleep(1500 * time.Millisecond)
	unmuteSent, unmuteDone := action("unmute")
	time.Sleep(time.Second)
	off := toggle(false)
	rs := s.waitRecordings(room, 2, "completed")
	for _, r := range rs {
		_, played := checkRecording(t, r)
		if d := played - off.Sub(on); d < -500*time.Millisecond || d > 500*time.Millisecond {
			t.Errorf("%s recording plays %v; recording was on for %v", r["type"], played, off.Sub(on))
		}
		if r["type"] != "audio" {
			continue
		}
		start := ts(t, r["started_at"])
		sil := probe.Silences(t, download(t, r), time.Second)
		// The silence starts and ends when the actions took effect, give
		// or take a quarter second: the file's clock counts the audio
		// (a frame is 20 ms however late it came), so the delivery's
		// jitter, audio in flight and when the server applied the
		// action all shift it against the test's clock.
		within := func(at time.Duration, from, to time.Time) bool {
			return at >= from.Sub(start)-250*time.Millisecond && at <= to.Sub(start)+250*time.Millisecond
		}
		t.Logf("silences %v; mute took effect %v–%v, unmute %v–%v into the recording", sil,
			muteSent.Sub(start), muteDone.Sub(start), unmuteSent.Sub(start), unmuteDone.Sub(start))
		if len(sil) != 1 || !within(sil[0].Start, muteSent, muteDone) || !within(sil[0].End, unmuteSent, unmuteDone) {
			t.Errorf("audio: silences %v, want one from the mute to the unmute", sil)
		}
	}
	// The meeting went on: Bob still receives Alice.
	before := received(bob, alice.ParticipantID, "video")
	testutil.Eventually(t, 10*time.Second, "Bob still sees Alice after recording stopped", func() bool {
		return received(bob, alice.ParticipantID, "video") > before+20
	})
	// On again: new recordings of the same tracks.
	toggle(true)
	testutil.Eventually(t, 15*time.Second, "two new recordings", func() bool {
		n := 0
		for _, r := range s.recordings(room) {
			if r["status"] == "processing" {
				n++
			}
		}
		return n == 2
	})
	if err := alice.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.waitRecordings(room, 4, "completed")
}

// TestRecordingUnderLoss: two roomsd bots publish for four seconds into a
// recorded room over uplinks that lose 5 % of their packets. Every track
// is still recorded at real speed: each file decodes and plays as long as
// it was recorded (what the server could not get back is a short silence
// or a held picture, not a shorter file). Audio covers all the time the
// bots published. Video starts on a whole keyframe: when the loss hits
// the first one (its first packet, by which a keyframe is known), the
// recording starts on the next, asked for at most every half second, so
// it may start up to a second and a half late; it still runs to the end.
func TestRecordingUnderLoss(t *testing.T) {
	s := newServer(t)
	room := s.room(map[string]any{"enable_recording": true})
	const publish = 4 * time.Second
	began := time.Now()
	rep, err := bot.Run(t.Context(), bot.Config{Server: s.URL, APIKey: "k", Room: room, Context: "lossy", Count: 2,
		Duration: publish, Audio: true, Video: true, VideoClip: client.VideoMedium, Loopback: true, Loss: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	if rep.Failed > 0 {
		t.Fatalf("bots: %+v", rep)
	}
	rs := s.waitRecordings(room, 4, "completed")
	audioEnd := map[string]time.Time{}
	for _, r := range rs {
		_, played := checkRecording(t, r)
		late := 500 * time.Millisecond
		if r["type"] == "video" {
			late = 1500 * time.Millisecond // waiting for a whole keyframe
		} else {
			audioEnd[r["participant_id"].(string)] = ts(t, r["ended_at"])
		}
		if played < publish-late || played > ended.Sub(began)+500*time.Millisecond {
			t.Errorf("%s recording under 5%% loss plays %v; the bots published %v (in %v from start to finish)", r["type"], played, publish, ended.Sub(began))
		}
	}
	for _, r := range rs {
		if end, ok := audioEnd[r["participant_id"].(string)]; ok && r["type"] == "video" {
			if d := ts(t, r["ended_at"]).Sub(end); d < -500*time.Millisecond || d > 500*time.Millisecond {
				t.Errorf("video recording %s ends %v from its participant's audio: it does not run to the end", r["id"], d)
			}
		}
	}
}

// TestRecordingH264: an H.264 video track is recorded as an Annex-B
// stream that starts on an IDR picture with its parameter sets, one
// access unit per picture sent.
func TestRecordingH264(t *testing.T) {
	s := newServer(t)
	room := s.room(map[string]any{"enable_recording": true})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.ConnectURL(s.URL, room), s.token(room),
		client.Options{Context: "h264", Video: true, H264: true, Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.waitRecordings(room, 1, "processing")
	time.Sleep(2 * time.Second)
	if err := c.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := s.waitRecordings(room, 1, "completed")[0]
	if r["codec"] != "h264" || r["type"] != "video" {
		t.Fatalf("recording %v: want h264 video", r)
	}
	code, body, hdr := fetch(t, r["download_url"].(string), false)
	if code != 200 || hdr.Get("Content-Type") != "video/h264" {
		t.Fatalf("download: %d %q", code, hdr.Get("Content-Type"))
	}
	if len(body) < 5 || string(body[:4]) != "\x00\x00\x00\x01" || body[4]&0x1f != 7 {
		t.Fatalf("the stream starts %x, want a start code and the SPS", body[:min(len(body), 8)])
	}
	// One access unit per picture: the sender's 30 a second, for as long
	// as the recording plays.
	units := strings.Count(string(body), "\x00\x00\x00\x01\x41") + strings.Count(string(body), "\x00\x00\x00\x01\x65")
	dur := r["duration_secs"].(float64)
	t.Logf("%d pictures, duration_secs %v", units, dur)
	if dur < 1 || dur > 3 || units < 45 || units > 90 {
		t.Errorf("%d pictures in %v s; want about 30 a second for 2 s", units, dur)
	}
}

// TestRecordingOutlivesItsRoom: deleting a room while it records ends
// its session; the recordings complete, and they and their files stay.
func TestRecordingOutlivesItsRoom(t *testing.T) {
	s := newServer(t)
	room := s.room(map[string]any{"enable_recording": true})
	s.join(room, "alice", true, true)
	s.waitRecordings(room, 2, "processing")
	time.Sleep(time.Second)
	if code, _ := s.api("DELETE", "/rooms/"+room, nil); code != 204 {
		t.Fatalf("delete room: %d", code)
	}
	for _, r := range s.waitRecordings(room, 2, "completed") {
		if code, body, _ := fetch(t, r["download_url"].(string), false); code != 200 || len(body) == 0 {
			t.Errorf("recording %s of the deleted room: %d, %d bytes", r["id"], code, len(body))
		}
	}
}
