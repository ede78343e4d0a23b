package sfu

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// Participant is one user's media session in a meeting: its publisher (the
// publish PC, while it may publish: publisher.go) and its subscriber (the
// subscribe PC with its slots: subscriber.go), and the Signaler both talk
// through. Its methods are safe for concurrent use; they fail with 4041 once
// the participant has left or been replaced.
type Participant struct {
	s        *SFU
	m        *meeting
	u        *user
	userID   string
	peerID   string
	streamID string // the msid stream id of its tracks at subscribers
	logOnce  sync.Once
	logger   *slog.Logger // made by log on first use

	sig   Signaler
	sigMu sync.Mutex // one Signaler call at a time, in order

	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once

	pub *publisher
	sub *subscriber
	// relay: another node's edge of the meeting (JoinRelay, relay.go),
	// whose slots each carry one source for life.
	relay bool
	// standIn: a publisher on another node, owner of the sources a RelayIn
	// made of its tracks.
	standIn bool
	// node: a relay's node (where it sends), a stand-in's (where its
	// sources come from).
	node string

	// lost has a bit (livePublish, liveSubscribe) for each peer connection
	// whose ICE is disconnected or failed, and liveSubscribeHeard while the
	// tap has not heard the subscribe PC's viewer (silence.go): the client
	// went silent.
	lost atomic.Uint32
}

// Bits of Participant.lost.
const (
	livePublish uint32 = 1 << iota
	liveSubscribe
	liveSubscribeHeard
)

// setLive records whether one of the participant's peer connections hears
// from the client, and tells Config.OnLiveness when the participant as a
// whole goes silent (any connection lost) or comes back (none lost).
func (p *Participant) setLive(pc uint32, live bool) {
	for {
		old := p.lost.Load()
		next := old | pc
		if live {
			next = old &^ pc
		}
		if old == next {
			return
		}
		if !p.lost.CompareAndSwap(old, next) {
			continue
		}
		if (old == 0) != (next == 0) && !p.closed.Load() {
			p.log().Debug("media liveness", "live", next == 0)
			if f := p.s.cfg.OnLiveness; f != nil {
				f(p.m.id, p.userID, next == 0)
			}
		}
		return
	}
}

// iceLiveness turns one peer connection's ICE states into the
// participant's liveness (setLive): silent when ICE is disconnected or
// failed, and when an ICE restart (checking after connected) has not
// connected within iceRestartGrace; heard again only once connected. A
// client restarts ICE about when the server's agent would see the silence
// (both wait ~5 s): were checking taken as live, a presenter whose network
// is dark would never be shown reconnecting, or be shown back while still
// dark.
type iceLiveness struct {
	p     *Participant
	pc    uint32
	stale func() bool // the connection no longer counts (replaced, closed)
	// failAfter, if set, fails the connection (failed) when checking lasts
	// that long: pion's agent, without timeouts of its own (silence.go),
	// would check for ever.
	failAfter time.Duration
	failed    func()

	mu        sync.Mutex
	connected bool // it was connected once: checking is a restart
	gen       int  // the state changes so far
}

// iceRestartGrace is how long an ICE restart may take before the
// participant is shown reconnecting: a browser whose network changed
// checks from its new address ~1.2 s after the restart's offer.
const iceRestartGrace = 2 * time.Second

func (l *iceLiveness) state(st webrtc.ICEConnectionState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	switch st {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		l.connected = true
		l.p.setLive(l.pc, true)
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		l.p.setLive(l.pc, false)
	case webrtc.ICEConnectionStateChecking:
		if l.failAfter > 0 {
			gen := l.gen
			time.AfterFunc(l.failAfter, func() {
				l.mu.Lock()
				stuck := l.gen == gen && !l.stale()
				l.mu.Unlock()
				if stuck {
					l.failed()
				}
			})
		}
		if l.connected {
			gen := l.gen
			time.AfterFunc(iceRestartGrace, func() {
				l.mu.Lock()
				defer l.mu.Unlock()
				if l.gen == gen && !l.stale() {
					l.p.setLive(l.pc, false)
				}
			})
		}
	}
}

// Live reports whether every peer connection of the participant hears from
// its client (ICE neither disconnected nor failed).
func (p *Participant) Live() bool { return p.lost.Load() == 0 }

// resume moves the participant to a new signaling connection: its peer
// connections, slots and tracks stay; what the old connection may have
// lost is sent again.
func (p *Participant) resume(sig Signaler) {
	p.sigMu.Lock()
	p.sig = sig
	p.sigMu.Unlock()
	p.sub.resync()
}

func newParticipant(s *SFU, m *meeting, u *user, peerID string, sig Signaler) (*Participant, error) {
	p := &Participant{
		s:        s,
		m:        m,
		u:        u,
		userID:   u.id,
		peerID:   peerID,
		streamID: streamID(peerID, s),
		sig:      sig,
		done:     make(chan struct{}),
	}
	p.pub = &publisher{p: p}
	p.sub = newSubscriber(p)
	return p, nil
}

