package signal

// Screen shares are the room's (stage.Room's slots): the media server asks
// the hub before it admits one and gives the slot back when it ends. The
// room's owner decides, under the room's lock and in its one order,
// whichever node the sharer publishes through: an edge forwards the claim
// to the owner as it does a stage action, so two users on different nodes
// cannot both take the last slot.

import (
	"maps"
	"slices"

	"github.com/stagekit/stagekit/protocol"
)

// ClaimScreenshare asks the room's stage for a screen-share slot for a
// user of meetingID connected here (stage.Room.ClaimScreenshare). Errors
// are coded: the stage's (2001, 2005, 2006, 2106) and 4051 when the room's
// owner is gone.
func (h *Hub) ClaimScreenshare(meetingID, userID string) error {
	if er := h.servingEdge(meetingID, userID); er != nil {
		ans, err := er.batchedAs(userID, edgeCall{Op: opShare})
		if err != nil {
			return protocol.NewError(protocol.CodeRoomMoved, "the room's owner is gone; reconnect")
		}
		if ans.Error != nil {
			return ans.Error
		}
		return nil
	}
	r := h.existingRoom(meetingID)
	if r == nil {
		return protocol.NewError(protocol.CodeNotJoined, "join the room first")
	}
	return r.claimScreenshare(userID)
}

// ReleaseScreenshare gives a user's screen-share slot back; a user who
// moved to another node meanwhile keeps the slot it holds there.
func (h *Hub) ReleaseScreenshare(meetingID, userID string) {
	if er := h.servingEdge(meetingID, userID); er != nil {
		er.batchedAs(userID, edgeCall{Op: opUnshare})
		return
	}
	if r := h.existingRoom(meetingID); r != nil {
		r.releaseScreenshare(userID)
	}
}

// Edge calls for screen-share slots (batched with stage actions).
const (
	opShare   = "share"
	opUnshare = "unshare"
)

// servingEdge is the live edge room that serves userID of meetingID here,
// if any: a room another node owns (or this node, serving its users as an
// edge of itself after a takeover).
func (h *Hub) servingEdge(meetingID, userID string) *edgeRoom {
	h.mu.Lock()
	er := h.edgeRooms[meetingID]
	h.mu.Unlock()
	if er == nil {
		return nil
	}
	er.mu.Lock()
	defer er.mu.Unlock()
	if er.dead || er.conns[userID] == nil {
		return nil
	}
	return er
}

// claimScreenshare decides the share of a user connected to this node.
func (r *room) claimScreenshare(userID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return protocol.NewError(protocol.CodeRoomMoved, "the room moved to another node; reconnect")
	}
	if r.remote[userID] != nil {
		return protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room")
	}
	return r.claimSlotLocked(userID)
}

// claimSlotLocked takes a slot in the room's stage for a member of this
// node's or an edge's, while this node may still decide for the room.
func (r *room) claimSlotLocked(userID string) error {
	if !r.leaseUsableLocked() {
		return errLeaseStale
	}
	if err := r.st.ClaimScreenshare(userID); err != nil {
		return protocol.ErrorOf(err)
	}
	return nil
}

func (r *room) releaseScreenshare(userID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.remote[userID] == nil { // else its slot is its node's to give back
		r.st.ReleaseScreenshare(userID)
	}
}

// remoteShareLocked claims or releases the slot of a user connected to
// node.
func (r *room) remoteShareLocked(node string, call edgeCall) edgeAnswer {
	if rm := r.remote[call.User]; rm == nil || rm.node != node {
		if call.Op == opUnshare {
			return edgeAnswer{} // moved meanwhile: its slot is its new node's
		}
		return edgeAnswer{Error: protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room")}
	}
	if call.Op == opUnshare {
		r.st.ReleaseScreenshare(call.User)
		return edgeAnswer{}
	}
	if err := r.claimSlotLocked(call.User); err != nil {
		return edgeAnswer{Error: protocol.ErrorOf(err)}
	}
	return edgeAnswer{}
}

// movedLocked ends the screen share of a member who connects through
// another node than before: its media session there ended with the move,
// and its client shares again through its new node if it still does.
func (r *room) movedLocked(userID string) {
	r.st.ReleaseScreenshare(userID)
}

// Screenshares counts the screen-share slots held in the rooms this node
// owns.
func (h *Hub) Screenshares() int {
	h.mu.Lock()
	rooms := slices.Collect(maps.Values(h.rooms))
	h.mu.Unlock()
	n := 0
	for _, r := range rooms {
		r.mu.Lock()
		n += len(r.st.Screenshares())
		r.mu.Unlock()
	}
	return n
}

// leaseUsableLocked reports whether this node may still decide for the
// room: a claim writes nothing to the fenced store, so an owner paused
// past its lease must not admit one before it notices (its renewals
// depose the room soon after).
func (r *room) leaseUsableLocked() bool {
	p := r.hub.cfg.Placement
	return p == nil || p.Holds(r.id, r.epoch)
}

var errLeaseStale = protocol.NewError(protocol.CodeRoomMoved, "this node's lease of the room is not current; reconnect")
