package sfu

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// publisher is a participant's publish side: the publish PC of the current
// stage visit (while the user may publish) and the sources it feeds.
type publisher struct {
	p     *Participant
	mu    sync.Mutex
	sess  *pubSession
	cands candidateQueue // the client's candidates waiting for an offer
}

// pubSession is one publish PC and the publishing token it was opened
// under.
type pubSession struct {
	pc       *webrtc.PeerConnection
	token    uint64
	gate     *protocol.CandidateGate
	gathered bool
	srcMu    sync.Mutex
	sources  map[string]string                   // the latest offer's labels, mid → source (screenshare.go)
	groups   map[*webrtc.RTPReceiver]*layerGroup // simulcast tracks (under srcMu)
	layersMu sync.Mutex                          // one "layers" message at a time, in order
	retired  atomic.Bool                         // no longer the participant's: its liveness no longer counts
}

// retire takes sess out of the participant's liveness. pb.mu held.
func (pb *publisher) retire(sess *pubSession) {
	sess.retired.Store(true)
	pb.p.setLive(livePublish, true)
}

// sendLayers tells the publisher which of its simulcast layers are
// paused.
func (sess *pubSession) sendLayers(p *Participant) {
	sess.layersMu.Lock()
	defer sess.layersMu.Unlock()
	sess.srcMu.Lock()
	groups := make([]*layerGroup, 0, len(sess.groups))
	for _, g := range sess.groups {
		groups = append(groups, g)
	}
	sess.srcMu.Unlock()
	var paused []protocol.LayerID
	for _, g := range groups {
		paused = g.pausedIDs(paused)
	}
	p.send(func(s Signaler) { s.SendLayers(paused) })
}

// layerGroup returns the simulcast track of a receiver, made with its first
// layer.
func (sess *pubSession) layerGroup(owner *Participant, recv *webrtc.RTPReceiver) *layerGroup {
	sess.srcMu.Lock()
	defer sess.srcMu.Unlock()
	g := sess.groups[recv]
	if g == nil {
		g = newLayerGroup(sess, owner, recv)
		if sess.groups == nil {
			sess.groups = map[*webrtc.RTPReceiver]*layerGroup{}
		}
		sess.groups[recv] = g
	}
	return g
}

// handleOffer applies the client's offer for its publish PC and
// returns the server's answer. The first offer after the user was allowed to
// publish opens a new publish PC; later ones renegotiate it (adding or
// removing tracks). Errors: 4040 if the user may not publish now, 4041 for a
// bad offer or a closed participant. It may wait up to Config.GatherTimeout
// for the server's candidates, which then travel in the answer.
//
// iceRestart marks an offer that restarts ICE on the current publish PC
// (the client's network changed): it is applied to that PC, and refused
// with 4041 when there is none (the client then offers a new one).
func (pb *publisher) handleOffer(sdp string, sources map[string]string, iceRestart bool) (answerSDP string, err error) {
	if pb.p.closed.Load() {
		return "", errClosed()
	}
	tok := pb.p.u.allow.Load()
	if tok == 0 {
		return "", protocol.NewError(protocol.CodeMediaRefused, "only users on stage may publish")
	}
	if n := countMedia(sdp); n > pb.p.s.cfg.MaxPublishTracks {
		return "", protocol.NewError(protocol.CodeMediaFailed, "offer has %d media sections; at most %d", n, pb.p.s.cfg.MaxPublishTracks)
	}
	if err := checkSources(sources); err != nil {
		return "", err
	}
	started, err := pb.p.m.claimScreenshare(pb.p.u, len(sources) > 0)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil && started {
			pb.p.m.endScreenshare(pb.p.u)
		}
	}()
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.p.closed.Load() {
		return "", errClosed()
	}
	sess := pb.sess
	gone := sess == nil || sess.token != tok || sess.pc.ConnectionState() == webrtc.PeerConnectionStateClosed
	if iceRestart && (gone || sess.pc.RemoteDescription() == nil) {
		return "", protocol.NewError(protocol.CodeMediaFailed, "no publish connection to restart")
	}
	fresh := gone || !iceRestart && newClientPC(sess.pc, sdp)
	if iceRestart {
		// New candidates go out after the answer with the new credentials.
		sess.gate.Close()
	}
	if fresh {
		if sess != nil {
			pb.retire(sess)
			old := sess.pc
			pb.p.s.goroutine(func() { _ = old.Close() })
		}
		var err error
		if sess, err = pb.newSession(tok); err != nil {
			pb.sess = nil
			return "", protocol.NewError(protocol.CodeInternal, "publish connection: %v", err)
		}
		pb.sess = sess
	}
	fail := func(err error) (string, error) {
		if fresh {
			pb.retire(sess)
			pb.sess = nil
			pc := sess.pc
			pb.p.s.goroutine(func() { _ = pc.Close() })
		}
		return "", err
	}
	sess.setSources(sources)
	if err := sess.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fail(protocol.NewError(protocol.CodeMediaFailed, "bad publish offer: %v", err))
	}
	pb.cands.flush(sess.pc, pb.p.log())
	var gathered <-chan struct{}
	if !sess.gathered || iceRestart {
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
		pb.p.waitGathered(gathered)
		sess.gathered = true
	}
	if pb.p.u.allow.Load() != tok {
		return fail(protocol.NewError(protocol.CodeMediaRefused, "only users on stage may publish"))
	}
	ld := sess.pc.LocalDescription()
	// Candidates not in the answer go out after it (the hub sends the
	// answer when this returns; a client queues early candidates anyway).
	sess.gate.Open(ld.SDP)
	return ld.SDP, nil
}

