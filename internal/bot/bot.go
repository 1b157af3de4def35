// Package bot joins a room like a user, or like many users: each
// participant mints a client token through the REST API, joins over the
// signaling socket with package client, publishes synthetic media,
// receives everyone else and counts what arrives. `roomsd bot` is a thin
// command line over Run; the report it prints is Report.
package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/signal"
)

// Config is one run of the bot.
type Config struct {
	// TCP lets the participants connect media over TCP as well as UDP
	// (ICE-TCP), as browsers do.
	TCP bool
	// Server is the roomsd base URL, http://host:port, with or without
	// /v2; or several, comma-separated (the nodes of a cluster): each
	// participant starts with the first, and rejoins through the next.
	Server string
	// APIKey authorizes the token requests (Authorization: Bearer).
	APIKey string
	// Room is the room id to join.
	Room string
	// Context is stored on each participant; with Count > 1 the
	// participants are Context-1 … Context-N.
	Context string
	// Count is how many participants join (at once).
	Count int
	// Duration is how long the participants stay once every one of them
	// has joined and connected its media (or failed to).
	Duration time.Duration
	// Audio and Video say what each participant publishes.
	Audio, Video bool
	// VideoClip is the video published (client.VideoPattern, or a
	// camera-like clip); Simulcast publishes three encodings instead.
	VideoClip client.VideoClip
	Simulcast bool
	// Quality ("", auto, low, medium, high) and ViewWidth/ViewHeight (0:
	// no size) are what each participant asks of every remote video.
	Quality               string
	ViewWidth, ViewHeight int
	// Delay holds every packet the participants receive for this long,
	// to try a distant link.
	Delay time.Duration
	// Loss drops this share (0 to 0.5) of the packets each participant
	// sends, as a lossy uplink would.
	Loss float64
	// Loopback pins ICE to 127.0.0.1.
	Loopback bool
	// Rejoin makes a participant whose connection drops (its server
	// went away, its media failed; not a kick, an end or a deleted
	// room) join again, through the next server of Server's list, until
	// the run ends. The counts are those of its last connection.
	Rejoin bool
	// ConnectTimeout bounds each participant's token request, join and
	// media connection (default 20s).
	ConnectTimeout time.Duration
	// HTTPClient requests tokens and dials the signaling socket
	// (default: a client with a 10 s timeout for tokens).
	HTTPClient *http.Client
	// Log receives progress lines and errors (nil: discarded).
	Log io.Writer
	// ProgressEvery is how often a progress line is written (0: never).
	ProgressEvery time.Duration
	// Snapshot, when a value arrives, writes a snapshot line at once;
	// scripts use it to mark a measurement window.
	Snapshot <-chan struct{}
}

// Report is what a run prints: one JSON object.
type Report struct {
	Server    string    `json:"server"`
	RoomID    string    `json:"room_id"`
	Publish   []string  `json:"publish"`
	StartedAt time.Time `json:"started_at"`
	// DurationMS runs from the first token request to the moment the
	// counts were taken, just before the participants left.
	DurationMS     int64         `json:"duration_ms"`
	ParticipantIDs []string      `json:"participant_ids"`
	Participants   []Participant `json:"participants"`
	Totals         Counts        `json:"totals"`
	// Failed counts participants that did not join, did not connect
	// their media, or were disconnected before the run ended.
	Failed int `json:"failed"`
}

