package signal

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// room is one meeting's live stage and everything the server keeps about it:
// the stage state, who is attached on which connection, the grace timers of
// dropped users, the subscribers, and the timers that coalesce host events
// and the participant count. Its invariants live here; the hub and the
// connections ask it through its methods and never touch its fields.
//
// Every change happens under mu, and every message caused by a change is
// queued to connections under mu, so each client receives the room's events
// in the room's order and an actor sees the event before its result.
//
// Routing follows stage.Sees: users who see everyone (watchers: hosts and
// presets with see_all_participants) get every event, coalesced per host
// tick; the audience gets only the events about users in view and about
// itself. Only watchers cost O(room) per event; an audience member's join,
// leave or request costs O(watchers).
type room struct {
	hub     *Hub
	id      string
	epoch   int64 // the lease's epoch this node serves the room under (0: single node)
	started int64 // when this node took the room (ms since epoch): the snapshot's StartedAt

	mu       sync.Mutex
	st       *stage.Room
	attached map[string]*conn       // user id → its live connection
	watchers map[string]*conn       // the attached users who see everyone
	timers   map[string]*time.Timer // user id → grace timer of a dropped user
	// mediaLost: users whose media connection went silent (MediaLiveness);
	// away: users shown as reconnecting (dropped, or media lost), as last
	// told (see connectionChangedLocked).
	mediaLost map[string]bool
	away      map[string]bool
	subs      map[int]func(stage.Change)
	nextSub   int
	dead      bool // dropped from the hub; joiners must fetch a new room

	reqOrder     int64       // the last request order stored (StageRecord)
	hostFlush    *time.Timer // the open host tick, if any (see coalesceWatchers)
	hostDeferred bool        // events wait for the end of the tick
	countTick    *time.Timer // pending participant-count broadcast
	counts       countFan    // the broadcasts to this node's connections
	countSent    int         // the count last broadcast

	// remote are the members connected to other nodes (edges), and how
	// many of them are watchers; wseq numbers what is published to them.
	remote         map[string]*remoteMember
	remoteWatchers int
	wseq           int64
	// collect, while a batch runs, gathers what would be published, to go
	// out as one commit (publishManyLocked).
	collect *[]commitParts
	// deferred, while a batch of actions runs, holds what would tell of
	// their changes (in order), until the batch is committed.
	deferred *[]func()

	eventSeq int64       // the seq of the room's last stored event
	sess     session     // the meeting and its current session, for events
	expiry   *time.Timer // fires at the next request or invitation timeout
}

// seqBits is the room seqs an owner may publish per epoch step (2^20; an
// epoch is the claim's time in ms, so a million per ms of tenure): an
// epoch's seqs start at epoch << seqBits.
const seqBits = 20

func newRoom(h *Hub, id string, epoch int64) *room {
	r := &room{
		hub: h, id: id, epoch: epoch, st: stage.NewRoom(), started: time.Now().UnixMilli(),
		attached:  make(map[string]*conn),
		watchers:  make(map[string]*conn),
		mediaLost: make(map[string]bool),
		away:      make(map[string]bool),
		timers:    make(map[string]*time.Timer),
		subs:      make(map[int]func(stage.Change)),
		remote:    make(map[string]*remoteMember),
		// A new owner's seqs go on above the old one's: epochs only grow.
		wseq:   epoch << seqBits,
		counts: countFan{deliver: enqueueFrame},
	}
	r.st.SetLimits(h.cfg.DefaultLimits)
	return r
}

// peek returns the user's peer id and status while it is in the room.
func (r *room) peek(userID string) (peerID string, status stage.Status, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.st.Member(userID)
	return m.PeerID, m.Status, ok
}

// join enters c's user into the room, or re-attaches it when the user is
// still there (grace period, or another live connection, which is closed
// with 4030), and answers the join with a snapshot. It reports false when the
// room was dropped meanwhile and the caller must fetch the meeting's room
// anew.
func (r *room) join(c *conn, reqID uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return false
	}
	if c.isClosing() {
		return true // replaced, removed or shutting down: nothing to answer
	}
	uid := c.id.UserID
	resume := false
	if m, ok := r.st.Member(uid); ok {
		resume = c.keepMedia
		if t := r.timers[uid]; t != nil {
			t.Stop()
			delete(r.timers, uid)
		}
		if old := r.attached[uid]; old != nil && old != c {
			old.closeWith(protocol.CodeReplaced, "the participant connected elsewhere", true)
		}
		if old := r.remote[uid]; old != nil {
			var p commitParts
			p.node(old.node).Close = map[string]int{uid: protocol.CodeReplaced}
			r.publishLocked(p)
			r.detachLocked(uid)
			r.movedLocked(uid)
		}
		c.peerID = m.PeerID
	} else {
		m, err := r.st.Enter(stage.Member{UserID: uid, PeerID: c.peerID, Name: c.id.Name, CustomID: c.id.CustomID, Preset: c.id.Preset})
		if err != nil { // cannot happen: checked above under the same lock
			c.sendError(reqID, protocol.ErrorOf(err))
			return true
		}
		log := r.newEventLog(participantActor(uid))
		if r.st.Len() == 1 {
			r.sess.ID, r.sess.StartedAt = newSessionID(), r.hub.cfg.Now()
			log.add(EventMeetingStarted, nil, nil, "")
		}
		log.add(EventParticipantJoined, &m, nil, "")
		if !r.commitLocked(nil, nil, log, "", nil) {
			// Fenced or not stored: the room is deposed; this connection,
			// not attached yet, reconnects like the others.
			c.closeWith(protocol.CodeRoomMoved, "the room moved to another node; reconnect", true)
			return true
		}
		if !m.Preset.HiddenParticipant {
			p := protocol.ParticipantOf(m)
			ev := protocol.ServerMessage{Event: protocol.EventParticipantJoined, Participant: &p}
			r.route(ev, ev, m.InView())
			r.countChanged()
		}
	}
	r.attached[uid] = c
	if f := r.hub.cfg.OnPreset; f != nil {
		f(r.id, uid, r.presetLocked(c))
	}
	if r.presetLocked(c).SeesEveryone() {
		r.watchers[uid] = c
	} else {
		delete(r.watchers, uid)
	}
	c.room = r
	if media := r.hub.cfg.Media; media != nil {
		if err := media.Attach(r.id, uid, c.peerID, c, resume); err != nil {
			r.hub.log.Warn("media attach failed", "meeting", r.id, "user", uid, "err", err)
		}
	}
	if !resume {
		delete(r.mediaLost, uid) // a new media session: nothing is lost yet
	}
	r.connectionChangedLocked(uid)
	r.sendSnapshotLocked(c, reqID)
	return true
}

