package sfu

// vp8Pic is where a VP8 payload descriptor (RFC 7741 §4.2) carries the
// picture id and TL0PICIDX, which a decoder uses to notice lost frames: a
// slot that switches sources (another presenter, another simulcast layer)
// rewrites both so that they continue the numbers the viewer saw.
type vp8Pic struct {
	pid    uint16 // the picture id (7 or 15 bits)
	tl0    uint8  // TL0PICIDX
	pidAt  uint8  // offset of the picture id in the payload; 0: none
	tl0At  uint8  // offset of TL0PICIDX; 0: none
	pidLen uint8  // 1 (7 bits) or 2 (15 bits)
}

// parseVP8Pic finds the picture id and TL0PICIDX of a VP8 payload; the zero
// value if it has neither or is too short to hold them.
func parseVP8Pic(b []byte) vp8Pic {
	var v vp8Pic
	if len(b) < 2 || b[0]&0x80 == 0 { // no extension byte: neither field
		return v
	}
	ext := b[1]
	i := 2
	if ext&0x80 != 0 { // I
		if len(b) <= i {
			return vp8Pic{}
		}
		if b[i]&0x80 != 0 {
			if len(b) <= i+1 {
				return vp8Pic{}
			}
			v.pid, v.pidLen = uint16(b[i]&0x7f)<<8|uint16(b[i+1]), 2
		} else {
			v.pid, v.pidLen = uint16(b[i]), 1
		}
		v.pidAt = uint8(i)
		i += int(v.pidLen)
	}
	if ext&0x40 != 0 { // L
		if len(b) <= i {
			return vp8Pic{}
		}
		v.tl0, v.tl0At = b[i], uint8(i)
	}
	return v
}

// pidMask is the picture id's range (7 or 15 bits).
func (v vp8Pic) pidMask() uint16 {
	if v.pidLen == 1 {
		return 0x7f
	}
	return 0x7fff
}

// patchVP8Pic writes the picture id and TL0PICIDX v gives into b, a copy of
// the payload v was parsed from.
func patchVP8Pic(b []byte, v vp8Pic) {
	if v.pidAt != 0 {
		if v.pidLen == 2 {
			b[v.pidAt] = 0x80 | byte(v.pid>>8)&0x7f
			b[v.pidAt+1] = byte(v.pid)
		} else {
			b[v.pidAt] = byte(v.pid) & 0x7f
		}
	}
	if v.tl0At != 0 {
		b[v.tl0At] = v.tl0
	}
}
