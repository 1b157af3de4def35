package sfu

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// sink stands in for one subscriber's SRTP stream: it keeps what it is
// given, the way pion's writer would receive it.
type sink struct {
	packets, bytes int
	keep           bool
	got            []rtp.Packet
	// notReady drops what is written, as pion does before the
	// subscriber's connection is secured (it reports 0 bytes written).
	notReady bool
}

func (s *sink) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if s.notReady {
		return 0, nil
	}
	s.packets++
	s.bytes += len(payload)
	if s.keep {
		hc := *h
		hc.Extensions = nil
		s.got = append(s.got, rtp.Packet{Header: hc, Payload: append([]byte(nil), payload...)})
	}
	return len(payload), nil
}
func (s *sink) Write(b []byte) (int, error) { return len(b), nil }

type binding struct {
	ssrc  webrtc.SSRC
	w     *sink
	codec webrtc.RTPCodecCapability
	pt    webrtc.PayloadType
	rtx   webrtc.SSRC // an RTX stream (payload type pt+1), if not 0
}

func (b binding) CodecParameters() []webrtc.RTPCodecParameters {
	c := []webrtc.RTPCodecParameters{{RTPCodecCapability: b.codec, PayloadType: b.pt}}
	if b.rtx != 0 {
		c = append(c, webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX,
			ClockRate: b.codec.ClockRate, SDPFmtpLine: fmt.Sprintf("apt=%d", b.pt)}, PayloadType: b.pt + 1})
	}
	return c
}
func (b binding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (b binding) SSRC() webrtc.SSRC                                      { return b.ssrc }
func (b binding) SSRCRetransmission() webrtc.SSRC                        { return b.rtx }
func (b binding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (b binding) WriteStream() webrtc.TrackLocalWriter                   { return b.w }
func (b binding) ID() string                                             { return "binding" }
func (b binding) RTCPReader() interceptor.RTCPReader                     { return nil }

var (
	opusCodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	vp8Codec  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
)

// bench is a published track without pion underneath: the test plays the
// layers' read loops (inspect, then write to every down-track) and reads
// what each subscriber's sink got.
type bench struct {
	t      *track
	layers [numQualities]*layer
	plis   []uint32 // SSRCs the publisher was asked for keyframes on
	now    time.Time
}

func newBench(kind webrtc.RTPCodecType, qualities ...int) *bench {
	codec := opusCodec
	if kind == webrtc.RTPCodecTypeVideo {
		codec = vp8Codec
	}
	b := &bench{now: time.Now()}
	b.t = &track{owner: &Participant{id: "pub"}, id: "pub-" + kind.String(), kind: kind, codec: codec,
		vp8: kind == webrtc.RTPCodecTypeVideo, done: make(chan struct{})}
	b.t.askKeyframe = func(ssrc uint32) { b.plis = append(b.plis, ssrc) }
	b.t.downs.Store(&[]*downTrack{})
	for _, q := range qualities {
		l := &layer{t: b.t, quality: q, ssrc: uint32(100 + q), plimu: make(chanMutex, 1), hist: newHistory(keptPackets(kind))}
		l.last.Store(time.Now().UnixNano())
		b.layers[q] = l
		b.t.layers[q] = l
		b.t.reading++
	}
	return b
}

// subscribe binds a down-track to a sink, as pion does when a
// subscriber's sender starts.
func (b *bench) subscribe(tb testing.TB, s Settings, keep bool) (*downTrack, *sink) {
	tb.Helper()
	d := newDownTrack(b.t, &Conn{p: &Participant{id: "sub"}}, s)
	w := &sink{keep: keep}
	if _, err := d.Bind(binding{ssrc: 5000, w: w, codec: b.t.codec, pt: 120}); err != nil {
		tb.Fatal(err)
	}
	d.setMaxQuality(qualityHigh) // as the allocator does for a fast link
	b.t.addDown(d)
	return d, w
}

// send delivers one packet of layer q to every down-track.
func (b *bench) send(q int, p *rtp.Packet, dt time.Duration) {
	b.now = b.now.Add(dt)
	info := b.layers[q].inspect(p, b.now)
	b.layers[q].hist.put(p)
	for _, d := range *b.t.downs.Load() {
		d.write(b.layers[q], p, &info)
	}
}

// vp8Packet is a VP8 packet with a 15-bit picture id and TL0PICIDX; a
// keyframe's first packet carries a frame header of the given height.
func vp8Packet(ssrc uint32, seq uint16, ts uint32, pic uint16, tl0 uint8, key bool, height int) *rtp.Packet {
	// X=1 S=1 PID=0; I=1 L=1; M=1 picture id; TL0PICIDX.
	payload := []byte{0x90, 0xc0, 0x80 | byte(pic>>8), byte(pic), tl0}
	if key {
		w := height * 16 / 9
		payload = append(payload, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w>>8), byte(height), byte(height>>8))
	} else {
		payload = append(payload, 0x01, 0x00, 0x00)
	}
	payload = append(payload, make([]byte, 100)...)
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
}

// checkContinuous fails unless the packets a subscriber got number one
// unbroken stream: consecutive sequence numbers, rising timestamps, its
// own SSRC and payload type, and consecutive VP8 picture ids with
// TL0PICIDX rising by one per picture here (every test frame is on the
// base temporal layer).
func checkContinuous(t *testing.T, got []rtp.Packet, video bool) {
	t.Helper()
	for i, p := range got {
		if p.SSRC != 5000 || p.PayloadType != 120 {
			t.Fatalf("packet %d: ssrc %d pt %d, want the subscriber's 5000/120", i, p.SSRC, p.PayloadType)
		}
		if i == 0 {
			continue
		}
		prev := got[i-1]
		if p.SequenceNumber != prev.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
		}
		if int32(p.Timestamp-prev.Timestamp) <= 0 {
			t.Fatalf("packet %d: timestamp %d after %d", i, p.Timestamp, prev.Timestamp)
		}
		if video {
			d, _ := parseVP8(p.Payload)
			pd, _ := parseVP8(prev.Payload)
			if d.picID(p.Payload) != (pd.picID(prev.Payload)+1)&0x7fff {
				t.Fatalf("packet %d: picture id %d after %d", i, d.picID(p.Payload), pd.picID(prev.Payload))
			}
			if p.Payload[d.tl0Off] != prev.Payload[pd.tl0Off]+1 {
				t.Fatalf("packet %d: TL0PICIDX %d after %d", i, p.Payload[d.tl0Off], prev.Payload[pd.tl0Off])
			}
		}
	}
}

