// Package recording writes the tracks of recorded rooms to files. While a
// room has enable_recording on, every track published in its session is
// tapped (a bounded, non-blocking subscriber: forwarding never waits for
// a recorder) and written as it arrives: Opus into Ogg, VP8 into WebM,
// H.264 as an Annex-B stream. Each file is one recording row of the
// Telnyx API, processing while it is written and completed (with its
// size, duration and download address) once the track ends, the
// participant leaves or recording is turned off.
package recording

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
	"github.com/roomsd/roomsd/internal/store"
)

// Config is what a Service works with.
type Config struct {
	Media *sfu.Manager
	Rooms *rooms.Service
	Files blob.Store
	// URL is the plain download address of a recording.
	URL func(id string) string
	Log *slog.Logger
	// Queue is how many packets a recorder may fall behind before it
	// loses some (default 2048: seconds of 720p video).
	Queue int
}

// Service starts and stops recorders. It is safe for concurrent use.
type Service struct {
	cfg  Config
	mu   sync.Mutex
	recs map[string]*recorder // by track id
	// toggles counts each room's enable_recording changes: a decision
	// taken on a room read before a change gives way to the change.
	toggles map[string]int
	// applied is each room's enable_recording as SetRecording last set it.
	applied map[string]bool
	closed  bool
	wg      sync.WaitGroup
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Queue <= 0 {
		cfg.Queue = 2048
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, recs: map[string]*recorder{}, toggles: map[string]int{}, applied: map[string]bool{}}
}

