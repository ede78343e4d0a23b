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
	lastIn    uint16 // the publisher's newest sequence number seen
	lastAt    int64  // when it arrived (unix ns)
	shift     uint16 // publisher seq - forwarding seq
	shiftFrom uint16 // the publisher's first seq forwarded with this shift
	waitingKF bool   // shedding video up to the next keyframe
}

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
		sh.started, sh.lastIn, sh.shiftFrom = true, seq-1, seq
	}
	if !seqBefore(sh.lastIn, seq) {
		// Out of order (a retransmission from the publisher): forwarded
		// unless its number was shifted since, or it came before.
		fwd := seq - sh.shift
		if seqBefore(seq, sh.shiftFrom) || held(fwd) {
			return 0, drop
		}
		return fwd, forward
	}
	if skipped := seq - sh.lastIn - 1; sh.video && skipped > 0 && sh.lastAt != 0 && at-sh.lastAt >= int64(outageGap) {
		sh.shift += skipped
		sh.shiftFrom = seq
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
		sh.shift++
		sh.shiftFrom = seq + 1
		if request {
			return 0, shedAndRequest
		}
		return 0, shed
	}
	return seq - sh.shift, forward
}
