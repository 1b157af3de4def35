// Package mix makes the audio a Janus audiobridge client hears: every
// 20 ms, the room's published audio tracks (decoded from Opus), summed
// without the listener's own, limited so that the sum does not clip, and
// encoded to Opus again. Listeners whose own audio is not in the room hear
// the same mix, encoded once for all of them. The codec is pure Go
// (github.com/thesyncim/gopus), so roomsd stays one static binary.
package mix

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/thesyncim/gopus"

	"github.com/roomsd/roomsd/internal/sfu"
)

// Frames: 20 ms of mono audio at 48 kHz.
const (
	rate        = 48000
	frameTime   = 20 * time.Millisecond
	frameLen    = rate / 50
	maxPacket   = 1500
	bitrate     = 32000
	complexity  = 5
	tapQueue    = 50 // a second of packets
	maxBuffered = 5  // frames a source may hold before its oldest are dropped (100 ms)
	prefill     = 2  // frames a source holds before it is heard, and again after it ran dry
	maxConceal  = 3  // lost packets concealed in a row
)

// Mixer mixes the rooms that have listeners.
type Mixer struct {
	media *sfu.Manager
	log   *slog.Logger

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool
}

// New returns a mixer of the media server's rooms.
func New(media *sfu.Manager, log *slog.Logger) *Mixer {
	return &Mixer{media: media, log: log.With("part", "mix"), rooms: map[string]*room{}}
}

// Listener is one participant hearing its room's mix on a track of its
// own.
type Listener struct {
	r     *room
	pid   string
	track *webrtc.TrackLocalStaticSample
	own   coder // its own mix's encoder, used by the mixing loop alone
	once  sync.Once
}

// Track is what the listener's connection sends.
func (l *Listener) Track() webrtc.TrackLocal { return l.track }

// Close stops the listener's mix; the room's mixing stops with its last
// listener.
func (l *Listener) Close() { l.once.Do(func() { l.r.x.drop(l) }) }

// ErrClosed refuses listeners once the mixer is closed.
var ErrClosed = errors.New("mix: closed")

// Listen starts sending a participant its room's mix, without its own
// audio.
func (x *Mixer) Listen(roomID, participantID string) (*Listener, error) {
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: rate, Channels: 2},
		"mix", "room-mix")
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil, ErrClosed
	}
	r := x.rooms[roomID]
	fresh := r == nil
	if fresh {
		r = newRoom(x, roomID)
		x.rooms[roomID] = r
	}
	l := &Listener{r: r, pid: participantID, track: track}
	r.mu.Lock()
	r.listeners[l] = true
	r.mu.Unlock()
	x.mu.Unlock()
	if fresh {
		// Tracks published from now on come through Published; those
		// already there are tapped here (a track in both is taken once).
		for _, t := range x.media.Tracks(roomID) {
			r.add(t)
		}
		go r.run()
	}
	return l, nil
}

// Published hears of every track published on the media server
// (sfu.Config.OnPublish): an audio track of a room being mixed joins its
// mix.
func (x *Mixer) Published(t sfu.PublishedTrack) {
	if t.Kind != webrtc.RTPCodecTypeAudio {
		return
	}
	x.mu.Lock()
	r := x.rooms[t.RoomID]
	x.mu.Unlock()
	if r != nil {
		r.add(t)
	}
}

func (x *Mixer) drop(l *Listener) {
	x.mu.Lock()
	defer x.mu.Unlock()
	r := l.r
	r.mu.Lock()
	delete(r.listeners, l)
	empty := len(r.listeners) == 0
	r.mu.Unlock()
	if empty && x.rooms[r.id] == r {
		delete(x.rooms, r.id)
		close(r.stop)
	}
}

// Close stops every room's mixing.
func (x *Mixer) Close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	for id, r := range x.rooms {
		delete(x.rooms, id)
		close(r.stop)
	}
}

// room is one room's mixing: its sources (the published audio tracks)
// and listeners.
type room struct {
	x    *Mixer
	id   string
	stop chan struct{}

	mu        sync.Mutex
	sources   map[string]*source // by track id
	listeners map[*Listener]bool

	// The mixing loop's own buffers.
	total  []float32
	own    map[string][]float32 // per participant: the sum of its sources
	out    []float32
	packet []byte
	shared coder // the mix of everyone, for listeners not in it
}

