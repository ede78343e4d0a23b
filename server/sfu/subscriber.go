package sfu

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// subscriber is a participant's subscribe side: its subscribe PC, the slots
// on it and the negotiation loop that owns them. The loop starts with the
// first thing to forward: a viewer of a room with nobody on stage costs no
// goroutine and no peer connection.
type subscriber struct {
	p        *Participant
	loopOnce sync.Once
	looping  atomic.Bool

	// Owned by the loop.
	pc          *webrtc.PeerConnection
	gate        *protocol.CandidateGate
	slots       []*slot
	gathered    bool
	unoffered   bool      // slots were added but the offer failed
	iceRestart  bool      // the next offer restarts ICE
	restarting  bool      // the outstanding offer restarts ICE
	lastRestart time.Time // of the subscribe PC
	stalls      int       // PCs replaced in a row for a stalled DTLS handshake

	connected atomic.Bool
	path      atomic.Pointer[peerPath] // the connected PC's, if the SFU sends itself
	rtcpSlots atomic.Pointer[[]*slot]  // the slots, for feedback (publishSlots)
	candMu    sync.Mutex
	remote    bool           // an answer was applied (under candMu)
	cands     candidateQueue // the client's candidates waiting for it (under candMu)
	// pionRTCP: the viewer's RTCP may reach pion rather than the tap, so
	// every slot reads it there (rtcpToPion).
	pionRTCP atomic.Bool

	// layerCap is the highest simulcast layer the viewer may get (tests
	// and, later, settings); allocCh asks the loop to allocate.
	layerCap atomic.Int32
	allocCh  chan struct{}
	// A relay's: the track ids of its slots whose layers the edge does
	// not want now (the edge's latest word: HandleRelayPaused), and the
	// loop's nudge to apply them.
	relayPaused atomic.Pointer[map[string]bool]
	pausedCh    chan struct{}
	// The downlink estimate (bwe.go): the log of what was sent, while the
	// viewer's answer has the TWCC header extension (twccID).
	twccID atomic.Uint32
	// estimating: the viewer gets a simulcast track, so its packets carry
	// TWCC numbers (a viewer of single-layer tracks only has no layer to
	// choose, and its copies cost nothing more).
	estimating atomic.Bool
	sent       atomic.Pointer[sentLog]
	bweMu      sync.Mutex
	est        *bwe          // under bweMu
	acks       []ack         // scratch, under bweMu
	estimate   atomic.Uint64 // bit/s
	// pace spreads what the viewer is sent at its estimate (pacer.go),
	// while it has one.
	pace   *pacer
	probes probeSchedule // the loop's

	wakeCh    chan struct{}
	connCh    chan struct{}
	failCh    chan *webrtc.PeerConnection // a subscribe PC that failed or was closed by the client
	stallCh   chan *webrtc.PeerConnection // a subscribe PC whose DTLS handshake stalled
	answerCh  chan answerReq
	restartCh chan chan error // the client asks for an ICE restart
	resyncCh  chan struct{}   // the participant resumed on a new signaling connection
}

type answerReq struct {
	sdp   string
	reply chan error
}

func newSubscriber(p *Participant) *subscriber {
	sb := &subscriber{
		p:         p,
		allocCh:   make(chan struct{}, 1),
		pausedCh:  make(chan struct{}, 1),
		wakeCh:    make(chan struct{}, 1),
		connCh:    make(chan struct{}, 1),
		failCh:    make(chan *webrtc.PeerConnection, 1),
		stallCh:   make(chan *webrtc.PeerConnection, 1),
		answerCh:  make(chan answerReq),
		restartCh: make(chan chan error),
		resyncCh:  make(chan struct{}, 1),
	}
	sb.layerCap.Store(maxLayer)
	sb.pace = newPacer(&p.s.stats, func(b []byte, to netip.AddrPort) bool {
		if p.s.tap == nil {
			return false
		}
		_, err := p.s.tap.WriteToUDPAddrPort(b, to)
		return err == nil
	})
	sb.est = newBWE()
	sb.estimate.Store(uint64(sb.est.rate))
	return sb
}

