package sfu

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// pacer spreads what the SFU sends one viewer over time, so that a
// keyframe or a layer switch does not leave as one burst that a link with
// a shallow queue drops (a token bucket at pacingFactor times the viewer's
// downlink estimate, bwe.go). It costs nothing where there is nothing to
// spread: a packet goes at once while the bucket has tokens, and only the
// excess waits, in a bounded queue that a timer drains.
//
//   - Audio never waits; it takes its tokens, and the video behind it
//     waits the longer. Nor do probe trains (their spread on arrival is
//     the measurement), and they take no tokens: the link's queue holds
//     the video behind them already. Passing held video, it reorders the transport-wide
//     numbers: a queued packet is marked held in the viewer's sent log, so
//     that a report that lists it as not received is not taken for loss
//     (twccAcks).
//   - Video waits in order. A queue that would hold more than
//     maxPacedDelay at the rate (or pacedSlots packets) sends its oldest
//     at once, ahead of the pace, and counts them
//     (Stats.PacketsPaceOverflow): the pacer never drops a packet, so at
//     worst a viewer gets what it would unpaced. (It used to shed them:
//     the viewer reported them lost, its estimate fell with the loss, the
//     pace with it, and so on down to the lowest layer, while every shed
//     packet came back as a NACK and a retransmission to queue again.)
//   - A drain timer that fires late (a loaded machine) makes up for up
//     to pacingCatchUp at once, so that its lateness does not lower the
//     pace.
//   - A viewer without an estimate (no simulcast track: its packets carry
//     no transport-wide numbers) is not paced: one atomic load per copy.
//     Nobody is paced with Config.Unpaced.
//
// The queue holds encrypted packets (SRTP is encrypted in send order, one
// context per slot), with where they go. Only the slots' own send path is
// paced (not pion's, with Config.UDPPortMin/Max).
type pacer struct {
	on    atomic.Bool // rate > 0
	write func(b []byte, to netip.AddrPort) bool
	stats *counters

	mu      sync.Mutex
	stopped bool    // the viewer left: no pacing again
	rate    float64 // bytes per second; 0: not pacing
	tokens  float64 // bytes; below 0 after audio went through on credit
	last    int64   // when tokens were last added (unix ns)
	q       []pacedPacket
	head    int
	n       int
	bytes   int // queued
	timer   *time.Timer
	armed   bool
}

// pacedPacket is one queued packet.
type pacedPacket struct {
	buf  [pacedMax]byte
	size int
	to   netip.AddrPort
	tw   twccStamp
}

// twccStamp is a packet's transport-wide number in its viewer's log of
// what was sent (bwe.go): a packet that waited is logged as sent when it
// goes, or the estimator would take the wait for the link's queue.
type twccStamp struct {
	log *sentLog
	seq uint16
}

// What a packet is to the pacer.
type pacedKind int

const (
	pacedVideo pacedKind = iota // waits its turn
	pacedAudio                  // never waits
	pacedProbe                  // never waits: a probe train's spread is what it measures
)

const (
	// pacingFactor: the pace is this times the estimate, so that the
	// stream the allocator chose (at most the estimate) never waits, and
	// only bursts above its rate are spread.
	pacingFactor = 1.5
	// pacingBurst is what may leave at once: this long at the pace, at
	// least two full packets.
	pacingBurst    = 5 * time.Millisecond
	minPacingBurst = 2 * maxPacket
	// pacingCatchUp is how late a drain may make up for at once.
	pacingCatchUp = 20 * time.Millisecond
	// maxPacedDelay bounds the queue: what the pace sends in this time (at
	// least minPacedQueue bytes), and pacedSlots packets.
	maxPacedDelay = 250 * time.Millisecond
	minPacedQueue = 16 * maxPacket
	pacedSlots    = 64
	// pacedMax is an encrypted packet's largest size: maxPacket with SRTP's
	// authentication tag (and room for an extension).
	pacedMax = maxPacket + 100
	// minPaceWait is the drain timer's least wait: packets leave in groups
	// this far apart at least.
	minPaceWait = time.Millisecond
)

func newPacer(stats *counters, write func(b []byte, to netip.AddrPort) bool) *pacer {
	return &pacer{stats: stats, write: write}
}

// setRate sets the pace from the viewer's estimate (bit/s); 0 stops pacing
// (what waits goes at once).
func (p *pacer) setRate(estimate float64, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return // a report that raced the viewer's leaving
	}
	p.refill(now)
	was := p.rate
	p.rate = estimate * pacingFactor / 8
	if was <= 0 {
		p.tokens = p.burst() // pacing starts with a full bucket
	}
	if !(p.rate > 0) { // 0, or an estimate that is not a number
		p.rate = 0
		// What waits goes first, then send stops queueing: a packet
		// that went straight out before the queue was empty would pass
		// those its sender sent before it.
		for p.n > 0 {
			p.pop(false, now)
		}
		p.on.Store(false)
		return
	}
	p.on.Store(true)
	p.arm(now)
}