// Participant is one bot participant. Times are milliseconds from its
// token request; null when the event did not happen.
type Participant struct {
	Context       string `json:"context"`
	ParticipantID string `json:"participant_id,omitempty"`
	SessionID     string `json:"session_id,omitempty"`
	Connected     bool   `json:"connected"`
	JoinMS        *int64 `json:"join_ms"`
	ConnectMS     *int64 `json:"connect_ms"`
	// FirstVideoMS is the first remote video packet of any participant;
	// FirstKeyframeMS the first packet of a remote keyframe, the first
	// picture a real client could show.
	FirstAudioMS    *int64 `json:"join_to_first_audio_ms"`
	FirstVideoMS    *int64 `json:"join_to_first_video_ms"`
	FirstKeyframeMS *int64 `json:"join_to_first_keyframe_ms"`
	// Received is keyed by remote participant id, then "audio"/"video".
	Received map[string]map[string]Counts `json:"received"`
	// Rejoins counts the times its connection dropped and it joined
	// again (Config.Rejoin).
	Rejoins int `json:"rejoins,omitempty"`
	// SendErrors counts the frames it could not send (it goes on with the
	// next); SendError is the first such error.
	SendErrors int64  `json:"send_errors,omitempty"`
	SendError  string `json:"send_error,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Counts is what arrived. Lost is from RTP sequence numbers: packets
// between the first and the highest one received that never arrived.
// Packets counts each packet once; Duplicates are second copies (a
// retransmission that crossed the original).
// Video adds the size of the last keyframe, the receive bitrate, and the
// freezes: gaps of more than 500 ms between two frames.
type Counts struct {
	Packets    int64 `json:"packets"`
	Bytes      int64 `json:"bytes"`
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates,omitempty"`
	Keyframes  int64 `json:"keyframes,omitempty"`
	Width      int   `json:"width,omitempty"`
	Height     int   `json:"height,omitempty"`
	Kbps       int64 `json:"kbps,omitempty"`
	Frames     int64 `json:"frames,omitempty"`
	Freezes    int64 `json:"freezes,omitempty"`
	LongestGap int64 `json:"longest_gap_ms,omitempty"`
	// Sizes is each change of keyframe size (of layer), in ms from the
	// participant's token request.
	Sizes []Size `json:"sizes,omitempty"`
}

// Size is a change of the size of the video received.
type Size struct {
	AtMS   int64 `json:"at_ms"`
	Width  int   `json:"width"`
	Height int   `json:"height"`
}

func (c *Counts) add(o Counts) {
	c.Packets += o.Packets
	c.Bytes += o.Bytes
	c.Lost += o.Lost
	c.Duplicates += o.Duplicates
	c.Keyframes += o.Keyframes
	c.Frames += o.Frames
	c.Freezes += o.Freezes
	c.LongestGap = max(c.LongestGap, o.LongestGap)
}

// ParsePublish reads "audio", "video", "audio,video" or "none".
func ParsePublish(s string) (audio, video bool, err error) {
	s = strings.TrimSpace(s)
	if s == "none" || s == "" {
		return false, false, nil
	}
	for _, k := range strings.Split(s, ",") {
		switch strings.TrimSpace(k) {
		case "audio":
			audio = true
		case "video":
			video = true
		default:
			return false, false, fmt.Errorf("%q is not audio, video, audio,video or none", s)
		}
	}
	return audio, video, nil
}

// ParseVideoBitrate reads --video-bitrate: "pattern", or a bitrate (1.5M,
// 500k, 150000) turned into the nearest camera-like clip.
func ParseVideoBitrate(s string) (client.VideoClip, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "pattern" {
		return client.VideoPattern, nil
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "m"):
		mult, s = 1e6, strings.TrimSuffix(s, "m")
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a bitrate such as 1.5M, 500k or 150000, or pattern", s)
	}
	switch bps := v * mult; {
	case bps < 300_000:
		return client.VideoLow, nil
	case bps < 1_000_000:
		return client.VideoMedium, nil
	}
	return client.VideoHigh, nil
}

// MaxDelay is the longest delay a participant may hold what it receives.
const MaxDelay = 10 * time.Second

// MaxLoss is the largest share of its packets a participant may drop.
const MaxLoss = 0.5

// CheckQuality refuses a quality that is not one a participant may ask of
// remote videos: "" or auto, low, medium, high.
func CheckQuality(q string) error {
	switch q {
	case "", "auto", "low", "medium", "high":
		return nil
	}
	return fmt.Errorf("quality %q is not auto, low, medium or high", q)
}

// ParseView reads --view: WIDTHxHEIGHT, or empty for none.
func ParseView(s string) (w, h int, err error) {
	if strings.TrimSpace(s) == "" {
		return 0, 0, nil
	}
	ws, hs, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return 0, 0, fmt.Errorf("%q is not a size such as 320x180", s)
	}
	return w, h, nil
}