// onTWCC applies a viewer's TWCC report to its estimate and has the loop
// allocate.
func (sb *subscriber) onTWCC(fb *rtcp.TransportLayerCC) {
	log := sb.sent.Load()
	if log == nil {
		return
	}
	now := time.Now().UnixNano()
	sb.bweMu.Lock()
	sb.acks = twccAcks(fb, log, now, sb.acks[:0])
	est := sb.est.update(sb.acks, now)
	probed, fresh := sb.est.probed, sb.est.probedAt == now
	unconfirmed, waits := sb.est.unconfirmed, sb.est.unconfirmedAt == now
	sb.bweMu.Unlock()
	if fresh {
		sb.p.log().Debug("probe train", "rate", int(probed), "estimate", int(est))
	}
	if waits {
		sb.p.log().Debug("probe train to confirm", "rate", int(unconfirmed), "estimate", int(est))
	}
	sb.estimate.Store(uint64(est))
	if sb.p.s.cfg.Unpaced {
		est = 0
	}
	sb.pace.setRate(est, now)
	select {
	case sb.allocCh <- struct{}{}:
	default:
	}
}

const sdpTransportCCURI = sdp.TransportCCURI

// maxLayer is above every simulcast layer's rank: the top layer.
const maxLayer = 1<<31 - 1

// capLayers sets the highest simulcast layer the viewer gets and has the
// loop move its slots.
func (sb *subscriber) capLayers(layer int32) {
	sb.layerCap.Store(layer)
	select {
	case sb.allocCh <- struct{}{}:
	default:
	}
}

// allocate moves every slot that carries a simulcast track to the layer
// that fits the viewer's estimate (chooseLayers), after audio and the
// video of one layer. Only the loop calls it.
func (sb *subscriber) allocate() {
	if sb.p.relay {
		return // its slots carry every layer an edge's viewer needs (holdLayers)
	}
	now := time.Now().UnixNano()
	budget := float64(sb.estimate.Load())
	var tracks []allocTrack
	var slots []*slot
	for _, sl := range sb.slots {
		src := sl.assigned
		if src == nil {
			continue
		}
		if src.group == nil {
			budget -= src.rate(now)
			continue
		}
		cur, next, since := sl.layer()
		_, dead, _ := src.group.state(cur)
		dead = dead || cur < 0 // the slot plays nothing that flows
		stuck := false
		n := src.group.count()
		rates, pausedAt, known := make([]float64, n), make([]bool, n), make([]bool, n)
		flowing := false
		for i := range rates {
			l, stalled, paused := src.group.state(i)
			flowing = flowing || l != nil && !stalled && !paused
		}
		for i := range rates {
			rates[i] = -1
			l, stalled, paused, settled := src.group.layerState(i)
			pausedAt[i], known[i] = paused, settled
			switch {
			case l == nil:
			case stalled && i == next && !dead && now-since >= int64(switchGiveUp):
				// The layer it switches to did not come: given up.
				stuck = true
			case stalled && (i != next || dead):
				// Not there; but a slot playing a layer that flows goes on
				// waiting for the one it switches to, for a while.
			case paused && dead && flowing:
				// Nothing to play: a layer that flows now first.
			default:
				rates[i] = l.rate(now)
			}
		}
		if next >= 0 {
			cur = next
		}
		if sl.choice == nil {
			sl.choice = &layerChoice{}
		}
		tracks = append(tracks, allocTrack{rates: rates, cur: cur, choice: sl.choice, stuck: stuck, paused: pausedAt, known: known})
		slots = append(slots, sl)
	}
	sb.estimating.Store(len(tracks) > 0)
	if len(tracks) == 0 {
		sb.pace.setRate(0, now) // no estimate without transport-wide numbers
		return
	}
	limit := int(sb.layerCap.Load())
	picks := chooseLayers(budget, tracks, now)
	probe := -1
	wentDown := false
	for i, l := range picks {
		l = min(l, limit)
		wentDown = wentDown || l < tracks[i].cur
		if l != tracks[i].cur {
			sb.bweMu.Lock()
			b := *sb.est
			sb.bweMu.Unlock()
			sb.p.log().Debug("simulcast layer", "track", slots[i].trackID, "from", tracks[i].cur, "to", l, "cut", picks[i] < tracks[i].cur,
				"estimate", int(b.rate), "received", int(b.acked), "queue_us", b.queue, "loss", b.loss, "rates", tracks[i].rates,
				"paced", sb.p.s.stats.paced.Load(), "paced_overflow", sb.p.s.stats.pacedOverflow.Load())
		}
		// Down because its layer no longer fits (not the viewer's cap):
		// the layer it carries stops now (slot.cutting).
		slots[i].setLayer(l, picks[i] < tracks[i].cur)
		if top := topLayer(tracks[i].rates, limit); l < top && probe < 0 {
			probe = i
		}
	}
	// A track below the top it may have: find out whether more fits, or
	// confirm a train that read far more than the estimate (bwe.confirm)
	// with one more at once.
	sb.bweMu.Lock()
	confirm := sb.est.confirming(now) && sb.probes.confirmed != sb.est.unconfirmedAt
	unconfirmedAt := sb.est.unconfirmedAt
	sb.bweMu.Unlock()
	switch {
	case probe >= 0 && confirm && !wentDown:
		if slots[probe].probeAfterFrame() {
			sb.probes.confirmed = unconfirmedAt
		}
	case sb.probes.due(probe >= 0, wentDown, now) && slots[probe].probeAfterFrame():
		sb.probes.sent(now)
	}
}