// reconnectingLocked reports whether a member is reconnecting: its
// signaling connection dropped (the grace period keeps its place), here or
// on its edge, or its media connection went silent.
func (r *room) reconnectingLocked(uid string) bool {
	rm := r.remote[uid]
	connected := r.attached[uid] != nil || (rm != nil && !rm.lost)
	return !connected || r.mediaLost[uid]
}

// connectionChangedLocked tells whoever sees uid (EventParticipantConnection)
// when whether it is reconnecting changed since last told.
func (r *room) connectionChangedLocked(uid string) {
	m, ok := r.st.Member(uid)
	if !ok {
		delete(r.away, uid)
		delete(r.mediaLost, uid)
		return
	}
	now := r.reconnectingLocked(uid)
	if r.away[uid] == now {
		return
	}
	if now {
		r.away[uid] = true
	} else {
		delete(r.away, uid)
	}
	if m.Preset.HiddenParticipant {
		return
	}
	p := protocol.ParticipantOf(m)
	p.Reconnecting = now
	// To whoever sees the user, but not the user itself (on an edge the
	// user may get it too: the SDK has no participant of that id to update).
	body := r.eventBody(protocol.ServerMessage{Event: protocol.EventParticipantConnection, Participant: &p})
	coalesce := r.coalesceWatchers()
	for id, c := range r.watchers {
		if id != uid {
			r.queueEvent(c, body, coalesce)
		}
	}
	var edges commitParts
	if r.remoteWatchers > 0 {
		edges.host = &hostPart{Watch: body}
	}
	if m.InView() {
		for id, c := range r.attached {
			if id != uid && r.watchers[id] == nil {
				r.queueEvent(c, body, false)
			}
		}
		edges.aud = &audPart{Event: body}
	}
	r.publishLocked(edges)
}

// mediaLiveness records whether a member's media connection hears from its
// client. Silent media with a live-looking signaling connection: the
// connection is pinged at once, with a short deadline, so that a client
// whose network vanished starts its grace period now rather than after the
// hub's ping interval. (An edge probes its own users' connections and
// tells the owner: remoteMediaLocked.)
func (r *room) mediaLiveness(uid string, live bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.st.Member(uid); !ok || r.dead {
		return
	}
	if !live {
		if c := r.attached[uid]; c != nil {
			c.probe()
		}
	}
	r.setMediaLostLocked(uid, !live)
}

// setMediaLostLocked records whether uid's media went silent and tells
// whoever sees it when that makes it reconnecting or back.
func (r *room) setMediaLostLocked(uid string, lost bool) {
	r.setMediaLostFlagLocked(uid, lost)
	r.connectionChangedLocked(uid)
}

// sendSnapshotLocked answers reqID with the room as c's user may see it,
// split into "part" frames when it is large. Queued under the lock: no event
// after the snapshot can overtake it.
func (r *room) sendSnapshotLocked(c *conn, reqID uint64) {
	uid := c.id.UserID
	snap := protocol.Snapshot{Seq: c.seq, Count: r.st.Count(), StartedAt: r.started}
	visible := r.st.VisibleTo(uid)
	others := make([]protocol.Participant, 0, len(visible))
	for _, m := range visible {
		if m.UserID == uid {
			snap.Self = protocol.ParticipantOf(m)
			continue
		}
		p := protocol.ParticipantOf(m)
		p.Reconnecting = r.away[m.UserID]
		others = append(others, p)
	}
	var frames [][]byte
	snap.Participants, frames = splitParts(reqID, others, func(m *protocol.ServerMessage, p []protocol.Participant) { m.Participants = p }, frames)
	if r.presetLocked(c).AcceptStageRequests {
		snap.Requests, frames = splitParts(reqID, r.requestsLocked(), func(m *protocol.ServerMessage, q []protocol.StageRequest) { m.Requests = q }, frames)
	}
	final, err := protocol.EncodeServer(protocol.ServerMessage{Type: protocol.TypeResult, ID: reqID, Seq: snap.Seq, Snapshot: &snap})
	if err != nil {
		r.hub.log.Error("encode snapshot", "err", err)
		return
	}
	c.enqueueAll(append(frames, final))
}