// BaseURL checks a server URL and returns it without a trailing / or /v2.
func BaseURL(server string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not a server URL such as http://127.0.0.1:8080", server)
	}
	s := strings.TrimSuffix(u.String(), "/")
	return strings.TrimSuffix(s, "/v2"), nil
}

// IsLoopbackServer reports whether the server URL names this machine
// (127.0.0.1, ::1 or localhost).
func IsLoopbackServer(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	switch h := u.Hostname(); {
	case h == "localhost", h == "::1", strings.HasPrefix(h, "127."):
		return true
	}
	return false
}

// member is one participant during a run.
type member struct {
	ctxName string
	start   time.Time

	mu        sync.Mutex
	c         *client.Client
	joined    time.Time
	connected time.Time
	err       error
	leaving   atomic.Bool
	// rejoining is set once a connection dropped (Config.Rejoin): a
	// failed attempt is then tried again; rejoins counts the drops; next
	// picks the server of the next attempt.
	rejoining bool
	rejoins   int
	next      int
	// finished is closed when participate returns: the connection has
	// ended and, if the run was not over, the failure is recorded.
	finished chan struct{}
}

func (m *member) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
	}
}

func (m *member) state() (c *client.Client, connected bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c, !m.connected.IsZero(), m.err
}

type runner struct {
	cfg     Config
	bases   []string
	http    *http.Client
	members []*member
	start   time.Time
	logMu   sync.Mutex
}

// Run joins Count participants, keeps them for Duration and returns what
// they received. It returns an error only for a bad Config; participants
// that fail are in the report (Failed) and in the log. Ending ctx ends
// the run early, with a report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	var bases []string
	for _, s := range strings.Split(cfg.Server, ",") {
		base, err := BaseURL(s)
		if err != nil {
			return nil, err
		}
		bases = append(bases, base)
	}
	switch {
	case cfg.Room == "":
		return nil, errors.New("no room id")
	case cfg.APIKey == "":
		return nil, errors.New("no API key")
	case cfg.Count < 1:
		return nil, fmt.Errorf("count %d: at least 1", cfg.Count)
	case cfg.Duration < 0:
		return nil, fmt.Errorf("duration %v is negative", cfg.Duration)
	case cfg.ViewWidth < 0 || cfg.ViewHeight < 0:
		return nil, errors.New("the view size must not be negative")
	case cfg.Delay < 0 || cfg.Delay > MaxDelay:
		return nil, fmt.Errorf("delay %v: from 0 to %v", cfg.Delay, MaxDelay)
	case cfg.Loss < 0 || cfg.Loss > MaxLoss:
		return nil, fmt.Errorf("loss %v: from 0 to %v", cfg.Loss, MaxLoss)
	}
	if err := CheckQuality(cfg.Quality); err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 20 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	r := &runner{cfg: cfg, bases: bases, http: cfg.HTTPClient}
	if r.http == nil {
		r.http = &http.Client{Timeout: 10 * time.Second}
	}
	return r.run(ctx), nil
}

func (r *runner) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.cfg.Log, "roomsd bot: "+format+"\n", args...)
}

func (r *runner) run(ctx context.Context) *Report {
	r.start = time.Now()
	r.members = make([]*member, r.cfg.Count)
	var ready sync.WaitGroup // joined and connected, or failed
	for i := range r.members {
		name := r.cfg.Context
		if r.cfg.Count > 1 {
			name = fmt.Sprintf("%s-%d", r.cfg.Context, i+1)
		}
		m := &member{ctxName: name, finished: make(chan struct{})}
		r.members[i] = m
		ready.Add(1)
		go r.participate(ctx, m, ready.Done)
	}

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go r.progress(stopProgress, progressDone)

	allReady := make(chan struct{})
	go func() { ready.Wait(); close(allReady) }()
	// Joins end by themselves: each is bounded by ConnectTimeout and
	// by ctx.
	<-allReady
	if ctx.Err() == nil {
		t := time.NewTimer(r.cfg.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-r.allGone():
		}
		t.Stop()
	}
	end := time.Now()
	close(stopProgress)
	<-progressDone
	report := r.report(end)

	// Leave together; a participant still connecting is dropped.
	var wg sync.WaitGroup
	for _, m := range r.members {
		m.leaving.Store(true)
		c, _, _ := m.state()
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = c.Leave(lctx)
		}()
	}
	wg.Wait()
	r.logf("done after %.1fs: %d of %d participants ok, %d packets (%d bytes) received, %d lost",
		end.Sub(r.start).Seconds(), r.cfg.Count-report.Failed, r.cfg.Count, report.Totals.Packets, report.Totals.Bytes, report.Totals.Lost)
	return report
}

