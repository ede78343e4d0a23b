package sfu

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// Participant is one user's media session in a meeting: its publish PC
// (while it may publish) and its subscribe PC. Its methods are safe for
// concurrent use; they fail with 4041 once the participant has left or been
// replaced.
type Participant struct {
	s        *SFU
	m        *meeting
	u        *user
	userID   string
	peerID   string
	streamID string // the msid stream id of its tracks at subscribers
	log      *slog.Logger

	sig   Signaler
	sigMu sync.Mutex // one Signaler call at a time, in order

	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
	// The negotiation loop starts with the first thing to forward: a
	// viewer of a room with nobody on stage costs no goroutine.
	loopOnce sync.Once
	looping  atomic.Bool

	// Publish side.
	pubMu    sync.Mutex
	pub      *pubSession
	pubCands []webrtc.ICECandidateInit // remote candidates waiting for an offer

	// Subscribe side. downs belongs to the negotiation loop.
	sub          *webrtc.PeerConnection
	subGate      *protocol.CandidateGate
	subConnected atomic.Bool
	subCandMu    sync.Mutex
	subRemote    bool                      // an answer was applied
	subCands     []webrtc.ICECandidateInit // remote candidates waiting for it
	wakeCh       chan struct{}
	connCh       chan struct{}
	failCh       chan *webrtc.PeerConnection // a subscribe PC that failed or was closed by the client
	answerCh     chan answerReq
	downs        map[*forwardTrack]*downTrack
	subGathered  bool
	unoffered    bool      // downs changed but the offer failed
	lastRestart  time.Time // of the subscribe PC
}

// pubSession is one publish PC and the publishing token it was opened
// under.
type pubSession struct {
	pc       *webrtc.PeerConnection
	token    uint64
	gate     *protocol.CandidateGate
	gathered bool
}

type answerReq struct {
	sdp   string
	reply chan error
}

func newParticipant(s *SFU, m *meeting, u *user, peerID string, sig Signaler) (*Participant, error) {
	p := &Participant{
		s:        s,
		m:        m,
		u:        u,
		userID:   u.id,
		peerID:   peerID,
		streamID: streamID(peerID, s),
		log:      s.log.With("meeting", m.id, "user", u.id, "peer", peerID),
		sig:      sig,
		done:     make(chan struct{}),
		wakeCh:   make(chan struct{}, 1),
		connCh:   make(chan struct{}, 1),
		failCh:   make(chan *webrtc.PeerConnection, 1),
		answerCh: make(chan answerReq),
		downs:    map[*forwardTrack]*downTrack{},
	}
	return p, nil
}

// newSubscribePC makes a fresh subscribe PC: when the first track is to be
// forwarded to the participant (a viewer who never receives media costs no
// peer connection), and when the previous one failed. Only the negotiation
// loop calls it.
func (p *Participant) newSubscribePC() error {
	pc, err := p.s.newPeerConnection()
	if err != nil {
		return err
	}
	gate := p.candidateGate(protocol.PCSubscribe)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("subscribe PC", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.subConnected.Store(true)
			select {
			case p.connCh <- struct{}{}:
			default:
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			if !p.closed.Load() {
				select {
				case p.failCh <- pc:
				default:
				}
			}
		}
	})
	p.subCandMu.Lock()
	p.sub = pc
	p.subRemote = false
	p.subCands = nil
	p.subCandMu.Unlock()
	p.subGate = gate
	p.subGathered = false
	p.subConnected.Store(false)
	return nil
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
	tracks := len(p.m.tracks) > 0
	p.m.mu.Unlock()
	if tracks {
		p.wake()
	}
}

// wake asks the negotiation loop to reconcile the subscriptions, starting
// it on first use. A track added after start sees the participant in its
// meeting and wakes it.
func (p *Participant) wake() {
	p.loopOnce.Do(func() {
		p.looping.Store(true)
		p.s.goroutine(p.loop)
	})
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

// close ends the participant: the negotiation loop closes the subscribe PC,
// the publish PC is closed in the background.
func (p *Participant) close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.done)
		p.s.goroutine(func() {
			p.pubMu.Lock()
			sess := p.pub
			p.pub = nil
			p.pubCands = nil
			p.pubMu.Unlock()
			if sess != nil {
				_ = sess.pc.Close()
			}
		})
	})
}

