//go:build js && wasm

package main

// Media: meeting.self's camera and microphone, the publish peer connection
// while the local user is ON_STAGE, and the subscribe peer connection that
// carries the other participants' tracks.
//
// Both peer connections are the browser's own RTCPeerConnection, driven
// through syscall/js. (pion/webrtc's js/wasm backend wraps the same object
// but has no AddTrack/OnTrack, so media would go through JSValue() anyway,
// and it adds ~400 KB brotli, +40%, to the SDK; see the commit message.)
//
// Signaling follows server/sfu: the client offers the publish PC (the
// media.offer result carries the answer) and answers the server's offers for
// the subscribe PC; ICE candidates trickle both ways, remote ones queued
// until the remote description is set. The server sends the list of tracks
// it forwards ("tracks") before the offer that adds or removes them; a track
// is mapped to its owner through that list (track id from the offer's msid,
// stream id = the owner's peer id).
//
// Threading: the publish side and the subscribe side each run their work
// one task at a time on their own queue (a goroutine while work is pending),
// so they may await JS promises and the server; JS callbacks (ontrack,
// onicecandidate, state changes) only update state under md.mu and emit, or
// queue a task. md.mu is never held across a blocking call or an Emit.

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// codeMediaDevice (4042) is this SDK's code for a camera or microphone that
// cannot be used: getUserMedia refused or failed (the browser's error name
// is in the message), or no mediaDevices (not a secure context). Media
// negotiation failures use the server's 4041 (protocol.CodeMediaFailed).
const codeMediaDevice = 4042

// negotiateTimeout bounds one offer/answer exchange with the server.
const negotiateTimeout = 15 * time.Second

const (
	kindAudio = 0
	kindVideo = 1
)

var kindNames = [2]string{"audio", "video"}

var (
	jsObject     = js.Global().Get("Object")
	jsPC         = js.Global().Get("RTCPeerConnection")
	jsStream     = js.Global().Get("MediaStream")
	jsTrackClass = js.Global().Get("MediaStreamTrack")
)

// updateOf is an audioUpdate/videoUpdate payload: {audioEnabled, audioTrack}
// or {videoEnabled, videoTrack}.
func updateOf(kind int, track js.Value) js.Value {
	o := jsObject.New()
	o.Set(kindNames[kind]+"Enabled", !track.IsNull())
	o.Set(kindNames[kind]+"Track", track)
	return o
}

func setTrackProps(obj js.Value, kind int, track js.Value) {
	obj.Set(kindNames[kind]+"Track", track)
	obj.Set(kindNames[kind]+"Enabled", !track.IsNull())
}

// localTrack is one of meeting.self's tracks.
type localTrack struct {
	track js.Value // null when disabled
	owned bool     // acquired by the SDK (stopped when released)
	ended *jsbridge.Func
}

// pubConn is the publish peer connection.
type pubConn struct {
	pc        js.Value
	stream    js.Value
	tr        [2]js.Value // transceivers by kind (undefined until added)
	epoch     int         // md.epoch when it was made
	remoteSet bool
	pending   []protocol.ICECandidate
	funcs     []*jsbridge.Func
	closed    bool
}

// subConn is the subscribe peer connection.
type subConn struct {
	pc        js.Value
	ufrag     string
	remoteSet bool
	pending   []protocol.ICECandidate
	funcs     []*jsbridge.Func
	mids      map[string]msid // of the last offer; under md.mu
}

// msid is an m-section's "a=msid:<stream> <track>".
type msid struct{ stream, track string }

// remoteTrack is a track of another participant, as set on its object.
type remoteTrack struct {
	track   js.Value
	trackID string // the server's track id ("" if unknown)
	sub     *subConn
}

