package sfu

// What the forwarding path needs to know of a video payload, read once
// per received packet: whether it starts a keyframe, and where the VP8
// payload descriptor keeps the fields a down-track rewrites.

// vp8Desc locates the rewritable fields of a VP8 payload descriptor
// (RFC 7741 section 4.2). Offsets are 0 when the field is absent.
type vp8Desc struct {
	picOff  int  // offset of the picture id
	picWide bool // the picture id is 15 bits (2 bytes), else 7 bits
	tl0Off  int  // offset of TL0PICIDX
	hdrLen  int  // length of the descriptor
}

// parseVP8 reads the payload descriptor at the start of a VP8 payload.
func parseVP8(b []byte) (d vp8Desc, ok bool) {
	if len(b) < 1 {
		return d, false
	}
	i := 1
	if b[0]&0x80 != 0 { // X: extension byte follows
		if len(b) < 2 {
			return d, false
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // I: picture id
			if len(b) < i+1 {
				return d, false
			}
			d.picOff = i
			if b[i]&0x80 != 0 { // M: 15 bits
				d.picWide = true
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			d.tl0Off = i
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if len(b) < i {
		return vp8Desc{}, false
	}
	d.hdrLen = i
	return d, true
}

// shift takes a down-track's offsets off the picture id and TL0PICIDX
// in b (each where the descriptor has it and the offset is not 0).
func (d vp8Desc) shift(b []byte, picOff uint16, tl0Off uint8) {
	if d.picOff != 0 && picOff != 0 {
		d.setPicID(b, d.picID(b)-picOff)
	}
	if d.tl0Off != 0 && tl0Off != 0 {
		b[d.tl0Off] -= tl0Off
	}
}

// picID reads the picture id (d.picOff != 0).
func (d vp8Desc) picID(b []byte) uint16 {
	if d.picWide {
		return uint16(b[d.picOff]&0x7f)<<8 | uint16(b[d.picOff+1])
	}
	return uint16(b[d.picOff] & 0x7f)
}

// setPicID writes a picture id in the width the packet already uses.
func (d vp8Desc) setPicID(b []byte, id uint16) {
	if d.picWide {
		b[d.picOff] = 0x80 | byte(id>>8)&0x7f
		b[d.picOff+1] = byte(id)
		return
	}
	b[d.picOff] = byte(id) & 0x7f
}

// vp8Keyframe reports whether a VP8 payload is the first packet of a
// keyframe, and the frame's size when it is.
func vp8Keyframe(b []byte, d vp8Desc) (key bool, width, height int) {
	// S (start of partition) with partition index 0, and the frame tag's
	// P bit clear.
	if b[0]&0x10 == 0 || b[0]&0x07 != 0 || len(b) <= d.hdrLen {
		return false, 0, 0
	}
	f := b[d.hdrLen:]
	if f[0]&0x01 != 0 {
		return false, 0, 0
	}
	// A keyframe's 3-byte tag is followed by the start code 9d 01 2a and
	// the 14-bit width and height.
	if len(f) >= 10 && f[3] == 0x9d && f[4] == 0x01 && f[5] == 0x2a {
		width = int(f[6]) | int(f[7]&0x3f)<<8
		height = int(f[8]) | int(f[9]&0x3f)<<8
	}
	return true, width, height
}