// allGone is closed when every participant's connection has ended (or
// never started), so a run whose room was ended stops at once.
func (r *runner) allGone() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for _, m := range r.members {
			<-m.finished
		}
		close(ch)
	}()
	return ch
}

// participate mints a token, joins, waits for media and then watches the
// connection until it ends. With Rejoin, a connection that drops (not a
// kick, an end or a deleted room) is made again, through the next of the
// servers, until the run ends.
func (r *runner) participate(ctx context.Context, m *member, ready func()) {
	defer close(m.finished)
	m.start = time.Now()
	readyOnce := sync.OnceFunc(ready)
	defer readyOnce()
	failed := func(err error) { r.failed(m, err) }
	backoff := 250 * time.Millisecond
	for {
		dropped, final, err := r.attempt(ctx, m, readyOnce)
		rejoining := r.cfg.Rejoin && (dropped || m.rejoining) && !final
		switch {
		case err == nil || m.leaving.Load():
			return
		case !rejoining || ctx.Err() != nil:
			failed(err)
			return
		}
		m.mu.Lock()
		if dropped {
			m.rejoins++
			backoff = 250 * time.Millisecond
		}
		m.rejoining, m.connected = true, time.Time{}
		m.mu.Unlock()
		m.next++
		r.logf("%s: %v; rejoining through %s in %v", m.ctxName, err, r.bases[m.next%len(r.bases)], backoff)
		select {
		case <-ctx.Done():
			failed(err)
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// failed records why a participant failed, and logs it.
func (r *runner) failed(m *member, err error) {
	m.fail(err)
	r.logf("%s: %v", m.ctxName, err)
}

// attempt is one token, join and connection, through the member's
// current server, watched until it ends. err is nil when the run ended
// it; dropped says the participant had joined when it ended, and final
// that the server ended it for good (kicked, session ended, room
// deleted).
func (r *runner) attempt(ctx context.Context, m *member, ready func()) (dropped, final bool, err error) {
	base := r.bases[m.next%len(r.bases)]
	cctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	token, err := r.token(cctx, base)
	if err != nil {
		return false, false, err
	}
	c, err := client.Join(cctx, client.ConnectURL(base, r.cfg.Room), token,
		client.Options{Context: m.ctxName, Audio: r.cfg.Audio, Video: r.cfg.Video, Loopback: r.cfg.Loopback, HTTPClient: r.cfg.HTTPClient, TCP: r.cfg.TCP,
			VideoClip: r.cfg.VideoClip, Simulcast: r.cfg.Simulcast, Delay: r.cfg.Delay, SendLoss: r.cfg.Loss})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("join: interrupted: %w", err)
		} else if cctx.Err() != nil {
			err = fmt.Errorf("join: no answer within %v: %w", r.cfg.ConnectTimeout, err)
		}
		var refused *client.JoinError
		return false, errors.As(err, &refused) && refused.Code != signal.CodeUnavailable, err
	}
	m.mu.Lock()
	old := m.c
	m.c = c
	if m.joined.IsZero() {
		m.joined = time.Now()
	}
	m.mu.Unlock()
	if old != nil {
		old.Close()
	}

	// The last word from the server before it closed the connection.
	var last signal.Message
	events := make(chan struct{})
	go func() {
		defer close(events)
		for e := range c.Events() {
			switch e.Type {
			case signal.TypeKicked, signal.TypeSessionEnded, signal.TypeClosed, signal.TypeError:
				last = e
			case "track_published":
				if e.Kind == "video" && (r.cfg.Quality != "" || r.cfg.ViewWidth > 0 || r.cfg.ViewHeight > 0) {
					sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					_ = c.SetTrackSettings(sctx, e.TrackID, true, r.cfg.ViewWidth, r.cfg.ViewHeight, r.cfg.Quality)
					cancel()
				}
			}
		}
	}()

	var mediaErr error
	if err := c.WaitConnected(cctx); err != nil {
		mediaErr = fmt.Errorf("media: %w", err)
	} else {
		m.mu.Lock()
		m.connected = time.Now()
		m.mu.Unlock()
	}
	ready()
	if mediaErr == nil {
		select {
		case <-events:
		case <-c.MediaFailed():
			mediaErr = errors.New("media: the connection failed during the run (ICE or DTLS)")
		}
	}
	if mediaErr != nil && !m.leaving.Load() {
		if !r.cfg.Rejoin {
			// Recorded now; the socket stays until the run ends.
			r.failed(m, mediaErr)
			<-events
			return false, false, nil
		}
		c.Close()
		<-events
		return true, false, mediaErr
	}
	<-events
	if m.leaving.Load() {
		return false, false, nil
	}
	why := "the signaling connection ended"
	if last.Type != "" {
		why += fmt.Sprintf(" after a %q message", last.Type)
		if d := strings.TrimSpace(last.Reason + " " + last.Code + " " + last.Message); d != "" {
			why += " (" + d + ")"
		}
	}
	if err := c.CloseErr(); err != nil {
		why += ": " + err.Error()
	}
	final = last.Type == signal.TypeKicked || last.Type == signal.TypeSessionEnded ||
		(last.Type == signal.TypeClosed && last.Reason != "disconnected")
	return true, final, errors.New(why)
}

// token asks the REST API at base for a client token.
func (r *runner) token(ctx context.Context, base string) (string, error) {
	u := base + "/v2/rooms/" + url.PathEscape(r.cfg.Room) + "/actions/generate_join_client_token"
	var resp *http.Response
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("{}"))
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
		req.Header.Set("Content-Type", "application/json")
		if resp, err = r.http.Do(req); err != nil {
			return "", fmt.Errorf("token request: %w", err)
		}
		// Over the server's token rate: wait as it says, and ask again.
		wait, limited := client.RetryAfter(resp)
		if !limited {
			break
		}
		resp.Body.Close()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return "", fmt.Errorf("token request: POST %s: still over the server's rate limit: %w", u, ctx.Err())
		}
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
		Errors []struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	derr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusCreated {
		msg := resp.Status
		if len(body.Errors) > 0 {
			msg += ": " + body.Errors[0].Title
			if d := body.Errors[0].Detail; d != "" {
				msg += ": " + d
			}
		}
		return "", fmt.Errorf("token request: POST %s: %s", u, msg)
	}
	if derr != nil || body.Data.Token == "" {
		return "", fmt.Errorf("token request: POST %s: no token in the answer", u)
	}
	return body.Data.Token, nil
}