type media struct {
	mt         *meeting
	pubQ, subQ serial

	// Publish side: owned by pubQ's tasks.
	pub        *pubConn
	wasOnStage bool
	epoch      int // connection drops seen
	left       bool

	// Subscribe side: owned by subQ's tasks.
	sub      *subConn
	subStale bool // a reconnect happened and no new offer came yet

	mu     sync.Mutex
	local  [2]localTrack // written by pubQ tasks, read by enable
	tracks []protocol.TrackInfo
	remote map[string]*[2]remoteTrack // by peer id
}

func newMedia(mt *meeting) *media {
	md := &media{mt: mt, remote: map[string]*[2]remoteTrack{}}
	md.local[kindAudio].track = js.Null()
	md.local[kindVideo].track = js.Null()
	return md
}

// defineSelf adds meeting.self's media members.
func (md *media) defineSelf(o js.Value) {
	for k := range kindNames {
		setTrackProps(o, k, js.Null())
	}
	for k, name := range [2]string{"Audio", "Video"} {
		jsbridge.DefineAsyncMethod(o, "enable"+name, func(_ js.Value, args []js.Value) (any, error) {
			return nil, md.enable(k, args)
		})
		jsbridge.DefineAsyncMethod(o, "disable"+name, func(js.Value, []js.Value) (any, error) {
			return nil, md.pubQ.wait(func() error {
				md.setLocal(k, js.Null(), false)
				return md.syncPublish()
			})
		})
	}
}

// afterStageAction runs after a stage method the server committed: it waits
// until the publish side has caught up with the new status (published when
// ON_STAGE, released when it left), so that the promise resolves with media
// in the state the status says. For join, a failure to publish rejects
// (the status is ON_STAGE all the same).
func (md *media) afterStageAction(report bool) error {
	err := md.pubQ.wait(md.syncPublish)
	if err != nil && report {
		return wrapMedia(protocol.CodeMediaFailed, "on stage, but publishing failed", err)
	}
	return nil
}

// onEvent follows the client's events; it runs on the client's reader
// goroutine after meeting.go updated the JS objects, and must not block.
func (md *media) onEvent(ev client.Event) {
	switch ev.Name {
	case client.EventStageStatusUpdate, client.EventRoomJoined:
		md.pubQ.do(func() { md.logErr("publish", md.syncPublish()) })
	case client.EventReconnecting:
		md.pubQ.do(func() { md.epoch++ })
		md.subQ.do(func() { md.subStale = true })
	case client.EventReconnected:
		md.pubQ.do(func() {
			// The server made a new media session: a publish PC from before
			// the drop is dead; offer a new one if still ON_STAGE.
			if md.pub != nil && md.pub.epoch < md.epoch {
				md.closePub()
			}
			md.logErr("publish", md.syncPublish())
		})
		md.subQ.do(func() {
			if md.subStale && md.sub != nil {
				md.closeSub()
			}
			md.subStale = false
		})
	case client.EventRoomLeft, client.EventDisconnected:
		md.pubQ.do(func() {
			md.left = true
			md.closePub()
			md.wasOnStage = false
			md.releaseLocal()
		})
		md.subQ.do(func() {
			md.closeSub()
			md.mu.Lock()
			md.tracks = nil
			md.mu.Unlock()
		})
	case client.EventParticipantLeft:
		if ev.Participant != nil {
			md.mu.Lock()
			delete(md.remote, ev.Participant.PeerID)
			md.mu.Unlock()
		}
	case client.EventMedia:
		m := ev.Media
		if m == nil {
			return
		}
		switch m.Event {
		case protocol.MediaTracks:
			tracks := m.Tracks
			md.subQ.do(func() { md.setTracks(tracks) })
		case protocol.MediaOffer:
			sdp := m.SDP
			md.subQ.do(func() { md.logErr("subscribe", md.answer(sdp)) })
		case protocol.MediaCandidate:
			if m.Candidate == nil {
				return
			}
			c := *m.Candidate
			if m.PC == protocol.PCPublish {
				md.pubQ.do(func() {
					if md.pub != nil {
						md.addCandidate(md.pub.pc, &md.pub.remoteSet, &md.pub.pending, c)
					}
				})
			} else {
				md.subQ.do(func() {
					if md.sub != nil {
						md.addCandidate(md.sub.pc, &md.sub.remoteSet, &md.sub.pending, c)
					}
				})
			}
		}
	}
}

