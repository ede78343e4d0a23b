package signal

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// room is one meeting's live stage. Every change happens under mu, and every
// message caused by a change is queued to connections under mu, so all
// clients receive the room's events in the same order.
type room struct {
	hub *Hub
	id  string

	mu       sync.Mutex
	st       *stage.Room
	seq      uint64
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
// still there (grace period, or another live connection, which is replaced).
func (r *room) join(c *conn) (protocol.Snapshot, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return protocol.Snapshot{}, false
	}
	id := c.id
	if _, ok := r.st.Member(id.UserID); ok {
		if t := r.timers[id.UserID]; t != nil {
			t.Stop()
			delete(r.timers, id.UserID)
		}
		if old := r.attached[id.UserID]; old != nil && old != c {
			old.closeWith(protocol.CodeReplaced, "the participant connected elsewhere")
		}
	} else {
		m, err := r.st.Enter(stage.Member{UserID: id.UserID, PeerID: c.peerID, Name: id.Name, Preset: id.Preset})
		if err != nil { // cannot happen: checked above under the same lock
			return protocol.Snapshot{}, false
		}
		p := protocol.ParticipantOf(m)
		r.seq++
		r.broadcast(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: r.seq, Event: protocol.EventParticipantJoined, Participant: &p}, nil)
	}
	r.attached[id.UserID] = c
	c.room = r
	if media := r.hub.cfg.Media; media != nil {
		if err := media.Attach(r.id, id.UserID, c.peerID, c); err != nil {
			r.hub.log.Warn("media attach failed", "meeting", r.id, "user", id.UserID, "err", err)
		}
	}
	return r.snapshotLocked(id.UserID), true
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

func (r *room) requestsLocked() []protocol.StageRequest {
	pending := r.st.Pending()
	out := make([]protocol.StageRequest, len(pending))
	for i, m := range pending {
		out[i] = protocol.RequestOf(m)
	}
	return out
}

// apply runs one stage action by c's user and answers it.
func (r *room) apply(c *conn, msg protocol.ClientMessage, kind stage.Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.st.Apply(stage.Action{Kind: kind, Actor: c.id.UserID, Targets: msg.UserIDs, Expect: msg.Expect, At: r.hub.cfg.Now().UnixMilli()})
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
	me, _ := r.st.Member(c.id.UserID)
	c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: seq, Status: me.Status})
}

// exitLocked takes userID out of the room and tells everyone.
func (r *room) exitLocked(userID string) {
	if t := r.timers[userID]; t != nil {
		t.Stop()
		delete(r.timers, userID)
	}
	m, res, err := r.st.Exit(userID)
	if err != nil {
		return
	}
	if media := r.hub.cfg.Media; media != nil {
		media.Detach(r.id, userID)
	}
	if m.Status == stage.OnStage || m.Status == stage.Accepted {
		r.notify([]stage.Change{{UserID: m.UserID, PeerID: m.PeerID, From: m.Status, To: stage.OffStage, Cause: stage.CauseExit}})
	}
	p := protocol.ParticipantOf(m)
	r.seq++
	r.broadcast(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: r.seq, Event: protocol.EventParticipantLeft, Participant: &p}, &res)
	r.hub.dropRoomIfEmpty(r)
}

// leave is an explicit leave: exit now.
func (r *room) leave(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attached[c.id.UserID] == c {
		delete(r.attached, c.id.UserID)
		r.exitLocked(c.id.UserID)
	}
}

// dropped starts the grace period of a connection that went away.
func (r *room) dropped(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	userID := c.id.UserID
	if r.attached[userID] != c {
		return // replaced, removed or left already
	}
	delete(r.attached, userID)
	var t *time.Timer
	t = time.AfterFunc(r.hub.cfg.Grace, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.timers[userID] == t && r.attached[userID] == nil {
			delete(r.timers, userID)
			r.exitLocked(userID)
		}
	})
	r.timers[userID] = t
}

func (r *room) notify(changes []stage.Change) {
	media := r.hub.cfg.Media
	for _, ch := range changes {
		if media != nil {
			media.StageChanged(r.id, ch)
		}
		for _, fn := range r.subs {
			fn(ch)
		}
	}
}

// broadcast queues ev to every attached connection. When res says the
// pending list changed, users who accept stage requests also get the list.
// The message is encoded once per audience, not per recipient.
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
		if ev.Requests == nil {
			ev.Requests = []protocol.StageRequest{}
		}
		if hosts, err = json.Marshal(ev); err != nil {
			r.hub.log.Error("encode event", "err", err)
			return
		}
	}
	for _, c := range r.attached {
		if c.id.Preset.AcceptStageRequests {
			c.enqueue(hosts)
		} else {
			c.enqueue(plain)
		}
	}
}