// A muted publisher's audio is dropped without leaving a hole in the
// subscriber's sequence numbers (which it would otherwise report as loss
// and ask to have retransmitted), and its timing is kept.
func TestMuteLeavesNoSequenceGap(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeAudio, qualityHigh)
	b.t.owner.muted.Store(false)
	d, w := b.subscribe(t, Settings{}, true)
	d.reselect()
	seq, ts := uint16(65530), uint32(1000) // wraps while muted
	for i := range 30 {
		if i == 10 {
			b.t.owner.muted.Store(true)
		}
		if i == 20 {
			b.t.owner.muted.Store(false)
		}
		b.send(qualityHigh, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: 1}, Payload: []byte{1, 2, 3}}, 20*time.Millisecond)
		seq++
		ts += 960
	}
	if len(w.got) != 20 {
		t.Fatalf("subscriber got %d packets, want the 20 sent unmuted", len(w.got))
	}
	checkContinuous(t, w.got, false)
	if gap := w.got[10].Timestamp - w.got[9].Timestamp; gap != 11*960 {
		t.Errorf("timestamp step over the mute = %d, want 11 packets' worth (%d): the time muted is kept", gap, 11*960)
	}
}

// A subscriber moved from the low to the high layer keeps getting the low
// one until the high one's keyframe (which is asked of the publisher),
// and the switch is invisible in sequence numbers, timestamps, picture
// ids and TL0PICIDX. Back down to low works the same way.
func TestLayerSwitchIsSeamless(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityLow, qualityHigh)
	d, w := b.subscribe(t, Settings{Height: 180}, true)
	if d.target != qualityLow {
		t.Fatalf("a 180-pixel window targets layer %d, want low", d.target)
	}
	if len(b.plis) != 1 || b.plis[0] != 100 {
		t.Fatalf("keyframe requests %v, want one on the low layer (ssrc 100)", b.plis)
	}
	// Each layer numbers its own packets, pictures and time.
	type src struct {
		seq        uint16
		ts         uint32
		pic        uint16
		tl0        uint8
		ssrc       uint32
		height     int
		sinceFrame int
	}
	layers := map[int]*src{qualityLow: {seq: 100, ts: 5000, pic: 32760, tl0: 250, ssrc: 100, height: 180},
		qualityHigh: {seq: 40000, ts: 4000000000, pic: 7, tl0: 3, ssrc: 102, height: 720}}
	frame := func(q int, key bool) {
		s := layers[q]
		b.send(q, vp8Packet(s.ssrc, s.seq, s.ts, s.pic, s.tl0, key, s.height), 0)
		s.seq++
		s.ts += 3000
		s.pic = (s.pic + 1) & 0x7fff
		s.tl0++
	}
	step := func(key bool) { // one frame of each layer, 33 ms apart
		b.now = b.now.Add(33 * time.Millisecond)
		frame(qualityLow, key)
		frame(qualityHigh, key)
	}
	step(false) // no keyframe yet: nothing can be sent
	if len(w.got) != 0 {
		t.Fatalf("sent %d packets before any keyframe", len(w.got))
	}
	step(true)
	for range 5 {
		step(false)
	}
	if d.forwarding() != qualityLow || len(w.got) != 6 {
		t.Fatalf("on layer %d with %d packets, want low with 6", d.forwarding(), len(w.got))
	}

	b.plis = nil
	d.apply(Settings{Height: 720})
	d.reselect()
	if len(b.plis) == 0 || b.plis[0] != 102 {
		t.Fatalf("keyframe requests %v, want one on the high layer (ssrc 102)", b.plis)
	}
	for range 3 {
		step(false) // low goes on until high has a keyframe
	}
	if d.forwarding() != qualityLow {
		t.Fatal("switched without a keyframe")
	}
	step(true)
	if d.forwarding() != qualityHigh {
		t.Fatal("did not switch on the high layer's keyframe")
	}
	for range 5 {
		step(false)
	}
	d.apply(Settings{Height: 100})
	d.reselect()
	step(false)
	step(true)
	step(false)
	if d.forwarding() != qualityLow {
		t.Fatal("did not switch back down")
	}
	if len(w.got) != 6+4+6+3 {
		t.Fatalf("subscriber got %d packets, want 19", len(w.got))
	}
	checkContinuous(t, w.got, true)
	var heights []int
	for _, p := range w.got {
		if d, ok := parseVP8(p.Payload); ok {
			if key, _, h := vp8Keyframe(p.Payload, d); key {
				heights = append(heights, h)
			}
		}
	}
	// The low layer's second keyframe leaves just before the high one's.
	if fmt.Sprint(heights) != "[180 180 720 180]" {
		t.Errorf("keyframes forwarded of heights %v, want [180 180 720 180]", heights)
	}
}

