package sfu

// rewriter maps the packets of the sources a slot carries, one after the
// other, onto the slot's own sequence numbers, timestamps and VP8 picture
// ids and TL0PICIDX, so that the viewer's decoder sees one continuous
// stream whoever is on the slot: the first packet after a switch follows
// the last one sent before it (the next sequence number, a timestamp
// advanced by the wall-clock time in between, the next picture id and
// TL0PICIDX). It also maps a sequence number the viewer reports lost back
// to the source and the source's sequence number, for retransmission.
//
// It is pure: the caller passes the time and serializes the calls.
type rewriter struct {
	started bool
	lastSeq uint16 // last sequence number sent
	lastTS  uint32 // last timestamp sent
	lastAt  int64  // when the newest packet was sent (unix nanos)
	// The newest packet's VP8 picture id and TL0PICIDX, if it had them.
	lastPic          vp8Pic
	havePID, haveTL0 bool
	// segs are the latest switches, newest last: segment i covers the
	// slot's sequence numbers from segs[i].first up to segs[i+1].first.
	segs [rewriterSegments]segment
	n    int // segments in use
}

// rewriterSegments bounds the switches remembered for retransmission: a
// NACK for a packet older than the last few switches is not answered.
const rewriterSegments = 8

// segment is one source's stretch of a slot.
type segment struct {
	src   any    // the source (opaque to the rewriter)
	first uint16 // the slot's first sequence number of this stretch
	off   offsets
}

// offsets map a source's numbers onto a slot's: slot value = source value
// + offset, in each field's own modular range.
type offsets struct {
	seq uint16
	ts  uint32
	pid uint16 // VP8 picture id (7 or 15 bits)
	tl0 uint8  // VP8 TL0PICIDX
}

// pic maps a packet's VP8 picture id and TL0PICIDX.
func (o offsets) pic(v vp8Pic) vp8Pic {
	if v.pidAt != 0 {
		v.pid = (v.pid + o.pid) & v.pidMask()
	}
	if v.tl0At != 0 {
		v.tl0 += o.tl0
	}
	return v
}

// switchTo starts a stretch of src whose first packet (a keyframe, for
// video) has source sequence number seq, timestamp ts and VP8 picture ids
// pic, sent at now; clockRate converts the time since the slot's last
// packet into timestamp units. The slot's first source keeps its own
// numbers.
func (r *rewriter) switchTo(src any, seq uint16, ts uint32, pic vp8Pic, now int64, clockRate uint32) {
	seg := segment{src: src, first: seq}
	if r.started {
		seg.first = r.lastSeq + 1
		seg.off.seq = seg.first - seq
		step := uint32(1)
		if el := now - r.lastAt; el > 0 && clockRate > 0 {
			step = max(1, uint32(uint64(el)*uint64(clockRate)/1e9))
		}
		seg.off.ts = r.lastTS + step - ts
		// A keyframe is a new picture on the base temporal layer: both
		// numbers follow the last ones sent.
		if r.havePID && pic.pidAt != 0 {
			seg.off.pid = r.lastPic.pid + 1 - pic.pid
		}
		if r.haveTL0 && pic.tl0At != 0 {
			seg.off.tl0 = r.lastPic.tl0 + 1 - pic.tl0
		}
	}
	if r.n == len(r.segs) {
		copy(r.segs[:], r.segs[1:])
		r.n--
	}
	r.segs[r.n] = seg
	r.n++
	if !r.started {
		r.started = true
		r.lastSeq, r.lastTS = seq-1, ts
	}
	r.lastAt = now
}

// pad takes n sequence numbers after the last packet for padding-only
// packets (a probe train) and returns the first and the timestamp they
// carry (the last one's); the current source's packets follow them. The
// padding is a stretch of its own (src nil: never retransmitted) and the
// source's next one another, so earlier numbers still map back.
func (r *rewriter) pad(n int) (first uint16, ts uint32, ok bool) {
	if r.n == 0 || n <= 0 {
		return 0, 0, false
	}
	next := r.segs[r.n-1]
	first = r.lastSeq + 1
	r.push(segment{first: first})
	r.lastSeq += uint16(n)
	next.first = r.lastSeq + 1
	next.off.seq += uint16(n)
	r.push(next)
	return first, r.lastTS, true
}

// pause ends the current source's stretch: its next packet starts a new
// one (at a keyframe, as a switch does), so that what the source forwarded
// meanwhile leaves no gap.
func (r *rewriter) pause() {
	if r.n > 0 && r.segs[r.n-1].src != nil {
		r.push(segment{first: r.lastSeq + 1})
	}
}

func (r *rewriter) push(seg segment) {
	if r.n == len(r.segs) {
		copy(r.segs[:], r.segs[1:])
		r.n--
	}
	r.segs[r.n] = seg
	r.n++
}

// current is the source of the newest stretch (nil before the first).
func (r *rewriter) current() any {
	if r.n == 0 {
		return nil
	}
	return r.segs[r.n-1].src
}

// rewrite maps a packet of the current source; ok is false for a packet
// that belongs before the switch (it came late: sending it would reuse a
// sequence number of the previous source). changed says whether the
// picture ids differ from the packet's (its payload must be patched).
func (r *rewriter) rewrite(seq uint16, ts uint32, pic vp8Pic, now int64) (outSeq uint16, outTS uint32, outPic vp8Pic, changed, ok bool) {
	if r.n == 0 {
		return 0, 0, pic, false, false
	}
	seg := &r.segs[r.n-1]
	if seg.src == nil {
		return 0, 0, pic, false, false // paused: nothing until the next switch
	}
	outSeq, outTS = seq+seg.off.seq, ts+seg.off.ts
	if seqBefore(outSeq, seg.first) {
		return 0, 0, pic, false, false
	}
	outPic = seg.off.pic(pic)
	if seqBefore(r.lastSeq, outSeq) {
		r.lastSeq, r.lastTS, r.lastAt = outSeq, outTS, now
		if pic.pidAt != 0 {
			r.lastPic.pid, r.havePID = outPic.pid, true
		}
		if pic.tl0At != 0 {
			r.lastPic.tl0, r.haveTL0 = outPic.tl0, true
		}
	}
	return outSeq, outTS, outPic, outPic != pic, true
}

// reverse maps a sequence number the slot sent back to its source, the
// source's sequence number and the offsets of its stretch; ok is false if
// it was never sent or its stretch is forgotten.
func (r *rewriter) reverse(outSeq uint16) (src any, seq uint16, off offsets, ok bool) {
	if r.n == 0 || seqBefore(r.lastSeq, outSeq) {
		return nil, 0, off, false
	}
	for i := r.n - 1; i >= 0; i-- {
		seg := r.segs[i]
		if !seqBefore(outSeq, seg.first) {
			// Older stretches are only trusted within half the sequence space.
			if uint16(r.lastSeq-outSeq) >= 1<<15 {
				return nil, 0, off, false
			}
			return seg.src, outSeq - seg.off.seq, seg.off, true
		}
	}
	return nil, 0, off, false
}

// seqBefore reports whether sequence number a comes before b (RFC 3550
// serial arithmetic over 16 bits).
func seqBefore(a, b uint16) bool { return a != b && uint16(b-a) < 1<<15 }
