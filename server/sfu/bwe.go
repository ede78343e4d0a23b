package sfu

import (
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/pion/rtcp"
)

// The downlink estimate of a viewer, from transport-wide congestion control
// feedback (TWCC): every packet the server sends the viewer carries a
// transport-wide sequence number (slot.send stamps it; sentLog remembers
// when it went and its size), and the viewer's browser reports when each
// arrived. pion/interceptor's GCC is not used: its pacer is known to add
// delay and its estimator is not usable without it; this one is the part
// of GCC an SFU needs, kept small and pure (table-tested):
//
//   - queuing delay: a packet's one-way delay (arrival, on the viewer's
//     clock, less departure, on ours) above the least seen in the last
//     bweMinWindow is time it spent in a queue on the path (a report's is
//     the mean over its newer half);
//   - congestion is a queuing delay above bweQueueHigh in bweQueueReports
//     reports in a row, or a loss above bweLossHigh over the last second: the estimate drops to bweBackoff times
//     what the viewer received (at most once per bweDecreaseGap);
//   - a report with neither (delay under bweQueueLow, loss under
//     bweLossLow) raises the estimate by bweGrowth per second, up to 1.5
//     times what the viewer received (GCC's bound: more is a guess) and
//     not past the last probe's measure while it is recent;
//   - to find out whether more fits, the allocator has a slot send a probe
//     train (padding-only packets, back to back: slot.probe); the packets'
//     spacing on arrival in the train's second half gives the link's
//     rate (trainRate), and unless congestion is seen the estimate may
//     rise to bweProbeUse of it. A switch up is made only on a measured
//     rate, so a viewer on a slow link is not moved up to find out
//     (which would freeze its video while the big keyframe drains).
type bwe struct {
	rate         float64 // the estimate, bit/s
	acked        float64 // what the viewer received, bit/s (smoothed)
	lastArrival  int64   // the newest arrival reported (viewer clock, µs)
	lastReport   int64   // when the last report was applied (our clock, ns)
	lastDecrease int64
	// The least one-way delay in the current and the previous window.
	minCur, minPrev int64
	minSince        int64
	haveMin         bool
	queue           int64   // the last report's queuing delay, µs
	over            int     // reports in a row with queue above bweQueueHigh
	lostW, sentW    float64 // packets lost and reported, decayed per report
	loss            float64
	// The last probe train's rate, and when it was measured; the packets
	// of a train reported so far.
	probed    float64
	probedAt  int64
	train     []ack
	trainLost int
	// A train that read more than bweConfirmRatio times the estimate,
	// and when, until the next train confirms it (confirm).
	unconfirmed   float64
	unconfirmedAt int64
}

const (
	bweStart        = 2_500_000 // before any report: enough for every layer
	bweMin          = 100_000
	bweMax          = 50_000_000
	bweMinWindow    = 5e9 // ns: the least delay is from the last 5-10 s
	bweQueueHigh    = 60_000
	bweQueueLow     = 20_000
	bweLossHigh     = 0.10
	bweLossLow      = 0.02
	bweBackoff      = 0.85
	bweDecreaseGap  = 300e6 // ns
	bweGrowth       = 0.25  // per second
	bweSlack        = 100_000
	bweQueueReports = 2
	// Loss is counted over reports decayed by bweLossDecay each (about the
	// last second at Chromium's 10 reports/s), once bweLossMinPackets are in.
	bweLossDecay      = 0.9
	bweLossMinPackets = 30
	// A probe: at least bweProbeMin packets of a train arrived; the
	// estimate may rise to bweProbeUse of its rate for bweProbeValid
	// while nothing says congestion.
	bweProbeMin   = 4
	bweProbeUse   = 0.85
	bweProbeValid = 1e9
	// A report's packets sent over at least bweBatchSpan (ns) that
	// arrived in less than 1/bweBatchRatio of it came in a batch.
	bweBatchSpan  = 20e6
	bweBatchRatio = 2
	// bweTrainMax bounds the packets of one train kept (slot.probe sends
	// 24); a train more than 1/bweTrainLossDiv of which was lost measures
	// nothing.
	bweTrainMax     = 64
	bweTrainLossDiv = 4
	// A train that reads more than bweConfirmRatio times the estimate
	// counts once the next one, within bweConfirmWindow, reads it too
	// (confirm).
	bweConfirmRatio  = 2
	bweConfirmWindow = 1e9
	// Growth stops at the last probe's rate for bweProbeBound (longer
	// than the probes' 6 s interval at most: while a viewer is probed, the
	// last probe bounds it).
	bweProbeBound = 10e9
)