// dropPublisher closes the publish PC after the user lost the right to
// publish (its tracks are already out of the fan-out).
func (p *Participant) dropPublisher() {
	p.s.goroutine(func() {
		p.pubMu.Lock()
		sess := p.pub
		if sess != nil && sess.token != p.u.allow.Load() {
			p.pub = nil
			p.pubCands = nil
		} else {
			sess = nil
		}
		p.pubMu.Unlock()
		if sess != nil {
			_ = sess.pc.Close()
		}
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

func errClosed() error {
	return protocol.NewError(protocol.CodeMediaFailed, "media session closed")
}

// HandlePublishOffer applies the client's offer for its publish PC and
// returns the server's answer. The first offer after the user was allowed to
// publish opens a new publish PC; later ones renegotiate it (adding or
// removing tracks). Errors: 4040 if the user may not publish now, 4041 for a
// bad offer or a closed participant. It may wait up to Config.GatherTimeout
// for the server's candidates, which then travel in the answer.
func (p *Participant) HandlePublishOffer(sdp string) (string, error) {
	if p.closed.Load() {
		return "", errClosed()
	}
	tok := p.u.allow.Load()
	if tok == 0 {
		return "", protocol.NewError(protocol.CodeMediaRefused, "only users on stage may publish")
	}
	if n := countMedia(sdp); n > p.s.cfg.MaxPublishTracks {
		return "", protocol.NewError(protocol.CodeMediaFailed, "offer has %d media sections; at most %d", n, p.s.cfg.MaxPublishTracks)
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.closed.Load() {
		return "", errClosed()
	}
	sess := p.pub
	fresh := sess == nil || sess.token != tok || sess.pc.ConnectionState() == webrtc.PeerConnectionStateClosed ||
		newClientPC(sess.pc, sdp)
	if fresh {
		if sess != nil {
			old := sess.pc
			p.s.goroutine(func() { _ = old.Close() })
		}
		var err error
		if sess, err = p.newPubSession(tok); err != nil {
			p.pub = nil
			return "", protocol.NewError(protocol.CodeInternal, "publish connection: %v", err)
		}
		p.pub = sess
	}
	fail := func(err error) (string, error) {
		if fresh {
			p.pub = nil
			pc := sess.pc
			p.s.goroutine(func() { _ = pc.Close() })
		}
		return "", err
	}
	if err := sess.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fail(protocol.NewError(protocol.CodeMediaFailed, "bad publish offer: %v", err))
	}
	for _, c := range p.pubCands {
		if err := sess.pc.AddICECandidate(c); err != nil {
			p.log.Debug("queued publish candidate refused", "err", err)
		}
	}
	p.pubCands = nil
	var gathered <-chan struct{}
	if !sess.gathered {
		gathered = webrtc.GatheringCompletePromise(sess.pc)
	}
	answer, err := sess.pc.CreateAnswer(nil)
	if err == nil {
		err = sess.pc.SetLocalDescription(answer)
	}
	if err != nil {
		return fail(protocol.NewError(protocol.CodeMediaFailed, "publish answer: %v", err))
	}
	if gathered != nil {
		p.waitGathered(gathered)
		sess.gathered = true
	}
	if p.u.allow.Load() != tok {
		return fail(protocol.NewError(protocol.CodeMediaRefused, "only users on stage may publish"))
	}
	ld := sess.pc.LocalDescription()
	// Candidates not in the answer go out after it (the hub sends the
	// answer when this returns; a client queues early candidates anyway).
	sess.gate.Open(ld.SDP)
	return ld.SDP, nil
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

// newClientPC reports whether an offer comes from another client peer
// connection than the one pc talks to: its ICE username fragment differs
// (ICE restarts are not supported, so a renegotiation keeps it).
func newClientPC(pc *webrtc.PeerConnection, offer string) bool {
	rd := pc.RemoteDescription()
	return rd != nil && protocol.ICEUfrag(rd.SDP) != protocol.ICEUfrag(offer)
}

// countMedia counts the audio and video sections of an SDP.
func countMedia(sdp string) int {
	n := 0
	for _, line := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(line, "m=audio") || strings.HasPrefix(line, "m=video") {
			n++
		}
	}
	return n
}

func (p *Participant) newPubSession(tok uint64) (*pubSession, error) {
	pc, err := p.s.newPeerConnection()
	if err != nil {
		return nil, err
	}
	sess := &pubSession{pc: pc, token: tok, gate: p.candidateGate(protocol.PCPublish)}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			sess.gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("publish PC", "state", st.String())
	})
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		p.onPublishedTrack(sess, remote, recv)
	})
	return sess, nil
}

