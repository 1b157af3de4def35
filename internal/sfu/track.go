package sfu

import (
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/roomsd/roomsd/internal/rtpcodec"
)

// Qualities of the layers of a published video track. A publisher that
// sends simulcast sends up to three encodings of the same picture; one
// that does not sends one, which counts as qualityHigh.
const (
	qualityLow = iota
	qualityMedium
	qualityHigh
	numQualities

	qualityNone = -1 // no layer: a paused down-track
)

// layerIdle is how long a simulcast layer may go without packets before
// subscribers are moved off it (a publisher stops sending its upper
// layers when its own uplink cannot carry them).
const layerIdle = time.Second

// track is one published track: its layers (one per simulcast encoding)
// and the down-tracks through which subscribers receive it.
// describe names the track for those outside the media server.
func (t *track) describe() PublishedTrack {
	return PublishedTrack{RoomID: t.owner.room.id, SessionID: t.owner.sessionID, ParticipantID: t.owner.id, TrackID: t.id,
		Kind: t.kind, Codec: t.codec, Stream: t.stream}
}

type track struct {
	owner *Participant
	id    string
	// stream names the publisher's connection that carries it
	// (ConnOptions.Stream).
	stream   string
	kind     webrtc.RTPCodecType
	codec    webrtc.RTPCodecCapability
	receiver *webrtc.RTPReceiver
	vp8      bool
	h264     bool
	// askKeyframe sends the publisher a picture-loss request for one of
	// its SSRCs; keyframeEvery is the least time between two per layer.
	askKeyframe   func(ssrc uint32)
	keyframeEvery time.Duration
	// batch gathers a packet's copies into one system call (nil: none).
	batch *batchConn
	// counts are the media server's running counts (nil in tests).
	counts *counters
	// levelID is the audio-level extension's id (audio; 0 if not
	// negotiated); level adds up what it says.
	levelID uint8
	level   audioLevel

	// downs is read once per forwarded packet and replaced whole (under
	// mu) when a subscriber comes or goes, so forwarding takes no lock
	// shared by the subscribers.
	downs atomic.Pointer[[]*downTrack]

	mu      sync.Mutex
	layers  [numQualities]*layer
	reading int // layers whose read loop still runs
	ended   bool
	done    chan struct{} // closed when the last layer ends
}

// layer is one encoding of a published track, read by its own loop.
type layer struct {
	t       *track
	remote  *webrtc.TrackRemote
	quality int
	last    atomic.Int64  // when the last media packet arrived, unix ns
	height  atomic.Int32  // from the last VP8 keyframe; 0 if unknown
	bytes   atomic.Uint64 // payload bytes received
	rate    atomic.Int64  // bits/s, measured by watch
	width   atomic.Int32

	ssrc    uint32
	hist    *history  // recent packets, for retransmission
	lastPLI time.Time // guarded by plimu
	plimu   chanMutex
}

// chanMutex is a try-lock: keyframe requests that find it held are dropped.
type chanMutex chan struct{}

// packetInfo is what a layer's read loop learnt of a packet, once, for
// every down-track.
type packetInfo struct {
	now time.Time
	key bool // starts a keyframe (always true for audio)
	vp8 vp8Desc
	// vp8ok says vp8 was parsed: the payload is VP8 with a descriptor.
	vp8ok bool
}

func newTrack(owner *Participant, conn *Conn, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) *track {
	codec := remote.Codec().RTPCodecCapability
	t := &track{owner: owner, stream: conn.opts.Stream, id: owner.id + "-" + remote.Kind().String() + "-" + remote.ID(), kind: remote.Kind(),
		codec: codec, receiver: receiver, done: make(chan struct{}),
		vp8:  strings.EqualFold(codec.MimeType, webrtc.MimeTypeVP8),
		h264: strings.EqualFold(codec.MimeType, webrtc.MimeTypeH264), keyframeEvery: owner.m.cfg.KeyframeInterval, batch: owner.m.batch,
		counts: &owner.m.counts}
	if t.kind == webrtc.RTPCodecTypeAudio {
		t.levelID = audioLevelID(receiver)
	}
	t.askKeyframe = func(ssrc uint32) {
		owner.m.counts.keyframes.Add(1)
		if err := conn.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			owner.m.log.Debug("keyframe request", "participant_id", owner.id, "err", err)
		}
	}
	t.downs.Store(&[]*downTrack{})
	return t
}