// probeSchedule is when a viewer below its top layer is sent a probe
// train (slot.probe): probeMinInterval apart, doubling to
// probeMaxInterval while it stays below (a train queues on a slow link,
// and the video behind it), and not within probeSettle of a switch down:
// the link's queue is full then, and a train on top of it held the video
// long enough for a freeze, to measure what no switch up could use yet
// (allocHold).
type probeSchedule struct {
	next  int64 // no train before (unix ns)
	every time.Duration
	// confirmed: the unconfirmed train (bwe.unconfirmedAt) a train was
	// sent to confirm.
	confirmed int64
}

// due says whether a train may go at now; below: a track is below the
// top it may have; wentDown: a track was switched down at now.
func (ps *probeSchedule) due(below, wentDown bool, now int64) bool {
	if wentDown {
		ps.next = max(ps.next, now+int64(probeSettle))
	}
	if !below {
		ps.every = 0
		return false
	}
	return now >= ps.next
}

// sent notes a train sent at now.
func (ps *probeSchedule) sent(now int64) {
	ps.every = min(max(2*ps.every, probeMinInterval), probeMaxInterval)
	ps.next = now + int64(ps.every)
}

// setRelayPaused records an edge's word on which of its relay's layers
// it does not want now, and has the loop apply it.
func (sb *subscriber) setRelayPaused(trackIDs []string) {
	paused := make(map[string]bool, len(trackIDs))
	for _, id := range trackIDs {
		paused[id] = true
	}
	sb.relayPaused.Store(&paused)
	poke(sb.pausedCh)
}

// holdLayers takes the relay's slots of the layers its edge does not want
// out of their fan-out and puts the others back (slot.hold, slot.resume): one copy of
// each layer some viewer there watches crosses, and a layer nobody on any
// node watches is paused at its publisher (layerGroup). Only the loop
// calls it.
func (sb *subscriber) holdLayers() {
	var paused map[string]bool
	if p := sb.relayPaused.Load(); p != nil {
		paused = *p
	}
	for _, sl := range sb.slots {
		src := sl.assigned
		if src == nil || src.group == nil || paused[sl.trackID] == sl.held {
			continue
		}
		sl.held = !sl.held
		if sl.held {
			sl.hold()
		} else {
			sl.resume()
		}
	}
}

// dtlsStallAfter is how long a subscribe PC may be ICE-connected without
// its DTLS handshake done after stalls PCs in a row were replaced for it:
// dtlsStallTimeout, doubled from the second (a slow link's handshake).
func dtlsStallAfter(stalls int) time.Duration { return dtlsStallTimeout << min(stalls, 1) }

// switchGiveUp is how long a slot that plays a layer that flows waits for
// the one it switches to when that one is stalled: a browser restarting
// its encoder for a layer we resumed can take over a second under load,
// and one that does not send it at all (Chromium sends a small track's
// top encoding only while those below are paused) must not hold the
// viewer's switch, and its keyframe requests, forever.
const switchGiveUp = 5 * time.Second

// Probe trains (probeSchedule).
const (
	probeSettle      = time.Second
	probeMinInterval = 2 * time.Second
	probeMaxInterval = 6 * time.Second
)

// topLayer is the highest layer there, at most limit.
func topLayer(rates []float64, limit int) int {
	for l := min(len(rates)-1, limit); l >= 0; l-- {
		if rates[l] >= 0 {
			return l
		}
	}
	return -1
}

