package sfu

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// drain reads what a tap has queued now.
func drain(tp *Tap) []TapPacket {
	var got []TapPacket
	for {
		select {
		case p, ok := <-tp.Packets():
			if !ok {
				return got
			}
			got = append(got, p)
		default:
			return got
		}
	}
}

// A tap receives the best layer a publisher sends, from a keyframe it
// asked for, with continuous numbering, and copies of the payloads that
// outlive the forwarding loop's buffer.
func TestTapStartsOnAKeyframe(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityLow, qualityHigh)
	tp, err := newTap(b.t, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if len(b.plis) == 0 || b.plis[len(b.plis)-1] != 102 {
		t.Fatalf("keyframe requests %v, want one on the high layer (ssrc 102)", b.plis)
	}
	seq := uint16(500)
	frame := func(key bool) {
		b.send(qualityLow, vp8Packet(100, seq, uint32(seq)*3000, seq, uint8(seq), key, 180), 33*time.Millisecond)
		b.send(qualityHigh, vp8Packet(102, seq, uint32(seq)*3000, seq, uint8(seq), key, 720), 0)
		seq++
	}
	frame(false)
	if got := drain(tp); len(got) != 0 {
		t.Fatalf("%d packets before the keyframe", len(got))
	}
	frame(true)
	for range 5 {
		frame(false)
	}
	got := drain(tp)
	if len(got) != 6 {
		t.Fatalf("%d packets, want the keyframe and 5 more of the high layer", len(got))
	}
	if !bytes.Contains(got[0].Payload, []byte{0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02}) { // 1280x720
		t.Errorf("the first packet is not the high layer's keyframe: % x", got[0].Payload[:16])
	}
	for i, p := range got {
		if p.SSRC != tapSSRC || (i > 0 && p.SequenceNumber != got[i-1].SequenceNumber+1) {
			t.Fatalf("packet %d: ssrc %d seq %d", i, p.SSRC, p.SequenceNumber)
		}
		p.Release()
	}
}

// A tap whose reader falls behind loses packets, counted, and the
// subscribers of the same track lose none.
func TestTapNeverHoldsUpForwarding(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeVideo, qualityHigh)
	_, w := b.subscribe(t, Settings{}, false)
	tp, err := newTap(b.t, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b.send(qualityHigh, vp8Packet(102, uint16(i), uint32(i)*3000, uint16(i), uint8(i), i == 0, 720), 33*time.Millisecond)
	}
	if w.packets != 20 {
		t.Errorf("the subscriber got %d of 20 packets", w.packets)
	}
	if got := drain(tp); len(got) != 4 || tp.Dropped() != 16 {
		t.Errorf("the tap queued %d and dropped %d, want 4 and 16", len(got), tp.Dropped())
	}
	tp.Close()
	tp.Close()
	b.send(qualityHigh, vp8Packet(102, 20, 60000, 20, 20, false, 720), 33*time.Millisecond)
	if _, ok := <-tp.Packets(); ok {
		t.Error("a packet after Close")
	}
	if w.packets != 21 {
		t.Errorf("the subscriber got %d of 21 packets after the tap closed", w.packets)
	}
}

// A tap's queue closes when the track ends.
func TestTapClosesWithTheTrack(t *testing.T) {
	b := newBench(webrtc.RTPCodecTypeAudio, qualityHigh)
	tp, err := newTap(b.t, 8)
	if err != nil {
		t.Fatal(err)
	}
	close(b.t.done)
	select {
	case _, ok := <-tp.Packets():
		if ok {
			t.Fatal("a packet from an ended track")
		}
	case <-time.After(time.Minute): // a hang fails the test, not the suite
		t.Fatal("the queue did not close when the track ended")
	}
}

// Tapping a track that is not published in the room is refused.
func TestTapUnknownTrack(t *testing.T) {
	m := newTestManager(t, func(string) {}, time.Hour)
	if _, err := m.Tap("no-room", "no-track", 8); !errors.Is(err, ErrNoTrack) {
		t.Errorf("Tap in no room: %v, want ErrNoTrack", err)
	}
	if _, err := m.Join("room", "s", "p", "", func(Event) {}, SubscribeAll); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Tap("room", "no-track", 8); !errors.Is(err, ErrNoTrack) {
		t.Errorf("Tap of no track: %v, want ErrNoTrack", err)
	}
}
