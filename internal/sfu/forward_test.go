package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// sink stands in for one subscriber's SRTP stream: it counts what it is
// given, the way pion's writer would receive it.
type sink struct{ packets, bytes int }

func (s *sink) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	s.packets++
	s.bytes += len(payload)
	return len(payload), nil
}
func (s *sink) Write(b []byte) (int, error) { return len(b), nil }

type binding struct {
	ssrc  webrtc.SSRC
	w     *sink
	codec webrtc.RTPCodecCapability
}

func (b binding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: b.codec, PayloadType: 96}}
}
func (b binding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (b binding) SSRC() webrtc.SSRC                                      { return b.ssrc }
func (b binding) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (b binding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (b binding) WriteStream() webrtc.TrackLocalWriter                   { return b.w }
func (b binding) ID() string                                             { return "binding" }
func (b binding) RTCPReader() interceptor.RTCPReader                     { return nil }

// The per-packet work of track.forward after the read: hand one received
// packet to the shared local track, which rewrites SSRC and payload type
// for each of 10 subscribers. It must not allocate.
func BenchmarkForwardToTenSubscribers(b *testing.B) {
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	local, err := webrtc.NewTrackLocalStaticRTP(vp8, "v", "p")
	if err != nil {
		b.Fatal(err)
	}
	sinks := make([]*sink, 10)
	for i := range sinks {
		sinks[i] = &sink{}
		if _, err := local.Bind(binding{ssrc: webrtc.SSRC(1000 + i), w: sinks[i], codec: vp8}); err != nil {
			b.Fatal(err)
		}
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 100, SequenceNumber: 1, Timestamp: 3000, SSRC: 42}, Payload: make([]byte, 1100)}
	buf, err := pkt.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := local.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if sinks[9].packets == 0 {
		b.Fatal("nothing reached the subscribers")
	}
}

// TestForwardDoesNotAllocate keeps the benchmark's promise in CI.
func TestForwardDoesNotAllocate(t *testing.T) {
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	local, _ := webrtc.NewTrackLocalStaticRTP(opus, "a", "p")
	s := &sink{}
	if _, err := local.Bind(binding{ssrc: 7, w: s, codec: opus}); err != nil {
		t.Fatal(err)
	}
	buf, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 1}, Payload: make([]byte, 80)}).Marshal()
	allocs := testing.AllocsPerRun(1000, func() { local.Write(buf) })
	if allocs != 0 {
		t.Errorf("forwarding one packet allocates %v times, want 0", allocs)
	}
	if s.packets == 0 {
		t.Fatal("nothing forwarded")
	}
}
