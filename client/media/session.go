//go:build !js

package media

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// KeyframeRequester is a local track that can be asked for a keyframe; the
// session calls RequestKeyframe when the server sends a PLI or FIR for it.
type KeyframeRequester interface {
	RequestKeyframe()
}

// Session is the media side of one client.Meeting. Its methods are safe for
// concurrent use.
type Session struct {
	m              *client.Meeting
	opts           Options
	api            *webrtc.API
	log            *slog.Logger
	removeListener func()

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the session's goroutines (added under mu while open)

	// Server media messages, in order, for run.
	inMu  sync.Mutex
	in    []protocol.ServerMessage
	inSig chan struct{}

	// Stage status changes and reconnects, for control. exits counts the
	// status updates to anything but ON_STAGE: the server closes the
	// publish connection of a user who leaves ON_STAGE, so a connection
	// negotiated before the latest exit is dead even if the user is back.
	ctlSig      chan struct{}
	reconnected atomic.Bool
	exits       atomic.Uint64

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
	wanted   []webrtc.TrackLocal // what is published, for republishing

	pubMu sync.Mutex // one Publish, Unpublish or republish at a time
}

// subConn is the subscribe peer connection. ufrag is its remote ICE
// username fragment (under Session.mu); gathered belongs to run.
type subConn struct {
	pc       *webrtc.PeerConnection
	gate     *protocol.CandidateGate
	ufrag    string
	gathered bool
}

// pubConn is one publish peer connection.
type pubConn struct {
	pc    *webrtc.PeerConnection
	gate  *protocol.CandidateGate
	epoch uint64 // Session.exits when it was offered
	// Under Session.mu: whether the server's answer is set, and the server
	// candidates that came before it.
	remoteSet bool
	cands     []webrtc.ICECandidateInit

	connected, failed, done chan struct{}
	connOnce, failOnce      sync.Once
	doneOnce                sync.Once
}

// Attach starts the media session of m. Call it after client.Init and
// before m.Join, so that the server's first subscribe offer is seen. The
// session ends with Close, or by itself when the meeting is done.
func Attach(m *client.Meeting, opts Options) (*Session, error) {
	if m == nil {
		return nil, protocol.NewError(protocol.CodeBadArgs, "media: Attach needs a meeting")
	}
	if opts.GatherTimeout <= 0 {
		opts.GatherTimeout = defaultGatherTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	api := opts.API
	if api == nil {
		var err error
		if api, err = NewAPI(opts); err != nil {
			return nil, err
		}
	}
	s := &Session{
		m:      m,
		opts:   opts,
		api:    api,
		log:    log.With("component", "media", "user", m.Self().UserID),
		inSig:  make(chan struct{}, 1),
		ctlSig: make(chan struct{}, 1),
		outSig: make(chan struct{}, 1),
		remote: map[string][]protocol.TrackInfo{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if m.Self().RoomJoined {
		s.log.Warn("attached after Join: the first subscribe offer may have been missed (the server resends it after its answer timeout)")
	}
	s.removeListener = m.On(s.onEvent)
	s.goroutine(s.run)
	s.goroutine(s.control)
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
	}
}

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
		sub.gate.Stop()
		_ = sub.pc.Close()
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
	case protocol.MediaTracks:
		s.setRemoteTracks(msg.Tracks)
	case protocol.MediaOffer:
		if err := s.answer(msg.SDP); err != nil && s.ctx.Err() == nil {
			s.log.Warn("subscribe offer not answered", "err", err)
		}
	case protocol.MediaCandidate:
		if msg.Candidate != nil && msg.Candidate.Candidate != "" {
			s.addRemoteCandidate(msg.PC, webrtc.ICECandidateInit(*msg.Candidate))
		}
	default:
		s.log.Debug("unknown media message", "event", msg.Event)
	}
}

