package sfu

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// downTrack is one published track as one subscriber receives it: a
// webrtc.TrackLocal bound to that subscriber's sender alone. It forwards
// one layer of the track at a time and rewrites every packet so that the
// subscriber sees one unbroken stream: its own SSRC and payload type,
// sequence numbers without the gaps that muting, pausing or a layer
// switch would leave, timestamps that keep running across a switch, and
// (VP8) picture ids and TL0PICIDX that continue from the last frame it
// got. A layer switch happens on a keyframe of the new layer.
type downTrack struct {
	t   *track
	sub *Conn
	// gated: the subscriber's connection asked for none of this kind
	// (Conn.Gate).
	gated atomic.Bool

	// mu is this subscriber's alone: the track's layers, each read by its
	// own loop, take it in turn.
	mu      sync.Mutex
	w       webrtc.TrackLocalWriter // nil while unbound
	ssrc    uint32
	pt      uint8
	hdr     rtp.Header // reused for every packet written
	scratch []byte     // a payload being rewritten (video)

	// What the subscriber asked for and what the server allows.
	visible bool
	width   int // rendered size in pixels, 0 if unknown
	height  int
	pin     int // a quality the subscriber pinned, or qualityNone for auto
	maxQ    int // the best quality the subscriber's downlink allows

	target  int // the layer to forward, qualityNone to send nothing
	current int // the layer being forwarded, qualityNone before a keyframe

	begun    bool   // something was written
	rebase   bool   // the next packet of current follows a gap of our making
	startSeq uint16 // the first source sequence number of current
	lastIn   uint16 // the newest source sequence number of current
	seqOff   uint16 // source minus output sequence number
	tsOff    uint32
	picOff   uint16
	tl0Off   uint8
	lastSeq  uint16 // the newest output sequence number
	lastTS   uint32
	lastPic  uint16
	lastTL0  uint8
	lastAt   time.Time // when lastSeq was written

	// Retransmission (retransmit.go): what was sent under each recent
	// sequence number, and the subscriber's RTX stream if it has one.
	sent    []forwarded
	rtxBuf  []byte
	rtxSSRC uint32
	rtxPT   uint8
	rtxSeq  uint16
}

// Settings are what a subscriber asks of one remote video.
type Settings struct {
	// Hidden videos receive nothing.
	Hidden bool
	// Width and Height are the size the subscriber renders the video
	// at, in device pixels; 0 if unknown (no limit).
	Width, Height int
	// Quality pins a layer: "low", "medium", "high", or "" / "auto".
	Quality string
}

// parseQuality turns a quality name into a layer quality; ok is false for
// a name that is not one.
func parseQuality(s string) (q int, ok bool) {
	switch s {
	case "", "auto":
		return qualityNone, true
	case "low":
		return qualityLow, true
	case "medium":
		return qualityMedium, true
	case "high":
		return qualityHigh, true
	}
	return 0, false
}

func newDownTrack(t *track, sub *Conn, s Settings) *downTrack {
	// A video starts on its lowest layer (a small first keyframe); the
	// allocator lifts it as the subscriber's downlink allows.
	d := &downTrack{t: t, sub: sub, maxQ: qualityLow, target: qualityNone, current: qualityNone}
	d.hdr.Extensions = make([]rtp.Extension, 0, 4) // room for the extensions interceptors add
	d.sent = make([]forwarded, keptPackets(t.kind))
	d.rtxBuf = make([]byte, histMTU+2)
	if t.kind == webrtc.RTPCodecTypeVideo {
		d.scratch = make([]byte, 1500)
	}
	d.apply(s)
	return d
}

// apply records a subscriber's settings; the caller reselects.
func (d *downTrack) apply(s Settings) {
	q, ok := parseQuality(s.Quality)
	if !ok {
		q = qualityNone
	}
	d.mu.Lock()
	d.visible, d.width, d.height, d.pin = !s.Hidden, max(s.Width, 0), max(s.Height, 0), q
	d.mu.Unlock()
}

// Bind is called by pion when the subscriber's sender starts: it learns
// the SSRC and payload type the subscriber expects.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var match *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, d.t.codec.MimeType) {
			continue
		}
		if match == nil || c.SDPFmtpLine == d.t.codec.SDPFmtpLine {
			c := c
			match = &c
		}
	}
	if match == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	// Retransmissions go on the RTX stream if the subscriber negotiated
	// one for this codec.
	var rtxSSRC uint32
	var rtxPT uint8
	if ssrc := ctx.SSRCRetransmission(); ssrc != 0 {
		apt := fmt.Sprintf("apt=%d", match.PayloadType)
		for _, c := range ctx.CodecParameters() {
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && c.SDPFmtpLine == apt {
				rtxSSRC, rtxPT = uint32(ssrc), uint8(c.PayloadType)
			}
		}
	}
	d.mu.Lock()
	d.w, d.ssrc, d.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(match.PayloadType)
	d.rtxSSRC, d.rtxPT = rtxSSRC, rtxPT
	d.mu.Unlock()
	d.reselect()
	return *match, nil
}