// --- local tracks -----------------------------------------------------------

// enable is self.enableAudio/enableVideo: the page's track, or the SDK's
// own from getUserMedia; then published if ON_STAGE.
func (md *media) enable(kind int, args []js.Value) error {
	name := kindNames[kind]
	track, owned := js.Null(), false
	if len(args) > 0 && !args[0].IsUndefined() && !args[0].IsNull() {
		t := args[0]
		if jsTrackClass.Type() != js.TypeFunction || !t.InstanceOf(jsTrackClass) || t.Get("kind").String() != name {
			return protocol.NewError(protocol.CodeBadArgs, "enable%s needs an %s MediaStreamTrack", title(name), name)
		}
		if t.Get("readyState").String() == "ended" {
			return protocol.NewError(protocol.CodeBadArgs, "the %s track has ended", name)
		}
		track = t
	} else {
		md.mu.Lock()
		on := !md.local[kind].track.IsNull()
		md.mu.Unlock()
		if on {
			return nil
		}
		t, err := getUserMedia(kind)
		if err != nil {
			return err
		}
		track, owned = t, true
	}
	return md.pubQ.wait(func() error {
		if md.left {
			if owned {
				track.Call("stop")
			}
			return protocol.NewError(protocol.CodeClosed, "the meeting was left or closed")
		}
		md.setLocal(kind, track, owned)
		return md.syncPublish()
	})
}

// getUserMedia asks the browser for a camera or microphone track.
func getUserMedia(kind int) (js.Value, error) {
	devices := js.Global().Get("navigator").Get("mediaDevices")
	if devices.IsUndefined() || devices.Get("getUserMedia").Type() != js.TypeFunction {
		return js.Null(), protocol.NewError(codeMediaDevice, "no navigator.mediaDevices.getUserMedia (is the page a secure context?)")
	}
	c := jsObject.New()
	c.Set(kindNames[kind], true)
	var p js.Value
	if err := try(func() { p = devices.Call("getUserMedia", c) }); err != nil {
		return js.Null(), wrapMedia(codeMediaDevice, kindNames[kind]+" unavailable", err)
	}
	stream, err := jsbridge.Await(p)
	if err != nil {
		return js.Null(), wrapMedia(codeMediaDevice, kindNames[kind]+" unavailable", err)
	}
	tracks := stream.Call("getTracks")
	if tracks.Length() == 0 {
		return js.Null(), protocol.NewError(codeMediaDevice, "%s unavailable: getUserMedia gave no track", kindNames[kind])
	}
	return tracks.Index(0), nil
}

// setLocal makes track (or null) self's track of kind, stopping the one it
// replaces if the SDK acquired it, and emits the update. pubQ only.
func (md *media) setLocal(kind int, track js.Value, owned bool) {
	md.mu.Lock()
	old := md.local[kind]
	if old.track.Equal(track) {
		md.mu.Unlock()
		return
	}
	md.local[kind] = localTrack{track: track, owned: owned}
	md.mu.Unlock()
	if !old.track.IsNull() {
		if old.ended != nil {
			old.track.Call("removeEventListener", "ended", old.ended.Value)
			old.ended.Release()
		}
		if old.owned {
			old.track.Call("stop")
		}
	}
	if !track.IsNull() {
		// A track that ends by itself (device unplugged, the page stopped
		// it) disables the medium.
		var ended *jsbridge.Func
		ended = jsbridge.FuncOf(func(js.Value, []js.Value) any {
			md.pubQ.do(func() {
				md.mu.Lock()
				same := md.local[kind].track.Equal(track)
				md.mu.Unlock()
				if same {
					md.setLocal(kind, js.Null(), false)
					md.logErr("publish", md.syncPublish())
				}
			})
			return nil
		})
		md.mu.Lock()
		md.local[kind].ended = ended
		md.mu.Unlock()
		track.Call("addEventListener", "ended", ended.Value)
	}
	self := md.mt.self
	setTrackProps(self.Value(), kind, track)
	self.Emit(kindNames[kind]+"Update", updateOf(kind, track))
}

