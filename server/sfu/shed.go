package sfu

// shedder decides, packet by packet, what a source forwards when the server
// falls behind, and numbers what it forwards: the publisher's sequence
// numbers less the packets shed, so that a viewer never sees a gap it would
// ask to have retransmitted. A packet that waited too long is shed; a video
// source then sheds everything up to its next keyframe (which it requests),
// since the frames in between could not be decoded. Video back after an
// outage (numbers skipped across a silence of outageGap: the publisher's
// network changed) is treated the same, and the numbers lost to the outage
// are taken out too, so that viewers ask for none of them (they will never
// come) and get the keyframe asked for at once. It is pure: the source's
// forwarder owns it.
type shedder struct {
	video     bool
	started   bool
	first     uint16 // the publisher's first seq: anything before it is dropped
	lastIn    uint16 // the publisher's newest sequence number seen
	lastAt    int64  // when it arrived (unix ns)
	waitingKF bool   // shedding video up to the next keyframe
	// The latest runs of numbers taken out (shed, or lost to an outage or
	// within a shed run), oldest first: a packet that comes late (a
	// retransmission the publisher was asked for) is numbered with the
	// shift in force where it belongs, so that it fills its own gap, or
	// dropped if its number was taken out.
	cuts [shedCuts]cut
	n    int
}

// cut is a run of the publisher's numbers taken out, [from, to), after
// which shift applies.
type cut struct {
	from, to uint16
	shift    uint16
}

// shedCuts bounds the runs remembered; a late packet from before them is
// dropped.
const shedCuts = 16

type verdict int

const (
	forward        verdict = iota
	drop                   // a duplicate, or late from before a shed: not counted as shed
	shed                   // not forwarded because the server is behind
	shedAndRequest         // shed, and a keyframe is needed to resume
)

// next judges the publisher's packet seq, which arrived at (unix ns); late
// says it waited too long, held reports whether a forwarding number was
// already sent (a duplicate). It returns the forwarding number for a packet
// to forward.
func (sh *shedder) next(seq uint16, keyframe, late bool, at int64, held func(uint16) bool) (uint16, verdict) {
	if !sh.started {
		sh.started, sh.lastIn, sh.first = true, seq-1, seq
	}
	if !seqBefore(sh.lastIn, seq) {
		// Out of order (a retransmission from the publisher): forwarded
		// with the shift in force where it belongs, unless its number was
		// taken out or it came before.
		fwd, ok := sh.numberOf(seq)
		if !ok || held(fwd) {
			return 0, drop
		}
		return fwd, forward
	}
	missingFrom := sh.lastIn + 1 // the numbers not yet seen before seq
	if skipped := seq - missingFrom; sh.video && skipped > 0 && sh.lastAt != 0 && at-sh.lastAt >= int64(outageGap) {
		sh.takeOut(missingFrom, seq)
		missingFrom = seq
		late = late || !keyframe
	}
	sh.lastIn, sh.lastAt = seq, at
	request := false
	if late && sh.video && !sh.waitingKF {
		sh.waitingKF, request = true, true
	}
	if sh.waitingKF && keyframe && !late {
		sh.waitingKF = false
	}
	if late || sh.waitingKF {
		// Shed, and with it the numbers still missing since the last
		// packet: they would come into a run that is not forwarded.
		sh.takeOut(missingFrom, seq+1)
		if request {
			return 0, shedAndRequest
		}
		return 0, shed
	}
	return seq - sh.shift(), forward
}

// takeOut takes the publisher's numbers [from, to) out of the forwarding
// sequence (from at or after the last run's end).
func (sh *shedder) takeOut(from, to uint16) {
	if from == to {
		return
	}
	shift := sh.shift() + to - from
	if sh.n > 0 && sh.cuts[sh.n-1].to == from {
		last := &sh.cuts[sh.n-1]
		last.to, last.shift = to, shift
		return
	}
	if sh.n == shedCuts {
		copy(sh.cuts[:], sh.cuts[1:])
		sh.n--
	}
	sh.cuts[sh.n] = cut{from: from, to: to, shift: shift}
	sh.n++
}

// shift is the publisher's seq less the forwarding number for packets
// after lastIn: what the latest run left.
func (sh *shedder) shift() uint16 {
	if sh.n == 0 {
		return 0
	}
	return sh.cuts[sh.n-1].shift
}

// numberOf is the forwarding number of a packet seq that came after later
// ones; false when seq was taken out, or is from before the runs
// remembered (or before the first packet).
func (sh *shedder) numberOf(seq uint16) (uint16, bool) {
	if seqBefore(seq, sh.first) {
		return 0, false
	}
	shift := uint16(0)
	for i := sh.n - 1; i >= 0; i-- {
		c := sh.cuts[i]
		if !seqBefore(seq, c.to) {
			shift = c.shift
			break
		}
		if !seqBefore(seq, c.from) {
			return 0, false // taken out
		}
		if i == 0 && sh.n == shedCuts {
			return 0, false // before the runs remembered
		}
	}
	return seq - shift, true
}