// A hidden video costs its subscriber nothing; shown again, it resumes on
// a keyframe and continues the stream.
func TestHiddenVideoSendsNothing(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityHigh)
	d, w := b.subscribe(t, Settings{}, true)
	var seq uint16
	var pic uint16
	frame := func(key bool) {
		b.send(qualityHigh, vp8Packet(1, seq, uint32(seq)*3000, pic, uint8(pic), key, 360), 33*time.Millisecond)
		seq++
		pic++
	}
	frame(true)
	frame(false)
	d.apply(Settings{Hidden: true})
	d.reselect()
	for range 20 {
		frame(false)
	}
	frame(true)
	if len(w.got) != 2 {
		t.Fatalf("hidden video: subscriber got %d packets, want the 2 from before", len(w.got))
	}
	d.apply(Settings{})
	d.reselect()
	frame(false)
	frame(true)
	frame(false)
	if len(w.got) != 4 {
		t.Fatalf("shown again: %d packets, want 2 + the keyframe and the one after", len(w.got))
	}
	checkContinuous(t, w.got, true)
}

// A subscriber may pin a quality: it gets that layer whatever its window.
func TestPinnedQuality(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityLow, qualityMedium, qualityHigh)
	d, _ := b.subscribe(t, Settings{Quality: "medium"}, false)
	if d.target != qualityMedium {
		t.Fatalf("pinned medium, target %d", d.target)
	}
	d.apply(Settings{Quality: "low", Height: 1080})
	d.reselect()
	if d.target != qualityLow {
		t.Fatalf("pinned low, target %d", d.target)
	}
	d.apply(Settings{Height: 1080})
	d.reselect()
	if d.target != qualityHigh {
		t.Fatalf("auto at 1080 pixels, target %d", d.target)
	}
}

// A layer the publisher stopped sending is left for one it still sends.
func TestIdleLayerIsLeft(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityLow, qualityHigh)
	d, _ := b.subscribe(t, Settings{}, false)
	if d.target != qualityHigh {
		t.Fatalf("target %d, want high", d.target)
	}
	b.layers[qualityHigh].last.Store(time.Now().Add(-2 * layerIdle).UnixNano())
	b.t.reselectAll()
	if d.target != qualityLow {
		t.Fatalf("high layer idle: target %d, want low", d.target)
	}
}

