package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A Tap receives a published track's packets outside any PeerConnection:
// what a recorder attaches to. It sees the track as a subscriber does,
// through a down-track of its own: one layer at a time (the best the
// publisher sends), starting on a keyframe (asked of the publisher when
// the tap opens), with sequence numbers and timestamps that run on across
// layer switches and mute. Packets reach it through a bounded queue: a tap
// that cannot keep up loses packets (Dropped counts them), and forwarding
// never waits for it. The queue closes when the tap is closed or the
// track ends.
type Tap struct {
	t     *track
	d     *downTrack
	ch    chan TapPacket
	drops atomic.Uint64
	once  sync.Once
	stop  chan struct{}
	bufs  sync.Pool // payload copies, each an MTU
}

// TapPacket is one packet of a tapped track: the header as a subscriber
// would receive it (its own SSRC and numbering) and a copy of the
// payload. Release returns the copy's buffer for reuse.
type TapPacket struct {
	rtp.Packet
	Arrived time.Time
	buf     *[]byte
	pool    *sync.Pool
}

// Release gives the packet's buffer back; the packet must not be used
// after.
func (p *TapPacket) Release() {
	if p.buf != nil {
		p.pool.Put(p.buf)
		p.buf, p.Payload = nil, nil
	}
}

// tapSSRC is the SSRC a tap's packets carry (a tap has no receiver to
// agree one with).
const tapSSRC = 1

// Tap opens a tap on a track published in a room, with a queue of queue
// packets (at least 1). ErrNoTrack if the room has no such track.
func (m *Manager) Tap(roomID, trackID string, queue int) (*Tap, error) {
	m.mu.Lock()
	room := m.rooms[roomID]
	m.mu.Unlock()
	if room == nil {
		return nil, ErrNoTrack
	}
	t := room.track(trackID)
	if t == nil {
		return nil, ErrNoTrack
	}
	return newTap(t, queue)
}

func newTap(t *track, queue int) (*Tap, error) {
	tp := &Tap{t: t, ch: make(chan TapPacket, max(queue, 1)), stop: make(chan struct{})}
	tp.bufs.New = func() any { b := make([]byte, histMTU); return &b }
	tp.d = newDownTrack(t, nil, Settings{})
	pt := uint8(96)
	if t.kind == webrtc.RTPCodecTypeAudio {
		pt = 111
	}
	// Bound like a subscriber's sender, allowed every layer; binding asks
	// the publisher for the keyframe the stream starts on.
	tp.d.maxQ = qualityHigh
	if _, err := tp.d.Bind(tapBinding{tap: tp, codec: t.codec, pt: webrtc.PayloadType(pt)}); err != nil {
		return nil, err
	}
	t.addDown(tp.d)
	go func() {
		select {
		case <-t.done:
			tp.Close()
		case <-tp.stop:
		}
	}()
	return tp, nil
}

// Tracks lists the tracks published in a room now.
func (m *Manager) Tracks(roomID string) []PublishedTrack {
	m.mu.Lock()
	room := m.rooms[roomID]
	m.mu.Unlock()
	if room == nil {
		return nil
	}
	return room.published()
}

// RequestKeyframe asks the publisher for a keyframe of the layer the tap
// receives (a recorder that lost part of a picture wants a fresh start).
// Requests are throttled per layer, as subscribers' are.
func (tp *Tap) RequestKeyframe() { tp.d.keyframeWanted() }

// Packets is the queue; it is closed when the tap closes.
func (tp *Tap) Packets() <-chan TapPacket { return tp.ch }

// Dropped is how many packets the tap lost because its queue was full.
func (tp *Tap) Dropped() uint64 { return tp.drops.Load() }

// Kind is the tapped track's kind.
func (tp *Tap) Kind() webrtc.RTPCodecType { return tp.t.kind }

// Codec is the tapped track's codec.
func (tp *Tap) Codec() webrtc.RTPCodecCapability { return tp.t.codec }

// Close stops the tap and closes its queue; packets still queued may be
// read (and should be released). It is safe to call more than once.
func (tp *Tap) Close() {
	tp.once.Do(func() {
		close(tp.stop)
		tp.t.removeDown(tp.d)
		// Unbinding takes the down-track's lock: once it returns, no
		// forwarding loop is writing to the queue any more.
		_ = tp.d.Unbind(nil)
		close(tp.ch)
	})
}

// write queues one packet, or drops it if the queue is full.
func (tp *Tap) write(h *rtp.Header, payload []byte) (int, error) {
	if len(payload) == 0 {
		return 1, nil // padding: nothing to keep
	}
	if len(payload) > histMTU {
		tp.drops.Add(1)
		return len(payload), nil
	}
	buf := tp.bufs.Get().(*[]byte)
	p := TapPacket{Arrived: time.Now(), buf: buf, pool: &tp.bufs}
	p.Header = *h
	p.Header.Extensions, p.Header.Extension, p.Header.ExtensionProfile = nil, false, 0
	if len(h.CSRC) > 0 {
		p.Header.CSRC = append([]uint32(nil), h.CSRC...)
	}
	p.Payload = (*buf)[:copy(*buf, payload)]
	select {
	case tp.ch <- p:
	default:
		tp.drops.Add(1)
		p.Release()
	}
	return len(payload), nil
}

// tapBinding is what the tap's down-track is bound to, in place of a
// subscriber's sender.
type tapBinding struct {
	tap   *Tap
	codec webrtc.RTPCodecCapability
	pt    webrtc.PayloadType
}

func (b tapBinding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: b.codec, PayloadType: b.pt}}
}
func (b tapBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (b tapBinding) SSRC() webrtc.SSRC                                      { return tapSSRC }
func (b tapBinding) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (b tapBinding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (b tapBinding) WriteStream() webrtc.TrackLocalWriter                   { return tapWriter{b.tap} }
func (b tapBinding) ID() string                                             { return "tap" }
func (b tapBinding) RTCPReader() interceptor.RTCPReader                     { return nil }

type tapWriter struct{ tap *Tap }

func (w tapWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return w.tap.write(h, payload)
}
func (w tapWriter) Write(b []byte) (int, error) { return len(b), nil }
