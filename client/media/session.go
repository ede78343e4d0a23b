package media

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Session is the media side of one client.Meeting. Its methods are safe for
// concurrent use.
type Session struct {
	m              *client.Meeting
	opts           Options
	api            *webrtc.API
	log            client.Logger
	removeListener func()

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the session's goroutines (added under mu while open)

	// Server media messages, in order, for run.
	inMu  sync.Mutex
	in    []protocol.ServerMessage
	inSig chan struct{}

	// Stage status changes, reconnects and lost publish connections, for
	// control. exits counts the status updates to anything but ON_STAGE:
	// the server closes the publish connection of a user who leaves
	// ON_STAGE, so a connection negotiated before the latest exit is dead
	// even if the user is back.
	ctlSig      chan struct{}
	reconnected atomic.Bool
	pubLost     atomic.Bool // the publish connection failed or was closed: a new one
	pubSilent   atomic.Bool // the publish connection's ICE went silent: restart it
	pubRestart  atomic.Bool // RestartICE: restart it now
	exits       atomic.Uint64

	// ICE restarts of the subscribe connection, owned by run.
	lastSubRestart time.Time
	// The states last told to Options.OnConnectionState, by transport.
	connMu    sync.Mutex
	connState map[string]string

	// Local candidates to send, for sendLoop.
	outMu     sync.Mutex
	out       []protocol.ClientMessage
	outSig    chan struct{}
	trickled  atomic.Int64 // candidates sent
	described atomic.Int64 // candidates gathered before, and so sent in, the description

	note notifier

	mu       sync.Mutex
	closed   bool
	sub      *subConn
	subCands []webrtc.ICECandidateInit // server subscribe candidates waiting for an offer
	remote   map[string][]protocol.TrackInfo
	byTrack  map[string]protocol.TrackInfo
	received []*Track
	offers   int
	pub      *pubConn
	wanted   []LocalTrack       // what is published, for republishing
	paused   []protocol.LayerID // simulcast layers nobody watches (the server's "layers")
	sizeSig  chan struct{}      // a simulcast track is published: watchSizes

	pubMu sync.Mutex // one Publish, Unpublish or republish at a time
}

// subConn is the subscribe peer connection. ufrag (its remote ICE username
// fragment) and mids (the last offer's m-sections) are under Session.mu;
// gathered belongs to run.
type subConn struct {
	pc       *webrtc.PeerConnection
	gate     *protocol.CandidateGate
	ufrag    string
	mids     map[string]msid
	slots    map[string]*recvSlot // by the server's track id, under Session.mu
	gathered bool
	release  func()        // the build's track handler
	rx       atomic.Uint64 // packets received (native builds; see heard)
}

// recvSlot is one receive slot of the subscribe connection: a transceiver
// the server binds to one participant's track at a time (and rebinds, with
// no renegotiation, when the stage changes). Each binding is a *Track of
// its own: it ends when the slot is rebound or freed.
type recvSlot struct {
	sub     *subConn
	trackID string
	kind    string
	edge    slotEdge // the build's part: the browser's track, pion's receiver
	cur     atomic.Pointer[Track]
}

// pubConn is the publish peer connection: one per stage visit, renegotiated
// when the published tracks change (see docs/architecture.md, "One
// negotiation policy").
type pubConn struct {
	pc    *webrtc.PeerConnection
	gate  *protocol.CandidateGate
	epoch uint64 // Session.exits when it was made
	// Under Session.mu: whether the server's answer is set, and the server
	// candidates that came before it.
	remoteSet bool
	cands     []webrtc.ICECandidateInit
	slots     []*slot       // under pubMu
	gathered  bool          // under pubMu
	restarted time.Time     // the last ICE restart, under pubMu
	rx        atomic.Uint64 // RTCP packets received (native builds; see heard)
	edge      pubEdge       // the build's per-connection state

	connected, failed, done chan struct{}
	connOnce, failOnce      sync.Once
	doneOnce                sync.Once
}

// slot is one send transceiver of the publish connection; track is nil
// while it is inactive (its kind was unpublished).
type slot struct {
	kind   webrtc.RTPCodecType
	source string // protocol.SourceScreenshare, or "" (camera, microphone)
	track  LocalTrack
	snd    sender
	fit    layerFit // what the build's addSender or setLayers fitted the encodings to
}