// releaseLocal disables both media (the camera and microphone the SDK
// acquired are stopped). pubQ only.
func (md *media) releaseLocal() {
	md.setLocal(kindAudio, js.Null(), false)
	md.setLocal(kindVideo, js.Null(), false)
}

// --- publishing ---------------------------------------------------------------

// syncPublish makes the publish side match the local status: a publish PC
// carrying the enabled tracks while ON_STAGE, none otherwise (and the devices
// released when the user leaves ON_STAGE). pubQ only.
func (md *media) syncPublish() error {
	s := md.mt.m.Self()
	if md.left || !s.RoomJoined || s.StageStatus != stage.OnStage {
		md.closePub()
		if md.wasOnStage {
			md.wasOnStage = false
			md.releaseLocal()
		}
		return nil
	}
	md.wasOnStage = true
	if md.pub == nil {
		md.mu.Lock()
		none := md.local[kindAudio].track.IsNull() && md.local[kindVideo].track.IsNull()
		md.mu.Unlock()
		if none {
			return nil // nothing to publish yet; enabling a track publishes it
		}
		if err := md.newPub(); err != nil {
			return err
		}
	}
	if err := md.applyLocal(); err != nil {
		md.closePub()
		return err
	}
	return nil
}

// newPub makes the publish PC (not yet negotiated).
func (md *media) newPub() error {
	p := &pubConn{epoch: md.epoch}
	if err := try(func() {
		cfg := jsObject.New()
		cfg.Set("bundlePolicy", "max-bundle")
		p.pc = jsPC.New(cfg)
		p.stream = jsStream.New()
	}); err != nil {
		return wrapMedia(protocol.CodeMediaFailed, "cannot create the publish connection", err)
	}
	p.tr = [2]js.Value{js.Undefined(), js.Undefined()}
	p.funcs = append(p.funcs, md.onCandidate(p.pc, protocol.PCPublish))
	state := jsbridge.FuncOf(func(js.Value, []js.Value) any {
		st := p.pc.Get("connectionState").String()
		if st != "failed" && st != "closed" {
			return nil
		}
		md.pubQ.do(func() {
			if md.pub == p {
				// Lost (e.g. the server closed it): offer a new one if the
				// user is still ON_STAGE.
				md.closePub()
				md.logErr("publish", md.syncPublish())
			}
		})
		return nil
	})
	p.pc.Set("onconnectionstatechange", state.Value)
	p.funcs = append(p.funcs, state)
	md.pub = p
	return nil
}