// coder is one mix's encoder and its limiter's gain.
type coder struct {
	enc  *gopus.Encoder // made when first needed
	gain float32
}

func newRoom(x *Mixer, id string) *room {
	return &room{x: x, id: id, stop: make(chan struct{}), sources: map[string]*source{}, listeners: map[*Listener]bool{},
		total: make([]float32, frameLen), own: map[string][]float32{}, out: make([]float32, frameLen), packet: make([]byte, maxPacket)}
}

// source is one published audio track: a tap, decoded by its own
// goroutine into frames the mixing loop takes one per tick.
type source struct {
	pid    string
	tap    *sfu.Tap
	frames chan []float32
	free   chan []float32
	// heard: the source has had prefill frames since it last ran dry, so
	// the jitter of its packets' arrival does not cut its audio (the
	// mixing loop's alone).
	heard bool
}

// add taps an audio track of the room, once.
func (r *room) add(t sfu.PublishedTrack) {
	if t.Kind != webrtc.RTPCodecTypeAudio {
		return
	}
	r.mu.Lock()
	if r.sources[t.TrackID] != nil {
		r.mu.Unlock()
		return
	}
	r.sources[t.TrackID] = &source{} // taken, before the tap opens
	r.mu.Unlock()
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(rate, 1))
	var tap *sfu.Tap
	if err == nil {
		tap, err = r.x.media.Tap(r.id, t.TrackID, tapQueue)
	}
	if err != nil {
		r.mu.Lock()
		delete(r.sources, t.TrackID)
		r.mu.Unlock()
		if !errors.Is(err, sfu.ErrNoTrack) {
			r.x.log.Error("mix a track", "room_id", r.id, "track", t.TrackID, "err", err)
		}
		return
	}
	s := &source{pid: t.ParticipantID, tap: tap, frames: make(chan []float32, maxBuffered), free: make(chan []float32, maxBuffered+2)}
	r.mu.Lock()
	r.sources[t.TrackID] = s
	r.mu.Unlock()
	go func() {
		s.decode(dec)
		r.mu.Lock()
		delete(r.sources, t.TrackID)
		r.mu.Unlock()
	}()
	go func() {
		<-r.stop
		tap.Close()
	}()
}

// decode turns the tap's packets into frames until the track ends or
// the tap closes. A lost packet is concealed by the decoder; a source
// ahead of the mixing loop loses its oldest frame.
func (s *source) decode(dec *gopus.Decoder) {
	var (
		last    uint16
		started bool
	)
	pcm := make([]float32, 6*frameLen) // the longest Opus packet: 120 ms
	for p := range s.tap.Packets() {
		if started {
			gap := int(p.SequenceNumber - last - 1)
			if gap > 0 && gap <= maxConceal {
				for range gap {
					if n, err := dec.Decode(nil, pcm); err == nil {
						s.push(pcm[:n])
					}
				}
			}
			if int16(p.SequenceNumber-last) <= 0 {
				p.Release()
				continue // late or repeated
			}
		}
		started, last = true, p.SequenceNumber
		n, err := dec.Decode(p.Payload, pcm)
		p.Release()
		if err != nil {
			continue
		}
		s.push(pcm[:n])
	}
}

// push queues decoded audio as 20 ms frames.
func (s *source) push(pcm []float32) {
	for len(pcm) >= frameLen {
		var f []float32
		select {
		case f = <-s.free:
		default:
			f = make([]float32, frameLen)
		}
		copy(f, pcm[:frameLen])
		pcm = pcm[frameLen:]
		for {
			select {
			case s.frames <- f:
			default:
				// Full: the oldest goes, so the mix stays near real time.
				select {
				case old := <-s.frames:
					s.recycle(old)
				default:
				}
				continue
			}
			break
		}
	}
}

func (s *source) recycle(f []float32) {
	select {
	case s.free <- f:
	default:
	}
}

// run mixes every 20 ms until the room's last listener goes.
func (r *room) run() {
	tick := time.NewTicker(frameTime)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.tick()
		}
	}
}