// Attach starts the media session of m. Call it after client.Init and
// before m.Join, so that the server's first subscribe offer is seen. The
// session ends with Close, or by itself when the meeting is done.
func Attach(m *client.Meeting, opts Options) (*Session, error) {
	if m == nil {
		return nil, protocol.NewError(protocol.CodeBadArgs, "media: Attach needs a meeting")
	}
	if opts.GatherTimeout == 0 {
		opts.GatherTimeout = defaultGatherTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	api, err := sessionAPI(opts)
	if err != nil {
		return nil, err
	}
	s := &Session{
		m:       m,
		opts:    opts,
		api:     api,
		log:     client.LoggerWith(sessionLogger(opts), "component", "media", "user", m.Self().UserID),
		inSig:   make(chan struct{}, 1),
		ctlSig:  make(chan struct{}, 1),
		outSig:  make(chan struct{}, 1),
		sizeSig: make(chan struct{}, 1),
		remote:  map[string][]protocol.TrackInfo{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if m.Self().RoomJoined {
		s.log.Warn("attached after Join: the first subscribe offer may have been missed (the server resends it after its answer timeout)")
	}
	m.KeepMedia() // reconnects keep both connections and restart ICE on them
	s.removeListener = m.On(s.onEvent)
	s.goroutine(s.run)
	s.goroutine(s.control)
	s.goroutine(s.watchSilence)
	s.goroutine(s.watchSizes)
	s.goroutine(s.sendLoop)
	go func() {
		select {
		case <-m.Done():
			s.Close()
		case <-s.ctx.Done():
		}
	}()
	return s, nil
}

const (
	defaultRequestTimeout = 10 * time.Second
	// maxQueuedCandidates bounds the remote candidates kept for a peer
	// connection that has no remote description yet.
	maxQueuedCandidates = 64
)

// goroutine runs fn in the session's wait group unless it is closed.
func (s *Session) goroutine(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// onEvent is the meeting listener: it runs on the meeting's reader and only
// queues.
func (s *Session) onEvent(e client.Event) {
	switch e.Name {
	case client.EventMedia:
		if e.Media == nil {
			return
		}
		s.inMu.Lock()
		s.in = append(s.in, *e.Media)
		s.inMu.Unlock()
		poke(s.inSig)
	case client.EventStageStatusUpdate:
		if e.Status != stage.OnStage {
			s.exits.Add(1)
		}
		poke(s.ctlSig)
	case client.EventReconnected:
		s.reconnected.Store(true)
		poke(s.ctlSig)
		// In order with the media messages: the server kept the media
		// session (the rejoin asked it to) and the subscribe connection
		// restarts ICE, or it made a new one, which offers a new connection.
		s.queueRestart(true)
	}
}

// restartSubscribe is the session's own entry in its media message queue:
// restart ICE on the subscribe connection (Force: after a reconnect, even
// if it looks up). If the server has no subscribe connection for it any
// more (it made a new media session), the connection is closed and its
// tracks end now rather than when the new connection's offer comes.
const restartSubscribe = "stagekit.restartSubscribe"

// queueRestart queues an ICE restart of the subscribe connection, in order
// with the server's media messages. force: after a reconnect.
func (s *Session) queueRestart(force bool) {
	s.inMu.Lock()
	s.in = append(s.in, protocol.ServerMessage{Event: restartSubscribe, ICERestart: force})
	s.inMu.Unlock()
	poke(s.inSig)
}

// RestartICE restarts ICE on both peer connections now, keeping them, their
// tracks and the server's slots: for an application that learns of a
// network change before the connections notice (the session restarts by
// itself when a connection's ICE goes silent, and after a reconnect).
func (s *Session) RestartICE() {
	s.queueRestart(true)
	s.pubRestart.Store(true)
	poke(s.ctlSig)
}

// minRestartInterval spaces the ICE restarts the session asks for on one
// connection when its ICE keeps failing.
const minRestartInterval = time.Second

// probeTimeout bounds the signaling check made when a connection's ICE
// goes silent (Meeting.Probe): a network that changed under the WebSocket
// too is then noticed in this time, not after the ping interval.
const probeTimeout = time.Second

// Media silence: both connections are looked at every silenceCheck. The
// receiving one, when it carries a live track and received nothing for
// silenceTimeout (video is ~30 packets a second, and the server sends a
// sender report every 2 s); the publishing one, when it sends a track and
// received no RTCP for pubSilenceTimeout (the server's transport feedback
// comes every 100 ms while it receives media, its receiver reports every
// second; a silence that is not a network change costs one ping). The
// network may
// have changed under it, which ICE notices only seconds later: the
// signaling connection is probed then (Probe), so that a dead one
// reconnects, and the reconnect restarts ICE.
const (
	silenceCheck      = 200 * time.Millisecond
	silenceTimeout    = 500 * time.Millisecond
	pubSilenceTimeout = 500 * time.Millisecond
)

// silence follows what one connection has received.
type silence struct {
	pc     *webrtc.PeerConnection
	last   uint64
	since  time.Time
	probed bool
}

// heard takes the connection's count n (ok: pc is up and should be heard)
// and reports whether it has been silent for longer than timeout, once
// per silence.
func (w *silence) heard(pc *webrtc.PeerConnection, n uint64, ok bool, timeout time.Duration, now time.Time) (silent bool) {
	if !ok {
		w.pc = nil
		return false
	}
	if pc != w.pc || n != w.last {
		*w = silence{pc: pc, last: n, since: now}
		return false
	}
	if w.probed || now.Sub(w.since) < timeout {
		return false
	}
	w.probed = true
	return true
}

func iceUp(pc *webrtc.PeerConnection) bool {
	st := pc.ICEConnectionState()
	return st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted
}

// watchSilence probes the signaling connection when a peer connection goes
// silent (see silenceTimeout), once per silence.
func (s *Session) watchSilence() {
	t := time.NewTicker(silenceCheck)
	defer t.Stop()
	var sub, pub silence
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		sc, p := s.sub, s.pub
		live := false
		if sc != nil {
			for _, sl := range sc.slots {
				if tr := sl.cur.Load(); tr != nil && !tr.IsEnded() {
					live = true
					break
				}
			}
		}
		sending := p != nil && p.remoteSet && len(s.wanted) > 0
		s.mu.Unlock()
		now := time.Now()
		var silent []string
		if sc != nil && live && iceUp(sc.pc) {
			ctx, cancel := context.WithTimeout(s.ctx, silenceCheck)
			n, ok := s.heard(ctx, sc.pc, &sc.rx)
			cancel()
			if sub.heard(sc.pc, n, ok, silenceTimeout, now) {
				silent = append(silent, TransportRecv)
			}
		} else {
			sub.heard(nil, 0, false, 0, now)
		}
		if sending && iceUp(p.pc) {
			ctx, cancel := context.WithTimeout(s.ctx, silenceCheck)
			n, ok := s.heard(ctx, p.pc, &p.rx)
			cancel()
			if pub.heard(p.pc, n, ok, pubSilenceTimeout, now) {
				silent = append(silent, TransportSend)
			}
		} else {
			pub.heard(nil, 0, false, 0, now)
		}
		if len(silent) > 0 {
			// A publisher that vanished makes the receiving side silent
			// too: this is a hint, not a state; a dead socket fails the
			// probe.
			s.log.Debug("media silent; probing the signaling", "transports", silent)
			go s.m.Probe(probeTimeout) //nolint:errcheck // a failed probe reconnects by itself
		}
	}
}

// iceSilent reports whether an ICE state means the other side is not heard.
func iceSilent(st webrtc.ICEConnectionState) bool {
	return st == webrtc.ICEConnectionStateDisconnected || st == webrtc.ICEConnectionStateFailed
}

// restartRanDry is how long a connection may stay checking after an ICE
// restart before the restart counts as failed.
const restartRanDry = 2 * minRestartInterval

// iceUnheard reports whether a connection restarted at restarted (zero:
// never) is not heard: silent, or still checking restartRanDry after its
// restart. A restart made while the network is still dark runs dry: its
// checks go unanswered (pion gives up on a pair after seven), and the
// connection stays checking until ICE's failed timeout (25 s in pion),
// long after the network is back.
func iceUnheard(st webrtc.ICEConnectionState, restarted time.Time) bool {
	return iceSilent(st) || st == webrtc.ICEConnectionStateChecking && !restarted.IsZero() && time.Since(restarted) >= restartRanDry
}

// iceUnsettled reports whether a connection's ICE is silent or checking:
// while it is, after a silence, the session keeps asking for restarts
// (iceUnheard decides whether one is due).
func iceUnsettled(st webrtc.ICEConnectionState) bool {
	return iceSilent(st) || st == webrtc.ICEConnectionStateChecking
}

// setConnState tells Options.OnConnectionState of a change of a
// connection's state (RealtimeKit's mediaConnectionUpdate: transport
// TransportRecv or TransportSend; "connected", "disconnected",
// "reconnecting").
func (s *Session) setConnState(transport, state string) {
	s.connMu.Lock()
	if s.connState == nil {
		s.connState = map[string]string{}
	}
	if s.connState[transport] == state {
		s.connMu.Unlock()
		return
	}
	s.connState[transport] = state
	s.connMu.Unlock()
	if f := s.opts.OnConnectionState; f != nil {
		f(transport, state)
	}
}

// connectedAfterRestart reports transport connected once an ICE restart
// was negotiated on pc, if its ICE is up: a browser whose ICE stayed
// connected through the restart tells no new state.
func (s *Session) connectedAfterRestart(transport string, pc *webrtc.PeerConnection) {
	if st := pc.ICEConnectionState(); st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted {
		s.setConnState(transport, "connected")
	}
}

// ConnectionState is the state last reported for transport (TransportRecv:
// the subscribe connection, TransportSend: the publish one), "" before any.
func (s *Session) ConnectionState(transport string) string {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.connState[transport]
}

// Transports as RealtimeKit (2.0.2) names them in mediaConnectionUpdate
// and meta.mediaState.
const (
	TransportRecv = "recv" // the subscribe connection
	TransportSend = "send" // the publish connection
)

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Close ends the session: it stops listening to the meeting, closes both
// peer connections and waits for the session's goroutines. The meeting
// itself stays as it is. Closing twice is harmless.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	sub, pub := s.sub, s.pub
	s.sub, s.pub, s.wanted = nil, nil, nil
	s.mu.Unlock()
	s.removeListener()
	s.cancel()
	if pub != nil {
		s.closePub(pub)
	}
	if sub != nil {
		s.closeSub(sub)
	}
	s.wg.Wait()
	s.note.fire()
}

func errClosed() error { return protocol.NewError(protocol.CodeClosed, "the media session is closed") }

// ---- Subscribing ----

// run applies the server's media messages in order.
func (s *Session) run() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.inSig:
		}
		for {
			s.inMu.Lock()
			if len(s.in) == 0 {
				s.in = nil
				s.inMu.Unlock()
				break
			}
			msg := s.in[0]
			s.in = s.in[1:]
			s.inMu.Unlock()
			if s.ctx.Err() != nil {
				return
			}
			s.handle(msg)
		}
	}
}

