package compose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/compose"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// env is a store, a rooms service and a file store in a temp directory,
// with one ended session to compose.
type env struct {
	t       *testing.T
	st      *sqlite.Store
	svc     *rooms.Service
	files   *blob.Dir
	session domain.Session
	pools   []*compose.Pool
	// start is when the session's first recording starts.
	start time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "roomsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	files, err := blob.OpenDir(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, files: files}
	e.svc = rooms.New(st, rooms.WithFiles(files), rooms.WithCompositionNotifier(e.notify))
	room, err := e.svc.CreateRoom(ctx, rooms.RoomChanges{})
	if err != nil {
		t.Fatal(err)
	}
	e.start = domain.Timestamp(time.Now().Add(-time.Hour))
	end := e.start.Add(time.Minute)
	e.session = domain.Session{ID: id(), RoomID: room.ID, CreatedAt: e.start, UpdatedAt: end, EndedAt: &end, EndedReason: domain.ReasonAPI}
	if err := st.InsertSession(ctx, e.session); err != nil {
		t.Fatal(err)
	}
	return e
}

func id() string { return uuid.Must(uuid.NewV7()).String() }

// notify wakes every pool the test started, as the app wakes its one.
func (e *env) notify() {
	for _, p := range e.pools {
		p.Notify()
	}
}

// pool starts a pool over the env, closed when the test ends.
func (e *env) pool(tweak func(*compose.Config)) *compose.Pool {
	cfg := compose.Config{Rooms: e.svc, Files: e.files, Workers: 1, Poll: 50 * time.Millisecond,
		URL: func(id string) string { return "http://roomsd.test/v2/room_compositions/" + id + "/download" }}
	if tweak != nil {
		tweak(&cfg)
	}
	p := compose.New(cfg)
	e.pools = append(e.pools, p)
	p.Start()
	e.t.Cleanup(p.Close)
	return p
}

// ffmpeg runs ffmpeg with the arguments, failing the test if it fails.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-v", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %q: %v: %s (is ffmpeg installed? apt-get install ffmpeg)", args, err, out)
	}
}

