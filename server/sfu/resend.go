package sfu

import "time"

// A viewer's NACKs are answered with restraint. Chromium asks for a
// missing packet again every ~100 ms (up to 10 times) whether or not the
// first answer is still waiting in the queue of a slow link, and on a link
// already full every answer pushes out another packet, which is asked for
// in turn. Answered every time, a 300 kbit/s viewer fell into that loop
// and stayed: a third of what crossed its link was packets it had already
// received, some sent 3 s before, and it decoded 6 to 11 frames a second
// for the whole minute it was limited (packet captures, e2e/adapt.test.mjs).
// So a slot sends one packet again at most maxResends times, not within
// resendGap of its last resend (a relay, whose hop is short, is exempt),
// never once it is older than maxResendAge, and never beyond the viewer's
// pace (pacer.fits).
const (
	maxResends = 3
	// resendGap is above Chromium's ~100 ms between two NACKs of a
	// packet, so that the second NACK of one loss is not answered while
	// the first answer is on its way.
	resendGap = 150 * time.Millisecond
	// maxResendAge: older than this (since the server read it), a packet
	// is too late for a viewer's playout, and its frame is better
	// replaced by the keyframe the viewer will ask for.
	maxResendAge = time.Second
	// resendMarks is how many resends a slot remembers, by sequence
	// number: more than a second of the full layer's packets.
	resendMarks = 256
)

// resendLog is what a slot has sent again recently, by its viewer's
// sequence numbers.
type resendLog struct {
	marks [resendMarks]resendMark
}

type resendMark struct {
	at  int64 // unix ns of the last resend; 0: none
	seq uint16
	n   uint8
}

// allow reports whether the packet seq, which the server read at arrived,
// may be sent again at now (gap: the least time since its last resend),
// and notes the resend if so.
func (l *resendLog) allow(seq uint16, arrived, now int64, gap time.Duration) bool {
	if now-arrived > int64(maxResendAge) {
		return false
	}
	m := &l.marks[seq%resendMarks]
	if m.at != 0 && m.seq == seq && now-m.at <= int64(maxResendAge) {
		if m.n >= maxResends || now-m.at < int64(gap) {
			return false
		}
		m.n++
		m.at = now
		return true
	}
	*m = resendMark{at: now, seq: seq, n: 1}
	return true
}