// wake asks the negotiation loop to reconcile the slots, starting it on
// first use. A source added after the participant joined sees it in its
// meeting and wakes it.
func (sb *subscriber) wake() {
	sb.loopOnce.Do(func() {
		sb.looping.Store(true)
		sb.p.s.goroutine(sb.loop)
	})
	select {
	case sb.wakeCh <- struct{}{}:
	default:
	}
}

// handleAnswer hands the client's answer to the loop and waits for it to be
// applied.
func (sb *subscriber) handleAnswer(sdp string) error {
	if !sb.looping.Load() {
		return protocol.NewError(protocol.CodeMediaFailed, "no subscribe offer is outstanding")
	}
	req := answerReq{sdp: sdp, reply: make(chan error, 1)}
	select {
	case sb.answerCh <- req:
	case <-sb.p.done:
		return errClosed()
	}
	select {
	case err := <-req.reply:
		return err
	case <-sb.p.done:
		return errClosed()
	}
}

// restartICE asks the loop for an ICE restart of the subscribe PC: the
// client's network changed or its connection failed. The offer follows as
// a media message; 4041 if there is no subscribe PC to restart.
func (sb *subscriber) restartICE() error {
	if !sb.looping.Load() {
		return protocol.NewError(protocol.CodeMediaFailed, "no subscribe connection to restart")
	}
	reply := make(chan error, 1)
	select {
	case sb.restartCh <- reply:
	case <-sb.p.done:
		return errClosed()
	}
	select {
	case err := <-reply:
		return err
	case <-sb.p.done:
		return errClosed()
	}
}

// resync asks the loop to send again what the previous signaling
// connection may have lost.
func (sb *subscriber) resync() {
	if sb.looping.Load() {
		poke(sb.resyncCh)
	}
}

// addCandidate adds one of the client's candidates, or queues it until the
// client's answer is applied.
func (sb *subscriber) addCandidate(c webrtc.ICECandidateInit) error {
	sb.candMu.Lock()
	defer sb.candMu.Unlock()
	return sb.cands.add(sb.pc, sb.remote, c)
}

// newPC makes a fresh subscribe PC: when the first track is to be
// forwarded to the participant (a viewer who never receives media costs no
// peer connection), and when the previous one failed. Only the negotiation
// loop calls it.
func (sb *subscriber) newPC() error {
	pc, err := sb.p.s.newPeerConnection(sb.p.s.subAPI)
	if err != nil {
		return err
	}
	gate := sb.p.candidateGate(protocol.PCSubscribe)
	var pathOnce sync.Once // a PC's path is made once: it follows its ICE pair
	var dtlsUp atomic.Bool
	var stallOnce sync.Once
	stallAfter := dtlsStallAfter(sb.stalls)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	live := &iceLiveness{p: sb.p, pc: liveSubscribe, stale: func() bool { return pc.ConnectionState() == webrtc.PeerConnectionStateClosed }}
	var heard *pathLiveness // the tap's (silence.go)
	if sb.p.s.tapLiveness {
		to := sb.p.s.tap.timeouts
		live.failAfter, live.failed = to.disconnected+to.failed, func() { sb.failed(pc) }
		heard = &pathLiveness{
			live: func(h bool) {
				if pp := sb.path.Load(); pp != nil && pp.pc == pc {
					sb.p.setLive(liveSubscribeHeard, h)
				}
			},
			failed: func() { sb.failed(pc) },
		}
	}
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		live.state(st)
		if (st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted) && !dtlsUp.Load() {
			stallOnce.Do(func() {
				time.AfterFunc(stallAfter, func() {
					if !dtlsUp.Load() && pc.ConnectionState() != webrtc.PeerConnectionStateClosed {
						select {
						case sb.stallCh <- pc:
						default:
						}
					}
				})
			})
		}
		if st == webrtc.ICEConnectionStateConnected {
			// Connected again after a restart: heard, as pion's agent was;
			// what was sent meanwhile is not the new path's loss.
			if pp := sb.path.Load(); pp != nil && pp.pc == pc {
				pp.wasHeard()
			}
			if log := sb.sent.Load(); log != nil {
				log.pathUp(time.Now().UnixNano())
			}
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		sb.p.log().Debug("subscribe PC", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			dtlsUp.Store(true)
			pathOnce.Do(func() {
				pp := newPeerPath(pc, sb.p.s.tap, sb.feedback, sb.rtcpToPion, heard)
				if pp == nil {
					return
				}
				sb.candMu.Lock()
				current := sb.pc == pc
				if current {
					sb.path.Swap(pp).close()
				}
				sb.candMu.Unlock()
				if !current {
					pp.close()
				} else if heard != nil {
					heard.live(true) // a new PC: heard now, whatever its predecessor was
				}
			})
			sb.connected.Store(true)
			select {
			case sb.connCh <- struct{}{}:
			default:
			}
		case webrtc.PeerConnectionStateFailed:
			sb.failed(pc)
		case webrtc.PeerConnectionStateClosed:
			// The client closed it: usually because it is leaving, and the
			// hub detaches the participant a moment later. Replace it only
			// if the participant is still here then.
			time.AfterFunc(closedGrace, func() { sb.failed(pc) })
		}
	})
	sb.candMu.Lock()
	sb.pc = pc
	sb.remote = false
	sb.cands = candidateQueue{}
	sb.path.Swap(nil).close()
	sb.candMu.Unlock()
	sb.gate = gate
	sb.gathered = false
	sb.connected.Store(false)
	return nil
}