// The per-packet work of a layer's read loop after the read: learn what
// the packet is once, then give it to each of 10 subscribers' down-tracks,
// which rewrite its header (sequence, timestamp, SSRC, payload type).
// "rewritten" adds what follows a layer switch: the VP8 picture id and
// TL0PICIDX rewritten in a copy of the payload.
func BenchmarkForwardToTenSubscribers(b *testing.B) {
	for _, rewrite := range []bool{false, true} {
		name := "plain"
		if rewrite {
			name = "rewritten"
		}
		b.Run(name, func(b *testing.B) {
			bn := newBench(webrtc.RTPCodecTypeVideo, qualityHigh)
			sinks := make([]*sink, 10)
			for i := range sinks {
				d, w := bn.subscribe(b, Settings{}, false)
				if rewrite {
					d.picOff, d.tl0Off, d.seqOff = 3, 1, 7
				}
				sinks[i] = w
			}
			bn.send(qualityHigh, vp8Packet(1, 0, 0, 0, 0, true, 720), 0)
			p := vp8Packet(1, 1, 3000, 1, 1, false, 720)
			p.Payload = append(p.Payload, make([]byte, 1000)...)
			b.SetBytes(int64(len(p.Payload) + 12))
			b.ReportAllocs()
			for b.Loop() {
				p.SequenceNumber++
				bn.send(qualityHigh, p, time.Millisecond)
			}
			if sinks[9].packets < 2 {
				b.Fatal("nothing reached the subscribers")
			}
		})
	}
}

// TestForwardDoesNotAllocate keeps the benchmark's promise in CI, for
// audio and for rewritten video.
func TestForwardDoesNotAllocate(t *testing.T) {
	a := newBench(webrtc.RTPCodecTypeAudio, qualityHigh)
	_, aw := a.subscribe(t, Settings{}, false)
	ap := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 1}, Payload: make([]byte, 80)}
	if n := testing.AllocsPerRun(1000, func() { ap.SequenceNumber++; a.send(qualityHigh, ap, time.Millisecond) }); n != 0 {
		t.Errorf("forwarding an audio packet allocates %v times, want 0", n)
	}
	v := newBench(webrtc.RTPCodecTypeVideo, qualityHigh)
	d, vw := v.subscribe(t, Settings{}, false)
	v.send(qualityHigh, vp8Packet(1, 0, 0, 0, 0, true, 720), 0)
	d.picOff, d.tl0Off = 3, 1
	vp := vp8Packet(1, 1, 3000, 1, 1, false, 720)
	if n := testing.AllocsPerRun(1000, func() { vp.SequenceNumber++; v.send(qualityHigh, vp, time.Millisecond) }); n != 0 {
		t.Errorf("forwarding a rewritten video packet allocates %v times, want 0", n)
	}
	if aw.packets == 0 || vw.packets < 2 {
		t.Fatal("nothing forwarded")
	}
}

// Padding the publisher sends (bandwidth probes of its own uplink) is not
// forwarded, and leaves no hole in the subscriber's sequence numbers.
func TestPublisherPaddingIsSkipped(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeAudio, qualityHigh)
	_, w := b.subscribe(t, Settings{}, true)
	for seq := uint16(10); seq < 20; seq++ {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 1}, Payload: []byte{1, 2, 3}}
		if seq == 13 || seq == 14 {
			p.Padding, p.PaddingSize, p.Payload = true, 200, nil
		}
		b.send(qualityHigh, p, 20*time.Millisecond)
	}
	if len(w.got) != 8 {
		t.Fatalf("subscriber got %d packets, want the 8 with media", len(w.got))
	}
	checkContinuous(t, w.got, false)
}

// A subscriber whose connection is not secured yet loses what is written
// to it; if that was the keyframe its stream would have started with,
// the down-track waits for the next one instead of starting on a delta
// frame the subscriber cannot decode.
func TestStreamStartsOnAKeyframeThatWasSent(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityHigh)
	d, w := b.subscribe(t, Settings{}, true)
	w.notReady = true
	seq, pic := uint16(10), uint16(0)
	frame := func(key bool) {
		b.send(qualityHigh, vp8Packet(102, seq, uint32(seq)*3000, pic, uint8(pic), key, 720), 33*time.Millisecond)
		seq++
		pic++
	}
	frame(true) // dropped by the transport
	frame(false)
	w.notReady = false
	frame(false) // the transport is ready, but this is not a keyframe
	frame(true)
	frame(false)
	if len(w.got) != 2 || !bytes.Contains(w.got[0].Payload, []byte{0x9d, 0x01, 0x2a}) {
		t.Fatalf("the subscriber got %d packets, the first a keyframe: %v; want the second keyframe and what follows", len(w.got), len(w.got) > 0 && bytes.Contains(w.got[0].Payload, []byte{0x9d, 0x01, 0x2a}))
	}
	if d.forwarding() != qualityHigh {
		t.Errorf("forwarding layer %d", d.forwarding())
	}
}
