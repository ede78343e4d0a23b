package signal

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// room is one meeting's live stage. Every change happens under mu, and every
// message caused by a change (events to the room, the answer to the actor)
// is queued to connections under mu, so all clients receive the room's events
// in the same order and an actor sees the event before its result.
type room struct {
	hub *Hub
	id  string

	mu       sync.Mutex
	st       *stage.Room
	seq      uint64                 // seq of the last event sent
	attached map[string]*conn       // user id → its live connection
	timers   map[string]*time.Timer // user id → grace timer of a dropped user
	subs     map[int]func(stage.Change)
	nextSub  int
	dead     bool // dropped from the hub; joiners must fetch a new room
}

func newRoom(h *Hub, id string) *room {
	return &room{
		hub: h, id: id, st: stage.NewRoom(),
		attached: make(map[string]*conn),
		timers:   make(map[string]*time.Timer),
		subs:     make(map[int]func(stage.Change)),
	}
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
	if m, ok := r.st.Member(uid); ok {
		if t := r.timers[uid]; t != nil {
			t.Stop()
			delete(r.timers, uid)
		}
		if old := r.attached[uid]; old != nil && old != c {
			old.closeWith(protocol.CodeReplaced, "the participant connected elsewhere", true)
		}
		c.peerID = m.PeerID
	} else {
		m, err := r.st.Enter(stage.Member{UserID: uid, PeerID: c.peerID, Name: c.id.Name, Preset: c.id.Preset})
		if err != nil { // cannot happen: checked above under the same lock
			c.sendError(reqID, protocol.ErrorOf(err))
			return true
		}
		p := protocol.ParticipantOf(m)
		r.seq++
		r.broadcast(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: r.seq, Event: protocol.EventParticipantJoined, Participant: &p}, nil)
	}
	r.attached[uid] = c
	c.room = r
	if media := r.hub.cfg.Media; media != nil {
		if err := media.Attach(r.id, uid, c.peerID, c); err != nil {
			r.hub.log.Warn("media attach failed", "meeting", r.id, "user", uid, "err", err)
		}
	}
	// Queued under the lock: no event after the snapshot can overtake it.
	snap := r.snapshotLocked(uid)
	c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: reqID, Seq: snap.Seq, Snapshot: &snap})
	return true
}

// snapshotLocked is the room as userID may see it.
func (r *room) snapshotLocked(userID string) protocol.Snapshot {
	snap := protocol.Snapshot{Seq: r.seq, Participants: make([]protocol.Participant, 0, r.st.Len())}
	self, _ := r.st.Member(userID)
	for _, m := range r.st.Members() {
		if m.UserID == userID {
			snap.Self = protocol.ParticipantOf(m)
			continue
		}
		snap.Participants = append(snap.Participants, protocol.ParticipantOf(m))
	}
	if self.Preset.AcceptStageRequests {
		snap.Requests = r.requestsLocked()
	}
	return snap
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

// current reports, under the lock, whether c is its user's live connection
// in this room; refusals are answered with 2005.
func (r *room) currentLocked(c *conn, reqID uint64) bool {
	if r.attached[c.id.UserID] == c {
		return true
	}
	c.sendError(reqID, protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room"))
	return false
}

// apply runs one stage action by c's user and answers it: the event to the
// room first, then the result to the actor.
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
	var seq uint64
	if len(res.Changes) > 0 || res.PendingChanged {
		changes := make([]protocol.Change, len(res.Changes))
		for i, ch := range res.Changes {
			changes[i] = protocol.ChangeOf(ch)
		}
		r.seq++
		seq = r.seq
		r.broadcast(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: seq, Event: protocol.EventStage, Changes: changes}, &res)
		r.notify(res.Changes)
	}
	me, _ := r.st.Member(uid)
	c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: seq, Status: me.Status})
}

// snapshot answers a resync request.
func (r *room) snapshot(c *conn, reqID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.currentLocked(c, reqID) {
		return
	}
	snap := r.snapshotLocked(c.id.UserID)
	c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: reqID, Seq: snap.Seq, Snapshot: &snap})
}