// Items per "part" frame: participants and requests are a few hundred bytes
// at most each (names are bounded), so a part stays near PartBytes.
const partItems = 256

// splitParts keeps the last partItems of list for the result and encodes
// the rest as "part" frames of reqID, appended to frames in order.
func splitParts[T any](reqID uint64, list []T, set func(*protocol.ServerMessage, []T), frames [][]byte) ([]T, [][]byte) {
	for len(list) > partItems {
		m := protocol.ServerMessage{Type: protocol.TypePart, ID: reqID}
		set(&m, list[:partItems])
		if b, err := protocol.EncodeServer(m); err == nil {
			frames = append(frames, b)
		}
		list = list[partItems:]
	}
	return list, frames
}

// requestsLocked is the pending list, oldest first; never nil.
func (r *room) requestsLocked() []protocol.StageRequest {
	pending := r.st.Pending()
	out := make([]protocol.StageRequest, len(pending))
	for i, m := range pending {
		out[i] = protocol.RequestOf(m)
	}
	return out
}

// currentLocked reports whether c is its user's live connection in this
// room; refusals are answered with 2005.
func (r *room) currentLocked(c *conn, reqID uint64) bool {
	if r.attached[c.id.UserID] == c {
		return true
	}
	c.sendError(reqID, protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room"))
	return false
}

// apply runs one stage action by c's user and answers it: the events first,
// then the result to the actor.
func (r *room) apply(c *conn, msg protocol.ClientMessage, kind stage.Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.currentLocked(c, msg.ID) {
		return
	}
	uid := c.id.UserID
	res, err := r.st.Apply(stage.Action{Kind: kind, Actor: uid, Targets: msg.UserIDs, Expect: msg.Expect, At: r.hub.cfg.Now().UnixMilli()})
	if err != nil {
		c.sendError(msg.ID, protocol.ErrorOf(err))
		return
	}
	if len(res.Changes) > 0 {
		log := r.newEventLog(participantActor(uid))
		log.stage(res.Changes)
		if !r.commitLocked(res.Changes, nil, log, "", nil) {
			return // fenced: the room is deposed and the change told to nobody
		}
		r.tellLocked(res.Changes, kind)
	}
	me, _ := r.st.Member(uid)
	c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: c.seq, Status: me.Status})
}

// tellLocked tells everyone of stored changes: the clients, the media
// server and subscribers; and re-arms the expiry timer.
func (r *room) tellLocked(changes []stage.Change, kind stage.Kind) {
	r.markPublishingLocked(changes)
	r.stageEventLocked(changes)
	r.notify(changes)
	if f := r.hub.cfg.OnStageAction; f != nil && kind != "" {
		f(kind)
	}
	r.armExpiryLocked()
}

// armExpiryLocked sets the expiry timer to the room's next request or
// invitation timeout, or stops it when there is none.
func (r *room) armExpiryLocked() {
	next := r.st.NextExpiry()
	if next == 0 || r.dead {
		if r.expiry != nil {
			r.expiry.Stop()
			r.expiry = nil
		}
		return
	}
	wait := time.Until(time.UnixMilli(next))
	if r.expiry == nil {
		r.expiry = time.AfterFunc(wait, r.expire)
		return
	}
	r.expiry.Reset(wait)
}