// ridQuality maps a simulcast encoding's rid to its quality: the rids the
// meeting page uses (q, h, f: quarter, half, full), the common l/m/h
// spellings (where "h" is high: when the track's rids include l or m and
// no f), and otherwise the encoding's place in the offer (lowest first,
// as browsers list them).
func ridQuality(rid string, index int, rids []string) int {
	if rid == "h" && (slices.Contains(rids, "l") || slices.Contains(rids, "m")) && !slices.Contains(rids, "f") {
		return qualityHigh
	}
	switch rid {
	case "":
		return qualityHigh
	case "q", "l", "low", "0":
		return qualityLow
	case "h", "m", "mid", "medium", "1":
		return qualityMedium
	case "f", "hi", "high", "full", "2":
		return qualityHigh
	}
	return min(index, qualityHigh)
}

// addLayer starts reading one encoding. It reports false when the track
// has ended or already has a layer of that quality.
func (t *track) addLayer(remote *webrtc.TrackRemote) bool {
	index := 0
	var rids []string
	for i, r := range t.receiver.Tracks() {
		if r == remote {
			index = i
		}
		rids = append(rids, r.RID())
	}
	l := &layer{t: t, remote: remote, ssrc: uint32(remote.SSRC()), quality: ridQuality(remote.RID(), index, rids), plimu: make(chanMutex, 1),
		hist: newHistory(keptPackets(t.kind))}
	l.last.Store(time.Now().UnixNano())
	t.mu.Lock()
	if t.ended || t.layers[l.quality] != nil {
		t.mu.Unlock()
		return false
	}
	t.layers[l.quality] = l
	t.reading++
	t.mu.Unlock()
	go l.forward()
	t.reselectAll()
	return true
}

// isEnded reports whether the track's last layer has ended.
func (t *track) isEnded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended
}

// layer returns the layer of a quality, or nil.
func (t *track) layer(q int) *layer {
	if q < 0 || q >= numQualities {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.layers[q]
}

// layerEnded notes that a layer's read loop stopped; the track ends with
// its last layer.
func (t *track) layerEnded(l *layer) {
	t.mu.Lock()
	if t.layers[l.quality] == l {
		t.layers[l.quality] = nil
	}
	t.reading--
	last := t.reading == 0 && !t.ended
	if last {
		t.ended = true
		close(t.done)
	}
	t.mu.Unlock()
	if last {
		t.owner.unpublish(t)
	} else {
		t.reselectAll()
	}
}

// forward reads the layer's packets and hands each to every down-track,
// which forwards it or not. One buffer and one parsed packet serve every
// packet: nothing is allocated per packet here.
func (l *layer) forward() {
	t := l.t
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := l.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.owner.m.log.Debug("track read ended", "participant_id", t.owner.id, "err", err)
			}
			t.layerEnded(l)
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		info := l.inspect(&pkt, time.Now())
		l.hist.put(&pkt)
		t.batch.begin()
		for _, d := range *t.downs.Load() {
			d.write(l, &pkt, &info)
		}
		t.batch.end()
	}
}

// inspect learns what every down-track needs to know of a packet that
// has just arrived, and notes the layer's liveness and frame size.
func (l *layer) inspect(pkt *rtp.Packet, now time.Time) packetInfo {
	t := l.t
	info := packetInfo{now: now, key: t.kind == webrtc.RTPCodecTypeAudio}
	if len(pkt.Payload) > 0 {
		// Media, not padding: a browser whose uplink is short keeps an
		// upper layer's SSRC alive with padding alone.
		l.last.Store(now.UnixNano())
		l.bytes.Add(uint64(len(pkt.Payload) + 12))
	}
	switch {
	case t.levelID != 0:
		if ext := pkt.GetExtension(t.levelID); len(ext) > 0 {
			t.level.add(ext[0])
		}
	case t.vp8:
		info.vp8, info.vp8ok = parseVP8(pkt.Payload)
		if info.vp8ok {
			var w, h int
			info.key, w, h = vp8Keyframe(pkt.Payload, info.vp8)
			if h > 0 {
				l.width.Store(int32(w))
				l.height.Store(int32(h))
			}
		}
	case t.h264:
		info.key = rtpcodec.H264Keyframe(pkt.Payload)
	}
	return info
}