func (s *Session) handle(msg protocol.ServerMessage) {
	switch msg.Event {
	case restartSubscribe:
		s.restartSub(msg.ICERestart)
	case protocol.MediaTracks:
		s.setRemoteTracks(msg.Tracks)
	case protocol.MediaOffer:
		if err := s.answer(msg.SDP, msg.ICERestart); err != nil && s.ctx.Err() == nil {
			s.log.Warn("subscribe offer not answered", "err", err)
		}
	case protocol.MediaCandidate:
		if msg.Candidate != nil && msg.Candidate.Candidate != "" {
			s.addRemoteCandidate(msg.PC, webrtc.ICECandidateInit(*msg.Candidate))
		}
	case protocol.MediaLayers:
		s.mu.Lock()
		s.paused = msg.Paused
		s.mu.Unlock()
		s.goroutine(s.applyLayers)
	default:
		s.log.Debug("unknown media message", "event", msg.Event)
	}
}

// setRemoteTracks takes the server's track map, which says whose track
// each receive slot carries now: a slot whose owner changed ends its track
// and starts one for the new owner; a slot no longer listed is idle.
func (s *Session) setRemoteTracks(list []protocol.TrackInfo) {
	byPeer := make(map[string][]protocol.TrackInfo, len(list))
	byTrack := make(map[string]protocol.TrackInfo, len(list))
	for _, ti := range list {
		byPeer[ti.PeerID] = append(byPeer[ti.PeerID], ti)
		byTrack[ti.TrackID] = ti
	}
	s.mu.Lock()
	s.remote, s.byTrack = byPeer, byTrack
	var slots []*recvSlot
	if s.sub != nil {
		for _, sl := range s.sub.slots {
			slots = append(slots, sl)
		}
	}
	s.mu.Unlock()
	for _, sl := range slots {
		s.rebind(sl)
	}
	s.note.fire()
}

// rebind makes sl's track the one the track map gives it: the current one
// if its owner and source (camera or screen) are unchanged, else it ends
// and a new one starts.
func (s *Session) rebind(sl *recvSlot) {
	s.mu.Lock()
	info, listed := s.byTrack[sl.trackID]
	cur := sl.cur.Load()
	if cur != nil && listed && cur.Info.PeerID == info.PeerID && cur.Info.Source == info.Source && !cur.IsEnded() {
		s.mu.Unlock()
		return
	}
	var next *Track
	if listed && !s.closed && s.sub == sl.sub {
		next = newTrack(info, sl)
		s.received = append(s.received, next)
	}
	sl.cur.Store(next)
	s.mu.Unlock()
	if cur != nil {
		s.endTrack(cur)
	}
	if next != nil {
		s.log.Debug("receiving track", "peer", info.PeerID, "kind", info.Kind, "track", info.TrackID)
		if s.opts.OnTrack != nil {
			s.opts.OnTrack(next)
		}
	}
}

// restartSub asks the server for an ICE restart of the subscribe connection
// (its offer follows as a media message) when the connection's ICE is
// silent, or after a reconnect (force). A server that has no subscribe
// connection for it any more made a new media session: the connection is
// closed, and the server's next offer makes a new one.
func (s *Session) restartSub(force bool) {
	s.mu.Lock()
	sc := s.sub
	s.mu.Unlock()
	if sc == nil || sc.ufrag == "" {
		return
	}
	if !force && (!iceUnheard(sc.pc.ICEConnectionState(), s.lastSubRestart) || time.Since(s.lastSubRestart) < minRestartInterval) {
		return
	}
	s.lastSubRestart = time.Now()
	s.setConnState(TransportRecv, "reconnecting")
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
	defer cancel()
	_, err := s.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaRestart, PC: protocol.PCSubscribe})
	if err == nil {
		s.log.Debug("subscribe ICE restart asked", "reconnected", force)
		return
	}
	if codeOf(err) != protocol.CodeMediaFailed {
		s.log.Debug("subscribe ICE restart not asked", "err", err)
		return
	}
	s.log.Debug("the server has no subscribe connection for us; closing ours", "err", err)
	s.mu.Lock()
	if s.sub == sc {
		s.sub, s.subCands = nil, nil
	}
	s.mu.Unlock()
	s.closeSub(sc)
}