// tally sums what every participant has received so far.
func (r *runner) tally() (connected, failed int, total Counts, audio, video int64) {
	for _, m := range r.members {
		c, ok, err := m.state()
		if err != nil {
			failed++
		} else if ok {
			connected++
		}
		if c == nil {
			continue
		}
		for _, s := range c.Stats() {
			total.add(counts(s))
			if s.Kind == "video" {
				video += s.Packets
			} else {
				audio += s.Packets
			}
		}
	}
	return connected, failed, total, audio, video
}

// progress writes a line every ProgressEvery, and a snapshot line when
// asked, until stop is closed.
func (r *runner) progress(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var tick <-chan time.Time
	if r.cfg.ProgressEvery > 0 {
		t := time.NewTicker(r.cfg.ProgressEvery)
		defer t.Stop()
		tick = t.C
	}
	line := func(what string) {
		connected, failed, total, audio, video := r.tally()
		r.logf("%s t=%.3fs connected=%d/%d failed=%d packets=%d audio=%d video=%d bytes=%d lost=%d",
			what, time.Since(r.start).Seconds(), connected, r.cfg.Count, failed, total.Packets, audio, video, total.Bytes, total.Lost)
	}
	for {
		select {
		case <-stop:
			return
		case <-tick:
			line("progress")
		case _, ok := <-r.cfg.Snapshot:
			if !ok {
				r.cfg.Snapshot = nil
				continue
			}
			line("snapshot")
		}
	}
}