// applyLocal puts the enabled tracks on the publish PC's transceivers (one
// sendonly transceiver per kind, made inactive when the kind is disabled)
// and renegotiates if that changed the negotiated directions. pubQ only.
func (md *media) applyLocal() error {
	p := md.pub
	md.mu.Lock()
	want := [2]js.Value{md.local[kindAudio].track, md.local[kindVideo].track}
	md.mu.Unlock()
	changed := !p.remoteSet
	for k := range want {
		tr := p.tr[k]
		switch {
		case !want[k].IsNull() && tr.IsUndefined():
			init := jsObject.New()
			init.Set("direction", "sendonly")
			init.Set("streams", []any{p.stream})
			if err := try(func() { p.tr[k] = p.pc.Call("addTransceiver", want[k], init) }); err != nil {
				return wrapMedia(protocol.CodeMediaFailed, "cannot add the "+kindNames[k]+" track", err)
			}
			changed = true
		case !want[k].IsNull():
			sender := tr.Get("sender")
			if !sender.Get("track").Equal(want[k]) {
				if _, err := jsbridge.Await(sender.Call("replaceTrack", want[k])); err != nil {
					return wrapMedia(protocol.CodeMediaFailed, "cannot replace the "+kindNames[k]+" track", err)
				}
			}
			if tr.Get("direction").String() != "sendonly" {
				tr.Set("direction", "sendonly")
				changed = true
			}
		case !tr.IsUndefined() && tr.Get("direction").String() != "inactive":
			// Disabled: stop sending and tell the server, which stops
			// forwarding the track and removes it from the subscribers.
			if _, err := jsbridge.Await(tr.Get("sender").Call("replaceTrack", js.Null())); err != nil {
				return wrapMedia(protocol.CodeMediaFailed, "cannot remove the "+kindNames[k]+" track", err)
			}
			tr.Set("direction", "inactive")
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return md.negotiatePub(p)
}

// negotiatePub offers the publish PC and applies the server's answer.
func (md *media) negotiatePub(p *pubConn) error {
	offer, err := jsbridge.Await(p.pc.Call("createOffer"))
	if err == nil {
		_, err = jsbridge.Await(p.pc.Call("setLocalDescription", offer))
	}
	if err != nil {
		return wrapMedia(protocol.CodeMediaFailed, "publish offer", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), negotiateTimeout)
	defer cancel()
	res, err := md.mt.m.SendMedia(ctx, protocol.ClientMessage{
		Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: p.pc.Get("localDescription").Get("sdp").String(),
	})
	if err != nil {
		return err
	}
	if p.closed {
		return protocol.NewError(protocol.CodeMediaFailed, "the publish connection was closed")
	}
	if _, err := jsbridge.Await(p.pc.Call("setRemoteDescription", description("answer", res.SDP))); err != nil {
		return wrapMedia(protocol.CodeMediaFailed, "publish answer", err)
	}
	if !p.remoteSet {
		p.remoteSet = true
		pending := p.pending
		p.pending = nil
		for _, c := range pending {
			md.addCandidate(p.pc, &p.remoteSet, &p.pending, c)
		}
	}
	return nil
}

// closePub closes the publish PC, if any. pubQ only.
func (md *media) closePub() {
	p := md.pub
	if p == nil {
		return
	}
	md.pub = nil
	p.closed = true
	closePC(p.pc, p.funcs)
}

// --- subscribing ----------------------------------------------------------------

// answer applies the server's offer for the subscribe PC and answers it. An
// offer with new ICE credentials is for a new server-side PC (after a
// reconnect or a failure): the old PC is replaced. subQ only.
func (md *media) answer(sdp string) error {
	uf := protocol.ICEUfrag(sdp)
	var old *subConn
	if md.sub != nil && md.sub.ufrag != uf {
		old = md.sub
		md.mu.Lock()
		md.sub = nil
		md.mu.Unlock()
		closePC(old.pc, old.funcs)
	}
	if md.sub == nil {
		if err := md.newSub(uf); err != nil {
			return err
		}
	}
	md.subStale = false
	s := md.sub
	md.mu.Lock()
	s.mids = parseMsids(sdp)
	md.mu.Unlock()
	// ontrack fires during setRemoteDescription, mapping the new tracks.
	_, err := jsbridge.Await(s.pc.Call("setRemoteDescription", description("offer", sdp)))
	if old != nil {
		md.dropRemote(func(_ string, _ int, r remoteTrack) bool { return r.sub == old })
	}
	if err != nil {
		md.closeSub()
		return wrapMedia(protocol.CodeMediaFailed, "subscribe offer", err)
	}
	ans, err := jsbridge.Await(s.pc.Call("createAnswer"))
	if err == nil {
		_, err = jsbridge.Await(s.pc.Call("setLocalDescription", ans))
	}
	if err != nil {
		md.closeSub()
		return wrapMedia(protocol.CodeMediaFailed, "subscribe answer", err)
	}
	if !s.remoteSet {
		s.remoteSet = true
		pending := s.pending
		s.pending = nil
		for _, c := range pending {
			md.addCandidate(s.pc, &s.remoteSet, &s.pending, c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), negotiateTimeout)
	defer cancel()
	_, err = md.mt.m.SendMedia(ctx, protocol.ClientMessage{
		Type: protocol.TypeMediaAnswer, PC: protocol.PCSubscribe, SDP: s.pc.Get("localDescription").Get("sdp").String(),
	})
	return err
}

func (md *media) newSub(ufrag string) error {
	s := &subConn{ufrag: ufrag}
	if err := try(func() {
		cfg := jsObject.New()
		cfg.Set("bundlePolicy", "max-bundle")
		s.pc = jsPC.New(cfg)
	}); err != nil {
		return wrapMedia(protocol.CodeMediaFailed, "cannot create the subscribe connection", err)
	}
	s.funcs = append(s.funcs, md.onCandidate(s.pc, protocol.PCSubscribe))
	ontrack := jsbridge.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 {
			md.onTrack(s, args[0])
		}
		return nil
	})
	s.pc.Set("ontrack", ontrack.Value)
	s.funcs = append(s.funcs, ontrack)
	md.mu.Lock()
	md.sub = s
	md.mu.Unlock()
	return nil
}

// onTrack maps a new remote track to its owner's participant object.
func (md *media) onTrack(s *subConn, ev js.Value) {
	track := ev.Get("track")
	kind := kindAudio
	if track.Get("kind").String() == "video" {
		kind = kindVideo
	}
	streamID := ""
	if streams := ev.Get("streams"); streams.Length() > 0 {
		streamID = streams.Index(0).Get("id").String()
	}
	mid := ""
	if m := ev.Get("transceiver").Get("mid"); m.Type() == js.TypeString {
		mid = m.String()
	}
	md.mu.Lock()
	if md.sub != s {
		md.mu.Unlock()
		return
	}
	ms := s.mids[mid]
	if streamID == "" {
		streamID = ms.stream
	}
	peer, trackID := streamID, ms.track
	for _, ti := range md.tracks {
		if ti.TrackID == trackID && trackID != "" || trackID == "" && ti.StreamID == streamID && ti.Kind == kindNames[kind] {
			peer, trackID = ti.PeerID, ti.TrackID
			break
		}
	}
	r := md.remote[peer]
	if r == nil {
		r = &[2]remoteTrack{{track: js.Null()}, {track: js.Null()}}
		md.remote[peer] = r
	}
	r[kind] = remoteTrack{track: track, trackID: trackID, sub: s}
	md.mu.Unlock()
	md.showRemote(peer, kind, track)
}

// setTracks takes the server's new list of forwarded tracks: a participant
// whose track left the list loses it (kick, leave, disabled). subQ only.
func (md *media) setTracks(list []protocol.TrackInfo) {
	md.mu.Lock()
	md.tracks = list
	md.mu.Unlock()
	md.dropRemote(func(peer string, kind int, r remoteTrack) bool {
		for _, ti := range list {
			if r.trackID != "" && ti.TrackID == r.trackID ||
				r.trackID == "" && ti.PeerID == peer && ti.Kind == kindNames[kind] {
				return false
			}
		}
		return true
	})
}

// dropRemote nulls the remote tracks gone says are gone, with their events.
func (md *media) dropRemote(gone func(peer string, kind int, r remoteTrack) bool) {
	type drop struct {
		peer string
		kind int
	}
	var drops []drop
	md.mu.Lock()
	for peer, r := range md.remote {
		for k := range r {
			if !r[k].track.IsNull() && gone(peer, k, r[k]) {
				r[k] = remoteTrack{track: js.Null()}
				drops = append(drops, drop{peer, k})
			}
		}
	}
	md.mu.Unlock()
	for _, d := range drops {
		md.showRemote(d.peer, d.kind, js.Null())
	}
}

// showRemote sets a participant's track and emits audioUpdate/videoUpdate on
// it and on meeting.participants.joined.
func (md *media) showRemote(peer string, kind int, track js.Value) {
	md.mt.mu.Lock()
	jp := md.mt.peers[peer]
	md.mt.mu.Unlock()
	if jp == nil {
		return // not (or no longer) in the room: set when its object is made
	}
	if jp.obj.Get(kindNames[kind] + "Track").Equal(track) {
		return
	}
	setTrackProps(jp.obj, kind, track)
	ev := kindNames[kind] + "Update"
	upd := updateOf(kind, track)
	jp.em.Emit(ev, upd)
	md.mt.joined.Emit(ev, jp.obj, upd)
}

// initParticipant sets a new participant object's tracks, if they came
// first. Called by meeting.upsert under mt.mu.
func (md *media) initParticipant(peer string, obj js.Value) {
	md.mu.Lock()
	defer md.mu.Unlock()
	if r := md.remote[peer]; r != nil {
		for k := range r {
			setTrackProps(obj, k, r[k].track)
		}
	}
}

// closeSub closes the subscribe PC and nulls its tracks. subQ only.
func (md *media) closeSub() {
	s := md.sub
	if s == nil {
		return
	}
	md.mu.Lock()
	md.sub = nil
	md.mu.Unlock()
	closePC(s.pc, s.funcs)
	md.dropRemote(func(_ string, _ int, r remoteTrack) bool { return r.sub == s })
}

// --- ICE ----------------------------------------------------------------------------

// onCandidate trickles pc's local candidates to the server.
func (md *media) onCandidate(pc js.Value, name string) *jsbridge.Func {
	f := jsbridge.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) == 0 {
			return nil
		}
		c := args[0].Get("candidate")
		if c.IsNull() || c.IsUndefined() || c.Get("candidate").String() == "" {
			return nil
		}
		wc := protocol.ICECandidate{Candidate: c.Get("candidate").String()}
		if v := c.Get("sdpMid"); v.Type() == js.TypeString {
			s := v.String()
			wc.SDPMid = &s
		}
		if v := c.Get("sdpMLineIndex"); v.Type() == js.TypeNumber {
			n := uint16(v.Int())
			wc.SDPMLineIndex = &n
		}
		if v := c.Get("usernameFragment"); v.Type() == js.TypeString {
			s := v.String()
			wc.UsernameFragment = &s
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), negotiateTimeout)
			defer cancel()
			// A refused candidate (its PC was replaced meanwhile) is harmless.
			_, _ = md.mt.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaCandidate, PC: name, Candidate: &wc})
		}()
		return nil
	})
	pc.Set("onicecandidate", f.Value)
	return f
}