// tick makes one frame of every listener's mix and sends it.
func (r *room) tick() {
	r.mu.Lock()
	listeners := make([]*Listener, 0, len(r.listeners))
	for l := range r.listeners {
		listeners = append(listeners, l)
	}
	r.mu.Unlock()
	r.gather()
	var shared []byte
	for _, l := range listeners {
		pcm, own := r.mixFor(l.pid)
		c := &l.own
		if !own {
			// Not in the mix: everyone's mix, encoded once per tick.
			if shared != nil {
				l.send(shared)
				continue
			}
			c = &r.shared
		}
		pkt, err := r.encode(c, pcm)
		if err != nil {
			r.x.log.Warn("opus encode", "room_id", r.id, "err", err)
			continue
		}
		if !own {
			shared = append([]byte(nil), pkt...)
		}
		l.send(pkt)
	}
}

// mixFor returns the mix a participant hears this tick (in a buffer
// reused by the next call), and whether its own audio was taken out.
func (r *room) mixFor(pid string) ([]float32, bool) {
	o, own := r.own[pid]
	if !own {
		copy(r.out, r.total)
		return r.out, false
	}
	for i := range r.out {
		r.out[i] = r.total[i] - o[i]
	}
	return r.out, true
}

// gather takes a frame from every source that has one (the others are
// silent this tick) into the room's sum and each participant's own sum.
func (r *room) gather() {
	r.mu.Lock()
	sources := make([]*source, 0, len(r.sources))
	for _, s := range r.sources {
		if s.frames != nil {
			sources = append(sources, s)
		}
	}
	r.mu.Unlock()

	clear(r.total)
	for _, o := range r.own {
		clear(o)
	}
	for _, s := range sources {
		if !s.heard && len(s.frames) < prefill {
			continue // not yet: silence
		}
		var f []float32
		select {
		case f = <-s.frames:
			s.heard = true
		default:
			s.heard = false // ran dry: silence until it holds prefill again
			continue
		}
		o := r.own[s.pid]
		if o == nil {
			o = make([]float32, frameLen)
			r.own[s.pid] = o
		}
		for i, v := range f {
			r.total[i] += v
			o[i] += v
		}
		s.recycle(f)
	}
	// Participants gone from the mix leave no buffer behind.
	for pid := range r.own {
		found := false
		for _, s := range sources {
			found = found || s.pid == pid
		}
		if !found {
			delete(r.own, pid)
		}
	}
}

// encode limits a mix in place (a gain that falls at once to keep the
// peak under full scale and comes back slowly, then a hard clamp) and
// encodes it with c's encoder, made the first time.
func (r *room) encode(c *coder, pcm []float32) ([]byte, error) {
	if c.enc == nil {
		e, err := newEncoder()
		if err != nil {
			return nil, err
		}
		c.enc, c.gain = e, 1
	}
	c.gain = limit(pcm, c.gain)
	n, err := c.enc.Encode(pcm, r.packet)
	if err != nil {
		return nil, err
	}
	return r.packet[:n], nil
}

// ceiling is the peak the limiter keeps a mix under.
const ceiling = 0.98

// limit scales a frame so that it does not clip, from the gain the last
// frame ended with, and returns the gain to start the next one: it drops
// at once to what the frame's peak needs and recovers by a tenth of the
// way each frame.
func limit(pcm []float32, gain float32) float32 {
	peak := float32(0)
	for _, v := range pcm {
		peak = max(peak, float32(math.Abs(float64(v))))
	}
	target := float32(1)
	if peak*gain > ceiling {
		target = ceiling / peak
	}
	if target < gain {
		gain = target
	} else {
		gain += (target - gain) / 10
	}
	for i, v := range pcm {
		pcm[i] = min(max(v*gain, -1), 1)
	}
	return gain
}

func newEncoder() (*gopus.Encoder, error) {
	e, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: rate, Channels: 1, Application: gopus.ApplicationVoIP})
	if err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	if err := e.SetBitrate(bitrate); err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	// Complexity 5 costs a third less than the default (9) and coded
	// speech as well, within 0.1 dB (docs/performance.md, "The audio mix").
	if err := e.SetComplexity(complexity); err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	return e, nil
}

func (l *Listener) send(pkt []byte) {
	_ = l.track.WriteSample(media.Sample{Data: pkt, Duration: frameTime})
}