// onPublishedTrack starts forwarding a track that arrived on a publish PC,
// unless the user may no longer publish (then nothing reads it and the PC
// is being closed).
func (p *Participant) onPublishedTrack(sess *pubSession, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	if kind := remote.Kind().String(); !p.s.mayProduce(p.m.id, p.userID, kind) {
		p.log.Debug("track of a kind the user's preset may not produce: not forwarded", "kind", kind)
		return
	}
	ft := newForwardTrack(p, sess, remote, recv)
	if !p.m.addTrack(ft) {
		p.log.Debug("track from a user not allowed to publish: not forwarded", "kind", ft.info.Kind)
		return
	}
	p.log.Debug("forwarding track", "track", ft.info.TrackID, "codec", ft.codec.MimeType, "ssrc", uint32(remote.SSRC()))
	p.s.goroutine(ft.readLoop)
	p.s.goroutine(ft.drainReceiverRTCP)
	if ft.isVideo() {
		p.s.goroutine(ft.pliLoop)
		ft.requestKeyframe()
	}
}

// HandleSubscribeAnswer applies the client's answer to the server's
// outstanding subscribe offer. Errors (4041): no offer outstanding, a bad
// answer, a closed participant.
func (p *Participant) HandleSubscribeAnswer(sdp string) error {
	if !p.looping.Load() {
		return protocol.NewError(protocol.CodeMediaFailed, "no subscribe offer is outstanding")
	}
	req := answerReq{sdp: sdp, reply: make(chan error, 1)}
	select {
	case p.answerCh <- req:
	case <-p.done:
		return errClosed()
	}
	select {
	case err := <-req.reply:
		return err
	case <-p.done:
		return errClosed()
	}
}

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
		p.pubMu.Lock()
		defer p.pubMu.Unlock()
		if p.pub == nil || p.pub.pc.RemoteDescription() == nil {
			if len(p.pubCands) < maxPendingCandidates {
				p.pubCands = append(p.pubCands, init)
			}
			return nil
		}
		if err := p.pub.pc.AddICECandidate(init); err != nil {
			return protocol.NewError(protocol.CodeMediaFailed, "bad candidate: %v", err)
		}
	case protocol.PCSubscribe:
		p.subCandMu.Lock()
		defer p.subCandMu.Unlock()
		if !p.subRemote {
			if len(p.subCands) < maxPendingCandidates {
				p.subCands = append(p.subCands, init)
			}
			return nil
		}
		if err := p.sub.AddICECandidate(init); err != nil {
			return protocol.NewError(protocol.CodeMediaFailed, "bad candidate: %v", err)
		}
	default:
		return protocol.NewError(protocol.CodeBadArgs, "unknown peer connection %q", pc)
	}
	return nil
}

// loop is the participant's subscribe negotiation: it owns downs and runs
// one offer/answer at a time, folding changes that happen meanwhile into
// the next offer.
func (p *Participant) loop() {
	defer p.endSubscribe()
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
	for {
		select {
		case <-p.done:
			return
		case <-p.wakeCh:
			if !dirty {
				dirty, ready = true, false
				coalesce.Reset(coalesceDelay)
			}
		case <-coalesce.C:
			ready = true
		case <-p.connCh:
			for _, d := range p.downs {
				if d.bound.Load() {
					d.ft.requestKeyframe()
				}
			}
		case req := <-p.answerCh:
			if !awaiting {
				req.reply <- protocol.NewError(protocol.CodeMediaFailed, "no subscribe offer is outstanding")
				continue
			}
			err := p.applyAnswer(req.sdp)
			req.reply <- err
			if err == nil {
				awaiting = false
				timer.Stop()
			}
		case pc := <-p.failCh:
			if pc != p.sub || p.closed.Load() {
				continue
			}
			if wait := time.Until(p.lastRestart.Add(minRestartInterval)); wait > 0 {
				// Flapping: try again a little later.
				time.AfterFunc(wait, func() {
					select {
					case p.failCh <- pc:
					default:
					}
				})
				continue
			}
			p.lastRestart = time.Now()
			p.log.Info("subscribe PC failed or closed by the client; offering a new one")
			if err := p.restartSubscribe(); err != nil {
				p.log.Error("cannot make a new subscribe PC", "err", err)
				continue
			}
			awaiting, dirty, ready = false, true, true
			timer.Stop()
		case <-timer.C:
			if awaiting && resends < maxOfferResends {
				resends++
				p.log.Warn("no subscribe answer; sending the offer again", "attempt", resends)
				p.send(func(s Signaler) { s.SendOffer(offer) })
				timer.Reset(p.s.cfg.AnswerTimeout)
			} else if awaiting {
				p.log.Warn("no subscribe answer; giving up until the client answers")
			}
		}
		if dirty && ready && !awaiting && !p.closed.Load() {
			dirty, ready = false, false
			if sdp, ok := p.reconcile(); ok {
				awaiting, offer, resends = true, sdp, 0
				timer.Reset(p.s.cfg.AnswerTimeout)
			}
		}
	}
}