// expire applies the timeouts due now: the users go back OFF_STAGE and,
// as after any change, they and the hosts are told.
func (r *room) expire() {
	defer func() {
		if p := recover(); p != nil {
			r.hub.log.Error("stage expiry panicked", "meeting", r.id, "panic", p)
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return
	}
	res := r.st.Expire(r.hub.cfg.Now().UnixMilli())
	if len(res.Changes) == 0 {
		r.armExpiryLocked()
		return
	}
	log := r.newEventLog(ActorSystem)
	log.stage(res.Changes)
	if !r.commitLocked(res.Changes, nil, log, "", nil) {
		return
	}
	r.tellLocked(res.Changes, "")
}

// stageEventLocked sends the committed changes to whoever may see them:
// watchers all of them (hosts with the pending list's delta), the audience
// the public ones, and each user its own.
func (r *room) stageEventLocked(changes []stage.Change) {
	// A hidden participant's changes are its own: nobody else is told.
	var hidden map[string]bool
	for _, ch := range changes {
		if m, ok := r.st.Member(ch.UserID); ok && m.Preset.HiddenParticipant {
			if hidden == nil {
				hidden = map[string]bool{}
			}
			hidden[ch.UserID] = true
		}
	}
	if hidden != nil {
		shown := make([]stage.Change, 0, len(changes))
		for _, ch := range changes {
			if !hidden[ch.UserID] {
				shown = append(shown, ch)
				continue
			}
			body := r.eventBody(protocol.ServerMessage{Event: protocol.EventStage, Changes: []protocol.Change{protocol.ChangeOf(ch)}})
			r.ownEventLocked(ch.UserID, body)
		}
		if len(shown) == 0 {
			return
		}
		changes = shown
	}
	all := make([]protocol.Change, len(changes))
	var public []protocol.Change
	var private map[string]bool // subjects of private changes
	var removed []string
	var added []protocol.StageRequest
	for i, ch := range changes {
		all[i] = protocol.ChangeOf(ch)
		if ch.From == stage.Requested {
			removed = append(removed, ch.UserID)
		}
		if ch.To == stage.Requested {
			if m, ok := r.st.Member(ch.UserID); ok {
				added = append(added, protocol.RequestOf(m))
			}
		}
		if ch.Public() {
			public = append(public, r.audienceChange(ch, all[i]))
			continue
		}
		if private == nil {
			private = map[string]bool{}
		}
		private[ch.UserID] = true
	}
	watch := protocol.ServerMessage{Event: protocol.EventStage, Changes: all}
	host := watch
	host.RequestsAdded, host.RequestsRemoved = added, removed

	// The subjects of private changes who are in the audience get the
	// public changes and their own, in order.
	var own map[string][]byte
	for uid := range private {
		if r.watchers[uid] != nil {
			continue
		}
		if r.attached[uid] == nil {
			if rm := r.remote[uid]; rm == nil || rm.watcher {
				continue
			}
		}
		var mine []protocol.Change
		pub := 0
		for i, ch := range changes {
			switch {
			case ch.Public():
				mine = append(mine, public[pub])
				pub++
			case ch.UserID == uid:
				mine = append(mine, all[i])
			}
		}
		if own == nil {
			own = map[string][]byte{}
		}
		own[uid] = r.eventBody(protocol.ServerMessage{Event: protocol.EventStage, Changes: mine})
	}
	var audience []byte
	if len(public) > 0 {
		audience = r.eventBody(protocol.ServerMessage{Event: protocol.EventStage, Changes: public})
	}
	var watchBody, hostBody []byte
	if len(r.watchers) > 0 || r.remoteWatchers > 0 {
		watchBody = r.eventBody(watch)
		hostBody = watchBody
		if len(added) > 0 || len(removed) > 0 {
			hostBody = r.eventBody(host)
		}
	}
	r.routeBodies(watchBody, hostBody, audience, own)
}

// audienceChange is ch as the audience gets it: a user coming into view is
// introduced, one leaving it is marked hidden.
func (r *room) audienceChange(ch stage.Change, wire protocol.Change) protocol.Change {
	switch {
	case ch.InViewAfter && !ch.InViewBefore:
		if m, ok := r.st.Member(ch.UserID); ok {
			wire.Name, wire.PresetName = m.Name, m.Preset.Name
			wire.CustomParticipantID, wire.IsHost = m.CustomID, protocol.IsHost(m.Preset)
		}
	case ch.InViewBefore && !ch.InViewAfter:
		wire.Hidden = true
	}
	return wire
}

// route sends a join or leave event to the watchers (hosts get hostEv, which
// may carry the pending list's delta) and, when public, to everyone else.
func (r *room) route(watchEv, hostEv protocol.ServerMessage, public bool) {
	watch := r.eventBody(watchEv)
	host := watch
	if hostEv.RequestsRemoved != nil {
		host = r.eventBody(hostEv)
	}
	var audience []byte
	if public {
		audience = watch
	}
	r.routeBodies(watch, host, audience, nil)
}

// routeBodies queues watch to the watchers (host to those who accept
// requests), audience (when there is one) to everyone else, and own's
// bodies to the audience members named there instead.
func (r *room) routeBodies(watch, host, audience []byte, own map[string][]byte) {
	if r.deferLocked(func() { r.routeBodies(watch, host, audience, own) }) {
		return
	}
	if watch != nil {
		coalesce := r.coalesceWatchers()
		for _, c := range r.watchers {
			if r.presetLocked(c).AcceptStageRequests {
				r.queueEvent(c, host, coalesce)
			} else {
				r.queueEvent(c, watch, coalesce)
			}
		}
	}
	if audience == nil {
		for uid, body := range own {
			r.queueEvent(r.attached[uid], body, false)
		}
		r.publishBodiesLocked(watch, host, audience, own)
		return
	}
	for uid, c := range r.attached {
		if r.watchers[uid] != nil {
			continue
		}
		if b, ok := own[uid]; ok {
			r.queueEvent(c, b, false)
		} else {
			r.queueEvent(c, audience, false)
		}
	}
	r.publishBodiesLocked(watch, host, audience, own)
}

// publishBodiesLocked sends routeBodies' bodies to the edges: the
// audience's and the watchers' once each, own per node.
func (r *room) publishBodiesLocked(watch, host, audience []byte, own map[string][]byte) {
	if len(r.remote) == 0 {
		return
	}
	var p commitParts
	if audience != nil {
		p.aud = &audPart{Event: audience}
	}
	if watch != nil && r.remoteWatchers > 0 {
		p.host = &hostPart{Watch: watch, Host: host}
	}
	for uid, body := range own {
		if rm := r.remote[uid]; rm != nil {
			p.own(rm.node, uid, body)
		}
	}
	r.publishLocked(p)
}

// coalesceWatchers says whether the watchers' copy of an event waits for
// the end of the host tick. The first event in a quiet room goes out at once
// and opens a window of one tick; events within it wait and go out together
// when it ends, and the window stays open while events keep coming. So an
// isolated request reaches the host at once, and a storm in a few frames.
func (r *room) coalesceWatchers() bool {
	tick := r.hub.cfg.HostTick
	if tick <= 0 || len(r.watchers) == 0 {
		return false
	}
	if r.hostFlush != nil {
		r.hostDeferred = true
		return true
	}
	r.hostFlush = time.AfterFunc(tick, r.flushWatchers)
	return false
}

// flushWatchers ends a host tick: the coalesced events go out, and the
// window stays open for another tick if there were any.
func (r *room) flushWatchers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hostFlush == nil {
		return // stopped
	}
	if !r.hostDeferred {
		r.hostFlush = nil
		return
	}
	r.hostDeferred = false
	for _, c := range r.watchers {
		c.flush()
	}
	r.hostFlush.Reset(r.hub.cfg.HostTick)
}