// requestKeyframe asks the publisher for a keyframe on this layer, at most
// once per KeyframeInterval, however many subscribers ask.
func (l *layer) requestKeyframe() {
	if l.t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	select {
	case l.plimu <- struct{}{}:
	default:
		return
	}
	defer func() { <-l.plimu }()
	now := time.Now()
	if now.Sub(l.lastPLI) < l.t.keyframeEvery {
		return
	}
	l.lastPLI = now
	l.t.askKeyframe(l.ssrc)
}

// addDown starts forwarding to a subscriber's down-track.
func (t *track) addDown(d *downTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	next := make([]*downTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	t.downs.Store(&next)
}

// removeDown stops forwarding to a down-track.
func (t *track) removeDown(d *downTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	t.downs.Store(&next)
}

// reselectAll has every down-track choose its layer again (layers came
// or went).
func (t *track) reselectAll() {
	for _, d := range *t.downs.Load() {
		d.reselect()
	}
}

// watch measures the layers' bitrates and re-examines their liveness
// until the track ends: a subscriber on a layer the publisher stopped
// sending moves to one it still sends, and back up when the layer returns.
func (t *track) watch() {
	tick := time.NewTicker(layerIdle / 2)
	defer tick.Stop()
	var last [numQualities]uint64
	prev := time.Now()
	for {
		select {
		case <-t.done:
			return
		case now := <-tick.C:
			el := now.Sub(prev).Seconds()
			prev = now
			for q := range numQualities {
				l := t.layer(q)
				if l == nil {
					last[q] = 0
					continue
				}
				b := l.bytes.Load()
				if last[q] != 0 && el > 0 {
					r := float64(b-last[q]) * 8 / el
					old := float64(l.rate.Load())
					if old > 0 {
						r = 0.6*old + 0.4*r // smoothed: keyframes come in bursts
					}
					l.rate.Store(int64(r))
				}
				last[q] = b
			}
			if t.kind == webrtc.RTPCodecTypeVideo {
				t.reselectAll()
			}
		}
	}
}

// liveLocked says which layers are being sent: those with media in the
// last layerIdle. A lone layer is always live: a publisher without
// simulcast may pause, and has nothing else to offer. t.mu is held.
func (t *track) liveLocked() [numQualities]bool {
	var live [numQualities]bool
	n := 0
	for _, l := range t.layers {
		if l != nil {
			n++
		}
	}
	now := time.Now().UnixNano()
	for q, l := range t.layers {
		live[q] = l != nil && (n == 1 || now-l.last.Load() < int64(layerIdle))
	}
	return live
}

// pick chooses the layer to send a subscriber: among the layers being
// sent, the smallest at least as large as the subscriber renders the
// video (0: no limit), never above maxQ; failing that the best one up to
// maxQ; failing that the lowest. qualityNone if no layer is being sent.
func (t *track) pick(maxQ, width, height int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.liveLocked()
	top, topW := 0, 0
	for _, l := range t.layers {
		if l != nil {
			if h := int(l.height.Load()); h > top {
				top, topW = h, int(l.width.Load())
			}
		}
	}
	if top == 0 {
		top, topW = 720, 1280
	}
	// A layer's size is what its keyframes say, or else a halving per
	// step down from the largest known (what browsers send).
	size := func(q int) (int, int) {
		if h := int(t.layers[q].height.Load()); h > 0 {
			return int(t.layers[q].width.Load()), h
		}
		return topW >> (qualityHigh - q), top >> (qualityHigh - q)
	}
	best := qualityNone
	for q := qualityLow; q <= min(maxQ, qualityHigh); q++ {
		if !live[q] {
			continue
		}
		best = q
		if width == 0 && height == 0 {
			continue
		}
		// A tenth smaller than the window still looks right.
		if w, h := size(q); w >= width*9/10 && h >= height*9/10 {
			return q
		}
	}
	if best != qualityNone {
		return best
	}
	for q := range numQualities {
		if live[q] {
			return q
		}
	}
	return qualityNone
}
