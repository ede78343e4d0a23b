package sfu

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// Relays carry a meeting's media from the node that receives it (the
// origin) to another node that serves part of the audience (an edge), once
// per track whatever the edge's audience:
//
//	publisher ─ origin: source ─ slot ══ relay PC ══ edge: source ─ slot ─ viewer
//	                                                            └─ slot ─ viewer …
//
// At the origin, the edge is a participant like a viewer (JoinRelay): it
// receives every source of the meeting on slots, over one subscribe PC,
// with the usual tracks messages. Unlike a viewer's, a relay's slot never
// carries a second source: a freed slot stays idle and a new source takes a
// new slot, so that the edge, which learns whose a slot is by signaling
// while the packets come by media, can never give one source's packets to
// another.
//
// At the edge, a RelayIn answers the origin's offers and makes each relayed
// track a source of the edge's meeting, owned by a stand-in for its
// publisher: the edge's viewers get it on their slots with the publisher's
// ids, as if the publisher were there. The edge's sources keep their own
// retransmission history (its viewers' NACKs are answered at the edge);
// their keyframe requests go to the origin over the relay PC, which turns
// them into requests to the publisher. The relay PC runs pion's default
// interceptors, as a publish PC does: the edge asks the origin for what the
// hop lost (NACK), and the origin's slot answers from its history.
//
// A simulcast track crosses as its layers, a slot each, named in the
// tracks message (TrackInfo.Layer); the edge makes them one layerGroup,
// whose viewers each get their own layer. A layer nobody at the edge
// watches is paused there as at a publisher, and the edge tells the origin
// (SendPaused), which holds the relay's slot of that layer (out of the
// fan-out, so nothing of it crosses, and the origin can pause it at the
// publisher) until the edge wants it again.

// RelayLink carries an edge's side of a relay's signaling to the origin:
// the answers to the origin's offers (Participant.HandleSubscribeAnswer of
// the relay participant there) and the edge's ICE candidates
// (Participant.HandleCandidate with protocol.PCSubscribe). Its methods must
// not block.
//
// SendPaused names (by track id) the relay's slots whose simulcast layers
// no viewer at the edge watches now, every time that changes
// (Participant.HandleRelayPaused at the origin): the origin sends only the
// others.
type RelayLink interface {
	SendAnswer(sdp string)
	SendCandidate(c protocol.ICECandidate)
	SendPaused(trackIDs []string)
}

// HandleRelayPaused applies an edge's SendPaused to its relay participant:
// the relay's slots it names stop (their layers are paused at the
// publisher once nobody else watches them), the others go on or start
// again at a keyframe. Each call replaces the last; it does not wait. A
// no-op for other participants.
func (p *Participant) HandleRelayPaused(trackIDs []string) {
	if p.relay {
		p.sub.setRelayPaused(trackIDs)
	}
}

// JoinRelay attaches an edge node to a meeting as a relay: a participant
// that receives every source of the meeting and never publishes. sig
// carries the origin's side of the relay's signaling to the edge's RelayIn
// (RelayIn.Signaler). Its user id is "relay:" + node.
func (s *SFU) JoinRelay(meetingID, node string, sig Signaler) (*Participant, error) {
	if node == "" {
		return nil, errors.New("sfu: JoinRelay needs a node id")
	}
	return s.join(meetingID, relayUserID(node), "relay-"+node, sig, node)
}

// LeaveRelay ends a relay JoinRelay made, unless another relay to the same
// node replaced it since.
func (s *SFU) LeaveRelay(p *Participant) {
	if p == nil || !p.relay {
		return
	}
	m := p.m
	m.mu.Lock()
	mine := m.users[p.userID] == p.u && p.u.part == p
	m.mu.Unlock()
	if mine {
		s.Leave(m.id, p.userID)
	}
}

func relayUserID(node string) string { return "relay:" + node }

// RelayIn is the edge's side of a relay: the relay PC, which the origin
// offers, and the sources it makes of the relayed tracks.
type RelayIn struct {
	s      *SFU
	m      *meeting
	origin string
	holder *user // keeps the meeting while the relay lives
	link   RelayLink
	pc     *webrtc.PeerConnection
	gate   *protocol.CandidateGate

	work   chan func()   // the origin's messages, in order
	paused chan struct{} // a relayed layer was paused or resumed here: tell the origin
	done   chan struct{}

	mu       sync.Mutex
	infos    map[string]protocol.TrackInfo // slot track id → its source at the origin
	remotes  map[string]*relayTrack        // slot track id → the track that carries it
	standIns map[string]*Participant       // origin peer id → the publisher's stand-in
	groups   map[string]*layerGroup        // the origin's simulcast tracks (TrackLayer.Group)
	closed   bool
}