func newBWE() *bwe { return &bwe{rate: bweStart, train: make([]ack, 0, bweTrainMax)} }

// ack is one packet of a report: sent at (our clock, ns), size bytes,
// arrived at arrival (the viewer's clock, µs) unless lost.
type ack struct {
	sent    int64
	size    int
	arrival int64
	lost    bool
	probe   bool // a probe train's (slot.probe)
}

// update applies one report's packets, received at now; it returns the
// new estimate.
func (b *bwe) update(acks []ack, now int64) float64 {
	if len(acks) == 0 {
		return b.rate
	}
	if !b.haveMin || now-b.minSince > bweMinWindow {
		b.minPrev, b.minCur, b.minSince = b.minCur, 1<<62, now
		if !b.haveMin {
			b.minPrev = 1 << 62
		}
		b.haveMin = true
	}
	var lost, bytes, media int
	first, last := int64(0), int64(0)
	var sentFirst, sentLast int64 // ns, of the report's received media packets
	var owdSum, owdN int64
	// A train's packets are gathered until a report shows a packet sent
	// after them (or none of theirs): one report often holds only its
	// first packets, the ones a token bucket let through at once, whose
	// rate is the line's.
	trainDone := len(b.train)+b.trainLost > 0
	for _, a := range acks {
		if a.probe {
			trainDone = false
			switch {
			case a.lost:
				b.trainLost++
			case len(b.train) < cap(b.train):
				b.train = append(b.train, a)
			}
		} else {
			media++
			trainDone = trainDone || len(b.train)+b.trainLost > 0
		}
	}
	i := 0
	for _, a := range acks {
		if a.probe {
			// A train (left out of everything else: it queues by design).
			continue
		}
		i++
		if a.lost {
			lost++
			continue
		}
		owd := a.arrival - a.sent/1000
		b.minCur = min(b.minCur, owd)
		if i > media/2 { // the newer half: where the queue is now
			owdSum += owd
			owdN++
		}
		bytes += a.size
		if first == 0 || a.arrival < first {
			first = a.arrival
		}
		last = max(last, a.arrival)
		if sentFirst == 0 {
			sentFirst = a.sent
		}
		sentLast = a.sent
	}
	// Packets that arrived in much less time than they took to send came
	// in a batch: the viewer's machine read them late (it was not
	// scheduled), or a queue drains. Neither is a queue growing on the
	// path, whatever their delay (a link's queue spaces packets out).
	batch := sentLast-sentFirst >= bweBatchSpan && (last-first)*1000*bweBatchRatio < sentLast-sentFirst
	if trainDone {
		// A train the path dropped part of measured only what got through
		// before its queue filled (often the burst a token bucket passes at
		// line rate): no measure.
		if b.trainLost*bweTrainLossDiv <= len(b.train)+b.trainLost && len(b.train) > 0 &&
			!(b.haveMin && trainHeld(b.train, min(b.minCur, b.minPrev))) {
			if capacity, ok := trainRate(b.train); ok {
				b.confirm(capacity, now)
			}
		}
		b.train, b.trainLost = b.train[:0], 0
	}
	if media == 0 {
		return b.rate
	}
	// Loss over the last second or so of reports, not one report's few
	// packets (one lost of eight is not 12% of a link's capacity).
	b.lostW = bweLossDecay*b.lostW + float64(lost)
	b.sentW = bweLossDecay*b.sentW + float64(media)
	b.loss = 0
	if b.sentW >= bweLossMinPackets {
		b.loss = b.lostW / b.sentW
	}
	if owdN > 0 {
		b.queue = max(0, owdSum/owdN-min(b.minCur, b.minPrev))
	}
	// What arrived since the previous report's newest packet.
	if b.lastArrival != 0 && last > b.lastArrival {
		first = b.lastArrival
	}
	if span := last - first; span >= 20_000 && bytes > 0 {
		sample := float64(bytes) * 8 / (float64(span) / 1e6)
		if b.acked == 0 {
			b.acked = sample
		} else {
			b.acked = 0.7*b.acked + 0.3*sample
		}
	}
	if last > b.lastArrival {
		b.lastArrival = last
	}
	dt := float64(now-b.lastReport) / 1e9
	if b.lastReport == 0 || dt > 0.5 {
		dt = 0.1
	}
	b.lastReport = now
	// Delay says congestion when it lasts (bweQueueReports reports): one
	// late report can be the viewer's machine, not the path.
	switch {
	case batch:
	case b.queue > bweQueueHigh:
		b.over++
	default:
		b.over = 0
	}
	switch {
	case b.loss > bweLossHigh || b.over >= bweQueueReports:
		if now-b.lastDecrease >= bweDecreaseGap {
			base := b.rate
			if b.acked > 0 {
				base = min(base, b.acked)
			}
			b.rate = bweBackoff * base
			b.lastDecrease = now
		}
	case b.loss < bweLossLow && b.queue < bweQueueLow:
		// Grow, but not far above what the viewer takes in: more is a
		// guess until a probe shows it (as GCC: 1.5 × received + a little).
		grown := b.rate * (1 + bweGrowth*dt)
		if b.acked > 0 {
			grown = min(grown, max(b.rate, 1.5*b.acked+bweSlack))
		}
		if b.probedAt != 0 && now-b.probedAt < bweProbeBound {
			// Nor above what the last probe measured: growing past the
			// link's measured rate moves a viewer up to find out the hard
			// way, every few seconds.
			grown = min(grown, max(b.rate, b.probed))
		}
		b.rate = grown
		fallthrough
	default:
		// A probe's measure counts unless delay or loss is high (as GCC
		// takes a probe's result while it holds): a loaded receiver's
		// delay jitter can keep the queue between the marks for long.
		if now-b.probedAt < bweProbeValid && b.queue <= bweQueueHigh && b.loss <= bweLossHigh {
			b.rate = max(b.rate, bweProbeUse*b.probed)
		}
	}
	b.rate = min(max(b.rate, bweMin), bweMax)
	return b.rate
}