// log is the participant's logger (its meeting, user and peer), made on
// first use: a viewer that never negotiates media never logs, and slog's
// With formats its attributes at once — 1–3% of an edge's CPU in a join
// wave of signaling viewers.
func (p *Participant) log() *slog.Logger {
	p.logOnce.Do(func() { p.logger = p.s.log.With("meeting", p.m.id, "user", p.userID, "peer", p.peerID) })
	return p.logger
}

// streamID makes a peer id usable as an msid stream id (a token of at most
// 64 characters).
func streamID(peerID string, s *SFU) string {
	ok := peerID != "" && len(peerID) <= 64
	for i := 0; ok && i < len(peerID); i++ {
		c := peerID[i]
		ok = c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if ok {
		return peerID
	}
	return "peer" + strconv.FormatUint(s.seq.Add(1), 10)
}

// UserID is the participant's user id.
func (p *Participant) UserID() string { return p.userID }

// PeerID is the participant's peer id, the stream id of its tracks at other
// participants when it is a valid msid token (otherwise see TrackInfo).
func (p *Participant) PeerID() string { return p.peerID }

func (p *Participant) start() {
	p.m.mu.Lock()
	tracks := len(p.m.sources) > 0
	p.m.mu.Unlock()
	if tracks {
		p.wake()
	}
}

// wake asks the subscriber to reconcile its slots.
func (p *Participant) wake() { p.sub.wake() }

// close ends the participant: the negotiation loop closes the subscribe PC,
// the publish PC is closed in the background.
func (p *Participant) close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.done)
		p.pub.close()
	})
}

func (p *Participant) send(fn func(Signaler)) {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	if p.closed.Load() {
		return
	}
	fn(p.sig)
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func errClosed() error {
	return protocol.NewError(protocol.CodeMediaFailed, "media session closed")
}

// HandlePublishOffer applies the client's offer for its publish PC and
// returns the server's answer. The first offer after the user was allowed to
// publish opens a new publish PC; later ones renegotiate it (adding or
// removing tracks). Errors: 4040 if the user may not publish now, 4041 for a
// bad offer or a closed participant. It may wait up to Config.GatherTimeout
// for the server's candidates, which then travel in the answer.
//
// sources labels the offer's sections by mid (protocol.SourceScreenshare);
// a screen share is admitted by the preset's rules (screenshare.go).
func (p *Participant) HandlePublishOffer(sdp string, sources map[string]string) (string, error) {
	return p.pub.handleOffer(sdp, sources, false)
}

func (p *Participant) waitGathered(ch <-chan struct{}) {
	t := time.NewTimer(p.s.cfg.GatherTimeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-p.done:
	}
}

// HandleSubscribeAnswer applies the client's answer to the server's
// outstanding subscribe offer. Errors (4041): no offer outstanding, a bad
// answer, a closed participant.
func (p *Participant) HandleSubscribeAnswer(sdp string) error { return p.sub.handleAnswer(sdp) }

// HandleCandidate adds one of the client's ICE candidates to the named peer
// connection (protocol.PCPublish or protocol.PCSubscribe). Candidates that
// arrive before the connection has the client's description are queued (up
// to 64). An empty candidate (end of candidates) is ignored.
func (p *Participant) HandleCandidate(pc string, c protocol.ICECandidate) error {
	if p.closed.Load() {
		return errClosed()
	}
	if c.Candidate == "" {
		return nil
	}
	init := webrtc.ICECandidateInit(c) // the wire form mirrors it field for field
	switch pc {
	case protocol.PCPublish:
		return p.pub.addCandidate(init)
	case protocol.PCSubscribe:
		return p.sub.addCandidate(init)
	}
	return protocol.NewError(protocol.CodeBadArgs, "unknown peer connection %q", pc)
}

// candidateGate holds the local candidates of the participant's PC pc until
// its description was handed over (protocol.CandidateGate).
func (p *Participant) candidateGate(pc string) *protocol.CandidateGate {
	return protocol.NewCandidateGate(func(c protocol.ICECandidate) {
		p.send(func(s Signaler) { s.SendCandidate(pc, c) })
	})
}

// candidateQueue holds a peer connection's remote candidates until it has
// the client's description (at most maxPendingCandidates).
type candidateQueue struct{ pending []webrtc.ICECandidateInit }

// add adds c to pc if it is ready for it, else queues it.
func (q *candidateQueue) add(pc *webrtc.PeerConnection, ready bool, c webrtc.ICECandidateInit) error {
	if !ready {
		if len(q.pending) < maxPendingCandidates {
			q.pending = append(q.pending, c)
		}
		return nil
	}
	if err := pc.AddICECandidate(c); err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "bad candidate: %v", err)
	}
	return nil
}

// flush adds the queued candidates to pc, now that it has the client's
// description.
func (q *candidateQueue) flush(pc *webrtc.PeerConnection, log *slog.Logger) {
	for _, c := range q.pending {
		if err := pc.AddICECandidate(c); err != nil {
			log.Debug("queued candidate refused", "err", err)
		}
	}
	q.pending = nil
}