// Published hears of a newly published track (the media server's
// OnPublish) and records it if its room has recording on.
func (s *Service) Published(t sfu.PublishedTrack) {
	if !s.enter() {
		return
	}
	s.mu.Lock()
	seen := s.toggles[t.RoomID]
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		room, err := s.cfg.Rooms.GetRoom(ctx, t.RoomID)
		if err != nil {
			if !errors.Is(err, domain.ErrNotFound) {
				s.cfg.Log.Error("recording: read room", "room_id", t.RoomID, "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.toggles[t.RoomID] == seen {
			// What was read is the room's state as applied here (Ensure
			// then has nothing to do until it changes).
			s.applied[t.RoomID] = room.EnableRecording
		}
		s.mu.Unlock()
		if room.EnableRecording {
			s.start(t, seen)
		}
	}()
}

// enter counts a goroutine of the service, unless it is closed.
func (s *Service) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// SetRecording applies a change of a room's enable_recording to the
// tracks of its session: on starts recording every published track not
// yet recorded, off finishes the room's recordings.
func (s *Service) SetRecording(roomID string, on bool) {
	s.mu.Lock()
	s.toggles[roomID]++
	seen := s.toggles[roomID]
	s.applied[roomID] = on
	s.mu.Unlock()
	if on {
		for _, t := range s.cfg.Media.Tracks(roomID) {
			s.start(t, seen)
		}
		return
	}
	s.mu.Lock()
	var stop []*recorder
	for _, r := range s.recs {
		if r.track.RoomID == roomID {
			stop = append(stop, r)
		}
	}
	s.mu.Unlock()
	for _, r := range stop {
		r.stop()
	}
}

// Ensure applies a room's enable_recording as read from the database
// (SetRecording), unless it is the value applied last. A node that serves
// a room's session hears this way of a change made through another node.
func (s *Service) Ensure(roomID string, on bool) {
	s.mu.Lock()
	last, known := s.applied[roomID]
	s.mu.Unlock()
	if !known || last != on {
		s.SetRecording(roomID, on)
	}
}

// start records a track unless it is recorded already, or the room's
// enable_recording changed since the decision to record (toggles moved
// past seen).
func (s *Service) start(t sfu.PublishedTrack, seen int) {
	codec := codecName(t.Codec.MimeType)
	if codec == "" {
		s.cfg.Log.Warn("recording: codec not recorded", "track_id", t.TrackID, "codec", t.Codec.MimeType)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.recs[t.TrackID] != nil || s.toggles[t.RoomID] != seen {
		return
	}
	tap, err := s.cfg.Media.Tap(t.RoomID, t.TrackID, s.cfg.Queue)
	if err != nil {
		return // the track ended already
	}
	r := &recorder{s: s, track: t, codec: codec, tap: tap}
	s.recs[t.TrackID] = r
	s.wg.Add(1)
	go r.run()
}

func (s *Service) forget(r *recorder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs[r.track.TrackID] == r {
		delete(s.recs, r.track.TrackID)
	}
}

// Recording reports whether a track is being recorded.
func (s *Service) Recording(trackID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recs[trackID] != nil
}

// Close finishes every recording (their files are closed and their rows
// completed) and waits for it.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	recs := make([]*recorder, 0, len(s.recs))
	for _, r := range s.recs {
		recs = append(recs, r)
	}
	s.mu.Unlock()
	for _, r := range recs {
		r.stop()
	}
	s.wg.Wait()
}

// Recover settles the recordings a previous run left processing (it
// stopped without finishing them, a crash say): a recording whose file
// has media is completed from what is on disk, its end the file's last
// write; one without is marked failed. Call it before recording starts.
// It takes every processing row for its own: with several servers on one
// database, a recording another server is writing would be settled too.
func (s *Service) Recover(ctx context.Context) (completed, failed int, err error) {
	processing := domain.RecordingProcessing
	var left []domain.Recording
	for page := 1; ; page++ {
		rs, _, err := s.cfg.Rooms.ListRecordings(ctx, store.RecordingFilter{Status: &processing}, store.Page{Number: page, Size: 100})
		if err != nil {
			return 0, 0, err
		}
		left = append(left, rs...)
		if len(rs) < 100 {
			break
		}
	}
	for _, r := range left {
		info, serr := s.cfg.Files.Stat(ctx, domain.RecordingKey(r.ID))
		if serr != nil || info.Size == 0 {
			if _, err := s.cfg.Rooms.FailRecording(ctx, r.ID, time.Time{}, ""); err != nil {
				return completed, failed, err
			}
			s.cfg.Log.Warn("recording: left unfinished by the last run, with no media; marked failed", "recording_id", r.ID)
			failed++
			continue
		}
		dur := info.ModTime.Sub(r.StartedAt)
		if _, err := s.cfg.Rooms.FinishRecording(ctx, r.ID, rooms.RecordingResult{EndedAt: info.ModTime,
			SizeMB: domain.SizeMB(info.Size), DurationSecs: domain.DurationSecs(dur), DownloadURL: s.cfg.URL(r.ID)}); err != nil {
			return completed, failed, err
		}
		s.cfg.Log.Info("recording: left unfinished by the last run; completed from its file", "recording_id", r.ID,
			"bytes", info.Size, "duration", dur.Round(time.Millisecond))
		completed++
	}
	return completed, failed, nil
}

// codecName is the recording's codec field for a track's MIME type, ""
// when roomsd does not record it.
func codecName(mime string) string {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeOpus):
		return "opus"
	case strings.ToLower(webrtc.MimeTypeVP8):
		return "vp8"
	case strings.ToLower(webrtc.MimeTypeH264):
		return "h264"
	}
	return ""
}

// frame is one whole media frame (an Opus packet, a VP8 or H.264
// picture) in order.
type frame struct {
	data    []byte
	ts      uint32
	key     bool
	arrived time.Time
}

// sink writes frames into a container file.
type sink interface {
	// write adds a frame; errNeedKeyframe if the file cannot start on it.
	write(fr frame) error
	// close finishes the file; end is when the track's recording ended.
	close(end time.Time) error
	// duration is how long the written media plays.
	duration() time.Duration
	// flush hands what is buffered to the file, and returns the first
	// write error.
	flush() error
}

// recorder writes one track.
type recorder struct {
	s     *Service
	track sfu.PublishedTrack
	codec string
	tap   *sfu.Tap

	rec    domain.Recording // once the first frame is written
	file   blob.Writer
	sink   sink
	broken bool // a picture was lost: wait for a keyframe
	err    error
}

// stop finishes the recording (the tap's queue closes; run drains it).
func (r *recorder) stop() { r.tap.Close() }