func (s *Session) setRemoteTracks(list []protocol.TrackInfo) {
	byPeer := make(map[string][]protocol.TrackInfo, len(list))
	byTrack := make(map[string]protocol.TrackInfo, len(list))
	for _, ti := range list {
		byPeer[ti.PeerID] = append(byPeer[ti.PeerID], ti)
		byTrack[ti.TrackID] = ti
	}
	s.mu.Lock()
	s.remote, s.byTrack = byPeer, byTrack
	s.mu.Unlock()
	s.note.fire()
}

// answer applies a subscribe offer and sends the answer. An offer with other
// ICE credentials than the current connection's is for a new connection
// (the server replaced it): the old one is closed and a new one answers.
func (s *Session) answer(sdp string) error {
	ufrag := protocol.ICEUfrag(sdp)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed()
	}
	sc := s.sub
	if sc != nil && sc.ufrag != "" && sc.ufrag != ufrag {
		old := sc
		sc, s.sub = nil, nil
		old.gate.Stop()
		s.log.Debug("the server replaced the subscribe connection")
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = old.pc.Close()
		}()
	}
	s.mu.Unlock()
	if sc == nil {
		var err error
		if sc, err = s.newSubConn(); err != nil {
			return err
		}
	}
	if err := sc.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "subscribe offer: %v", err)
	}
	s.mu.Lock()
	sc.ufrag = ufrag
	cands := s.subCands
	s.subCands = nil
	s.offers++
	s.mu.Unlock()
	for _, c := range cands {
		if err := sc.pc.AddICECandidate(c); err != nil {
			s.log.Debug("queued subscribe candidate refused", "err", err)
		}
	}
	var gathered <-chan struct{}
	if !sc.gathered {
		gathered = webrtc.GatheringCompletePromise(sc.pc)
	}
	ans, err := sc.pc.CreateAnswer(nil)
	if err == nil {
		err = sc.pc.SetLocalDescription(ans)
	}
	if err != nil {
		return protocol.NewError(protocol.CodeMediaFailed, "subscribe answer: %v", err)
	}
	if gathered != nil {
		s.waitGathered(gathered)
		sc.gathered = true
	}
	local := sc.pc.LocalDescription().SDP
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
	defer cancel()
	_, err = s.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaAnswer, PC: protocol.PCSubscribe, SDP: local})
	s.described.Add(int64(sc.gate.Open(local)))
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
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { s.onTrack(remote, recv) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		go pc.Close()
		return nil, errClosed()
	}
	s.sub = sc
	return sc, nil
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

// onTrack records a received track and starts counting its packets.
func (s *Session) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	info, ok := s.byTrack[remote.ID()]
	if !ok {
		info = protocol.TrackInfo{PeerID: remote.StreamID(), Kind: remote.Kind().String(), TrackID: remote.ID(), StreamID: remote.StreamID()}
	}
	t := newTrack(info, remote, recv)
	s.received = append(s.received, t)
	s.wg.Add(2)
	s.mu.Unlock()
	s.log.Debug("receiving track", "peer", info.PeerID, "kind", info.Kind, "track", info.TrackID)
	if s.opts.OnTrack != nil {
		s.opts.OnTrack(t)
	}
	s.note.fire()
	go func() {
		defer s.wg.Done()
		t.read(s.opts.OnPacket, s.note.fire)
	}()
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := recv.Read(buf); err != nil {
				return
			}
		}
	}()
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
		if err := pc.AddICECandidate(c); err != nil {
			s.log.Debug("server candidate refused", "pc", pcName, "err", err)
		}
	}
}

// ---- Publishing ----

// Publish offers a new publish connection carrying tracks (replacing the
// current one, if any) and returns once the server answered and the
// connection is up, or with the server's refusal (4040 when the user is not
// ON_STAGE). The tracks are published until Unpublish, until the local
// status leaves ON_STAGE, or until Close; after a reconnect while ON_STAGE
// they are published again on a new connection.
func (s *Session) Publish(ctx context.Context, tracks ...webrtc.TrackLocal) error {
	if len(tracks) == 0 {
		return protocol.NewError(protocol.CodeBadArgs, "nothing to publish")
	}
	p, err := s.publish(ctx, tracks, true)
	if err != nil {
		return err
	}
	return s.waitConnected(ctx, p)
}