type relayTrack struct {
	remote *webrtc.TrackRemote
	recv   *webrtc.RTPReceiver
	src    *source // the edge's source of it, once its owner is known
	spent  bool    // its source ended: the origin never reuses the slot
}

// NewRelayIn makes the edge's side of a relay of meetingID from the node
// origin. The origin's offers, candidates and track lists go to its
// Signaler; link carries the answers and the edge's candidates back.
func (s *SFU) NewRelayIn(meetingID, origin string, link RelayLink) (*RelayIn, error) {
	if meetingID == "" || origin == "" || link == nil {
		return nil, errors.New("sfu: NewRelayIn needs a meeting id, an origin and a link")
	}
	// Its own holder: a RelayIn replacing another from the same origin keeps the meeting.
	m, holder, err := s.meetingUser(meetingID, fmt.Sprintf("relay-in:%s#%d", origin, s.seq.Add(1)))
	if err != nil {
		return nil, err
	}
	r := &RelayIn{
		s: s, m: m, origin: origin, holder: holder, link: link,
		work:     make(chan func(), 256),
		paused:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		groups:   map[string]*layerGroup{},
		infos:    map[string]protocol.TrackInfo{},
		remotes:  map[string]*relayTrack{},
		standIns: map[string]*Participant{},
	}
	if err := r.newPC(); err != nil {
		r.closed = true
		r.release()
		return nil, err
	}
	s.relaysIn.Add(1)
	s.goroutine(r.run)
	return r, nil
}

// newPC makes the relay PC, ending the previous one's sources: the origin
// replaced its side (a failed or closed connection), with new slots.
func (r *RelayIn) newPC() error {
	pc, err := r.s.newPeerConnection(r.s.relayAPI)
	if err != nil {
		return err
	}
	gate := protocol.NewCandidateGate(func(c protocol.ICECandidate) { r.link.SendCandidate(c) })
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			gate.Add(protocol.ICECandidate(c.ToJSON()))
		}
	})
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) { r.onTrack(pc, remote, recv) })
	r.mu.Lock()
	old := r.pc
	for _, rt := range r.remotes {
		if rt.src != nil {
			r.endLocked(rt)
		}
	}
	r.pc, r.gate, r.remotes, r.groups = pc, gate, map[string]*relayTrack{}, map[string]*layerGroup{}
	r.mu.Unlock()
	if old != nil {
		r.s.goroutine(func() { _ = old.Close() })
	}
	return nil
}

// Signaler is the origin's side of the relay as the edge receives it: the
// relay participant's Signaler at the origin, or what a link between
// nodes calls when the origin's messages arrive. Its methods queue and
// return.
func (r *RelayIn) Signaler() Signaler { return relaySignaler{r} }

type relaySignaler struct{ r *RelayIn }

func (rs relaySignaler) SendOffer(sdp string, iceRestart bool) {
	rs.r.queue(func() { rs.r.answer(sdp, iceRestart) })
}

func (rs relaySignaler) SendCandidate(_ string, c protocol.ICECandidate) {
	rs.r.queue(func() { _ = rs.r.pc.AddICECandidate(webrtc.ICECandidateInit(c)) }) // the run goroutine owns pc
}

func (rs relaySignaler) SendTracks(tracks []protocol.TrackInfo) {
	rs.r.queue(func() { rs.r.setTracks(tracks) })
}

func (rs relaySignaler) SendLayers([]protocol.LayerID) {} // a relay publishes nothing

// nopSignaler is a stand-in's: it has no client.
type nopSignaler struct{}

func (nopSignaler) SendOffer(string, bool)                      {}
func (nopSignaler) SendCandidate(string, protocol.ICECandidate) {}
func (nopSignaler) SendTracks([]protocol.TrackInfo)             {}
func (nopSignaler) SendLayers([]protocol.LayerID)               {}

func (r *RelayIn) queue(fn func()) {
	select {
	case r.work <- fn:
	case <-r.done:
	}
}

func (r *RelayIn) run() {
	for {
		select {
		case fn := <-r.work:
			fn()
		case <-r.paused:
			r.link.SendPaused(r.pausedLayers())
		case <-r.done:
			return
		}
	}
}

// answer applies the origin's offer and sends the answer. An offer with
// other ICE credentials that is not an ICE restart comes from a new PC at
// the origin: the edge answers it with a new one too.
func (r *RelayIn) answer(sdp string, iceRestart bool) {
	if cur := r.pc.RemoteDescription(); cur != nil && !iceRestart && protocol.ICEUfrag(cur.SDP) != protocol.ICEUfrag(sdp) {
		if err := r.newPC(); err != nil {
			r.s.log.Warn("relay: cannot make a new PC", "meeting", r.m.id, "err", err)
			return
		}
	}
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		r.s.log.Warn("relay: bad offer", "meeting", r.m.id, "err", err)
		return
	}
	ans, err := r.pc.CreateAnswer(nil)
	if err == nil {
		err = r.pc.SetLocalDescription(ans)
	}
	if err != nil {
		r.s.log.Warn("relay: answer failed", "meeting", r.m.id, "err", err)
		return
	}
	r.link.SendAnswer(ans.SDP)
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	gate.Open(ans.SDP)
}