// Unbind is called by pion when the sender stops or drops this track.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.w = nil
	d.mu.Unlock()
	return nil
}

// ID is the published track's id, the same for every subscriber.
func (d *downTrack) ID() string { return d.t.id }

// RID is empty: a subscriber receives one stream.
func (d *downTrack) RID() string { return "" }

// StreamID is the publisher's participant id.
func (d *downTrack) StreamID() string { return d.t.owner.id }

// Kind is audio or video.
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.t.kind }

// reselect chooses the layer to forward from the subscriber's settings,
// what its downlink allows and which layers the publisher is sending.
func (d *downTrack) reselect() {
	d.mu.Lock()
	visible, width, height, pin, maxQ := d.visible && !d.gated.Load(), d.width, d.height, d.pin, d.maxQ
	d.mu.Unlock()
	q := qualityNone
	switch {
	case d.t.kind == webrtc.RTPCodecTypeAudio:
		q = d.t.pick(qualityHigh, 0, 0)
	case !visible, maxQ == qualityNone: // hidden, or paused for the budget
	case pin != qualityNone:
		q = d.t.pick(min(pin, maxQ), 0, 0)
	default:
		q = d.t.pick(maxQ, width, height)
	}
	d.setTarget(q)
}

// setTarget makes q the layer to forward from its next keyframe on (at
// once for none), and asks the publisher for that keyframe.
func (d *downTrack) setTarget(q int) {
	d.mu.Lock()
	if q == d.target {
		d.mu.Unlock()
		return
	}
	d.target = q
	if q == qualityNone {
		d.current = qualityNone
	}
	ask := q != qualityNone && q != d.current && d.w != nil
	d.mu.Unlock()
	if ask {
		if l := d.t.layer(q); l != nil {
			l.requestKeyframe()
		}
	}
}

// keyframeWanted relays a subscriber's keyframe request to the layer it
// receives, or the one it waits for.
func (d *downTrack) keyframeWanted() {
	d.mu.Lock()
	q := d.current
	if q == qualityNone || d.target != d.current {
		q = d.target
	}
	d.mu.Unlock()
	if l := d.t.layer(q); l != nil {
		l.requestKeyframe()
	}
}

// write forwards one packet of layer l if it belongs in this subscriber's
// stream.
func (d *downTrack) write(l *layer, p *rtp.Packet, in *packetInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		return
	}
	q := l.quality
	if q != d.current {
		if q != d.target {
			return
		}
		if !in.key {
			// Waiting for the target's keyframe: ask again (throttled per
			// layer) in case a request or its answer was lost.
			l.requestKeyframe()
			return
		}
		d.switchTo(q, p, in)
	} else if d.target != q {
		// Still on the old layer until the new one's keyframe comes; the
		// request is throttled per layer.
		if t := d.t.layer(d.target); t != nil {
			t.requestKeyframe()
		}
	}
	if int16(p.SequenceNumber-d.startSeq) < 0 {
		return // sent before the switch
	}
	if d.t.kind == webrtc.RTPCodecTypeAudio && (d.t.owner.muted.Load() || d.gated.Load()) {
		d.rebase = true // muted: dropped, and no gap left for it
		return
	}
	newer := int16(p.SequenceNumber-d.lastIn) > 0
	if len(p.Payload) == 0 {
		// Padding only (bandwidth probing of the publisher's link): not
		// forwarded, and its sequence number is not left as a gap.
		if newer && p.SequenceNumber == d.lastIn+1 {
			d.seqOff++
			d.lastIn = p.SequenceNumber
		}
		return
	}
	if d.rebase {
		d.rebase = false
		d.seqOff = p.SequenceNumber - (d.lastSeq + 1)
		newer = true
	}
	if newer {
		d.lastIn = p.SequenceNumber
	}

	seq := p.SequenceNumber - d.seqOff
	payload := p.Payload
	if in.vp8ok && (d.picOff != 0 && in.vp8.picOff != 0 || d.tl0Off != 0 && in.vp8.tl0Off != 0) {
		payload = d.scratch[:copy(d.scratch, payload)]
		in.vp8.shift(payload, d.picOff, d.tl0Off)
	}

	h := d.headerLocked(d.ssrc, d.pt, seq, p.Timestamp-d.tsOff, p.Marker, p.Padding, p.PaddingSize)
	h.CSRC = p.CSRC
	if n, err := d.w.WriteRTP(h, payload); err != nil || n == 0 {
		// Not sent: pion drops what is written before the subscriber's
		// connection is secured (DTLS). A stream that has not begun
		// waits for the next keyframe rather than start without one.
		if !d.begun {
			d.current = qualityNone
		}
		return
	}
	if c := d.t.counts; c != nil {
		c.packets.Add(1)
		c.bytes.Add(uint64(h.MarshalSize() + len(payload)))
	}
	d.noteSentLocked(l, p.SequenceNumber, seq, h.Timestamp)
	if !d.begun || int16(seq-d.lastSeq) > 0 {
		d.begun = true
		d.lastSeq, d.lastTS, d.lastAt = seq, h.Timestamp, in.now
		if in.vp8ok && in.vp8.picOff != 0 {
			d.lastPic = in.vp8.picID(payload)
		}
		if in.vp8ok && in.vp8.tl0Off != 0 {
			d.lastTL0 = payload[in.vp8.tl0Off]
		}
	}
}