// trainRate is the rate a probe train measured: the median over the
// train's second half of a packet's size over the gap before its arrival
// (a link sends a packet in the gap after the one before it; a train's
// packets differ in size, slot.probe). The first half is left out: a
// token bucket on the path (Wi-Fi, a shaper) lets a burst through at line
// rate, and only the packets after it show the rate it allows. The
// median, not the spread: a receiver that was not scheduled for a while
// (a loaded machine) reads a few packets late and the rest in a batch,
// one long gap among short ones, and the spread would take that stall
// for the link (the packet-pair median filter).
//
// But a stall that ends after most of the second half came reads that
// half as a batch, close to line rate, on any link: its median on a 300
// kbit/s link read 1.4 and 50 Mbit/s (a loaded viewer; each moved it to
// the full layer and froze its video for 1-2 s). So the median counts
// for at most the rate the half arrived at over all, its bytes over its
// span, which the link surely carried (a stall only makes it less): on
// a steady link the two agree, and a stall reads a link slower, never
// faster (a fast link read through a rare stall waits for the next
// train to be found fast).
func trainRate(train []ack) (float64, bool) {
	if len(train) < bweProbeMin {
		return 0, false
	}
	slices.SortFunc(train, func(a, b ack) int { return cmp.Compare(a.arrival, b.arrival) })
	half := train[len(train)/2-1:]
	rates := make([]float64, 0, len(half)-1)
	bytes := 0
	for i, a := range half[1:] {
		rate := float64(bweMax)
		if gap := a.arrival - half[i].arrival; gap > 0 {
			rate = min(bweMax, float64(a.size)*8/(float64(gap)/1e6))
		}
		rates = append(rates, rate)
		bytes += a.size
	}
	slices.Sort(rates)
	// The lower median: of equal packets, the longer middle gap.
	rate := rates[(len(rates)-1)/2]
	if span := half[len(half)-1].arrival - half[0].arrival; span > 0 {
		rate = min(rate, float64(bytes)*8/(float64(span)/1e6))
	}
	return rate, true
}