// requests answers getAccessRequests.
func (r *room) requests(c *conn, reqID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.currentLocked(c, reqID) {
		return
	}
	if !c.id.Preset.AcceptStageRequests {
		c.sendError(reqID, protocol.NewError(int(stage.CodePermissionDenied), "preset %q may not see stage requests", c.id.Preset.Name))
		return
	}
	c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: reqID, Requests: r.requestsLocked()})
}

// isCurrent reports whether c is its user's live connection in this room.
func (r *room) isCurrent(c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attached[c.id.UserID] == c
}

// exitLocked takes userID out of the room and tells everyone: the event
// participantLeft, for hosts with the new pending list when a request was
// withdrawn. The caller has removed the user's connection from attached.
func (r *room) exitLocked(userID string) {
	if t := r.timers[userID]; t != nil {
		t.Stop()
		delete(r.timers, userID)
	}
	m, res, err := r.st.Exit(userID)
	if err != nil {
		r.dropIfEmptyLocked()
		return
	}
	if media := r.hub.cfg.Media; media != nil {
		media.Detach(r.id, userID)
	}
	p := protocol.ParticipantOf(m)
	r.seq++
	r.broadcast(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: r.seq, Event: protocol.EventParticipantLeft, Participant: &p}, &res)
	if m.Status != stage.OffStage {
		r.notify([]stage.Change{{UserID: m.UserID, PeerID: m.PeerID, From: m.Status, To: stage.OffStage, Cause: stage.CauseExit}})
	}
	r.dropIfEmptyLocked()
}

// leave is an explicit leave: the user exits now, unless c was already
// replaced by a newer connection of the same user.
func (r *room) leave(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attached[c.id.UserID] == c {
		delete(r.attached, c.id.UserID)
		r.exitLocked(c.id.UserID)
	}
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
	delete(r.attached, userID)
	if r.dead {
		return // the hub is shutting down
	}
	var t *time.Timer
	t = time.AfterFunc(r.hub.cfg.Grace, func() {
		defer func() {
			if p := recover(); p != nil {
				r.hub.log.Error("grace expiry panicked", "meeting", r.id, "user", userID, "panic", p)
			}
		}()
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.timers[userID] == t && r.attached[userID] == nil {
			delete(r.timers, userID)
			r.exitLocked(userID)
		}
	})
	r.timers[userID] = t
}

// dropIfEmptyLocked forgets a room nobody is in, waits for or watches.
func (r *room) dropIfEmptyLocked() {
	if r.dead || r.st.Len() > 0 || len(r.attached) > 0 || len(r.timers) > 0 || len(r.subs) > 0 {
		return
	}
	r.dead = true
	r.hub.forget(r)
}

// notify tells the media server and subscribers about committed changes, in
// room order. A panicking subscriber is logged and skipped.
func (r *room) notify(changes []stage.Change) {
	media := r.hub.cfg.Media
	for _, ch := range changes {
		if media != nil {
			r.safely("media StageChanged", func() { media.StageChanged(r.id, ch) })
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

// broadcast queues ev to every attached connection. When res says the
// pending list changed, users who accept stage requests also get
// pendingChanged, the whole list and requestAdded. The message is encoded
// once per audience, not per recipient.
func (r *room) broadcast(ev protocol.ServerMessage, res *stage.Result) {
	plain, err := json.Marshal(ev)
	if err != nil {
		r.hub.log.Error("encode event", "err", err)
		return
	}
	hosts := plain
	if res != nil && res.PendingChanged {
		ev.PendingChanged = true
		ev.RequestAdded = res.RequestAdded
		ev.Requests = r.requestsLocked()
		if hosts, err = json.Marshal(ev); err != nil {
			r.hub.log.Error("encode event", "err", err)
			return
		}
	}
	// Hosts first: they act on requests, and their copy should not wait
	// behind a thousand viewers' copies.
	for _, c := range r.attached {
		if c.id.Preset.AcceptStageRequests {
			c.enqueue(hosts)
		}
	}
	for _, c := range r.attached {
		if !c.id.Preset.AcceptStageRequests {
			c.enqueue(plain)
		}
	}
}