// answer applies a subscribe offer and sends the answer. An offer with other
// ICE credentials than the current connection's is for a new connection
// (the server replaced it): the old one is closed and a new one answers;
// unless the offer is marked as an ICE restart (iceRestart), which the
// current connection applies.
func (s *Session) answer(sdp string, iceRestart bool) error {
	ufrag := protocol.ICEUfrag(sdp)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed()
	}
	sc := s.sub
	restart := iceRestart && sc != nil && sc.ufrag != "" && sc.ufrag != ufrag
	if restart {
		// Its new candidates go out after the answer with the new
		// credentials.
		sc.gate.Close()
	}
	if sc != nil && sc.ufrag != "" && sc.ufrag != ufrag && !restart {
		old := sc
		sc, s.sub = nil, nil
		s.log.Debug("the server replaced the subscribe connection")
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.closeSub(old)
		}()
	}
	s.mu.Unlock()
	if sc == nil {
		var err error
		if sc, err = s.newSubConn(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	sc.mids = parseMsids(sdp)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
	defer cancel()
	err := s.step(ctx, sc.pc, func() error {
		return sc.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp})
	})
	if err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "subscribe offer: %v", err)
	}
	s.mu.Lock()
	sc.ufrag = ufrag
	cands := s.subCands
	s.subCands = nil
	s.offers++
	s.mu.Unlock()
	s.addCandidates(ctx, sc.pc, cands)
	var gathered <-chan struct{}
	if (!sc.gathered || restart) && s.opts.GatherTimeout > 0 {
		gathered = webrtc.GatheringCompletePromise(sc.pc)
	}
	err = s.step(ctx, sc.pc, func() error {
		ans, err := sc.pc.CreateAnswer(nil)
		if err == nil {
			err = sc.pc.SetLocalDescription(ans)
		}
		return err
	})
	if err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "subscribe answer: %v", err)
	}
	if gathered != nil {
		s.waitGathered(gathered)
		sc.gathered = true
	}
	local := sc.pc.LocalDescription().SDP
	_, err = s.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaAnswer, PC: protocol.PCSubscribe, SDP: local})
	s.described.Add(int64(sc.gate.Open(local)))
	if restart && err == nil {
		s.connectedAfterRestart(TransportRecv, sc.pc)
	}
	s.note.fire()
	return err
}

func (s *Session) newSubConn() (*subConn, error) {
	pc, err := s.newPC()
	if err != nil {
		return nil, err
	}
	sc := &subConn{pc: pc, gate: s.candidateGate(protocol.PCSubscribe)}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			sc.gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("subscribe PC", "state", st.String())
	})
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		s.mu.Lock()
		current := s.sub == sc
		s.mu.Unlock()
		if !current {
			return
		}
		switch {
		case iceSilent(st):
			// The network may have changed: check the signaling now (a
			// dead WebSocket reconnects, and the reconnect restarts ICE),
			// and restart ICE on what is there.
			s.setConnState(TransportRecv, "disconnected")
			go s.m.Probe(probeTimeout) //nolint:errcheck // a failed probe reconnects by itself
			s.queueRestart(false)
			// A restart that did not help is repeated while ICE stays
			// silent or checking (restartSub checks).
			var again func()
			again = func() {
				if s.ctx.Err() == nil && iceUnsettled(pc.ICEConnectionState()) {
					s.queueRestart(false)
					time.AfterFunc(2*minRestartInterval, again)
				}
			}
			time.AfterFunc(2*minRestartInterval, again)
		case st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted:
			s.setConnState(TransportRecv, "connected")
		}
	})
	sc.release = s.watchTracks(sc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		go s.closeSub(sc)
		return nil, errClosed()
	}
	s.sub = sc
	return sc, nil
}

// closeSub closes a subscribe connection that is no longer s.sub; the
// tracks it carried end.
func (s *Session) closeSub(sc *subConn) {
	sc.gate.Stop()
	_ = sc.pc.Close()
	if sc.release != nil {
		sc.release()
	}
	s.mu.Lock()
	var ended []*Track
	for _, sl := range sc.slots {
		if t := sl.cur.Swap(nil); t != nil {
			ended = append(ended, t)
		}
	}
	s.mu.Unlock()
	for _, t := range ended {
		s.endTrack(t)
	}
}

func (s *Session) newPC() (*webrtc.PeerConnection, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{
		ICEServers:   s.opts.ICEServers,
		BundlePolicy: webrtc.BundlePolicyMaxBundle,
	})
	if err != nil {
		return nil, protocol.NewError(protocol.CodeMediaFailed, "peer connection: %v", err)
	}
	return pc, nil
}

func (s *Session) waitGathered(ch <-chan struct{}) {
	t := time.NewTimer(s.opts.GatherTimeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-s.ctx.Done():
	}
}

// addSlot records a receive slot that the browser or pion announced
// (ontrack) for the m-section mid, and binds it as the track map says;
// nil if the connection is no longer the session's. The slot's id is the
// m-section's msid track id (from the offer when the build cannot read it).
func (s *Session) addSlot(sc *subConn, mid, trackID, kind string, edge slotEdge) *recvSlot {
	s.mu.Lock()
	if ms, ok := sc.mids[mid]; ok && ms.track != "" {
		trackID = ms.track
	}
	if s.closed || s.sub != sc {
		s.mu.Unlock()
		return nil
	}
	sl := &recvSlot{sub: sc, trackID: trackID, kind: kind, edge: edge}
	if sc.slots == nil {
		sc.slots = map[string]*recvSlot{}
	}
	sc.slots[trackID] = sl
	s.mu.Unlock()
	s.rebind(sl)
	s.note.fire()
	return sl
}

// endTrack ends t once, telling OnTrackEnded.
func (s *Session) endTrack(t *Track) {
	if !t.end() {
		return
	}
	if s.opts.OnTrackEnded != nil {
		s.opts.OnTrackEnded(t)
	}
	s.note.fire()
}

// addRemoteCandidate adds a server candidate to the named connection, or
// queues it until that connection has the server's description.
func (s *Session) addRemoteCandidate(pcName string, c webrtc.ICECandidateInit) {
	s.mu.Lock()
	var pc *webrtc.PeerConnection
	switch pcName {
	case protocol.PCSubscribe:
		if s.sub == nil || s.sub.ufrag == "" {
			if len(s.subCands) < maxQueuedCandidates {
				s.subCands = append(s.subCands, c)
			}
		} else {
			pc = s.sub.pc
		}
	case protocol.PCPublish:
		switch p := s.pub; {
		case p == nil:
		case !p.remoteSet:
			if len(p.cands) < maxQueuedCandidates {
				p.cands = append(p.cands, c)
			}
		default:
			pc = p.pc
		}
	}
	s.mu.Unlock()
	if pc != nil {
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
		defer cancel()
		s.addCandidates(ctx, pc, []webrtc.ICECandidateInit{c})
	}
}

