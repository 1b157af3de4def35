package mix

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/thesyncim/gopus"
)

// The limiter keeps a loud sum under full scale at once, lets a quiet one
// through untouched, and comes back to unity gain gradually.
func TestLimit(t *testing.T) {
	loud := make([]float32, frameLen)
	for i := range loud {
		loud[i] = float32(2.5 * math.Sin(2*math.Pi*440*float64(i)/rate))
	}
	g := limit(loud, 1)
	for _, v := range loud {
		if math.Abs(float64(v)) > ceiling+1e-6 {
			t.Fatalf("a sample of %v after the limiter", v)
		}
	}
	if g > 0.4 {
		t.Errorf("gain %v after a peak of 2.5", g)
	}
	quiet := make([]float32, frameLen)
	for i := range quiet {
		quiet[i] = float32(0.1 * math.Sin(2*math.Pi*440*float64(i)/rate))
	}
	want := append([]float32(nil), quiet...)
	if g := limit(quiet, 1); g != 1 || !equal(quiet, want) {
		t.Errorf("a quiet frame was changed (gain %v)", g)
	}
	// After the loud frame, the gain climbs back a step per frame.
	prev := g
	for range 60 {
		frame := append([]float32(nil), want...)
		next := limit(frame, prev)
		if next < prev {
			t.Fatalf("the gain fell from %v to %v on quiet frames", prev, next)
		}
		prev = next
	}
	if prev < 0.99 {
		t.Errorf("the gain is %v after 60 quiet frames, want back near 1", prev)
	}
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// Each listener's mix holds the others' audio and not its own; a
// listener with no audio of its own hears everyone.
func TestMixMinus(t *testing.T) {
	r, listeners := fakeRoom(t, []string{"a", "b"}, []string{"a", "b", "c"})
	frames := map[string]float32{"a": 0.1, "b": 0.2}
	for _, s := range r.sources {
		f := make([]float32, frameLen)
		for i := range f {
			f[i] = frames[s.pid]
		}
		s.frames <- f
	}
	// A source is heard once it holds prefill frames.
	r.gather()
	if pcm, _ := r.mixFor("c"); pcm[0] != 0 {
		t.Errorf("a source was heard with one frame queued: %v", pcm[0])
	}
	for _, s := range r.sources {
		f := make([]float32, frameLen)
		for i := range f {
			f[i] = frames[s.pid]
		}
		s.frames <- f
	}
	r.gather()
	for _, l := range listeners {
		want, wantOwn := map[string]float32{"a": 0.2, "b": 0.1, "c": 0.3}[l.pid], l.pid != "c"
		pcm, own := r.mixFor(l.pid)
		if own != wantOwn || len(pcm) != frameLen || math.Abs(float64(pcm[0]-want)) > 1e-6 || pcm[0] != pcm[frameLen-1] {
			t.Errorf("%s heard %v… (own taken out: %v), want %v (%v)", l.pid, pcm[0], own, want, wantOwn)
		}
	}
	// One frame each is left, then none: the tick after next is silence.
	r.gather()
	if pcm, _ := r.mixFor("c"); pcm[0] == 0 {
		t.Error("a queued frame was not heard")
	}
	r.gather()
	if pcm, _ := r.mixFor("c"); pcm[0] != 0 {
		t.Errorf("silence mixed to %v", pcm[0])
	}
}

// fakeRoom is a room with a source per participant in sources and a
// listener per participant in listeners; no media server.
func fakeRoom(tb testing.TB, sources, listeners []string) (*room, []*Listener) {
	x := &Mixer{log: slog.New(slog.NewTextHandler(io.Discard, nil)), rooms: map[string]*room{}}
	r := newRoom(x, "room")
	for _, pid := range sources {
		r.sources[pid+"-audio"] = &source{pid: pid, frames: make(chan []float32, maxBuffered), free: make(chan []float32, maxBuffered+2)}
	}
	var out []*Listener
	for _, pid := range listeners {
		track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: rate, Channels: 2}, "mix", pid)
		if err != nil {
			tb.Fatal(err)
		}
		l := &Listener{r: r, pid: pid, track: track}
		r.listeners[l] = true
		out = append(out, l)
	}
	return r, out
}

// One 20 ms tick of a room where every participant both speaks and
// listens (an audiobridge of SDK clients): a packet decoded per source,
// the sums, an Opus frame encoded per listener. ns/op over 20 ms, divided
// by the participants, is the share of a core each mixed participant
// costs.
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{2, 5, 10} {
		b.Run(fmt.Sprintf("participants=%d", n), func(b *testing.B) {
			pids := make([]string, n)
			for i := range pids {
				pids[i] = fmt.Sprintf("p%d", i)
			}
			r, _ := fakeRoom(b, pids, pids)
			pkt := tonePacket(b)
			decs := map[*source]*gopus.Decoder{}
			for _, s := range r.sources {
				d, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(rate, 1))
				if err != nil {
					b.Fatal(err)
				}
				decs[s] = d
			}
			pcm := make([]float32, 6*frameLen)
			b.ReportAllocs()
			for b.Loop() {
				for s, d := range decs {
					n, err := d.Decode(pkt, pcm)
					if err != nil {
						b.Fatal(err)
					}
					s.push(pcm[:n])
				}
				r.tick()
			}
		})
	}
}

// tonePacket is one Opus packet of a 440 Hz tone.
func tonePacket(tb testing.TB) []byte {
	enc, err := newEncoder()
	if err != nil {
		tb.Fatal(err)
	}
	pcm := make([]float32, frameLen)
	pkt := make([]byte, maxPacket)
	var n int
	for f := range 5 {
		for i := range pcm {
			pcm[i] = float32(0.3 * math.Sin(2*math.Pi*440*float64(f*frameLen+i)/rate))
		}
		if n, err = enc.Encode(pcm, pkt); err != nil {
			tb.Fatal(err)
		}
	}
	return pkt[:n]
}