// eventPrefix starts every encoded event; the connection's seq is spliced
// in after it, so one encoding serves every recipient.
const eventPrefix = `{"type":"event",`

// eventBody encodes ev as an event without a seq.
func (r *room) eventBody(ev protocol.ServerMessage) []byte {
	ev.Type, ev.Seq = protocol.TypeEvent, 0
	b, err := protocol.EncodeServer(ev)
	if err != nil {
		r.hub.log.Error("encode event", "err", err)
		return nil
	}
	return b
}

// queueEvent numbers body with c's next seq and queues it: at once, or
// deferred until the end of the host tick.
func (r *room) queueEvent(c *conn, body []byte, deferred bool) { queueEventTo(c, body, deferred) }

// encodeEvent encodes ev as an event without a seq.
func encodeEvent(ev protocol.ServerMessage) []byte {
	ev.Type, ev.Seq = protocol.TypeEvent, 0
	b, _ := protocol.EncodeServer(ev)
	return b
}

// queueEventTo numbers body (an event without a seq) with c's next seq and
// queues it.
func queueEventTo(c *conn, body []byte, deferred bool) {
	if c == nil || body == nil {
		return
	}
	c.seq++
	frame := make([]byte, 0, len(body)+24)
	frame = append(frame, eventPrefix...)
	frame = append(frame, `"seq":`...)
	frame = strconv.AppendUint(frame, c.seq, 10)
	frame = append(frame, ',')
	frame = append(frame, body[len(eventPrefix):]...)
	if deferred {
		c.enqueueDeferred(frame)
	} else {
		c.enqueue(frame)
	}
}

// countChanged schedules a broadcast of the participant count: at most one
// per countInterval, whatever the rate of joins and leaves.
func (r *room) countChanged() {
	if r.countTick == nil && !r.dead {
		r.countTick = time.AfterFunc(countInterval(r.hub.cfg.CountInterval, r.st.Count()), r.broadcastCount)
	}
}

// countFanout is how many participants' count frames a room sends per
// CountInterval at most: beyond it the interval grows with the room, up to
// maxCountStretch times CountInterval.
const (
	countFanout     = 2000
	maxCountStretch = 10
)

// countInterval is the least time between two broadcasts of the count to a
// room of n: every participant gets a frame per broadcast (a write each,
// on whichever node it is connected to), so in a join wave of tens of
// thousands a broadcast every CountInterval cost the nodes more than the
// joins themselves. Up to countFanout participants it is base.
func countInterval(base time.Duration, n int) time.Duration {
	return base * time.Duration(min(max(1, (n+countFanout-1)/countFanout), maxCountStretch))
}

func (r *room) broadcastCount() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.countTick = nil
	n := r.st.Count()
	if n == r.countSent || r.dead {
		return
	}
	r.countSent = n
	b, err := protocol.EncodeServer(protocol.ServerMessage{Type: protocol.TypeEvent, Event: protocol.EventCount, Count: n})
	if err != nil {
		return
	}
	conns := make([]*conn, 0, len(r.attached))
	for _, c := range r.attached {
		conns = append(conns, c)
	}
	r.counts.send(b, conns, countInterval(r.hub.cfg.CountInterval, n)/2)
	r.publishLocked(commitParts{aud: &audPart{Count: n}})
}

// snapshot answers a resync request.
func (r *room) snapshot(c *conn, reqID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.currentLocked(c, reqID) {
		return
	}
	r.sendSnapshotLocked(c, reqID)
}

// requests answers getAccessRequests, in parts when the list is long.
func (r *room) requests(c *conn, reqID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.currentLocked(c, reqID) {
		return
	}
	if p := r.presetLocked(c); !p.AcceptStageRequests {
		c.sendError(reqID, protocol.NewError(int(stage.CodePermissionDenied), "preset %q may not see stage requests", p.Name))
		return
	}
	last, frames := splitParts(reqID, r.requestsLocked(), func(m *protocol.ServerMessage, q []protocol.StageRequest) { m.Requests = q }, nil)
	final, err := protocol.EncodeServer(protocol.ServerMessage{Type: protocol.TypeResult, ID: reqID, Requests: last})
	if err != nil {
		return
	}
	c.enqueueAll(append(frames, final))
}

