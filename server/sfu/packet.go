package sfu

import (
	"encoding/binary"
	"sync"
)

// packet is one RTP packet of a source, as its viewers get it: the parsed
// fields the forwarding needs and the payload, in a buffer of the source's
// history. seq is the source's forwarding sequence number (the
// publisher's, shifted back by the packets the source shed).
type packet struct {
	seq      uint16
	ts       uint32
	pt       uint8
	marker   bool
	keyframe bool   // the first packet of a keyframe
	pic      vp8Pic // where its VP8 picture id and TL0PICIDX are (VP8 only)
	arrived  int64  // unix nanos, when the server read it
	payload  []byte // buf[:size]
	buf      [maxPacket]byte
	size     int
}

// maxPacket is the largest RTP packet read (a UDP datagram on a usual MTU).
const maxPacket = 1500

// rtpHeader is the part of an RTP header the SFU reads, parsed without
// allocating. ok is false for what is not an RTP packet with a payload.
type rtpHeader struct {
	marker  bool
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	payload int // offset of the payload
	end     int // end of the payload (padding excluded)
}

func parseRTP(b []byte) (h rtpHeader, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return h, false
	}
	h.marker = b[1]&0x80 != 0
	h.pt = b[1] & 0x7f
	h.seq = binary.BigEndian.Uint16(b[2:])
	h.ts = binary.BigEndian.Uint32(b[4:])
	h.ssrc = binary.BigEndian.Uint32(b[8:])
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return h, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		if end == 0 || int(b[end-1]) > end-off {
			return h, false
		}
		end -= int(b[end-1])
	}
	if off >= end {
		return h, false
	}
	h.payload, h.end = off, end
	return h, true
}

// history is a source's recent packets by forwarding sequence number,
// kept for retransmission to any viewer and shared by all of them: one
// copy of a packet, not one per viewer. The source's forwarder puts each
// packet in once its fan-out is done; the packet it evicts goes back to the
// source's free list. NACK handlers copy packets out.
type history struct {
	mu   sync.Mutex
	ring []*packet // indexed by seq & mask; nil until filled
	mask uint16
}

func newHistory(size uint16) *history {
	return &history{ring: make([]*packet, size), mask: size - 1}
}

// put stores p and returns the packet it replaces (nil at first).
func (h *history) put(p *packet) (evicted *packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := p.seq & h.mask
	evicted, h.ring[i] = h.ring[i], p
	return evicted
}

// get copies packet seq into dst, if it is still held.
func (h *history) get(seq uint16, dst *packet) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.ring[seq&h.mask]
	if p == nil || p.seq != seq {
		return false
	}
	dst.seq, dst.ts, dst.pt, dst.marker = p.seq, p.ts, p.pt, p.marker
	dst.keyframe, dst.pic, dst.arrived, dst.size = p.keyframe, p.pic, p.arrived, p.size
	copy(dst.buf[:p.size], p.payload)
	dst.payload = dst.buf[:p.size]
	return true
}

// has reports whether packet seq is held.
func (h *history) has(seq uint16) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.ring[seq&h.mask]
	return p != nil && p.seq == seq
}

// isKeyframe reports whether an RTP payload starts a keyframe of the
// codec (VP8, VP9 or H.264); other codecs never do, so a slot switches to
// them at once.
func isKeyframe(mime string, payload []byte) bool {
	switch mime {
	case mimeVP8:
		return vp8Keyframe(payload)
	case mimeVP9:
		return vp9Keyframe(payload)
	case mimeH264:
		return h264Keyframe(payload)
	}
	return false
}

const (
	mimeVP8  = "video/vp8"
	mimeVP9  = "video/vp9"
	mimeH264 = "video/h264"
)

// vp8Keyframe: the payload descriptor (RFC 7741 §4.2) with S=1 and
// partition 0, then the VP8 frame tag with P=0.
func vp8Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	x, s, pid := b[0]&0x80 != 0, b[0]&0x10 != 0, b[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(b) < 2 {
			return false
		}
		ext := b[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			var ok bool
			if i, ok = skipPictureID(b, i); !ok {
				return false
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K
			i++
		}
	}
	return len(b) > i && b[i]&0x01 == 0
}

// vp9Keyframe: the payload descriptor (RFC 9628) with B=1 (start of a
// frame) and P=0 (not inter-predicted), in the base spatial layer.
func vp9Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	p, l, bbit := b[0]&0x40 != 0, b[0]&0x20 != 0, b[0]&0x08 != 0
	if p || !bbit {
		return false
	}
	if !l {
		return true
	}
	i := 1
	if b[0]&0x80 != 0 { // I: picture id
		var ok bool
		if i, ok = skipPictureID(b, i); !ok {
			return false
		}
	}
	return len(b) > i && (b[i]>>1)&0x07 == 0 // spatial layer 0
}

// skipPictureID returns the offset after a VP8 or VP9 picture id at b[i]
// (7 bits, or 15 when its first bit is set).
func skipPictureID(b []byte, i int) (int, bool) {
	if len(b) <= i {
		return i, false
	}
	if b[i]&0x80 != 0 {
		return i + 2, true
	}
	return i + 1, true
}

// h264Keyframe: an IDR slice or an SPS, alone, in a STAP-A, or at the start
// of an FU-A (RFC 6184).
func h264Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	switch nal := b[0] & 0x1f; nal {
	case 5, 7:
		return true
	case 24: // STAP-A
		for i := 1; i+2 < len(b); {
			size := int(binary.BigEndian.Uint16(b[i:]))
			if t := b[i+2] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += 2 + size
		}
	case 28: // FU-A
		return len(b) > 1 && b[1]&0x80 != 0 && b[1]&0x1f == 5
	}
	return false
}