// reconcile makes the subscribe PC carry exactly the meeting's tracks but
// the participant's own, and offers it if that changed anything.
func (p *Participant) reconcile() (string, bool) {
	want := p.m.tracksFor(p)
	if p.sub == nil {
		if len(want) == 0 {
			return "", false
		}
		if err := p.newSubscribePC(); err != nil {
			p.log.Error("cannot make the subscribe PC", "err", err)
			return "", false
		}
	}
	keep := make(map[*forwardTrack]bool, len(want))
	for _, ft := range want {
		keep[ft] = true
	}
	changed := p.unoffered
	for ft, d := range p.downs {
		if !keep[ft] {
			p.removeDown(d)
			changed = true
		}
	}
	for _, ft := range want {
		if _, ok := p.downs[ft]; ok {
			continue
		}
		if err := p.addDown(ft); err != nil {
			p.log.Warn("cannot subscribe", "track", ft.info.TrackID, "err", err)
			continue
		}
		changed = true
	}
	if !changed {
		return "", false
	}
	tracks := make([]protocol.TrackInfo, 0, len(p.downs))
	for _, ft := range want {
		if _, ok := p.downs[ft]; ok {
			tracks = append(tracks, ft.info)
		}
	}
	var gathered <-chan struct{}
	if !p.subGathered {
		gathered = webrtc.GatheringCompletePromise(p.sub)
	}
	offer, err := p.sub.CreateOffer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		if !p.closed.Load() {
			p.log.Warn("subscribe offer failed", "err", err)
		}
		p.unoffered = true
		return "", false
	}
	p.unoffered = false
	if gathered != nil {
		p.waitGathered(gathered)
		p.subGathered = true
	}
	sdp := p.sub.LocalDescription().SDP
	p.send(func(s Signaler) {
		s.SendTracks(tracks)
		s.SendOffer(sdp)
	})
	p.subGate.Open(sdp)
	return sdp, true
}

func (p *Participant) addDown(ft *forwardTrack) error {
	local, err := webrtc.NewTrackLocalStaticRTP(ft.codec, ft.info.TrackID, ft.info.StreamID)
	if err != nil {
		return err
	}
	d := &downTrack{p: p, ft: ft, rtp: local}
	d.local = &boundTrack{TrackLocalStaticRTP: local, d: d}
	tr, err := p.sub.AddTransceiverFromTrack(d.local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	d.sender = tr.Sender()
	p.downs[ft] = d
	p.s.goroutine(d.readRTCP)
	ft.addDown(d)
	return nil
}

func (p *Participant) removeDown(d *downTrack) {
	delete(p.downs, d.ft)
	d.ft.removeDown(d)
	if err := p.sub.RemoveTrack(d.sender); err != nil && !p.closed.Load() {
		p.log.Debug("remove track", "track", d.ft.info.TrackID, "err", err)
	}
}

// applyAnswer sets the client's answer and the candidates that waited for
// it.
func (p *Participant) applyAnswer(sdp string) error {
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "bad subscribe answer: %v", err)
	}
	p.subCandMu.Lock()
	defer p.subCandMu.Unlock()
	p.subRemote = true
	for _, c := range p.subCands {
		if err := p.sub.AddICECandidate(c); err != nil {
			p.log.Debug("queued subscribe candidate refused", "err", err)
		}
	}
	p.subCands = nil
	return nil
}

// endSubscribe takes the participant's copies out of every fan-out and
// closes the subscribe PC.
func (p *Participant) endSubscribe() {
	p.dropDowns()
	if p.sub != nil {
		_ = p.sub.Close()
	}
}

func (p *Participant) dropDowns() {
	for _, d := range p.downs {
		d.ft.removeDown(d)
	}
	clear(p.downs)
}

// restartSubscribe replaces a failed subscribe PC by a new one, which the
// next reconcile offers with every track. The client sees an offer with new
// ICE credentials and must answer it with a new peer connection.
func (p *Participant) restartSubscribe() error {
	old := p.sub
	p.dropDowns()
	p.s.goroutine(func() { _ = old.Close() })
	p.unoffered = false
	return p.newSubscribePC()
}

// candidateGate holds the local candidates of the participant's PC pc until
// its description was handed over (protocol.CandidateGate).
func (p *Participant) candidateGate(pc string) *protocol.CandidateGate {
	return protocol.NewCandidateGate(func(c protocol.ICECandidate) {
		p.send(func(s Signaler) { s.SendCandidate(pc, c) })
	})
}