// switchTo starts forwarding layer q at packet p, a keyframe: the offsets
// are set so that p follows the last packet written, one sequence number,
// one picture and the time elapsed later.
func (d *downTrack) switchTo(q int, p *rtp.Packet, in *packetInfo) {
	d.current, d.startSeq, d.lastIn, d.rebase = q, p.SequenceNumber, p.SequenceNumber-1, false
	if !d.begun {
		return // the stream begins here, as the publisher numbered it
	}
	ticks := uint32(1)
	if el := in.now.Sub(d.lastAt); el > 0 {
		ticks = max(1, uint32(el.Seconds()*float64(d.t.codec.ClockRate)))
	}
	d.seqOff = p.SequenceNumber - (d.lastSeq + 1)
	d.tsOff = p.Timestamp - (d.lastTS + ticks)
	if in.vp8ok && in.vp8.picOff != 0 {
		d.picOff = in.vp8.picID(p.Payload) - (d.lastPic + 1)
		if !in.vp8.picWide {
			d.picOff &= 0x7f
		} else {
			d.picOff &= 0x7fff
		}
	}
	if in.vp8ok && in.vp8.tl0Off != 0 {
		d.tl0Off = p.Payload[in.vp8.tl0Off] - (d.lastTL0 + 1)
	}
}

// forwarding reports the layer being forwarded (qualityNone if none).
func (d *downTrack) forwarding() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current
}

// started reports whether the down-track is bound and has forwarded
// something (so padding can continue its numbering).
func (d *downTrack) started() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.begun && d.w != nil
}

// probe sends padding-only packets at rate bits/s until stop is closed,
// the deadline passes or the estimator sees congestion: extra load for a
// bandwidth probe, numbered in the stream so the receiver reports them
// like media.
func (d *downTrack) probe(rate int, stop <-chan struct{}, until time.Time, b *bwe) {
	start := time.Now()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	perPacket := (paddingBytes + 12 + 8) * 8 // padding, header, extension
	owed := 0.0
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if !now.Before(until) || b.congestedSince(start) {
				return
			}
			owed += float64(rate) * probeEvery.Seconds() / float64(perPacket)
			n := int(owed)
			owed -= float64(n)
			if !d.pad(n) {
				return
			}
		}
	}
}

// pad writes n padding-only packets after the last one written; false if
// it cannot (nothing written yet). A paused video may carry padding: a
// switch back on starts after it.
func (d *downTrack) pad(n int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil || !d.begun {
		return false
	}
	d.t.batch.begin()
	defer d.t.batch.end()
	for range n {
		d.lastSeq++
		d.seqOff-- // media after the padding continues after it
		h := d.headerLocked(d.ssrc, d.pt, d.lastSeq, d.lastTS, false, true, paddingBytes)
		if _, err := d.w.WriteRTP(h, nil); err != nil {
			return false
		}
		d.noteSentLocked(nil, 0, d.lastSeq, d.lastTS)
	}
	return true
}

// headerLocked fills the down-track's one reused header for a packet to
// the subscriber, without CSRCs or header extensions: the publisher's
// extensions carry its own ids, and what the subscriber negotiated is
// added by the interceptors. d.mu is held.
func (d *downTrack) headerLocked(ssrc uint32, pt uint8, seq uint16, ts uint32, marker, padding bool, paddingSize byte) *rtp.Header {
	h := &d.hdr
	h.Version = 2
	h.Padding, h.PaddingSize = padding, paddingSize
	h.Marker = marker
	h.PayloadType = pt
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.SSRC = ssrc
	h.CSRC = nil
	h.Extension, h.ExtensionProfile, h.Extensions = false, 0, h.Extensions[:0]
	return h
}