// addCandidate adds one of the client's candidates to the publish PC, or
// queues it until there is one with the client's offer.
func (pb *publisher) addCandidate(c webrtc.ICECandidateInit) error {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	var pc *webrtc.PeerConnection
	if pb.sess != nil {
		pc = pb.sess.pc
	}
	return pb.cands.add(pc, pc != nil && pc.RemoteDescription() != nil, c)
}

// take removes the publish PC unless keep says to keep it, and the queued
// candidates with it; nil if there is none or it stays.
func (pb *publisher) take(keep func(*pubSession) bool) *webrtc.PeerConnection {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	sess := pb.sess
	if sess == nil || keep(sess) {
		return nil
	}
	pb.retire(sess)
	pb.sess = nil
	pb.cands = candidateQueue{}
	return sess.pc
}

// close closes the publish PC in the background.
func (pb *publisher) close() {
	pb.p.s.goroutine(func() {
		if pc := pb.take(func(*pubSession) bool { return false }); pc != nil {
			_ = pc.Close()
		}
	})
}

// drop closes the publish PC after the user lost the right to publish (its
// sources are already out of the fan-out), unless it was opened under the
// current publishing token.
func (pb *publisher) drop() {
	pb.p.s.goroutine(func() {
		if pc := pb.take(func(sess *pubSession) bool { return sess.token == pb.p.u.allow.Load() }); pc != nil {
			_ = pc.Close()
		}
	})
}

func (pb *publisher) newSession(tok uint64) (*pubSession, error) {
	pc, err := pb.p.s.newPeerConnection(pb.p.s.api)
	if err != nil {
		return nil, err
	}
	sess := &pubSession{pc: pc, token: tok, gate: pb.p.candidateGate(protocol.PCPublish)}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			sess.gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	live := &iceLiveness{p: pb.p, pc: livePublish, stale: func() bool {
		return sess.retired.Load() || pc.ConnectionState() == webrtc.PeerConnectionStateClosed
	}}
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if !sess.retired.Load() {
			live.state(st)
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		pb.p.log().Debug("publish PC", "state", st.String())
	})
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		pb.onTrack(sess, remote, recv)
	})
	return sess, nil
}

// onTrack starts forwarding a track that arrived on a publish PC,
// unless the user may no longer publish (then nothing reads it and the PC
// is being closed).
func (pb *publisher) onTrack(sess *pubSession, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	src := newSource(pb.p, sess, remote, recv)
	src.info.Source = sess.sourceOf(recv)
	if rid := remote.RID(); rid != "" && src.video {
		if !sess.layerGroup(pb.p, recv).add(src, rid) {
			pb.p.log().Debug("simulcast layer of an unknown rid: not forwarded", "rid", rid)
			return
		}
	}
	kind := src.info.Kind
	if src.info.Source == protocol.SourceScreenshare {
		kind = "screenshare"
	}
	if !pb.p.s.mayProduce(pb.p.m.id, pb.p.userID, kind) {
		pb.p.log().Debug("track of a kind the user's preset may not produce: not forwarded", "kind", kind)
		return
	}
	if !pb.p.m.addSource(src) {
		pb.p.log().Debug("track from a user not allowed to publish: not forwarded", "kind", src.info.Kind)
		return
	}
	if src.info.Source == protocol.SourceScreenshare {
		pb.p.m.screenArrived(pb.p.u)
	}
	pb.p.log().Debug("forwarding track", "track", src.info.TrackID, "source", src.info.Source, "codec", src.codec.MimeType, "ssrc", uint32(remote.SSRC()), "rid", remote.RID())
	src.start()
}

// newClientPC reports whether an offer comes from another client peer
// connection than the one pc talks to: its ICE username fragment differs
// and it is not marked as an ICE restart.
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