// publish replaces the publish connection by a new one carrying tracks.
// An explicit call that fails forgets the tracks; a republish forgets them
// only when the server refused (the user is no longer on stage).
func (s *Session) publish(ctx context.Context, tracks []webrtc.TrackLocal, explicit bool) (*pubConn, error) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	old := s.pub
	s.pub = nil
	closed := s.closed
	s.mu.Unlock()
	if old != nil {
		s.closePub(old)
	}
	if closed {
		return nil, errClosed()
	}
	p, err := s.negotiatePublish(ctx, tracks)
	s.mu.Lock()
	switch {
	case err == nil:
		s.wanted = tracks
	case explicit || codeOf(err) == protocol.CodeMediaRefused:
		s.wanted = nil
	}
	s.mu.Unlock()
	s.note.fire()
	if err != nil {
		return nil, err
	}
	// The status may have left ON_STAGE while the offer was out.
	poke(s.ctlSig)
	return p, nil
}

func (s *Session) negotiatePublish(ctx context.Context, tracks []webrtc.TrackLocal) (*pubConn, error) {
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
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.failOnce.Do(func() { close(p.failed) })
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	for _, tr := range tracks {
		tx, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			_ = pc.Close()
			return nil, protocol.NewError(protocol.CodeMediaFailed, "add track %q: %v", tr.ID(), err)
		}
		sender := tx.Sender()
		if !s.goroutine(func() { readSenderRTCP(sender, tr) }) {
			_ = pc.Close()
			return nil, errClosed()
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = pc.Close()
		return nil, errClosed()
	}
	s.pub = p
	s.mu.Unlock()
	fail := func(err error) (*pubConn, error) {
		s.mu.Lock()
		if s.pub == p {
			s.pub = nil
		}
		s.mu.Unlock()
		s.closePub(p)
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		return fail(protocol.NewError(protocol.CodeMediaFailed, "publish offer: %v", err))
	}
	s.waitGathered(gathered)
	local := pc.LocalDescription().SDP
	res, err := s.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: local})
	if err != nil {
		return fail(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.SDP}); err != nil {
		return fail(protocol.NewError(protocol.CodeMediaFailed, "publish answer: %v", err))
	}
	s.mu.Lock()
	p.remoteSet = true
	cands := p.cands
	p.cands = nil
	s.mu.Unlock()
	for _, c := range cands {
		if err := pc.AddICECandidate(c); err != nil {
			s.log.Debug("queued publish candidate refused", "err", err)
		}
	}
	s.described.Add(int64(p.gate.Open(local)))
	return p, nil
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

func readSenderRTCP(sender *webrtc.RTPSender, tr webrtc.TrackLocal) {
	kr, _ := tr.(KeyframeRequester)
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		if kr == nil {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				kr.RequestKeyframe()
			}
		}
	}
}

// control follows the local stage status: it unpublishes when the status
// leaves ON_STAGE and republishes after a reconnect while ON_STAGE.
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
		if !onStage || !s.reconnected.Swap(false) {
			continue
		}
		s.mu.Lock()
		tracks := s.wanted
		s.mu.Unlock()
		if len(tracks) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
		p, err := s.publish(ctx, tracks, false)
		if err == nil {
			err = s.waitConnected(ctx, p)
		}
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("republish after reconnect failed", "err", err)
		} else if err == nil {
			s.log.Debug("republished after reconnect")
		}
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

// ReceivedFrom sums the packets and bytes received from peerID, over every
// track it ever published to this session.
func (s *Session) ReceivedFrom(peerID string) (packets, bytes uint64) {
	for _, t := range s.TracksFrom(peerID) {
		packets += t.Packets()
		bytes += t.Bytes()
	}
	return packets, bytes
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