// record stores a completed recording of the session whose file ffmpeg
// makes from a lavfi source (video: a solid colour; audio: a tone), as
// roomsd's recorder would have written it: VP8 in WebM, H.264 Annex-B or
// Opus in Ogg. It starts at offset from the env's start and lasts length
// (its row may claim a longer span than the file, see rowLength).
func (e *env) record(codec, source string, offset, length, rowLength time.Duration) domain.Recording {
	e.t.Helper()
	r := domain.Recording{ID: id(), RoomID: e.session.RoomID, SessionID: e.session.ID, ParticipantID: id(),
		Status: domain.RecordingCompleted, Codec: codec, Type: domain.MediaVideo, StartedAt: e.start.Add(offset)}
	path, _ := e.files.Path(domain.RecordingKey(r.ID))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		e.t.Fatal(err)
	}
	secs := strconv.FormatFloat(length.Seconds(), 'f', 3, 64)
	switch codec {
	case "vp8":
		ffmpeg(e.t, "-f", "lavfi", "-i", source+":size=320x240:rate=25:duration="+secs, "-c:v", "libvpx", "-b:v", "200k", "-f", "webm", path)
	case "h264":
		ffmpeg(e.t, "-f", "lavfi", "-i", source+":size=320x180:rate=30:duration="+secs, "-c:v", "libx264", "-preset", "ultrafast",
			"-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "h264", path)
	case "opus":
		r.Type = domain.MediaAudio
		ffmpeg(e.t, "-f", "lavfi", "-i", source+":duration="+secs, "-c:a", "libopus", "-ac", "2", "-f", "ogg", path)
	}
	end := r.StartedAt.Add(rowLength)
	size, dur, url := 0.1, int(rowLength.Round(time.Second)/time.Second), "http://roomsd.test/"+r.ID
	r.EndedAt, r.CompletedAt, r.CreatedAt, r.UpdatedAt = &end, &end, r.StartedAt, end
	r.SizeMB, r.DurationSecs, r.DownloadURL = &size, &dur, &url
	if err := e.st.InsertRecording(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// compose enqueues a composition of the env's session.
func (e *env) compose(resolution string, layout map[string]domain.VideoRegion) domain.Composition {
	e.t.Helper()
	c, err := e.svc.CreateComposition(context.Background(), rooms.CompositionRequest{SessionID: &e.session.ID,
		Resolution: &resolution, VideoLayout: layout})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// wait polls the composition until cond holds, within the deadline.
func (e *env) wait(id string, within time.Duration, what string, cond func(domain.Composition) bool) domain.Composition {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := e.svc.GetComposition(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("not within %v: %s; composition %+v (reason %v)", within, what, c, str(c.FailureReason))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func settled(c domain.Composition) bool {
	return c.Status == domain.CompositionCompleted || c.Status == domain.CompositionFailed
}

func ptr[T any](v T) *T { return &v }

// A job whose ffmpeg is missing fails at once, saying how to install it.
func TestMissingFFmpegFails(t *testing.T) {
	e := newEnv(t)
	e.record("opus", "sine=frequency=440", 0, time.Second, time.Second)
	e.pool(func(c *compose.Config) { c.FFmpeg = filepath.Join(t.TempDir(), "no-such-ffmpeg"); c.Poll = time.Hour })
	c := e.compose("640x360", nil)
	c = e.wait(c.ID, 10*time.Second, "the composition fails", settled)
	want := "ffmpeg is not installed on the server (Debian: apt-get install ffmpeg)"
	if c.Status != domain.CompositionFailed || str(c.FailureReason) != want || c.EndedAt == nil || c.DownloadURL != nil {
		t.Errorf("composition %s, reason %q, ended_at %v; want failed with %q", c.Status, str(c.FailureReason), c.EndedAt, want)
	}
}

// A session without recordings has nothing to compose: the job fails
// with a reason that says so.
func TestNothingToComposeFails(t *testing.T) {
	e := newEnv(t)
	e.pool(nil)
	c := e.wait(e.compose("640x360", nil).ID, 10*time.Second, "the composition fails", settled)
	if c.Status != domain.CompositionFailed || !strings.Contains(str(c.FailureReason), "nothing to compose") {
		t.Errorf("composition %s, reason %q; want failed, nothing to compose", c.Status, str(c.FailureReason))
	}
}

type probe struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		PixFmt    string `json:"pix_fmt"`
	} `json:"streams"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// pixel returns the colour (R, G, B) of the composition's picture at a
// point and time.
func pixel(t *testing.T, path string, at time.Duration, x, y int) [3]int {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-ss", strconv.FormatFloat(at.Seconds(), 'f', 3, 64), "-i", path,
		"-frames:v", "1", "-vf", "crop=2:2:"+strconv.Itoa(x)+":"+strconv.Itoa(y), "-pix_fmt", "rgb24", "-f", "rawvideo", "-").Output()
	if err != nil || len(out) < 3 {
		t.Fatalf("read pixel (%d,%d) at %v: %v (%d bytes)", x, y, at, err, len(out))
	}
	return [3]int{int(out[0]), int(out[1]), int(out[2])}
}

// maxVolume returns the loudest sample (dB) of the file's audio from
// from, for length, as ffmpeg's volumedetect reads it.
func maxVolume(t *testing.T, path string, from, length time.Duration) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-ss", strconv.FormatFloat(from.Seconds(), 'f', 3, 64),
		"-t", strconv.FormatFloat(length.Seconds(), 'f', 3, 64), "-i", path, "-vn", "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("volumedetect: %v: %s", err, out)
	}
	_, rest, ok := strings.Cut(string(out), "max_volume: ")
	v, _, _ := strings.Cut(rest, " dB")
	db, err := strconv.ParseFloat(v, 64)
	if !ok || err != nil {
		if strings.Contains(v, "inf") {
			return -200
		}
		t.Fatalf("volumedetect said: %s", out)
	}
	return db
}

// near reports whether a colour is within 40 of want on each channel
// (H.264 and 4:2:0 move colours a little).
func near(got, want [3]int) bool {
	for i := range got {
		if d := got[i] - want[i]; d < -40 || d > 40 {
			return false
		}
	}
	return true
}

var (
	black = [3]int{0, 0, 0}
	red   = [3]int{255, 0, 0}
	blue  = [3]int{0, 0, 255}
)

// Two regions: a VP8 video fills the canvas, an H.264 one that started a
// second later sits in a corner region drawn above it (higher z_pos), and
// audio that started half a second in plays over both. Each video appears
// in its cell when it started and leaves when it ended; the file is
// H.264 and AAC at the composition's resolution, as long as the
// recordings span.
func TestRenderLayoutAndTimeline(t *testing.T) {
	e := newEnv(t)
	main := e.record("vp8", "color=c=red", 0, 4*time.Second, 4*time.Second)
	pip := e.record("h264", "color=c=blue", time.Second, 2*time.Second, 2*time.Second)
	e.record("opus", "sine=frequency=440", 500*time.Millisecond, 3500*time.Millisecond, 3500*time.Millisecond)
	// In no region: drawn nowhere (the main region stays red).
	e.record("vp8", "color=c=green", 0, 4*time.Second, 4*time.Second)
	e.pool(nil)
	c := e.compose("640x360", map[string]domain.VideoRegion{
		"pip":  {XPos: ptr(400), YPos: ptr(200), Width: ptr(200), Height: ptr(120), ZPos: ptr(1), VideoSources: []string{pip.ID}},
		"main": {VideoSources: []string{main.ID}},
	})
	began := time.Now()
	c = e.wait(c.ID, 3*time.Minute, "the composition is rendered", settled)
	t.Logf("rendered in %v", time.Since(began))
	if c.Status != domain.CompositionCompleted {
		t.Fatalf("composition %s: %s", c.Status, str(c.FailureReason))
	}
	if str(c.DownloadURL) != "http://roomsd.test/v2/room_compositions/"+c.ID+"/download" || c.FailureReason != nil ||
		c.DurationSecs == nil || *c.DurationSecs != 4 || c.SizeMB == nil || *c.SizeMB <= 0 || c.Attempts != 1 {
		t.Errorf("completed composition: %+v", c)
	}
	path, _ := e.files.Path(domain.CompositionKey(c.ID))
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := *c.SizeMB - float64(info.Size())/1e6; d < -0.001 || d > 0.001 {
		t.Errorf("size_mb %v, file has %d bytes", *c.SizeMB, info.Size())
	}
	if parts, _ := filepath.Glob(path + ".*"); len(parts) != 0 {
		t.Errorf("part files left behind: %v", parts)
	}
	p := ffprobe(t, path)
	var video, audio int
	for _, s := range p.Streams {
		switch {
		case s.CodecType == "video" && s.CodecName == "h264" && s.Width == 640 && s.Height == 360 && s.PixFmt == "yuv420p":
			video++
		case s.CodecType == "audio" && s.CodecName == "aac":
			audio++
		default:
			t.Errorf("unexpected stream %+v", s)
		}
	}
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if video != 1 || audio != 1 || dur < 3.8 || dur > 4.2 {
		t.Errorf("file: %d h264 640x360 streams, %d aac streams, %.3f s; want one each, 4 s (the recordings span 0 to 4 s)",
			video, audio, dur)
	}
	for _, c := range []struct {
		at   time.Duration
		x, y int
		want [3]int
		what string
	}{
		{500 * time.Millisecond, 100, 100, red, "the main region"},
		{900 * time.Millisecond, 500, 260, red, "the pip region just before its video starts"},
		{1100 * time.Millisecond, 500, 260, blue, "the pip region just after its video started"},
		{2 * time.Second, 100, 100, red, "the main region under the pip"},
		{2900 * time.Millisecond, 500, 260, blue, "the pip region just before its video ends"},
		{3100 * time.Millisecond, 500, 260, red, "the pip region just after its video ended"},
	} {
		got := pixel(t, path, c.at, c.x, c.y)
		if !near(got, c.want) {
			t.Errorf("%s: at %v (%d,%d) colour %v, want %v", c.what, c.at, c.x, c.y, got, c.want)
		}
		t.Logf("%s: at %v (%d,%d) colour %v", c.what, c.at, c.x, c.y, got)
	}
	// The tone (at -18 dB) starts half a second in.
	quiet := maxVolume(t, path, 100*time.Millisecond, 300*time.Millisecond)
	loud := maxVolume(t, path, 700*time.Millisecond, 3*time.Second)
	if quiet > -60 || loud < -30 {
		t.Errorf("audio: %.1f dB before the tone started, %.1f dB after; want silence (below -60), then the tone", quiet, loud)
	}
	t.Logf("audio: %.1f dB before the tone started, %.1f dB after", quiet, loud)
	// The pip's 16:9 picture in its 200x120 cell: letterboxed, black
	// bars above and below (112 rows of picture, 4 of black each side).
	if got := pixel(t, path, 2*time.Second, 500, 200); !near(got, black) {
		t.Errorf("the pip cell's top bar is %v, want black", got)
	}
}

// A composition claimed by a worker that then stopped renewing (a
// crashed server) is claimed again once its lease has passed, and
// rendered; started_at stays the first claim's.
func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	e := newEnv(t)
	e.record("opus", "sine=frequency=440", 0, time.Second, time.Second)
	c := e.compose("160x90", nil)
	crashed, ok, err := e.svc.ClaimComposition(context.Background(), 300*time.Millisecond)
	if err != nil || !ok || crashed.ID != c.ID {
		t.Fatalf("claim: %v %v", ok, err)
	}
	e.pool(nil)
	c = e.wait(c.ID, time.Minute, "the composition is rendered", settled)
	if c.Status != domain.CompositionCompleted || c.Attempts != 2 || !c.StartedAt.Equal(*crashed.StartedAt) {
		t.Errorf("composition %s after %d attempts, started_at %v (first claim %v): %s", c.Status, c.Attempts, c.StartedAt,
			crashed.StartedAt, str(c.FailureReason))
	}
}

// syncLog is a log sink safe for concurrent writes and reads.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Two servers share the queue. The one rendering a long composition keeps
// its lease (short here) for several lease periods, so the other never
// takes the job; it logs its progress. When it closes, its render stops
// and the job is released at once, not left until its lease runs out.
func TestLeaseHeldWhileRenderingAndReleasedOnClose(t *testing.T) {
	e := newEnv(t)
	// A second of media in rows that say it lasted an hour: a render
	// long enough to be running when the server closes.
	e.record("vp8", "color=c=red", 0, time.Second, time.Hour)
	var logs syncLog
	short := func(c *compose.Config) {
		c.Lease, c.Renew, c.ProgressEvery = time.Second, 100*time.Millisecond, 200*time.Millisecond
		c.Log = slog.New(slog.NewTextHandler(&logs, nil))
	}
	first := e.pool(short)
	c := e.compose("160x90", nil)
	c = e.wait(c.ID, 30*time.Second, "the first server claims the composition", func(c domain.Composition) bool {
		return c.Status == domain.CompositionProcessing
	})
	part, _ := e.files.Path(domain.CompositionKey(c.ID) + ".1.part")
	other := e.pool(func(c *compose.Config) { short(c); c.Log = nil })
	// Three lease periods pass while the other server polls for work.
	held := time.Now().Add(3 * time.Second)
	for time.Now().Before(held) {
		if got, _ := e.svc.GetComposition(context.Background(), c.ID); got.Attempts != 1 || got.Status != domain.CompositionProcessing {
			t.Fatalf("while the first server renders: %s, attempt %d; want processing, attempt 1", got.Status, got.Attempts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "rendering composition") || !strings.Contains(logs.String(), "percent=") {
		t.Errorf("no progress logged:\n%s", logs.String())
	}
	if _, err := os.Stat(part); err != nil {
		t.Errorf("no part file while rendering: %v", err)
	}
	other.Close()
	closed := time.Now()
	first.Close()
	t.Logf("the first server closed in %v", time.Since(closed))
	if _, err := os.Stat(part); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stopped render's part file is still there (%v)", err)
	}
	if !strings.Contains(logs.String(), "rendering stopped by shutdown") {
		t.Errorf("the first server did not say it stopped:\n%s", logs.String())
	}
	// Renewed a tenth of a second ago at most, the lease would hold for
	// most of a second more: only a release lets a claim take it now.
	got, ok, err := e.svc.ClaimComposition(context.Background(), time.Minute)
	if err != nil || !ok || got.ID != c.ID || got.Attempts != 2 {
		t.Errorf("claim right after the close: %v %v %s (attempt %d); want the released composition", ok, err, got.ID, got.Attempts)
	}
}