// presetLocked is c's user's preset as the room holds it (an admin may have
// changed it since the connection's hello).
func (r *room) presetLocked(c *conn) stage.Preset {
	if m, ok := r.st.Member(c.id.UserID); ok {
		return m.Preset
	}
	return c.id.Preset
}

// setPreset applies a changed preset to the room's members who have it:
// statuses it cannot hold move (stored and told as any change), the users
// get their new permissions, and everyone resyncs (who sees whom, and the
// count, may have changed).
func (r *room) setPreset(p stage.Preset) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return
	}
	res, ids := r.st.SetPreset(p, r.hub.cfg.Now().UnixMilli())
	if len(ids) == 0 {
		return
	}
	log := r.newEventLog(ActorAPI)
	log.stage(res.Changes)
	if !r.commitLocked(res.Changes, nil, log, "", nil) {
		return
	}
	for _, uid := range ids {
		c := r.attached[uid]
		if c == nil {
			continue
		}
		if p.SeesEveryone() {
			r.watchers[uid] = c
		} else {
			delete(r.watchers, uid)
		}
		if f := r.hub.cfg.OnPreset; f != nil {
			f(r.id, uid, p)
		}
	}
	if len(res.Changes) > 0 {
		r.tellLocked(res.Changes, "")
	}
	for _, c := range r.attached {
		c.flush() // the coalesced events go first: they have the lower seqs
	}
	perms := protocol.PresetPermissions(p)
	for _, uid := range ids {
		if c := r.attached[uid]; c != nil {
			m, _ := r.st.Member(uid)
			self := protocol.ParticipantOf(m)
			r.queueEvent(c, r.eventBody(protocol.ServerMessage{Event: protocol.EventPermissions, Permissions: &perms, Participant: &self}), false)
		}
	}
	resync := r.eventBody(protocol.ServerMessage{Event: protocol.EventResync})
	for _, c := range r.attached {
		r.queueEvent(c, resync, false)
	}
	for _, uid := range ids {
		if rm := r.remote[uid]; rm != nil && rm.watcher != p.SeesEveryone() {
			r.setRemoteLocked(uid, &remoteMember{node: rm.node, conn: rm.conn, watcher: p.SeesEveryone()})
		}
	}
	r.publishLocked(commitParts{aud: &audPart{Resync: true}})
	r.countChanged()
}

// isCurrent reports whether c is its user's live connection in this room.
func (r *room) isCurrent(c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attached[c.id.UserID] == c
}

// connOf returns the user's live connection, if any.
func (r *room) connOf(userID string) *conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attached[userID]
}

// detachLocked forgets the user's connection, here or on another node.
func (r *room) detachLocked(userID string) {
	delete(r.attached, userID)
	delete(r.watchers, userID)
	r.setRemoteLocked(userID, nil)
}

// setRemoteLocked records (rm) or forgets (nil) that the user is connected
// to another node.
func (r *room) setRemoteLocked(userID string, rm *remoteMember) {
	if old := r.remote[userID]; old != nil {
		if old.watcher {
			r.remoteWatchers--
		}
		delete(r.remote, userID)
	}
	if rm != nil {
		r.remote[userID] = rm
		if rm.watcher {
			r.remoteWatchers++
		}
	}
}

// exitLocked takes userID out of the room and tells whoever saw it: the
// event participantLeft, for hosts with the pending list's delta when a
// request was withdrawn. The caller has detached the user's connection.
func (r *room) exitLocked(userID string) {
	r.setRemoteLocked(userID, nil)
	if t := r.timers[userID]; t != nil {
		t.Stop()
		delete(r.timers, userID)
	}
	delete(r.away, userID)
	delete(r.mediaLost, userID)
	m, res, err := r.st.Exit(userID)
	if err != nil {
		r.dropIfEmptyLocked()
		return
	}
	if media := r.hub.cfg.Media; media != nil {
		media.Detach(r.id, userID)
	}
	log := r.newEventLog(participantActor(userID))
	log.add(EventParticipantLeft, &m, nil, "")
	if r.st.Len() == 0 {
		log.add(EventMeetingEnded, nil, nil, "ALL_PARTICIPANTS_LEFT")
		r.sess.ID, r.sess.StartedAt = "", time.Time{}
	}
	var drop []string
	if m.Durable() {
		drop = []string{userID}
	}
	if !r.commitLocked(nil, drop, log, "", nil) {
		return // fenced: the room is deposed
	}
	if !m.Preset.HiddenParticipant {
		p := protocol.ParticipantOf(m)
		ev := protocol.ServerMessage{Event: protocol.EventParticipantLeft, Participant: &p}
		host := ev
		if res.PendingChanged {
			host.RequestsRemoved = []string{userID}
		}
		r.route(ev, host, m.InView())
		r.countChanged()
	}
	if m.Status != stage.OffStage {
		r.notify([]stage.Change{{UserID: m.UserID, PeerID: m.PeerID, From: m.Status, To: stage.OffStage, Cause: stage.CauseExit, InViewBefore: m.InView()}})
	}
	r.dropIfEmptyLocked()
}

