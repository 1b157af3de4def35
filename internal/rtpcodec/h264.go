// Package rtpcodec reads what RTP payloads say about themselves, for the
// media server and the test participants alike.
package rtpcodec

// H264Keyframe reports whether an H.264 payload (RFC 6184) carries an
// IDR slice or a sequence parameter set, which is where a decoder can
// start.
func H264Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	isKey := func(nal byte) bool { t := nal & 0x1f; return t == 5 || t == 7 }
	switch t := b[0] & 0x1f; {
	case t >= 1 && t <= 23:
		return isKey(b[0])
	case t == 24: // STAP-A: 16-bit sizes, then NAL units
		for i := 1; i+2 < len(b); {
			n := int(b[i])<<8 | int(b[i+1])
			if isKey(b[i+2]) {
				return true
			}
			i += 2 + n
		}
	case t == 28: // FU-A: the start of a fragmented NAL unit
		return len(b) >= 2 && b[1]&0x80 != 0 && isKey(b[1])
	}
	return false
}