func (s *Session) addCandidates(ctx context.Context, pc *webrtc.PeerConnection, cands []webrtc.ICECandidateInit) {
	for _, c := range cands {
		if c.SDPMid == nil && c.SDPMLineIndex == nil {
			zero := uint16(0) // bundled: the first section's transport
			c.SDPMLineIndex = &zero
		}
		if err := s.step(ctx, pc, func() error { return pc.AddICECandidate(c) }); err != nil {
			s.log.Debug("server candidate refused", "err", err)
		}
	}
}

// ---- Publishing ----

// Publish publishes exactly tracks (each in a send-only transceiver of the
// publish connection: the one it had, a free one of its kind, or a new
// one; the others stop sending) and returns once the server answered and
// the connection is up, or with the server's refusal (4040 when the user
// is not ON_STAGE). The tracks are published until Unpublish, until the
// local status leaves ON_STAGE, or until Close; after a reconnect while
// ON_STAGE they are published again on a new connection.
func (s *Session) Publish(ctx context.Context, tracks ...LocalTrack) error {
	if len(tracks) == 0 {
		return protocol.NewError(protocol.CodeBadArgs, "nothing to publish")
	}
	p, err := s.publish(ctx, tracks, true)
	if err != nil {
		return err
	}
	return s.waitConnected(ctx, p)
}

// publish makes the publish connection carry tracks: the current one,
// renegotiated if what it sends changed, or a new one when there is none
// or it is dead. An explicit call that fails forgets the tracks; a
// republish forgets them only when the server refused (the user is no
// longer on stage).
func (s *Session) publish(ctx context.Context, tracks []LocalTrack, explicit bool) (*pubConn, error) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	p, closed := s.pub, s.closed
	s.mu.Unlock()
	if closed {
		return nil, errClosed()
	}
	if p != nil && (s.stale(p) || isDone(p.failed)) {
		s.dropPub(p)
		p = nil
	}
	var err error
	if p == nil {
		p, err = s.newPub()
	}
	if err == nil {
		err = s.update(ctx, p, tracks, false)
	}
	s.mu.Lock()
	switch {
	case err == nil:
		s.wanted = tracks
	case explicit || codeOf(err) == protocol.CodeMediaRefused:
		s.wanted = nil
	}
	s.mu.Unlock()
	if err != nil {
		// Its state is unknown after a failed step: a new one is offered
		// next time.
		if p != nil {
			s.dropPub(p)
		}
		s.note.fire()
		return nil, err
	}
	s.note.fire()
	// The status may have left ON_STAGE while the offer was out.
	poke(s.ctlSig)
	return p, nil
}

// stale reports whether the server closed p: it was made before the
// user's latest exit from ON_STAGE. (After a reconnect the server keeps it;
// if it did not, the ICE restart is refused and a new one is offered.)
func (s *Session) stale(p *pubConn) bool {
	return p.epoch < s.exits.Load()
}

// newPub makes the publish connection (not yet negotiated) and makes it
// the session's.
func (s *Session) newPub() (*pubConn, error) {
	pc, err := s.newPC()
	if err != nil {
		return nil, err
	}
	p := &pubConn{pc: pc, gate: s.candidateGate(protocol.PCPublish), epoch: s.exits.Load(),
		connected: make(chan struct{}), failed: make(chan struct{}), done: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("publish PC", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() { close(p.connected) })
		case webrtc.PeerConnectionStateClosed:
			p.failOnce.Do(func() { close(p.failed) })
			if !isDone(p.done) {
				s.pubLost.Store(true)
				poke(s.ctlSig)
			}
		}
	})
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if isDone(p.done) {
			return
		}
		switch {
		case iceSilent(st):
			// As for the subscribe connection: check the signaling, and
			// restart ICE (control), again while it stays silent or
			// checking.
			s.setConnState(TransportSend, "disconnected")
			go s.m.Probe(probeTimeout) //nolint:errcheck // a failed probe reconnects by itself
			s.pubSilent.Store(true)
			poke(s.ctlSig)
			var again func()
			again = func() {
				if s.ctx.Err() == nil && !isDone(p.done) && iceUnsettled(pc.ICEConnectionState()) {
					s.pubSilent.Store(true)
					poke(s.ctlSig)
					time.AfterFunc(2*minRestartInterval, again)
				}
			}
			time.AfterFunc(2*minRestartInterval, again)
		case st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted:
			s.setConnState(TransportSend, "connected")
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = pc.Close()
		return nil, errClosed()
	}
	s.pub, s.paused = p, nil
	s.mu.Unlock()
	return p, nil
}

// update puts tracks on p's transceivers and renegotiates when that changed
// what p sends, or when p was never negotiated. pubMu held.
func (s *Session) update(ctx context.Context, p *pubConn, tracks []LocalTrack, iceRestart bool) error {
	changed, err := s.assign(ctx, p, tracks)
	if err != nil {
		return err
	}
	if !changed && p.remoteSet && !iceRestart {
		return nil
	}
	return s.negotiate(ctx, p, iceRestart && p.remoteSet)
}

// assign gives every track a slot: the one it has, a free one of its kind,
// or a new transceiver; slots left over stop sending. It reports whether a
// renegotiation is needed (replacing a track on a sending slot is not).
func (s *Session) assign(ctx context.Context, p *pubConn, tracks []LocalTrack) (changed bool, err error) {
	taken := make([]bool, len(p.slots))
	var rest []LocalTrack
	for _, t := range tracks {
		i := -1
		for j, sl := range p.slots {
			if !taken[j] && sl.track != nil && sameTrack(sl.track, t) {
				i = j
				break
			}
		}
		if i < 0 {
			rest = append(rest, t)
			continue
		}
		taken[i] = true
	}
	for _, t := range rest {
		i := -1
		for j, sl := range p.slots {
			if !taken[j] && sl.kind == t.Kind() && sl.source == sourceOf(t) {
				i = j
				break
			}
		}
		if i < 0 {
			sl := &slot{kind: t.Kind(), source: sourceOf(t)}
			if err := s.addSender(ctx, p, sl, t); err != nil {
				return changed, protocol.NewError(protocol.CodeMediaFailed, "add the %s track: %v", sl.kind, err)
			}
			s.setSlotTrack(sl, t)
			p.slots = append(p.slots, sl)
			taken = append(taken, true)
			changed = true
			if sl.fit.rids > 1 {
				poke(s.sizeSig)
			}
			continue
		}
		taken[i] = true
		sl := p.slots[i]
		reneg, err := s.setSender(ctx, p, sl, t)
		if err != nil {
			return changed, protocol.NewError(protocol.CodeMediaFailed, "put the %s track on: %v", sl.kind, err)
		}
		s.setSlotTrack(sl, t)
		changed = changed || reneg
		// A track of another size than the one before: its layers
		// (fitLayers).
		s.mu.Lock()
		paused := s.paused
		s.mu.Unlock()
		if err := s.setLayers(ctx, sl, s.pausedLayers(p, sl, paused)); err != nil {
			s.log.Warn("simulcast layers not fitted to the track", "err", err)
		}
		if sl.fit.rids > 1 {
			poke(s.sizeSig)
		}
	}
	for j, sl := range p.slots {
		if taken[j] || sl.track == nil {
			continue
		}
		if _, err := s.setSender(ctx, p, sl, nil); err != nil {
			return changed, protocol.NewError(protocol.CodeMediaFailed, "stop the %s track: %v", sl.kind, err)
		}
		s.setSlotTrack(sl, nil)
		changed = true
	}
	return changed, nil
}