// onTrack records a slot of the relay PC; it becomes a source once the
// tracks message names its owner.
func (r *RelayIn) onTrack(pc *webrtc.PeerConnection, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || pc != r.pc {
		return
	}
	rt := &relayTrack{remote: remote, recv: recv}
	r.remotes[remote.ID()] = rt
	r.reconcileLocked()
}

// setTracks applies the origin's track list.
func (r *RelayIn) setTracks(tracks []protocol.TrackInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.infos = make(map[string]protocol.TrackInfo, len(tracks))
	for _, ti := range tracks {
		r.infos[ti.TrackID] = ti
	}
	r.reconcileLocked()
}

// reconcileLocked ends the sources whose slot the origin freed and makes
// sources of the slots it named.
func (r *RelayIn) reconcileLocked() {
	if r.closed {
		return
	}
	for id, rt := range r.remotes {
		info, named := r.infos[id]
		switch {
		case rt.src != nil && !named:
			r.endLocked(rt)
		case rt.src == nil && named && !rt.spent:
			r.startLocked(rt, info)
		}
	}
}

func (r *RelayIn) startLocked(rt *relayTrack, info protocol.TrackInfo) {
	p := r.standInLocked(info)
	src := newSource(p, &pubSession{pc: r.pc, token: p.u.allow.Load()}, rt.remote, rt.recv)
	src.info.PeerID, src.info.UserID, src.info.Source = info.PeerID, info.UserID, info.Source
	if l := info.Layer; l != nil && src.video && len(l.RIDs) <= maxRelayedLayers && slices.Contains(l.RIDs, l.RID) {
		// A simulcast layer: a layer of the track here too, which the
		// edge's viewers switch between as on the origin. (A layer that
		// does not fit its track's is forwarded as a track of its own.)
		g := r.groups[l.Group]
		if g == nil {
			g = newGroup(p, slices.Clone(l.RIDs), func() { poke(r.paused) })
			g.relayed = true
			r.groups[l.Group] = g
		}
		g.add(src, l.RID)
		poke(r.paused) // the whole list again: a new slot's is never stale at the origin
	}
	if !r.m.addSource(src) {
		return
	}
	rt.src = src
	src.start()
	r.s.log.Debug("relay: forwarding", "meeting", r.m.id, "user", info.UserID, "kind", info.Kind)
}

func (r *RelayIn) endLocked(rt *relayTrack) {
	src := rt.src
	rt.src, rt.spent = nil, true
	for id, g := range r.groups {
		if g == src.group {
			delete(r.groups, id)
		}
	}
	r.m.removeSource(src)
	src.close()
}

// maxRelayedLayers bounds the layers of a relayed track (browsers send
// at most three or four).
const maxRelayedLayers = 8

// pausedLayers lists the relay's slots whose layers are paused here.
func (r *RelayIn) pausedLayers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, rt := range r.remotes {
		if src := rt.src; src != nil && src.group != nil && src.group.isPaused(src.layer) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// standInLocked returns the stand-in of a publisher at the origin: a
// participant of the edge's meeting that owns its relayed sources. Its
// user record is its own, not the meeting's (the edge's stage calls for
// that user do not reach it): the origin decides what is forwarded.
func (r *RelayIn) standInLocked(info protocol.TrackInfo) *Participant {
	if p := r.standIns[info.PeerID]; p != nil {
		return p
	}
	u := &user{id: info.UserID}
	u.allow.Store(r.s.seq.Add(1))
	p, _ := newParticipant(r.s, r.m, u, info.PeerID, nopSignaler{})
	p.standIn, p.node = true, r.origin
	r.standIns[info.PeerID] = p
	return p
}

// Close ends the relay: its sources stop, its PC closes.
func (r *RelayIn) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for _, rt := range r.remotes {
		if rt.src != nil {
			r.endLocked(rt)
		}
	}
	for _, p := range r.standIns {
		p.close()
	}
	pc := r.pc
	r.mu.Unlock()
	close(r.done)
	_ = pc.Close()
	r.s.relaysIn.Add(-1)
	r.release()
}

// release lets the meeting go once nobody else holds it.
func (r *RelayIn) release() {
	r.m.mu.Lock()
	if r.m.users[r.holder.id] == r.holder {
		delete(r.m.users, r.holder.id)
	}
	r.m.mu.Unlock()
	r.s.dropIfEmpty(r.m)
}