// confirm takes a train's measure, capacity, at now. One that reads far
// above the estimate (bweConfirmRatio) is not taken alone: a loaded
// viewer's machine can read a train in one batch in ways no check of
// its arrivals tells from a fast link (a 300 kbit/s link read 50 Mbit/s
// that way, and the viewer was moved to the full layer and froze for
// 1.5 s). It waits for the next train (the subscriber sends one at once:
// confirming), and the lesser of the two counts.
func (b *bwe) confirm(capacity float64, now int64) {
	switch {
	case b.confirming(now):
		b.probed, b.probedAt = min(capacity, b.unconfirmed), now
		b.unconfirmedAt = 0
	case capacity > bweConfirmRatio*b.rate:
		b.unconfirmed, b.unconfirmedAt = capacity, now
	default:
		b.probed, b.probedAt = capacity, now
	}
}

// confirming reports whether a train's measure waits at now for the next
// train to confirm it (confirm).
func (b *bwe) confirming(now int64) bool {
	return b.unconfirmedAt != 0 && now-b.unconfirmedAt < bweConfirmWindow
}

// trainHeld reports whether a train's first packet to arrive spent more
// than bweQueueHigh in a queue (its one-way delay above base, the least
// seen): a train held before any of it arrived, by a receiver that was
// not scheduled or a queue that drains at once, comes in one batch at
// line rate, whatever the link, and measures nothing.
func trainHeld(train []ack, base int64) bool {
	first := slices.MinFunc(train, func(a, b ack) int { return cmp.Compare(a.arrival, b.arrival) })
	return first.arrival-first.sent/1000-base > bweQueueHigh
}

// sentLog remembers, lock-free, when the last sentLogSize packets to a
// viewer went and their sizes, by transport-wide sequence number.
type sentLog struct {
	seq atomic.Uint32 // the next transport-wide sequence number
	// pathSince: when the viewer's path last came up (an ICE restart
	// connected). A packet sent before it went on a path that is gone; a
	// report that it did not arrive says nothing of the new one's
	// congestion. (Counted, the ~2 s of packets lost to a viewer's network
	// change read as 88% loss and moved it down to the lowest layer on a
	// free link.)
	pathSince atomic.Int64
	ring      [sentLogSize]struct {
		seqAt atomic.Uint64 // seq<<48 | departure unix ns (48 bits: wraps every ~3 days)
		size  atomic.Uint32
	}
}

const sentLogSize = 1024 // 3 s of a viewer's usual 300 packets/s

// next takes a sequence number for a packet of size bytes sent at now,
// a probe's or not.
func (l *sentLog) next(size int, probe bool, now int64) uint16 {
	seq := uint16(l.seq.Add(1) - 1)
	e := &l.ring[int(seq)%sentLogSize]
	v := uint32(size)
	if probe {
		v |= probeFlag
	}
	e.size.Store(v)
	e.seqAt.Store(uint64(seq)<<48 | uint64(now)&(1<<48-1))
	return seq
}