// addCandidate adds a server candidate, or queues it until the remote
// description is set.
func (md *media) addCandidate(pc js.Value, remoteSet *bool, pending *[]protocol.ICECandidate, c protocol.ICECandidate) {
	if c.Candidate == "" {
		return
	}
	if !*remoteSet {
		if len(*pending) < 64 {
			*pending = append(*pending, c)
		}
		return
	}
	init := jsObject.New()
	init.Set("candidate", c.Candidate)
	if c.SDPMid != nil {
		init.Set("sdpMid", *c.SDPMid)
	}
	if c.SDPMLineIndex != nil {
		init.Set("sdpMLineIndex", int(*c.SDPMLineIndex))
	}
	if c.UsernameFragment != nil {
		init.Set("usernameFragment", *c.UsernameFragment)
	}
	if c.SDPMid == nil && c.SDPMLineIndex == nil {
		init.Set("sdpMLineIndex", 0) // bundled: the first section's transport
	}
	if _, err := jsbridge.Await(pc.Call("addIceCandidate", init)); err != nil {
		warn("stagekit: ICE candidate refused: " + err.Error())
	}
}

// --- helpers ------------------------------------------------------------------------

// closePC detaches pc's handlers (so no event reaches a released function),
// closes it and releases the handlers.
func closePC(pc js.Value, funcs []*jsbridge.Func) {
	for _, h := range []string{"onicecandidate", "ontrack", "onconnectionstatechange"} {
		pc.Set(h, js.Null())
	}
	_ = try(func() { pc.Call("close") })
	for _, f := range funcs {
		f.Release()
	}
}