// failed hands a failed subscribe PC to the negotiation loop, which
// replaces it.
func (sb *subscriber) failed(pc *webrtc.PeerConnection) {
	if sb.p.closed.Load() {
		return
	}
	select {
	case sb.failCh <- pc:
	default:
	}
}

// loop is the participant's subscribe negotiation: it owns the slots and runs
// one offer/answer at a time, folding changes that happen meanwhile into
// the next offer.
func (sb *subscriber) loop() {
	defer sb.end()
	var (
		awaiting bool   // an offer is outstanding
		dirty    bool   // the tracks may have changed since the last offer
		ready    bool   // the coalescing delay after the first change passed
		offer    string // the outstanding offer, resent on timeout
		resends  int
	)
	timer := time.NewTimer(time.Hour) // answer timeout
	timer.Stop()
	defer timer.Stop()
	coalesce := time.NewTimer(time.Hour)
	coalesce.Stop()
	defer coalesce.Stop()
	// offerNewPC replaces the subscribe PC and has its offer made at once.
	offerNewPC := func() {
		if err := sb.restart(); err != nil {
			sb.p.log().Error("cannot make a new subscribe PC", "err", err)
			return
		}
		awaiting, dirty, ready = false, true, true
		timer.Stop()
	}
	for {
		select {
		case <-sb.p.done:
			return
		case <-sb.wakeCh:
			if !dirty {
				dirty, ready = true, false
				coalesce.Reset(coalesceDelay)
			}
		case <-coalesce.C:
			ready = true
		case <-sb.connCh:
			sb.stalls = 0
			for _, sl := range sb.slots {
				sl.start()
			}
		case <-sb.allocCh:
			sb.allocate()
		case <-sb.pausedCh:
			sb.holdLayers()
		case req := <-sb.answerCh:
			if !awaiting {
				req.reply <- protocol.NewError(protocol.CodeMediaFailed, "no subscribe offer is outstanding")
				continue
			}
			err := sb.applyAnswer(req.sdp)
			req.reply <- err
			if err == nil {
				awaiting = false
				timer.Stop()
			}
		case <-sb.resyncCh:
			// What went to the old signaling connection may be lost: the
			// track map again, and the outstanding offer.
			if sb.pc != nil {
				tracks := sb.slotTracks()
				sb.p.send(func(s Signaler) { s.SendTracks(tracks) })
			}
			if awaiting {
				restart := sb.restarting
				sb.p.send(func(s Signaler) { s.SendOffer(offer, restart) })
				timer.Reset(sb.p.s.cfg.AnswerTimeout)
			}
		case reply := <-sb.restartCh:
			if sb.pc == nil || sb.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
				reply <- protocol.NewError(protocol.CodeMediaFailed, "no subscribe connection to restart")
				continue
			}
			reply <- nil
			// The next offer restarts ICE: at once, or once the outstanding
			// one is answered (answers carry no offer id, so one offer is
			// out at a time; Resume has resent it to a client that
			// reconnected).
			sb.iceRestart = true
			dirty, ready = true, true
		case pc := <-sb.failCh:
			if pc != sb.pc || sb.p.closed.Load() {
				continue
			}
			if wait := time.Until(sb.lastRestart.Add(minRestartInterval)); wait > 0 {
				// Flapping: try again a little later.
				time.AfterFunc(wait, func() {
					select {
					case sb.failCh <- pc:
					default:
					}
				})
				continue
			}
			sb.lastRestart = time.Now()
			if pc.ConnectionState() != webrtc.PeerConnectionStateClosed {
				// Failed: the client did not restart ICE (or could not reach
				// us); offer an ICE restart on the same connection, as for
				// the client's request (after any outstanding answer).
				sb.p.log().Info("subscribe PC failed; offering an ICE restart")
				sb.iceRestart = true
				dirty, ready = true, true
			} else {
				sb.p.log().Info("subscribe PC closed by the client; offering a new one")
				offerNewPC()
			}
		case pc := <-sb.stallCh:
			if pc != sb.pc || sb.p.closed.Load() {
				continue
			}
			// ICE is up and the DTLS handshake is not done: the client's
			// first flights were lost, and it sends them again only after
			// a timer that doubles each time (Chromium's from 50 ms, pion's
			// from 1 s), so after a few seconds of loss it may wait as
			// long again. An ICE restart keeps the stalled handshake; a
			// new PC starts a new one at once.
			sb.p.log().Info("subscribe PC connected but its DTLS handshake stalled; offering a new one", "after", dtlsStallAfter(sb.stalls))
			sb.stalls++
			sb.lastRestart = time.Now()
			offerNewPC()
		case <-timer.C:
			if awaiting && resends < maxOfferResends {
				resends++
				sb.p.log().Warn("no subscribe answer; sending the offer again", "attempt", resends)
				restart := sb.restarting
				sb.p.send(func(s Signaler) { s.SendOffer(offer, restart) })
				timer.Reset(sb.p.s.cfg.AnswerTimeout)
			} else if awaiting {
				sb.p.log().Warn("no subscribe answer; giving up until the client answers")
			}
		}
		if dirty && ready && !awaiting && !sb.p.closed.Load() {
			dirty, ready = false, false
			if sdp, ok := sb.reconcile(); ok {
				awaiting, offer, resends = true, sdp, 0
				timer.Reset(sb.p.s.cfg.AnswerTimeout)
			}
		}
	}
}