// cameraLayer is one simulcast layer of camera video.
type cameraLayer = protocol.SimulcastLayer

// cameraLayers are the simulcast layers of camera video, lowest first
// (protocol.CameraLayers: the server reads the same table).
var cameraLayers = protocol.CameraLayers

// sizeLayers is how many simulcast layers Chromium sends for a w×h track:
// three from 960×540 (and for an unknown size), two from 480×270, else one.
func sizeLayers(w, h int) int {
	switch px := w * h; {
	case px == 0 || px >= 960*540:
		return 3
	case px >= 480*270:
		return 2
	}
	return 1
}

// sentLayer is the i-th lowest of the n layers sent of the of layers a
// track's size allows (sizeLayers; n ≤ of): the scale of the i-th of the
// top n camera layers (the top one is the track's full size) and the rate
// of the camera layer of its size, of-n+i: a 640×360 track's two layers
// are a 720p camera's q and h in size (320×180 and 640×360), and take
// their 150 and 500 kbit/s (LiveKit's h180 and h360 presets: 160 and
// 450). With the top layers' rates its 320×180 layer was allowed
// 500 kbit/s, and Chromium sent it at up to 375 kbit/s, more than a
// 300 kbit/s viewer can take.
func sentLayer(i, n, of int) cameraLayer {
	l := cameraLayers[len(cameraLayers)-n+i]
	l.MaxBitrate = cameraLayers[of-n+i].MaxBitrate
	return l
}

// layersFor is the simulcast layers of a w×h camera, nil for one: Chromium
// sends as many as the resolution allows (sizeLayers) and drops the
// others from the top, so the list is cut from the bottom instead: the
// layers sent are always the highest, at the rates of their sizes
// (sentLayer).
func layersFor(w, h int) []cameraLayer {
	n := sizeLayers(w, h)
	if n < 2 {
		return nil
	}
	out := make([]cameraLayer, n)
	for i := range out {
		out[i] = sentLayer(i, n, n)
	}
	return out
}

// layerEncoding is how one encoding of a simulcast sender is set.
type layerEncoding struct {
	Active     bool
	ScaleDown  float64
	MaxBitrate int
}

// fitLayers is how to set a simulcast sender's encodings (rids, lowest
// first: the top of cameraLayers) for a w×h track, with the layers in
// paused stopped. Chromium encodes a sender's encodings up to the larger
// of the number the track's size allows (layersFor) and the rank of its
// lowest active one, at each one's scale, and none above: a smaller track
// put on the camera's sender (a page's 320×240 canvas) went out as
// whichever layer the server's pauses made the lowest active one, and a
// viewer moving to the full layer waited for it forever while the half
// one played. So the lowest encodings take the sizes of the top layers
// the track allows, at the rates of those sizes (sentLayer), and the
// others stop, whatever is paused; while
// one of those is watched (not paused), the top one it allows goes on in
// its place (the server sees the others stall and moves their viewers).
// Nil for rids that are not such a tail.
func fitLayers(rids []string, w, h int, paused map[string]bool) []layerEncoding {
	top := len(cameraLayers) - len(rids)
	if top < 0 {
		return nil
	}
	for i, rid := range rids {
		if cameraLayers[top+i].RID != rid {
			return nil
		}
	}
	allowed := allowedLayers(w, h, len(rids))
	watched := false // a layer above those the track allows
	for _, rid := range rids[allowed:] {
		watched = watched || !paused[rid]
	}
	out := make([]layerEncoding, len(rids))
	for i, rid := range rids {
		l := cameraLayers[top+i]
		if i < allowed {
			l = sentLayer(i, allowed, sizeLayers(w, h))
		}
		active := i < allowed && (!paused[rid] || i == allowed-1 && watched)
		out[i] = layerEncoding{Active: active, ScaleDown: l.ScaleDown, MaxBitrate: l.MaxBitrate}
	}
	return out
}

// allowedLayers is how many of a sender's n encodings Chromium sends for a
// w×h track.
func allowedLayers(w, h, n int) int { return min(sizeLayers(w, h), n) }

// layerFit is what a simulcast sender's encodings were last fitted to: how
// many it has (0: not a simulcast sender) and the size of its track then
// (0×0: unknown).
type layerFit struct{ rids, w, h int }

// stale reports whether a sender fitted as f must be fitted again for its
// track, now w×h: the track's size changed the number of encodings it
// allows (a camera the page resized with applyConstraints, a device that
// changed its resolution). A size that is unknown now keeps the fit.
func (f layerFit) stale(w, h int) bool {
	if f.rids < 2 || w <= 0 || h <= 0 {
		return false
	}
	return allowedLayers(w, h, f.rids) != allowedLayers(f.w, f.h, f.rids)
}

// refitCheck is how often the sizes of the simulcast tracks published are
// read (the browser fires no event when a track's size changes): a resize
// is followed within about the second the server waits before it calls a
// layer that stopped stalled, for one getSettings call per track.
const refitCheck = 500 * time.Millisecond

// watchSizes refits the simulcast senders whose track changed size
// (layerFit.stale), every refitCheck while one is published; it sleeps
// otherwise until assign pokes sizeSig.
func (s *Session) watchSizes() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.sizeSig:
		}
		t := time.NewTicker(refitCheck)
		for s.refitSizes() {
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		t.Stop()
	}
}