const (
	probeFlag = 1 << 31
	heldFlag  = 1 << 30 // waiting in the viewer's pacer: not sent yet
	sizeMask  = heldFlag - 1
)

// held marks packet seq as waiting in the pacer, until departed.
func (l *sentLog) held(seq uint16) {
	e := &l.ring[int(seq)%sentLogSize]
	if v := e.seqAt.Load(); uint16(v>>48) == seq {
		e.size.Or(heldFlag)
	}
}

// departed corrects when packet seq went (a pacer held it back), if it is
// still remembered.
func (l *sentLog) departed(seq uint16, at int64) {
	e := &l.ring[int(seq)%sentLogSize]
	if v := e.seqAt.Load(); uint16(v>>48) == seq {
		e.seqAt.CompareAndSwap(v, uint64(seq)<<48|uint64(at)&(1<<48-1))
		e.size.And(^uint32(heldFlag))
	}
}

// pathUp notes that the viewer's path came up at now (see pathSince).
func (l *sentLog) pathUp(now int64) { l.pathSince.Store(now) }

// logged is what the log remembers of a packet.
type logged struct {
	at    int64 // when it went (unix ns)
	size  int
	probe bool // a probe train's
	held  bool // still in the pacer
}

// sent returns what the log remembers of packet seq, if it still does.
func (l *sentLog) sent(seq uint16, now int64) (logged, bool) {
	e := &l.ring[int(seq)%sentLogSize]
	v := e.seqAt.Load()
	if uint16(v>>48) != seq {
		return logged{}, false
	}
	at := now&^(1<<48-1) | int64(v&(1<<48-1))
	if at > now {
		at -= 1 << 48
	}
	sz := e.size.Load()
	return logged{at: at, size: int(sz & sizeMask), probe: sz&probeFlag != 0, held: sz&heldFlag != 0}, true
}

// twccAcks lists the packets a TWCC report covers with their arrival times
// (µs on the viewer's clock), looked up in the log; packets the log no
// longer holds are left out, and so are packets reported not received
// that may only not have arrived yet: those still in the pacer, and those
// that went after the last one that arrived (the pacer reorders: audio
// and probe trains pass the video it holds, and take later numbers, so a
// report often lists video still on its way as not received; counted as
// lost, it brought the estimate down to its least on a 2 Mbit/s link);
// and those sent before the path came up (sentLog.pathSince).
func twccAcks(fb *rtcp.TransportLayerCC, log *sentLog, now int64, out []ack) []ack {
	start := len(out)
	lastReceived := int64(0) // when the last packet that arrived went
	since := log.pathSince.Load()
	seq := fb.BaseSequenceNumber
	arrival := int64(fb.ReferenceTime) * 64_000
	deltas := fb.RecvDeltas
	left := int(fb.PacketStatusCount)
	status := func(sym uint16) {
		if left <= 0 {
			return
		}
		left--
		a := ack{lost: sym == rtcp.TypeTCCPacketNotReceived}
		if sym == rtcp.TypeTCCPacketReceivedSmallDelta || sym == rtcp.TypeTCCPacketReceivedLargeDelta {
			if len(deltas) == 0 {
				a.lost = true
			} else {
				arrival += deltas[0].Delta
				deltas = deltas[1:]
			}
		}
		a.arrival = arrival
		if l, ok := log.sent(seq, now); ok && !(a.lost && (l.held || l.at < since)) {
			a.sent, a.size, a.probe = l.at, l.size, l.probe
			out = append(out, a)
			if !a.lost {
				lastReceived = max(lastReceived, l.at)
			}
		}
		seq++
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				status(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList {
				status(sym)
			}
		}
	}
	kept := slices.DeleteFunc(out[start:], func(a ack) bool { return a.lost && a.sent > lastReceived })
	return out[:start+len(kept)]
}