// reconcile binds the participant's slots to exactly the meeting's
// sources but its own: a source that left frees its slot, a new one takes
// a free slot of its kind. Only when there are more sources of a kind than
// slots are slots added, and only then is the subscribe PC renegotiated
// (its first offer makes Config.SlotsPerKind of each kind). The viewer gets
// the slots' owners ("tracks") before any packet of a new owner.
func (sb *subscriber) reconcile() (string, bool) {
	want := sb.p.m.sourcesFor(sb.p)
	if sb.pc == nil {
		if len(want) == 0 {
			return "", false
		}
		if err := sb.newPC(); err != nil {
			sb.p.log().Error("cannot make the subscribe PC", "err", err)
			return "", false
		}
	}
	wanted := make(map[*source]bool, len(want))
	for _, src := range want {
		wanted[src] = true
	}
	changed, added := false, sb.unoffered
	for _, sl := range sb.slots {
		if sl.assigned != nil && !wanted[sl.assigned] {
			sl.unbind()
			sl.spent = sb.p.relay
			changed = true
		} else if sl.assigned != nil {
			delete(wanted, sl.assigned)
		}
	}
	var bind []*slot
	for _, src := range want {
		if !wanted[src] {
			continue // already on a slot
		}
		sl := sb.freeSlotFor(src)
		if sl == nil {
			if err := sb.addSlots(src.kind(), want); err != nil {
				sb.p.log().Warn("cannot add a slot", "kind", src.kind().String(), "err", err)
				continue
			}
			added = true
			sl = sb.freeSlotFor(src)
		}
		sl.assigned = src
		bind = append(bind, sl)
		changed = true
	}
	if changed || added {
		tracks := sb.slotTracks()
		sb.p.send(func(s Signaler) { s.SendTracks(tracks) })
	}
	for _, sl := range bind {
		sl.held = false
		sl.bind(sl.assigned, int(sb.layerCap.Load()))
	}
	simulcast := false
	for _, sl := range sb.slots {
		simulcast = simulcast || sl.assigned != nil && sl.assigned.group != nil && !sb.p.relay
	}
	sb.estimating.Store(simulcast)
	if !simulcast {
		sb.pace.setRate(0, time.Now().UnixNano())
	}
	restart := sb.iceRestart && sb.pc.RemoteDescription() != nil
	sb.iceRestart = false
	if !added && !restart {
		return "", false
	}
	var gathered <-chan struct{}
	if !sb.gathered || restart {
		gathered = webrtc.GatheringCompletePromise(sb.pc)
	}
	var opts *webrtc.OfferOptions
	if restart {
		opts = &webrtc.OfferOptions{ICERestart: true}
		sb.gate.Close()
		sb.path.Load().forgetConsentKeys() // until the answer: the credentials change now
	}
	offer, err := sb.pc.CreateOffer(opts)
	if err == nil {
		err = sb.pc.SetLocalDescription(offer)
	}
	if err != nil {
		if !sb.p.closed.Load() {
			sb.p.log().Warn("subscribe offer failed", "err", err)
		}
		sb.unoffered = true
		sb.iceRestart = sb.iceRestart || restart
		return "", false
	}
	sb.unoffered = false
	sb.restarting = restart
	if gathered != nil {
		sb.p.waitGathered(gathered)
		sb.gathered = true
	}
	sdp := sb.pc.LocalDescription().SDP
	sb.p.send(func(s Signaler) { s.SendOffer(sdp, restart) })
	sb.gate.Open(sdp)
	return sdp, true
}