// refitSizes fits the encodings of each simulcast sender whose track's
// size made its fit stale; it reports whether any simulcast track is
// published.
func (s *Session) refitSizes() (publishing bool) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	p, paused := s.pub, s.paused
	s.mu.Unlock()
	if p == nil {
		return false
	}
	for _, sl := range p.slots {
		if sl.fit.rids < 2 || s.slotTrack(sl) == nil {
			continue
		}
		publishing = true
		w, h := s.senderSize(sl)
		if !sl.fit.stale(w, h) {
			continue
		}
		s.log.Debug("simulcast track resized; refitting its layers", "from", [2]int{sl.fit.w, sl.fit.h}, "to", [2]int{w, h})
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
		err := s.setLayers(ctx, sl, s.pausedLayers(p, sl, paused))
		cancel()
		if err != nil {
			s.log.Warn("simulcast layers not fitted to the resized track", "err", err)
		}
	}
	return publishing
}

// simulcast reports whether t is sent in cameraLayers: camera video,
// while the user's preset says so (media.video.simulcast).
func (s *Session) simulcast(t LocalTrack) bool {
	return t.Kind() == webrtc.RTPCodecTypeVideo && sourceOf(t) == "" && s.m.Self().Permissions.VideoSimulcast
}

// applyLayers stops sending the simulcast layers the server said nobody
// watches and sends the others (RTCRtpEncodingParameters.active).
func (s *Session) applyLayers() {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	p, paused := s.pub, s.paused
	s.mu.Unlock()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
	defer cancel()
	for _, sl := range p.slots {
		if err := s.setLayers(ctx, sl, s.pausedLayers(p, sl, paused)); err != nil {
			s.log.Warn("simulcast layers not changed", "err", err)
		}
	}
}

// pausedLayers is the rids of sl's layers among paused (nil if sl has no
// section yet).
func (s *Session) pausedLayers(p *pubConn, sl *slot, paused []protocol.LayerID) map[string]bool {
	mid := s.slotMid(p, sl)
	if mid == "" {
		return nil
	}
	off := map[string]bool{}
	for _, l := range paused {
		if l.Mid == mid {
			off[l.RID] = true
		}
	}
	return off
}

// setSlotTrack records what sl sends (read by the build's RTCP reader).
func (s *Session) setSlotTrack(sl *slot, t LocalTrack) {
	s.mu.Lock()
	sl.track = t
	s.mu.Unlock()
}

// slotTrack is what sl sends now.
func (s *Session) slotTrack(sl *slot) LocalTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sl.track
}

// negotiate offers p and applies the server's answer (the result of the
// offer). The first offer waits for ICE gathering (up to GatherTimeout, if
// positive); later ones reuse the transport, unless iceRestart: then the
// offer has new ICE credentials (the network changed), gathers again and
// is marked for the server, which applies it to its side of p.
func (s *Session) negotiate(ctx context.Context, p *pubConn, iceRestart bool) error {
	pc := p.pc
	var gathered <-chan struct{}
	if (!p.gathered || iceRestart) && s.opts.GatherTimeout > 0 {
		gathered = webrtc.GatheringCompletePromise(pc)
	}
	var opts *webrtc.OfferOptions
	if iceRestart {
		opts = &webrtc.OfferOptions{ICERestart: true}
		p.gate.Close() // new candidates after the offer with the new credentials
	}
	err := s.step(ctx, pc, func() error {
		offer, err := pc.CreateOffer(opts)
		if err == nil {
			err = pc.SetLocalDescription(offer)
		}
		return err
	})
	if err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "publish offer: %v", err)
	}
	if gathered != nil {
		s.waitGathered(gathered)
		p.gathered = true
	}
	local := pc.LocalDescription().SDP
	res, err := s.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: local,
		Sources: s.sources(p), ICERestart: iceRestart})
	if err != nil {
		return err
	}
	if isDone(p.done) {
		return protocol.NewError(protocol.CodeMediaFailed, "the publish connection was closed")
	}
	err = s.step(ctx, pc, func() error {
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.SDP})
	})
	if err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "publish answer: %v", err)
	}
	s.mu.Lock()
	first := !p.remoteSet
	p.remoteSet = true
	cands := p.cands
	p.cands = nil
	s.mu.Unlock()
	s.addCandidates(ctx, pc, cands)
	if first || iceRestart {
		s.described.Add(int64(p.gate.Open(local)))
	}
	return nil
}

// sources labels p's sending slots that are not camera or microphone, by
// mid, for the server (media.offer's Sources). pubMu held.
func (s *Session) sources(p *pubConn) map[string]string {
	var out map[string]string
	for _, sl := range p.slots {
		if sl.source == "" || s.slotTrack(sl) == nil {
			continue
		}
		if mid := s.slotMid(p, sl); mid != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[mid] = sl.source
		}
	}
	return out
}

// waitConnected waits until p is up (bounded by ctx and RequestTimeout).
func (s *Session) waitConnected(ctx context.Context, p *pubConn) error {
	t := time.NewTimer(s.opts.RequestTimeout)
	defer t.Stop()
	select {
	case <-p.connected:
		return nil
	case <-p.failed:
		return protocol.NewError(protocol.CodeMediaFailed, "the publish connection failed")
	case <-p.done:
		if s.m.Stage().Status() != stage.OnStage {
			return protocol.NewError(protocol.CodeMediaRefused, "left the stage while publishing")
		}
		return protocol.NewError(protocol.CodeMediaFailed, "unpublished before the connection was up")
	case <-ctx.Done():
		return protocol.NewError(protocol.CodeTimeout, "publish: %v", ctx.Err())
	case <-t.C:
		return protocol.NewError(protocol.CodeTimeout, "the publish connection did not come up in %v", s.opts.RequestTimeout)
	case <-s.ctx.Done():
		return errClosed()
	}
}

// dropPub closes p and, if it is still the session's, forgets it.
func (s *Session) dropPub(p *pubConn) {
	s.mu.Lock()
	if s.pub == p {
		s.pub = nil
	}
	s.mu.Unlock()
	s.closePub(p)
}

// closePub closes a publish connection that is no longer s.pub.
func (s *Session) closePub(p *pubConn) {
	p.gate.Stop()
	p.doneOnce.Do(func() { close(p.done) })
	_ = p.pc.Close()
}

// Unpublish stops publishing: the publish connection is closed (the server
// then removes its tracks from every subscriber) and the tracks are
// forgotten. It is a no-op when nothing is published.
func (s *Session) Unpublish() {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	p := s.pub
	s.pub, s.wanted = nil, nil
	s.mu.Unlock()
	if p != nil {
		s.closePub(p)
		s.log.Debug("unpublished")
	}
	s.note.fire()
}

// Publishing reports whether a publish connection is open (negotiating or
// up).
func (s *Session) Publishing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub != nil
}