func (r *recorder) run() {
	defer r.s.wg.Done()
	defer r.s.forget(r)
	asm := newAssembler(r.codec)
	// The queue is read in bursts, a few times a second, rather than as
	// each packet comes: forwarding's copy into the queue then wakes
	// nobody, and the recorder runs a few times a second instead of once
	// per packet (the queue holds far more than a burst's worth).
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for open := true; open; {
		open = r.drain(asm)
		if r.sink != nil && r.err == nil {
			if err := r.sink.flush(); err != nil {
				r.fail(err)
			}
		}
		if open {
			<-tick.C
		}
	}
	asm.flush(r.frame)
	r.finish(time.Now())
}

// drain assembles the packets queued now, without waiting for more, and
// reports whether the queue is still open.
func (r *recorder) drain(asm *assembler) (open bool) {
	for {
		select {
		case p, ok := <-r.tap.Packets():
			if !ok {
				return false
			}
			if r.err != nil {
				p.Release()
				continue
			}
			pkt := &rtp.Packet{Header: p.Header, Payload: append([]byte(nil), p.Payload...)}
			arrived := p.Arrived
			p.Release()
			asm.push(pkt, arrived, r.frame)
		default:
			return true
		}
	}
}

// pollEvery is how often a recorder reads its queue.
const pollEvery = 50 * time.Millisecond

// assembler turns packets, in arrival order, into whole frames in order:
// pion's sample builder reorders, waits a little for a late
// (retransmitted) packet, and gives up on a frame that stays incomplete.
type assembler struct {
	sb *samplebuilder.SampleBuilder
	// A frame leaves the builder when a later packet has come: its own
	// arrival time is kept by RTP timestamp.
	arrivals map[uint32]time.Time
}

func newAssembler(codec string) *assembler {
	a := &assembler{arrivals: map[uint32]time.Time{}}
	switch codec {
	case "opus":
		a.sb = samplebuilder.New(50, &codecs.OpusPacket{}, opusRate, samplebuilder.WithMaxTimeDelay(300*time.Millisecond))
	case "vp8":
		a.sb = samplebuilder.New(512, &codecs.VP8Packet{}, 90000, samplebuilder.WithMaxTimeDelay(500*time.Millisecond))
	default:
		a.sb = samplebuilder.New(512, &codecs.H264Packet{}, 90000, samplebuilder.WithMaxTimeDelay(500*time.Millisecond))
	}
	return a
}

// push adds a packet and hands every frame it completes to out.
func (a *assembler) push(p *rtp.Packet, arrived time.Time, out func(*media.Sample, time.Time)) {
	if _, ok := a.arrivals[p.Timestamp]; !ok {
		if len(a.arrivals) > 4096 { // frames the builder dropped
			clear(a.arrivals)
		}
		a.arrivals[p.Timestamp] = arrived
	}
	a.sb.Push(p)
	a.pop(out)
}

// flush hands out what complete frames are left.
func (a *assembler) flush(out func(*media.Sample, time.Time)) {
	a.sb.Flush()
	a.pop(out)
}

func (a *assembler) pop(out func(*media.Sample, time.Time)) {
	for smp := a.sb.Pop(); smp != nil; smp = a.sb.Pop() {
		at, ok := a.arrivals[smp.PacketTimestamp]
		if !ok {
			at = time.Now()
		}
		delete(a.arrivals, smp.PacketTimestamp)
		out(smp, at)
	}
}

// frame writes one sample, opening the recording on the first.
func (r *recorder) frame(smp *media.Sample, arrived time.Time) {
	if r.err != nil || len(smp.Data) == 0 {
		return
	}
	fr := frame{data: smp.Data, ts: smp.PacketTimestamp, arrived: arrived}
	switch r.codec {
	case "opus":
		fr.key = true
	case "vp8":
		fr.key = smp.Data[0]&1 == 0
	default:
		fr.key = annexBKeyframe(smp.Data)
	}
	if r.track.Kind == webrtc.RTPCodecTypeVideo {
		// After a lost packet the next pictures refer to one that is
		// gone: skip them until a keyframe, and ask for one.
		if smp.PrevDroppedPackets > 0 && r.sink != nil {
			r.broken = true
		}
		if (r.broken || r.sink == nil) && !fr.key {
			r.tap.RequestKeyframe()
			return
		}
		r.broken = false
	}
	if r.sink == nil {
		if err := r.open(fr.arrived); err != nil {
			r.fail(err)
			return
		}
	}
	if err := r.sink.write(fr); err != nil && !errors.Is(err, errNeedKeyframe) {
		r.fail(err)
	}
}

