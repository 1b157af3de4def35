package recording

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/testutil/probe"
)

func TestOpusSamples(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want int
	}{
		{[]byte{0xf8, 0xff, 0xfe}, 960}, // CELT FB 20 ms, one frame
		{[]byte{0x78}, 960},             // hybrid FB 20 ms (config 15)
		{[]byte{0x08}, 960},             // SILK NB 20 ms (config 1)
		{[]byte{0x18}, 2880},            // SILK NB 60 ms (config 3)
		{[]byte{0xf9}, 1920},            // two CELT 20 ms frames (code 1)
		{[]byte{0xfb, 0x03}, 2880},      // code 3, three 20 ms frames
		{[]byte{0xfb, 0x07}, 0},         // seven 20 ms frames: over 120 ms
		{[]byte{0xfb}, 0},               // code 3 without its count
		{nil, 0},
	} {
		if got := opusSamples(tc.p); got != tc.want {
			t.Errorf("opusSamples(%x) = %d, want %d", tc.p, got, tc.want)
		}
	}
}

func newFile(t testing.TB) (blob.Writer, string) {
	t.Helper()
	d, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Create(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := d.Path("r")
	return f, p
}

// TestOggFillsGaps: a second of audio, a half-second gap in the
// timestamps (a mute), a late copy of an old packet, another second, and
// the track ends a quarter second after its last packet: the file plays
// 2.75 s, its gap a silence.
func TestOggFillsGaps(t *testing.T) {
	f, path := newFile(t)
	s, err := newOggSink(f)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	ts := uint32(1234)
	at := t0
	put := func(n int) {
		for range n {
			if err := s.write(frame{data: silenceFrame, ts: ts, arrived: at, key: true}); err != nil {
				t.Fatal(err)
			}
			ts += 960
			at = at.Add(20 * time.Millisecond)
		}
	}
	put(50)
	ts += 24000 // 500 ms muted
	at = at.Add(500 * time.Millisecond)
	if err := s.write(frame{data: silenceFrame, ts: ts - 48000, arrived: at}); err != nil { // a late copy
		t.Fatal(err)
	}
	put(50)
	if err := s.close(at.Add(250 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if d := s.duration(); d != 2760*time.Millisecond && d != 2740*time.Millisecond {
		t.Errorf("duration %v, want 2.75 s (in 20 ms frames)", d)
	}
	p := probe.File(t, path)
	if got := p.Duration(); got < 2700*time.Millisecond || got > 2800*time.Millisecond || p.Streams[0].CodecName != "opus" {
		t.Errorf("ffprobe: %v, %+v; want 2.75 s of opus", got, p.Streams)
	}
}

// TestOggGapBoundedByArrival: a jump of the publisher's timestamps far
// beyond the time that passed does not stretch the file.
func TestOggGapBoundedByArrival(t *testing.T) {
	f, _ := newFile(t)
	s, err := newOggSink(f)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	s.write(frame{data: silenceFrame, ts: 0, arrived: at})
	s.write(frame{data: silenceFrame, ts: 48000 * 3600, arrived: at.Add(20 * time.Millisecond)})
	if d := s.duration(); d > 1100*time.Millisecond {
		t.Errorf("an hour's jump in timestamps 20 ms later made %v of audio", d)
	}
	s.close(at)
}

// vp8Key is the start of a VP8 keyframe of w x h (RFC 6386 9.1).
func vp8Key(w, h int) []byte {
	return []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w >> 8), byte(h), byte(h >> 8), 0, 0}
}

func TestWebMWaitsForKeyframeAndKeepsTimeMonotonic(t *testing.T) {
	f, _ := newFile(t)
	s := newWebMSink(f)
	if err := s.write(frame{data: []byte{0x11, 0, 0}, ts: 0}); !errors.Is(err, errNeedKeyframe) {
		t.Fatalf("a delta frame first: %v, want errNeedKeyframe", err)
	}
	if w, h, ok := vp8Size(vp8Key(640, 360)); !ok || w != 640 || h != 360 {
		t.Fatalf("vp8Size = %d x %d, %v", w, h, ok)
	}
	for i, ts := range []uint32{9000, 9000 + 3000, 9000 + 3000 + 45, 9000 + 3000 + 45} {
		if err := s.write(frame{data: vp8Key(640, 360), ts: ts, key: true}); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	// 0, 33 ms, then two pictures within a millisecond: 34 and 35 ms.
	if s.lastMS != 35 || s.frames != 4 {
		t.Errorf("last block at %d ms after %d frames, want 35 ms after 4", s.lastMS, s.frames)
	}
	if err := s.close(time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestAnnexBKeyframe(t *testing.T) {
	idr := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4}
	if !annexBKeyframe(idr) {
		t.Error("SPS, PPS and an IDR slice: not a keyframe")
	}
	if annexBKeyframe([]byte{0, 0, 0, 1, 0x41, 5, 6}) {
		t.Error("a non-IDR slice taken for a keyframe")
	}
	if annexBKeyframe([]byte{0, 0, 0, 1, 0x65, 4}) {
		t.Error("an IDR slice without its parameter sets (the stream's start missed) taken for a keyframe")
	}
}

func TestCodecName(t *testing.T) {
	for mime, want := range map[string]string{"audio/opus": "opus", "video/VP8": "vp8", "video/vp8": "vp8", "video/H264": "h264", "video/AV1": ""} {
		if got := codecName(mime); got != want {
			t.Errorf("codecName(%q) = %q, want %q", mime, got, want)
		}
	}
}

// TestWebMFilesAreIndependent: recordings opened at once share nothing
// (run with -race; the container library's default segment info is one
// value for all files).
func TestWebMFilesAreIndependent(t *testing.T) {
	done := make(chan error, 4)
	for range 4 {
		go func() {
			f, _ := newFile(t)
			s := newWebMSink(f)
			err := s.write(frame{data: vp8Key(320, 180), ts: 0, key: true})
			done <- errors.Join(err, s.close(time.Now()))
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestAssemblerReorders: packets that arrive out of order (a
// retransmission, a reordering network) come out as frames in order,
// each with its own arrival time; a packet that never comes is given up
// on and the frames after it still come out.
func TestAssemblerReorders(t *testing.T) {
	asm := newAssembler("opus")
	t0 := time.Now()
	var got []uint32
	var at []time.Time
	out := func(s *media.Sample, arrived time.Time) {
		got = append(got, s.PacketTimestamp)
		at = append(at, arrived)
	}
	pkt := func(seq uint16) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: silenceFrame}
	}
	order := []uint16{0, 1, 3, 2, 4, 6, 5, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24} // 8 is lost
	for i, seq := range order {
		asm.push(pkt(seq), t0.Add(time.Duration(i)*20*time.Millisecond), out)
	}
	asm.flush(out)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("frames out of order: %v", got)
		}
	}
	for i, ts := range got {
		if ts == 8*960 {
			t.Errorf("the lost packet came out: %v", got)
		}
		if seq := uint16(ts / 960); seq == 2 && !at[i].Equal(t0.Add(3*20*time.Millisecond)) {
			t.Errorf("frame 2 (pushed fourth) has arrival %v, want its own", at[i].Sub(t0))
		}
	}
	if len(got) < 20 || got[len(got)-1] != 24*960 {
		t.Errorf("frames %v: want every one but the lost, through 24", got)
	}
}