// Published returns the tracks being published (or to be published again
// after a reconnect).
func (s *Session) Published() []LocalTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LocalTrack(nil), s.wanted...)
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// control follows the local stage status: it unpublishes when the status
// leaves ON_STAGE, and republishes while ON_STAGE after a reconnect or when
// the publish connection was lost (failed, or closed by the server).
func (s *Session) control() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.ctlSig:
		}
		onStage := s.m.Stage().Status() == stage.OnStage
		if !onStage {
			s.reconnected.Store(false)
		}
		if s.dropStale(onStage) {
			s.log.Debug("left the stage: unpublished")
			continue
		}
		reconnected, lost, silent := s.reconnected.Swap(false), s.pubLost.Swap(false), s.pubSilent.Swap(false)
		force := s.pubRestart.Swap(false) || reconnected
		if !onStage || !force && !lost && !silent {
			continue
		}
		s.mu.Lock()
		tracks := s.wanted
		s.mu.Unlock()
		if len(tracks) == 0 {
			continue
		}
		if !lost && s.restartPub(force) {
			continue
		}
		if !reconnected && !lost {
			continue // a restart asked for with no connection to restart
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
		p, err := s.publish(ctx, tracks, false)
		if err == nil {
			err = s.waitConnected(ctx, p)
		}
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("republish failed", "err", err, "reconnected", reconnected)
		} else if err == nil {
			s.log.Debug("republished", "reconnected", reconnected)
		}
	}
}

// restartPub restarts ICE on the publish connection, which keeps its
// tracks (and the server its sources, so viewers see no new track): after
// a reconnect (force), or while its ICE is silent, at most once per
// minRestartInterval. It reports false when there is no connection to
// restart or the server no longer has its side (the caller then
// publishes on a new one).
func (s *Session) restartPub(force bool) bool {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	p := s.pub
	s.mu.Unlock()
	if p == nil || s.stale(p) || isDone(p.failed) || !p.remoteSet {
		return false
	}
	if !force && (!iceUnheard(p.pc.ICEConnectionState(), p.restarted) || time.Since(p.restarted) < minRestartInterval) {
		return true
	}
	p.restarted = time.Now()
	s.setConnState(TransportSend, "reconnecting")
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
	defer cancel()
	err := s.negotiate(ctx, p, true)
	switch code := codeOf(err); {
	case err == nil:
		s.log.Debug("publish ICE restart", "reconnected", force)
		s.connectedAfterRestart(TransportSend, p.pc)
		return true
	case code == protocol.CodeMediaFailed || code == protocol.CodeMediaRefused:
		// The server has no such connection (a new media session), or the
		// connection could not take the restart: a new one.
		s.log.Debug("publish ICE restart refused; publishing anew", "err", err)
		s.dropPub(p)
		return false
	default:
		// The signaling is down: the reconnect restarts ICE again.
		s.log.Debug("publish ICE restart not sent", "err", err)
		return true
	}
}

// dropStale unpublishes when the user is off stage, or when the publish
// connection was offered before the user's latest exit from ON_STAGE (the
// server closed it then, even if the user is back on stage now).
func (s *Session) dropStale(onStage bool) bool {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	exits := s.exits.Load()
	s.mu.Lock()
	p := s.pub
	stale := p != nil && p.epoch < exits
	if !stale && (onStage || p == nil && len(s.wanted) == 0) {
		s.mu.Unlock()
		return false
	}
	s.pub, s.wanted = nil, nil
	s.mu.Unlock()
	if p != nil {
		s.closePub(p)
	}
	s.note.fire()
	return true
}

// ---- Local candidates ----

// candidateGate holds the local candidates of connection pc until its
// description was sent (protocol.CandidateGate).
func (s *Session) candidateGate(pc string) *protocol.CandidateGate {
	return protocol.NewCandidateGate(func(c protocol.ICECandidate) { s.sendCandidate(pc, c) })
}

func (s *Session) sendCandidate(pc string, c protocol.ICECandidate) {
	s.outMu.Lock()
	s.out = append(s.out, protocol.ClientMessage{Type: protocol.TypeMediaCandidate, PC: pc, Candidate: &c})
	s.outMu.Unlock()
	poke(s.outSig)
}

// sendLoop sends the local candidates, one at a time.
func (s *Session) sendLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.outSig:
		}
		for {
			s.outMu.Lock()
			if len(s.out) == 0 {
				s.out = nil
				s.outMu.Unlock()
				break
			}
			msg := s.out[0]
			s.out = s.out[1:]
			s.outMu.Unlock()
			ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
			_, err := s.m.SendMedia(ctx, msg)
			cancel()
			if err == nil {
				s.trickled.Add(1)
			} else if s.ctx.Err() == nil {
				s.log.Debug("candidate not sent", "pc", msg.PC, "err", err)
			}
		}
	}
}

// ---- State ----

// RemoteTracks is the server's current track map: every track forwarded to
// this user, by owner peer id.
func (s *Session) RemoteTracks() map[string][]protocol.TrackInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]protocol.TrackInfo, len(s.remote))
	for k, v := range s.remote {
		out[k] = append([]protocol.TrackInfo(nil), v...)
	}
	return out
}

// Tracks returns every track received since Attach (ended ones too), in
// the order they arrived.
func (s *Session) Tracks() []*Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Track(nil), s.received...)
}

// TracksFrom returns the tracks received from the participant with peerID
// (ended ones too).
func (s *Session) TracksFrom(peerID string) []*Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Track
	for _, t := range s.received {
		if t.Info.PeerID == peerID {
			out = append(out, t)
		}
	}
	return out
}

// LiveTracksFrom returns the tracks of peerID that have not ended.
func (s *Session) LiveTracksFrom(peerID string) []*Track {
	out := s.TracksFrom(peerID)
	live := out[:0]
	for _, t := range out {
		if !t.IsEnded() {
			live = append(live, t)
		}
	}
	return live
}

// Offers is the number of subscribe offers the session applied.
func (s *Session) Offers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offers
}

// Wait blocks until cond holds, re-checking it whenever the session's state
// changes (track map, tracks added or ended, packets received, publishing
// started or stopped). It fails with 5003 when ctx ends and 5004 when the
// session closes first.
func (s *Session) Wait(ctx context.Context, cond func() bool) error {
	for {
		ch := s.note.wait()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return protocol.NewError(protocol.CodeTimeout, "media wait: %v", ctx.Err())
		case <-s.ctx.Done():
			if cond() {
				return nil
			}
			return errClosed()
		}
	}
}

// ---- Helpers ----

func codeOf(err error) int {
	var eb *protocol.ErrorBody
	if errors.As(err, &eb) {
		return eb.Code
	}
	return 0
}