func counts(s client.TrackStats) Counts {
	c := Counts{Packets: s.Packets, Bytes: s.Bytes, Lost: max(0, s.Expected-s.Packets), Duplicates: s.Duplicates, Keyframes: s.Keyframes,
		Width: s.Width, Height: s.Height, Frames: s.Frames, Freezes: s.Freezes, LongestGap: s.LongestGap.Milliseconds()}
	if span := s.Last.Sub(s.First).Seconds(); span > 0 {
		c.Kbps = int64(float64(s.Bytes) * 8 / span / 1000)
	}
	return c
}

func ms(from, to time.Time) *int64 {
	if to.IsZero() {
		return nil
	}
	v := to.Sub(from).Milliseconds()
	return &v
}

// report takes the counts at end.
func (r *runner) report(end time.Time) *Report {
	rep := &Report{Server: strings.Join(r.bases, ","), RoomID: r.cfg.Room, Publish: []string{}, StartedAt: r.start.UTC(),
		DurationMS: end.Sub(r.start).Milliseconds(), ParticipantIDs: []string{}, Participants: []Participant{}}
	if r.cfg.Audio {
		rep.Publish = append(rep.Publish, "audio")
	}
	if r.cfg.Video {
		rep.Publish = append(rep.Publish, "video")
	}
	for _, m := range r.members {
		c, _, err := m.state()
		m.mu.Lock()
		p := Participant{Context: m.ctxName, Received: map[string]map[string]Counts{},
			JoinMS: ms(m.start, m.joined), ConnectMS: ms(m.start, m.connected), Connected: !m.connected.IsZero(), Rejoins: m.rejoins}
		m.mu.Unlock()
		if err == nil && !p.Connected {
			err = errors.New("media did not connect before the run ended")
			r.logf("%s: %v", m.ctxName, err)
		}
		if c != nil {
			p.ParticipantID, p.SessionID = c.ParticipantID, c.SessionID
			if n, err := c.SendErrors(); n > 0 {
				p.SendErrors, p.SendError = n, err.Error()
			}
			rep.ParticipantIDs = append(rep.ParticipantIDs, c.ParticipantID)
			var firstAudio, firstVideo, firstKey time.Time
			earliest := func(t *time.Time, v time.Time) {
				if !v.IsZero() && (t.IsZero() || v.Before(*t)) {
					*t = v
				}
			}
			for _, s := range c.Stats() {
				if s.Packets == 0 {
					continue
				}
				if p.Received[s.Participant] == nil {
					p.Received[s.Participant] = map[string]Counts{}
				}
				cn := counts(s)
				for _, z := range s.Sizes {
					cn.Sizes = append(cn.Sizes, Size{AtMS: z.At.Sub(m.start).Milliseconds(), Width: z.Width, Height: z.Height})
				}
				p.Received[s.Participant][s.Kind] = cn
				rep.Totals.add(cn)
				if s.Kind == "video" {
					earliest(&firstVideo, s.First)
					earliest(&firstKey, s.FirstKey)
				} else {
					earliest(&firstAudio, s.First)
				}
			}
			p.FirstAudioMS, p.FirstVideoMS, p.FirstKeyframeMS = ms(m.start, firstAudio), ms(m.start, firstVideo), ms(m.start, firstKey)
		}
		if err != nil {
			p.Error = err.Error()
			rep.Failed++
		}
		rep.Participants = append(rep.Participants, p)
	}
	return rep
}