// open creates the recording's row, started at the first frame's
// arrival, and its file.
func (r *recorder) open(first time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ := domain.MediaAudio
	if r.track.Kind == webrtc.RTPCodecTypeVideo {
		typ = domain.MediaVideo
	}
	rec, err := r.s.cfg.Rooms.StartRecordingAt(ctx, r.track.ParticipantID, typ, r.codec, first)
	if err != nil {
		return err
	}
	r.rec = rec
	f, err := r.s.cfg.Files.Create(ctx, domain.RecordingKey(rec.ID))
	if err != nil {
		return err
	}
	r.file = f
	switch r.codec {
	case "opus":
		r.sink, err = newOggSink(f)
	case "vp8":
		r.sink = newWebMSink(f)
	default:
		r.sink = newAnnexBSink(f)
	}
	if err != nil {
		f.Close()
		r.file = nil
		return err
	}
	r.s.cfg.Log.Info("recording started", "recording_id", rec.ID, "participant_id", rec.ParticipantID,
		"type", typ, "codec", r.codec)
	return nil
}

// fail stops writing: the meeting goes on, the recording is marked
// failed when the track's recording ends.
func (r *recorder) fail(err error) {
	r.err = err
	r.s.cfg.Log.Error("recording failed; the meeting goes on without it", "recording_id", r.rec.ID,
		"participant_id", r.track.ParticipantID, "track_id", r.track.TrackID, "err", err)
	r.tap.Close()
}

// finish closes the file and completes (or fails) the row; end is when
// the tap closed (an audio file is filled with silence up to it).
func (r *recorder) finish(end time.Time) {
	if r.rec.ID == "" {
		return // nothing was ever written
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var closeErr error
	if r.sink != nil {
		closeErr = r.sink.close(end)
	} else if r.file != nil {
		closeErr = r.file.Close()
	}
	if r.err == nil {
		r.err = closeErr
	}
	if n := r.tap.Dropped(); n > 0 {
		r.s.cfg.Log.Warn("recording lost packets: the disk or the server could not keep up", "recording_id", r.rec.ID, "packets", n)
	}
	key := domain.RecordingKey(r.rec.ID)
	info, serr := r.s.cfg.Files.Stat(ctx, key)
	var err error
	if r.err != nil || serr != nil {
		url := ""
		if serr == nil && info.Size > 0 {
			url = r.s.cfg.URL(r.rec.ID) // what was written is kept
		}
		_, err = r.s.cfg.Rooms.FailRecording(ctx, r.rec.ID, end, url)
	} else {
		// The recording ends where its media does: a video track's end
		// is noticed a little after its last picture.
		var rec domain.Recording
		rec, err = r.s.cfg.Rooms.FinishRecording(ctx, r.rec.ID, rooms.RecordingResult{EndedAt: r.rec.StartedAt.Add(r.sink.duration()),
			SizeMB: domain.SizeMB(info.Size), DurationSecs: domain.DurationSecs(r.sink.duration()), DownloadURL: r.s.cfg.URL(r.rec.ID)})
		if err == nil {
			r.s.cfg.Log.Info("recording completed", "recording_id", rec.ID, "bytes", info.Size,
				"duration", r.sink.duration().Round(time.Millisecond))
		}
	}
	if errors.Is(err, domain.ErrNotFound) {
		// Deleted while it was written: the file goes too.
		err = r.s.cfg.Files.Delete(ctx, key)
	}
	if err != nil {
		r.s.cfg.Log.Error("recording: finish", "recording_id", r.rec.ID, "err", err)
	}
}
