package recording

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/roomsd/roomsd/internal/sfu"
)

// benchRecorder is a recorder writing to a file in the test's directory,
// its row already open: what one recorded track costs per packet once it
// runs (sample builder, container, file writes).
func benchRecorder(b *testing.B, codec string, kind webrtc.RTPCodecType) *recorder {
	f, _ := newFile(b)
	r := &recorder{s: &Service{cfg: Config{Log: slog.New(slog.DiscardHandler)}}, codec: codec,
		track: sfu.PublishedTrack{Kind: kind}, file: f}
	r.rec.ID = "bench"
	var err error
	switch codec {
	case "opus":
		r.sink, err = newOggSink(f)
	default:
		r.sink = newWebMSink(f)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.sink.close(time.Now()) })
	return r
}

// BenchmarkRecordVP8 records 1280x720-like VP8 at 30 fps: 6 KB frames in
// packets of 1,000 bytes, a keyframe every 60 frames. One op is one
// packet.
func BenchmarkRecordVP8(b *testing.B) {
	r := benchRecorder(b, "vp8", webrtc.RTPCodecTypeVideo)
	asm := newAssembler("vp8")
	payload := make([]byte, 1001)
	key := append(vp8Key(1280, 720), make([]byte, 990)...)
	seq, ts, at := uint16(0), uint32(0), time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		part := i % 6
		frame := i / 6
		p := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: part == 5}, Payload: payload}
		if part == 0 {
			if frame%60 == 0 {
				p.Payload = append([]byte{0x10}, key...)
			} else {
				p.Payload = append([]byte{0x10, 0x01}, payload[2:]...)
			}
		} else {
			p.Payload = append([]byte{0x00}, payload[1:]...)
		}
		asm.push(p, at, r.frame)
		seq++
		if part == 5 {
			ts += 3000
			at = at.Add(time.Second / 30)
		}
	}
	b.StopTimer()
	if r.err != nil {
		b.Fatal(r.err)
	}
}

// BenchmarkRecordOpus records a 20 ms Opus packet (80 bytes) per op.
func BenchmarkRecordOpus(b *testing.B) {
	r := benchRecorder(b, "opus", webrtc.RTPCodecTypeAudio)
	asm := newAssembler("opus")
	payload := append([]byte{0xfc}, make([]byte, 79)...)
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i) * 960, Marker: true}, Payload: payload}
		asm.push(p, at, r.frame)
		at = at.Add(20 * time.Millisecond)
	}
	b.StopTimer()
	if r.err != nil {
		b.Fatal(r.err)
	}
}
