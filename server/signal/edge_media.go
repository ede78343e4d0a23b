package signal

// Media on an edge: the edge's users attach to this node's media server
// (Config.Media) as they would on the owner, and the room's media crosses
// between the edge and the owner by a relay (EdgeConfig.Relays), one per
// room while the edge serves it. The owner decides who may publish: it
// marks the changes of an edge's users' publishing in that node's stream
// (nodePart.Pub), and the edge applies them to its media server.

import (
	"sync"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// EdgeRelays carries the media of the rooms an edge serves between it and
// their owners.
type EdgeRelays interface {
	// Open starts relaying the room's media with its owner (a base URL;
	// this node's own: no relay until Move). It must not block.
	Open(meetingID, owner string) EdgeRelay
}

// EdgeRelay is one room's relay at an edge.
type EdgeRelay interface {
	// Move follows the room to a new owner: the relay is made again there.
	Move(owner string)
	// Close ends the relay: nobody here uses the room any more.
	Close()
}

// edgeMediaBook remembers which connection attached each edge user's
// media, so that a late detach (the grace period of a dropped connection)
// never ends a newer one's, and whose media went silent (the media
// server's liveness), which a rejoin tells the owner.
type edgeMediaBook struct {
	mu       sync.Mutex
	attached map[memberKey]*conn
	lost     map[memberKey]bool
}

func (b *edgeMediaBook) isLost(key memberKey) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lost[key]
}

// edgeMediaLiveness takes the media server's news of a user whose media an
// edge room here attached (false: none did): when its media went silent,
// its connection here is probed at once (as the owner does for its own
// users: room.mediaLiveness), and the owner is told through the room's
// batches, in order with the user's joins and drops, so that hosts on
// every node see the user as reconnecting meanwhile. News while the user
// has no edge room here reaches the owner with its next join.
func (h *Hub) edgeMediaLiveness(meetingID, userID string, live bool) bool {
	key := memberKey{meetingID, userID}
	b := &h.edgeMedia
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.attached[key]
	if c == nil {
		return false
	}
	if live {
		delete(b.lost, key)
	} else {
		if b.lost == nil {
			b.lost = map[memberKey]bool{}
		}
		b.lost[key] = true
		c.probe() // the connection that attached the media: the user's here, if any
	}
	h.mu.Lock()
	er := h.edgeRooms[meetingID]
	h.mu.Unlock()
	if er != nil {
		er.enqueue(edgeCall{Op: "media", User: userID, Live: live}, nil)
	}
	return true
}

// attachMediaLocked attaches c's user to this node's media server, with
// its publishing as the owner's snapshot says (under er.mu).
func (er *edgeRoom) attachMediaLocked(c *conn, self protocol.Participant) {
	h := er.hub
	media := h.cfg.Media
	if media == nil {
		return
	}
	key := memberKey{er.id, c.id.UserID}
	h.edgeMedia.mu.Lock()
	if h.edgeMedia.attached == nil {
		h.edgeMedia.attached = map[memberKey]*conn{}
	}
	h.edgeMedia.attached[key] = c
	if !c.keepMedia {
		delete(h.edgeMedia.lost, key) // a new media session: nothing is lost yet
	}
	h.edgeMedia.mu.Unlock()
	if f := h.cfg.OnPreset; f != nil {
		f(er.id, c.id.UserID, c.id.Preset)
	}
	if err := media.Attach(er.id, c.id.UserID, c.peerID, c, c.keepMedia); err != nil {
		h.log.Warn("media attach failed", "meeting", er.id, "user", c.id.UserID, "err", err)
	}
	media.SetPublishing(er.id, c.id.UserID, self.StageStatus == stage.OnStage)
}

// detachMedia ends c's user's media here, after wait (a dropped
// connection's grace period: it may come back with its media kept),
// unless another connection attached it since.
func (er *edgeRoom) detachMedia(c *conn, wait time.Duration) {
	h := er.hub
	media := h.cfg.Media
	if media == nil {
		return
	}
	key := memberKey{er.id, c.id.UserID}
	detach := func() {
		h.edgeMedia.mu.Lock()
		mine := h.edgeMedia.attached[key] == c
		if mine {
			delete(h.edgeMedia.attached, key)
			delete(h.edgeMedia.lost, key)
		}
		h.edgeMedia.mu.Unlock()
		if mine {
			media.Detach(key.meetingID, key.userID)
		}
	}
	if wait <= 0 {
		detach()
		return
	}
	time.AfterFunc(wait, detach)
}

// setPublishingLocked applies the owner's mark for a user here.
func (er *edgeRoom) setPublishingLocked(userID string, onStage bool) {
	if media := er.hub.cfg.Media; media != nil {
		media.SetPublishing(er.id, userID, onStage)
	}
}

// edgeMedia answers a media message of a user served here as an edge.
func (c *conn) edgeMedia(msg protocol.ClientMessage) {
	media := c.hub.cfg.Media
	if media == nil {
		c.sendError(msg.ID, protocol.NewError(protocol.CodeMediaRefused, "this server forwards no media"))
		return
	}
	er := c.edge
	er.mu.Lock()
	current := er.conns[c.id.UserID] == c
	er.mu.Unlock()
	if !current {
		c.sendError(msg.ID, protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room"))
		return
	}
	res, err := media.Handle(er.id, c.id.UserID, msg)
	if err != nil {
		c.sendError(msg.ID, protocol.ErrorOf(err))
		return
	}
	res.Type, res.ID = protocol.TypeResult, msg.ID
	c.send(res)
}

// markPublishingLocked marks, for the edges, the publishing changes of
// their users (the owner's side; under the room's lock).
func (r *room) markPublishingLocked(changes []stage.Change) {
	var p commitParts
	for _, ch := range changes {
		rm := r.remote[ch.UserID]
		if rm == nil {
			continue
		}
		np := p.node(rm.node)
		if np.Pub == nil {
			np.Pub = map[string]bool{}
		}
		np.Pub[ch.UserID] = ch.To == stage.OnStage
	}
	if len(p.nodes) > 0 {
		r.publishLocked(p)
	}
}