func description(typ, sdp string) js.Value {
	d := jsObject.New()
	d.Set("type", typ)
	d.Set("sdp", sdp)
	return d
}

// sdpLines calls fn with each line of an SDP, without its line break.
func sdpLines(sdp string, fn func(line string) bool) {
	for len(sdp) > 0 {
		line, rest, _ := strings.Cut(sdp, "\n")
		sdp = rest
		if !fn(strings.TrimSuffix(line, "\r")) {
			return
		}
	}
}

// parseMsids maps each m-section's mid to its msid.
func parseMsids(sdp string) map[string]msid {
	out := map[string]msid{}
	mid, ms := "", msid{}
	flush := func() {
		if mid != "" {
			out[mid] = ms
		}
		mid, ms = "", msid{}
	}
	sdpLines(sdp, func(line string) bool {
		if strings.HasPrefix(line, "m=") {
			flush()
		} else if v, ok := strings.CutPrefix(line, "a=mid:"); ok {
			mid = v
		} else if v, ok := strings.CutPrefix(line, "a=msid:"); ok {
			if stream, track, ok := strings.Cut(v, " "); ok {
				ms = msid{stream: stream, track: track}
			}
		}
		return true
	})
	flush()
	return out
}

// try runs fn, returning what it throws as an error.
func try(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = fmt.Errorf("%s", je.Value.Call("toString").String())
				return
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}