// leave is an explicit leave: the user exits now, unless c was already
// replaced by a newer connection of the same user.
func (r *room) leave(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attached[c.id.UserID] == c {
		r.detachLocked(c.id.UserID)
		r.exitLocked(c.id.UserID)
	}
}

// remove takes the user out at once, whatever its connection (an admin
// deleted the participant).
func (r *room) remove(userID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.detachLocked(userID)
	r.exitLocked(userID)
}

// dropped starts the grace period of a connection that went away without
// leaving: the user keeps its place (and status) until the timer fires.
func (r *room) dropped(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	userID := c.id.UserID
	if r.attached[userID] != c {
		return // replaced, removed or left already
	}
	r.detachLocked(userID)
	if r.dead {
		return // the hub is shutting down
	}
	if c.removedByAdmin() {
		return // RemoveParticipant takes the user out next: not reconnecting
	}
	r.startGraceLocked(userID)
	r.connectionChangedLocked(userID)
}

// startGraceLocked gives an absent user the grace period to come back; then
// it exits the room.
func (r *room) startGraceLocked(userID string) {
	var t *time.Timer
	t = time.AfterFunc(r.hub.cfg.Grace, func() {
		defer func() {
			if p := recover(); p != nil {
				r.hub.log.Error("grace expiry panicked", "meeting", r.id, "user", userID, "panic", p)
			}
		}()
		r.mu.Lock()
		defer r.mu.Unlock()
		if rm := r.remote[userID]; r.timers[userID] == t && r.attached[userID] == nil && (rm == nil || rm.lost) {
			delete(r.timers, userID)
			r.exitLocked(userID)
		}
	})
	r.timers[userID] = t
}

// commitLocked stores what committed changes made durable or not (and the
// extra drops), with their events and an idempotency key's answer, in one
// transaction: before anyone, the actor included, is told of them, so that
// nothing acknowledged is lost in a crash. It reports false when the store
// fenced the write (another node owns the room now): the room is deposed.
func (r *room) commitLocked(changes []stage.Change, drop []string, log *eventLog, key string, response []byte) bool {
	if r.hub.cfg.Stage == nil {
		return true
	}
	var save []StageRecord
	for _, ch := range changes {
		m, ok := r.st.Member(ch.UserID)
		switch {
		case !ok:
		case m.Durable():
			rec := StageRecord{Member: m}
			if m.Status == stage.Requested {
				r.reqOrder++
				rec.RequestOrder = r.reqOrder
			}
			save = append(save, rec)
		default:
			drop = append(drop, ch.UserID)
		}
	}
	c := StageCommit{Save: save, Drop: drop, IdempotencyKey: key, Response: response}
	if log != nil {
		c.Events = log.events
	}
	if !r.saveLocked(c) {
		return false
	}
	r.eventSeq += int64(len(c.Events))
	return true
}

// saveLocked stores a change; false when it was refused (fenced, or in a
// cluster not stored) and the room deposed.
func (r *room) saveLocked(c StageCommit) bool {
	st := r.hub.cfg.Stage
	if st == nil || (len(c.Save) == 0 && len(c.Drop) == 0 && len(c.Events) == 0 && c.IdempotencyKey == "") {
		return true
	}
	err := st.SaveStage(r.id, r.epoch, c)
	switch {
	case errors.Is(err, ErrFenced):
		r.hub.log.Warn("stage write fenced: another node owns the room now; deposing it here", "meeting", r.id, "epoch", r.epoch)
		r.deposeLocked()
		return false
	case err != nil && r.hub.cfg.Placement != nil:
		// In a cluster another node may take the room over from the
		// store: a change it lacks must not be acknowledged. The room
		// restarts from the durable state (here or elsewhere).
		r.hub.log.Error("storing the stage failed; deposing the room", "meeting", r.id, "err", err)
		r.deposeLocked()
		return false
	case err != nil:
		// The change stands (everyone is told of it); only a restart
		// before the next successful save would lose it.
		r.hub.log.Error("storing the stage failed", "meeting", r.id, "err", err)
	}
	return true
}

// depose ends the room on this node (see Hub.Depose).
func (r *room) depose() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deposeLocked()
}

// deposeLocked closes every connection of the room with CodeRoomMoved,
// detaches its media and forgets it: another node serves it now, from the
// durable state. Grace timers stop; nobody exits here.
func (r *room) deposeLocked() {
	if r.dead {
		return
	}
	r.dead = true
	for id, t := range r.timers {
		t.Stop()
		delete(r.timers, id)
	}
	r.stopTicksLocked()
	for uid, c := range r.attached {
		c.closeWith(protocol.CodeRoomMoved, "the room moved to another node; reconnect", true)
		r.detachLocked(uid)
	}
	if media := r.hub.cfg.Media; media != nil {
		for _, m := range r.st.Members() {
			r.safely("media Detach", func() { media.Detach(r.id, m.UserID) })
		}
	}
	r.hub.forget(r)
	if p := r.hub.cfg.Placement; p != nil {
		go p.Release(r.id, r.epoch)
	}
}