// send sends b to `to` now, or queues it (video, when the bucket is empty
// or video waits already). It reports false if b went at once and the
// socket refused it.
func (p *pacer) send(b []byte, to netip.AddrPort, kind pacedKind, tw twccStamp, now int64) bool {
	if !p.on.Load() {
		return p.write(b, to)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !(p.rate > 0) {
		// Pacing stopped (setRate(0), stop) since the load above: a
		// packet queued now would wait for no timer, and the next ones,
		// unpaced, would pass it.
		return p.write(b, to)
	}
	p.refill(now)
	size := float64(len(b))
	if kind == pacedProbe {
		// A train takes no tokens: the video behind it waits in the
		// link's queue as it would unpaced, not again in the pacer (at a
		// 300 kbit/s viewer's pace a train's 7.5 kB held its video 130 ms
		// more, a freeze at every probe).
		return p.write(b, to)
	}
	if kind == pacedAudio || p.n == 0 && p.tokens >= size {
		p.tokens -= size
		return p.write(b, to)
	}
	if len(b) > pacedMax {
		return false
	}
	p.enqueue(b, to, tw, now)
	p.arm(now)
	return true
}

// fits reports whether size more bytes of video would wait in the queue
// without pushing out what waits ahead of the pace (enqueue). A
// retransmission that does not fit is not sent (resend.go): on a full link
// it would only push out another packet, to be asked for in turn.
func (p *pacer) fits(size int) bool {
	if p == nil || !p.on.Load() {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !(p.rate > 0) || p.n == 0 {
		return true
	}
	return p.n < len(p.q) && p.bytes+size <= p.queueLimit()
}

// queueLimit is the most the queue holds, in bytes: what the pace sends in
// maxPacedDelay, at least minPacedQueue.
func (p *pacer) queueLimit() int {
	return max(int(p.rate*maxPacedDelay.Seconds()), minPacedQueue)
}

// refill adds the tokens earned since the last time: up to the burst, or,
// while packets wait, up to pacingCatchUp at the pace (a drain timer that
// fired late must not lower the pace: on a loaded machine it often does).
func (p *pacer) refill(now int64) {
	if p.last != 0 && now > p.last {
		p.tokens += p.rate * float64(now-p.last) / 1e9
	}
	p.last = max(p.last, now)
	limit := p.burst()
	if p.n > 0 {
		limit = max(limit, p.rate*pacingCatchUp.Seconds())
	}
	p.tokens = min(p.tokens, limit)
}

func (p *pacer) burst() float64 {
	return max(p.rate*pacingBurst.Seconds(), minPacingBurst)
}

// enqueue queues a video packet, first sending the oldest at once (ahead
// of the pace, without taking tokens) while the queue would be over its
// bound.
func (p *pacer) enqueue(b []byte, to netip.AddrPort, tw twccStamp, now int64) {
	if p.q == nil {
		p.q = make([]pacedPacket, pacedSlots)
	}
	limit := p.queueLimit()
	for p.n > 0 && (p.n == len(p.q) || p.bytes+len(b) > limit) {
		p.pop(false, now)
		p.stats.pacedOverflow.Add(1)
	}
	e := &p.q[(p.head+p.n)%len(p.q)]
	e.size = copy(e.buf[:], b)
	e.to, e.tw = to, tw
	if tw.log != nil {
		tw.log.held(tw.seq)
	}
	p.n++
	p.bytes += e.size
	p.stats.paced.Add(1)
}

// pop sends the head of the queue at now, taking its tokens if paced.
func (p *pacer) pop(paced bool, now int64) {
	e := &p.q[p.head]
	if paced {
		p.tokens -= float64(e.size)
	}
	p.write(e.buf[:e.size], e.to)
	if e.tw.log != nil {
		e.tw.log.departed(e.tw.seq, now)
	}
	e.tw = twccStamp{}
	p.bytes -= e.size
	p.head = (p.head + 1) % len(p.q)
	p.n--
}

// drain sends what the tokens allow and returns how long until the next
// packet may go (0: the queue is empty).
func (p *pacer) drain(now int64) time.Duration {
	p.refill(now)
	for p.n > 0 && p.tokens >= float64(p.q[p.head].size) {
		p.pop(true, now)
	}
	if p.n == 0 || p.rate <= 0 {
		return 0
	}
	need := float64(p.q[p.head].size) - p.tokens
	return max(time.Duration(need/p.rate*1e9), minPaceWait)
}

// arm starts the drain timer if packets wait and it is not running.
func (p *pacer) arm(now int64) {
	if p.armed || p.n == 0 {
		return
	}
	wait := p.drain(now)
	if wait == 0 {
		return
	}
	p.armed = true
	if p.timer == nil {
		p.timer = time.AfterFunc(wait, p.onTimer)
	} else {
		p.timer.Reset(wait)
	}
}

func (p *pacer) onTimer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	p.arm(time.Now().UnixNano())
}

// stop drops what waits and stops the timer, for good (the viewer left).
func (p *pacer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.rate = 0
	p.on.Store(false)
	p.n, p.bytes = 0, 0
	if p.timer != nil {
		p.timer.Stop()
	}
	p.armed = false
}
