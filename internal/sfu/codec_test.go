package sfu

import "testing"

// What the forwarding path reads of a payload: where a VP8 descriptor's
// picture id and TL0PICIDX sit, whether a VP8 payload starts a keyframe,
// and the keyframe's size.
func TestPayloadInspection(t *testing.T) {
	// VP8: X=1 S=1 PID=0; I=1 L=1 T=1; 15-bit picture id 0x1234;
	// TL0PICIDX 7; TID/Y/KEYIDX; then a keyframe header of 640x360.
	key := []byte{0x90, 0xe0, 0x80 | 0x12, 0x34, 7, 0x20, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	d, ok := parseVP8(key)
	if !ok || d.picOff != 2 || !d.picWide || d.tl0Off != 4 || d.hdrLen != 6 {
		t.Fatalf("descriptor %+v ok=%v", d, ok)
	}
	if d.picID(key) != 0x1234 {
		t.Errorf("picture id %#x", d.picID(key))
	}
	if k, w, h := vp8Keyframe(key, d); !k || w != 640 || h != 360 {
		t.Errorf("keyframe %v %dx%d, want a 640x360 keyframe", k, w, h)
	}
	cp := append([]byte(nil), key...)
	d.setPicID(cp, 0x7fff+2) // wraps to 1 in 15 bits
	if d.picID(cp) != 1 || cp[2]&0x80 == 0 {
		t.Errorf("set picture id: %#x, M bit %v", d.picID(cp), cp[2]&0x80 != 0)
	}
	// A 7-bit picture id, and an inter frame (P bit set).
	inter := []byte{0x90, 0x80, 0x05, 0x01, 0x00, 0x00}
	if d, ok := parseVP8(inter); !ok || d.picWide || d.picID(inter) != 5 {
		t.Errorf("7-bit descriptor %+v", d)
	} else if k, _, _ := vp8Keyframe(inter, d); k {
		t.Error("an inter frame read as a keyframe")
	}
	// Not the start of a partition: not a keyframe's first packet.
	if d, ok := parseVP8([]byte{0x00, 0x00}); !ok {
		t.Error("minimal descriptor refused")
	} else if k, _, _ := vp8Keyframe([]byte{0x00, 0x00}, d); k {
		t.Error("a continuation packet read as a keyframe")
	}
	// Truncated descriptors are refused, not read past their end.
	for _, b := range [][]byte{{}, {0x80}, {0x80, 0x80}, {0x80, 0x80, 0x80}} {
		if _, ok := parseVP8(b); ok {
			t.Errorf("truncated descriptor % x accepted", b)
		}
	}

}

// Simulcast rids name their layers in either spelling: the meeting page's
// q/h/f (h is half) and the l/m/h of others, the @telnyx/video SDK among
// them (h is high); unknown rids go by their place.
func TestRIDQuality(t *testing.T) {
	for _, c := range []struct {
		rid   string
		index int
		rids  []string
		want  int
	}{
		{"q", 0, []string{"q", "h", "f"}, qualityLow},
		{"h", 1, []string{"q", "h", "f"}, qualityMedium},
		{"f", 2, []string{"q", "h", "f"}, qualityHigh},
		{"h", 0, []string{"h", "m", "l"}, qualityHigh},
		{"m", 1, []string{"h", "m", "l"}, qualityMedium},
		{"l", 2, []string{"h", "m", "l"}, qualityLow},
		{"", 0, nil, qualityHigh},
		{"x", 1, []string{"w", "x", "y"}, qualityMedium},
	} {
		if got := ridQuality(c.rid, c.index, c.rids); got != c.want {
			t.Errorf("rid %q of %v: quality %d, want %d", c.rid, c.rids, got, c.want)
		}
	}
}