// wrapMedia gives err the code the SDK reports it with: errors that carry a
// stage/protocol code keep it; browser errors get code.
func wrapMedia(code int, what string, err error) error {
	if _, ok := err.(*jsbridge.JSError); !ok {
		if c, ok := jsbridge.CodeOf(err); ok && c >= 1000 {
			msg := err.Error()
			if i := strings.Index(msg, "] "); strings.HasPrefix(msg, "[ERR") && i > 0 {
				msg = msg[i+2:]
			}
			return protocol.NewError(c, "%s: %s", what, msg)
		}
	}
	return protocol.NewError(code, "%s: %v", what, err)
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func warn(msg string) { js.Global().Get("console").Call("warn", msg) }

func (md *media) logErr(what string, err error) {
	if err != nil {
		warn("stagekit: " + what + ": " + err.Error())
	}
}

// serial runs tasks one at a time, in order, on a goroutine that lives while
// tasks are pending. do never blocks.
type serial struct {
	mu      sync.Mutex
	q       []func()
	running bool
}

func (s *serial) do(fn func()) {
	s.mu.Lock()
	s.q = append(s.q, fn)
	if !s.running {
		s.running = true
		go s.run()
	}
	s.mu.Unlock()
}

func (s *serial) run() {
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		fn := s.q[0]
		s.q[0] = nil
		s.q = s.q[1:]
		s.mu.Unlock()
		runTask(fn)
	}
}

func runTask(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			js.Global().Get("console").Call("error", fmt.Sprintf("stagekit: recovered panic in a media task: %v\n%s", r, debug.Stack()))
		}
	}()
	fn()
}

// wait runs fn as a task and returns its error; call it from a goroutine.
func (s *serial) wait(fn func() error) error {
	ch := make(chan error, 1)
	s.do(func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- protocol.NewError(protocol.CodeInternal, "internal error: panic: %v", r)
				panic(r)
			}
		}()
		ch <- fn()
	})
	return <-ch
}