// freeSlotFor returns an unassigned slot for src, or nil. It prefers the
// number of the slot that carries the other half of src's pair (a user's
// microphone and camera: one stream, played in sync), then a number whose
// other slot is free too (kept for a pair), then any.
func (sb *subscriber) freeSlotFor(src *source) *slot {
	partner, taken := -1, map[int]bool{}
	for _, sl := range sb.slots {
		if o := sl.assigned; o != nil && sl.kind != src.kind() {
			taken[sl.index] = true
			if pairs(o, src) {
				partner = sl.index
			}
		}
	}
	var best *slot
	for _, sl := range sb.slots {
		if sl.kind != src.kind() || sl.assigned != nil || sl.spent {
			continue
		}
		switch {
		case sl.index == partner:
			return sl
		case best == nil, taken[best.index] && !taken[sl.index]:
			best = sl
		}
	}
	return best
}

// pairs reports whether a and b, of different kinds, are one user's
// microphone and camera. A screen share has no partner.
func pairs(a, b *source) bool {
	return a.owner == b.owner && a.info.Source != protocol.SourceScreenshare && b.info.Source != protocol.SourceScreenshare
}

// addSlots adds slots to the subscribe PC: Config.SlotsPerKind of each kind
// to a new PC (or as many as want needs), one at a time after that.
func (sb *subscriber) addSlots(kind webrtc.RTPCodecType, want []*source) error {
	if len(sb.slots) == 0 {
		need := map[webrtc.RTPCodecType]int{}
		for _, src := range want {
			need[src.kind()]++
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			for range max(need[k], sb.p.s.cfg.SlotsPerKind) {
				if err := sb.addSlot(k); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return sb.addSlot(kind)
}

func (sb *subscriber) addSlot(kind webrtc.RTPCodecType) error {
	n := 0
	for _, sl := range sb.slots {
		if sl.kind == kind {
			n++
		}
	}
	sl := newSlot(sb.p, kind, n)
	tr, err := sb.pc.AddTransceiverFromTrack(sl, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	sl.sender, sl.pc = tr.Sender(), sb.pc
	sb.slots = append(sb.slots, sl)
	sb.publishSlots() // before pionRTCP is read: rtcpToPion sees the slot, or the slot sees it set
	if sb.p.s.tap == nil || sb.pionRTCP.Load() {
		sl.readPionRTCP()
	}
	return nil
}

// rtcpToPion has every slot, from now on, read the viewer's RTCP that
// pion hands over: the tap does not take it (the PC's pair is not on the
// shared socket, or its keys could not be had). On the shared socket a
// slot has no reader of pion's RTCP, which never comes: a goroutine and an
// SRTCP stream less per slot, six per viewer.
func (sb *subscriber) rtcpToPion() {
	sb.pionRTCP.Store(true)
	if slots := sb.rtcpSlots.Load(); slots != nil {
		for _, sl := range *slots {
			sl.readPionRTCP()
		}
	}
}

// slotTracks lists the assigned slots with their sources' owners, for the
// viewer's "tracks" message.
func (sb *subscriber) slotTracks() []protocol.TrackInfo {
	tracks := make([]protocol.TrackInfo, 0, len(sb.slots))
	for _, sl := range sb.slots {
		if src := sl.assigned; src != nil {
			ti := src.info
			ti.TrackID, ti.StreamID = sl.trackID, sl.StreamID()
			if sb.p.relay && src.group != nil {
				ti.Layer = src.group.trackLayer(src)
			}
			tracks = append(tracks, ti)
		}
	}
	return tracks
}

// applyAnswer sets the client's answer and the candidates that waited for
// it.
func (sb *subscriber) applyAnswer(sdp string) error {
	if err := sb.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "bad subscribe answer: %v", err)
	}
	if id := extmapID(sdp, sdpTransportCCURI); id != 0 {
		sb.twccID.Store(uint32(id))
		if sb.sent.Load() == nil {
			sb.sent.Store(&sentLog{})
		}
	} else {
		sb.twccID.Store(0)
	}
	sb.path.Load().readConsentKeys()
	sb.candMu.Lock()
	defer sb.candMu.Unlock()
	sb.remote = true
	sb.cands.flush(sb.pc, sb.p.log())
	return nil
}

// end takes the participant's slots out of every fan-out and
// closes the subscribe PC.
func (sb *subscriber) end() {
	sb.pace.stop()
	sb.candMu.Lock()
	sb.path.Swap(nil).close()
	sb.candMu.Unlock()
	sb.closeSlots()
	if sb.pc != nil {
		_ = sb.pc.Close()
	}
}

func (sb *subscriber) closeSlots() {
	for _, sl := range sb.slots {
		sl.close()
	}
	sb.slots = nil
	sb.publishSlots()
}

// feedback acts on a viewer's RTCP read by the tap (rtcptap.go), for
// whichever of the PC's slots it names.
func (sb *subscriber) feedback(b []byte) {
	sb.feedbackTo(b, sb.slotOf)
}

// slotOf is the slot sending ssrc, or nil.
func (sb *subscriber) slotOf(ssrc uint32) *slot {
	if slots := sb.rtcpSlots.Load(); slots != nil {
		for _, sl := range *slots {
			if sl.boundSSRC.Load() == ssrc {
				return sl
			}
		}
	}
	return nil
}

// feedbackTo acts on a viewer's compound RTCP packet: a NACK is answered
// from the history of the source that sent the packet, a PLI or FIR
// becomes a keyframe request to the slot's source, a TWCC report feeds
// the downlink estimate (bwe.go). slotOf finds the slot a media SSRC
// names. Reports alone (most of what a viewer sends) are not parsed.
func (sb *subscriber) feedbackTo(b []byte, slotOf func(ssrc uint32) *slot) {
	key := wantsKeyframe(b)
	nack, twcc := transportFeedback(b)
	if !key && !nack && !twcc {
		return
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	for _, pk := range pkts {
		switch pk := pk.(type) {
		case *rtcp.PictureLossIndication:
			if sl := slotOf(pk.MediaSSRC); sl != nil {
				sl.requestKeyframe()
			}
		case *rtcp.FullIntraRequest:
			for _, e := range pk.FIR {
				if sl := slotOf(e.SSRC); sl != nil {
					sl.requestKeyframe()
				}
			}
		case *rtcp.TransportLayerCC:
			sb.onTWCC(pk)
		case *rtcp.TransportLayerNack:
			sl := slotOf(pk.MediaSSRC)
			if sl == nil {
				continue
			}
			re := retransmitBufs.Get().(*packet)
			for _, pair := range pk.Nacks {
				for _, seq := range pair.PacketList() {
					sl.retransmit(seq, re)
				}
			}
			retransmitBufs.Put(re)
		}
	}
}

// retransmitBufs hold a packet being sent again.
var retransmitBufs = sync.Pool{New: func() any { return new(packet) }}

// publishSlots shows the slots to the RTCP path (feedback), which reads
// them on another goroutine than the negotiation loop that changes them.
func (sb *subscriber) publishSlots() {
	slots := slices.Clone(sb.slots)
	sb.rtcpSlots.Store(&slots)
}

// restart replaces a failed subscribe PC by a new one, which the
// next reconcile offers with every track. The client sees an offer with new
// ICE credentials and must answer it with a new peer connection.
func (sb *subscriber) restart() error {
	old := sb.pc
	sb.relayPaused.Store(nil) // it named the old PC's slots
	sb.closeSlots()
	sb.p.s.goroutine(func() { _ = old.Close() })
	sb.unoffered = false
	return sb.newPC()
}