// restoreLocked brings back the room's durable stage state after a restart
// or a takeover: each member as it was, absent and within its grace period,
// so that a client that reconnects in time finds its place (on stage, or
// its request where it was in the queue), and one that does not leaves as
// usual. It reports false when the room is fenced at a newer epoch (another
// node took it over meanwhile), or, in a cluster, when its state cannot be
// read: a room must not start empty over a state it did not see.
func (r *room) restoreLocked() bool {
	st := r.hub.cfg.Stage
	if st == nil {
		return true
	}
	claim, err := st.ClaimStage(r.id, r.epoch)
	recs := claim.Records
	switch {
	case errors.Is(err, ErrFenced):
		r.hub.log.Warn("room fenced at a newer epoch; not serving it", "meeting", r.id, "epoch", r.epoch)
		return false
	case err != nil && r.hub.cfg.Placement != nil:
		r.hub.log.Error("loading the stage failed; not serving the room", "meeting", r.id, "err", err)
		return false
	case err != nil:
		r.hub.log.Error("loading the stage failed; the room starts empty", "meeting", r.id, "err", err)
		return true
	}
	r.eventSeq, r.sess.Title, r.sess.CreatedAt = claim.LastSeq, claim.Title, claim.CreatedAt
	if claim.Limits != nil {
		r.st.SetLimits(*claim.Limits)
	}
	if len(recs) > 0 {
		r.sess.ID, r.sess.StartedAt = newSessionID(), r.hub.cfg.Now()
	}
	now := r.hub.cfg.Now().UnixMilli()
	for _, rec := range recs {
		if rec.Status == stage.Accepted && rec.AcceptedAt == 0 {
			rec.AcceptedAt = now // the invitation's time is not kept: its timeout starts again
		}
		m, err := r.st.Restore(rec.Member)
		if err != nil {
			r.hub.log.Warn("stage member not restored", "meeting", r.id, "user", rec.UserID, "err", err)
			continue
		}
		r.reqOrder = max(r.reqOrder, rec.RequestOrder)
		if m.Status == stage.OnStage {
			if media := r.hub.cfg.Media; media != nil {
				r.safely("media SetPublishing", func() { media.SetPublishing(r.id, m.UserID, true) })
			}
		}
		r.startGraceLocked(m.UserID)
		r.away[m.UserID] = true // absent until it comes back
	}
	if len(recs) > 0 {
		r.hub.log.Info("stage restored", "meeting", r.id, "members", len(recs), "epoch", r.epoch)
	}
	r.armExpiryLocked()
	return true
}

// subscribe adds fn to the room's subscribers; false when the room was
// dropped meanwhile and the caller must fetch the meeting's room anew.
func (r *room) subscribe(fn func(stage.Change)) (id int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return 0, false
	}
	r.nextSub++
	r.subs[r.nextSub] = fn
	return r.nextSub, true
}

func (r *room) unsubscribe(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.subs, id)
	r.dropIfEmptyLocked()
}

// members returns the room's members in join order.
func (r *room) members() []stage.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Members()
}

// shutdown stops the room's timers and marks it dead: the hub is closing.
func (r *room) shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, t := range r.timers {
		t.Stop()
		delete(r.timers, id)
	}
	r.stopTicksLocked()
	r.dead = true
}

func (r *room) stopTicksLocked() {
	if r.expiry != nil {
		r.expiry.Stop()
		r.expiry = nil
	}
	if r.hostFlush != nil {
		r.hostFlush.Stop()
		r.hostFlush = nil
	}
	if r.countTick != nil {
		r.countTick.Stop()
		r.countTick = nil
	}
}

// dropIfEmptyLocked forgets a room nobody is in, waits for or watches.
func (r *room) dropIfEmptyLocked() {
	if r.dead || r.st.Len() > 0 || len(r.attached) > 0 || len(r.remote) > 0 || len(r.timers) > 0 || len(r.subs) > 0 {
		return
	}
	r.stopTicksLocked()
	r.dead = true
	r.hub.forget(r)
}

// ownEventLocked sends body to its user only, wherever it is connected.
func (r *room) ownEventLocked(userID string, body []byte) {
	if r.deferLocked(func() { r.ownEventLocked(userID, body) }) {
		return
	}
	if c := r.attached[userID]; c != nil {
		r.queueEvent(c, body, false)
	}
	r.remoteOwnLocked(userID, body)
}

// deferLocked keeps fn for after the batch's commit, when a batch of
// actions runs (see remoteActsLocked).
func (r *room) deferLocked(fn func()) bool {
	if r.deferred == nil {
		return false
	}
	*r.deferred = append(*r.deferred, fn)
	return true
}

// notify tells the media server and subscribers about committed changes, in
// room order. A panicking subscriber is logged and skipped.
func (r *room) notify(changes []stage.Change) {
	if r.deferLocked(func() { r.notify(changes) }) {
		return
	}
	media := r.hub.cfg.Media
	for _, ch := range changes {
		if media != nil {
			r.safely("media SetPublishing", func() { media.SetPublishing(r.id, ch.UserID, ch.To == stage.OnStage) })
		}
		for _, fn := range r.subs {
			r.safely("stage subscriber", func() { fn(ch) })
		}
	}
}

func (r *room) safely(what string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			r.hub.log.Error(what+" panicked", "meeting", r.id, "panic", p)
		}
	}()
	fn()
}
