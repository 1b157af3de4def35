package rtpcodec

import "testing"

// An H.264 payload starts a keyframe when it carries an IDR slice or a
// sequence parameter set: alone, in a STAP-A, or at the start of a FU-A.
func TestH264Keyframe(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		key  bool
	}{
		{"IDR slice", []byte{0x65, 0x88}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"non-IDR slice", []byte{0x41, 0x9a}, false},
		{"STAP-A with SPS and PPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"STAP-A of non-IDR", []byte{0x78, 0x00, 0x02, 0x41, 0x9a}, false},
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A middle of IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"empty", nil, false},
	} {
		if got := H264Keyframe(c.b); got != c.key {
			t.Errorf("%s: keyframe %v, want %v", c.name, got, c.key)
		}
	}
}
