package client

import (
	"fmt"
	"sync/atomic"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Event names. The first six are meeting.stage's documented events about the
// local user; the participant events are about the other participants; the
// meeting events are about the session itself.
const (
	// EventStageStatusUpdate: the local user's status changed; Status is the
	// new one.
	EventStageStatusUpdate = "stageStatusUpdate"
	// EventStageAccessRequestUpdate: the pending list changed (users with
	// acceptStageRequests only); Requests is the whole new list, oldest first.
	EventStageAccessRequestUpdate = "stageAccessRequestUpdate"
	// EventNewStageRequest: a request was added (users with
	// acceptStageRequests only); Count is the pending count.
	EventNewStageRequest = "newStageRequest"
	// EventStageRequestApproved: the local user's request was granted.
	EventStageRequestApproved = "stageRequestApproved"
	// EventStageRequestRejected: the local user's request was denied.
	EventStageRequestRejected = "stageRequestRejected"
	// EventAcceptPresentRequests: the local user was granted or invited.
	EventAcceptPresentRequests = "acceptPresentRequests"

	// EventParticipantJoined: another participant entered; Participant set.
	EventParticipantJoined = "participantJoined"
	// EventPermissionsUpdate: an admin changed the user's preset;
	// Self().Permissions holds the new permissions (RealtimeKit's
	// permissionsUpdate). A resync follows, with whatever it changed.
	EventPermissionsUpdate = "permissionsUpdate"
	// EventParticipantLeft: another participant left (or its grace period
	// ran out); Participant is its last state.
	EventParticipantLeft = "participantLeft"
	// EventParticipantStageStatusUpdate: another participant's stage status
	// changed; Participant is its new state, Status its new status.
	EventParticipantStageStatusUpdate = "participantStageStatusUpdate"

	// EventParticipantConnection: another participant started or stopped
	// reconnecting (its signaling connection dropped or its media went
	// silent; the grace period keeps its place): Participant is its new
	// state, with Reconnecting. A participant whose new connection
	// replaced one the server still held was never away: no event.
	EventParticipantConnection = "participantConnection"

	// EventParticipantCount: the room's participant count changed (Count,
	// the local user included). The server sends it at most about once a
	// second, however fast people come and go.
	EventParticipantCount = "participantCount"

	// EventRoomJoined: Join succeeded; the participants and requests are
	// filled.
	EventRoomJoined = "roomJoined"
	// EventRoomLeft: Leave took the user out of the room.
	EventRoomLeft = "roomLeft"
	// EventReconnecting: the connection dropped; the client redials by itself.
	// Calls fail with 5002 until EventReconnected.
	EventReconnecting = "reconnecting"
	// EventReconnected: the client is connected again and has resynced from
	// the server's state, emitting the events the user missed before this one.
	EventReconnected = "reconnected"
	// EventDisconnected: the session ended for good (token invalid, expired
	// or revoked, participant removed, or connected elsewhere); Err is the
	// *Error with the close code. Nothing reconnects after it.
	EventDisconnected = "disconnected"

	// EventMedia: a media signaling message from the server (subscribe
	// offer, candidate, track map); Media is the message.
	EventMedia = "media"
)

// Event is one notification to the listeners registered with Meeting.On.
// Only the fields its Name documents are set. Slices and pointers are the
// event's own copies; listeners must not modify them.
type Event struct {
	Name string
	// Seq is the room sequence number of the server message that caused the
	// event (0 for events that are not about the room's state).
	Seq uint64
	// Status: the new status (stageStatusUpdate,
	// participantStageStatusUpdate).
	Status stage.Status
	// Cause: the action behind a status change, when it came from a live
	// event; empty when it was found by a resync.
	Cause stage.Cause
	// Requests: the pending list (stageAccessRequestUpdate).
	Requests []protocol.StageRequest
	// Count: the pending count (newStageRequest), the room's participant
	// count (participantCount).
	Count int
	// Participant: the participant's new state (participant events).
	Participant *Participant
	// Err: why the session ended (disconnected).
	Err error
	// Media: the server's media message (media).
	Media *protocol.ServerMessage
}

// String makes events readable in logs and test failures.
func (e Event) String() string {
	s := fmt.Sprintf("%s#%d", e.Name, e.Seq)
	switch e.Name {
	case EventStageStatusUpdate:
		if e.Cause != "" {
			s += fmt.Sprintf("(%s by %s)", e.Status, e.Cause)
		} else {
			s += fmt.Sprintf("(%s)", e.Status)
		}
	case EventStageAccessRequestUpdate:
		s += fmt.Sprintf("(%d requests)", len(e.Requests))
	case EventNewStageRequest, EventParticipantCount:
		s += fmt.Sprintf("(count %d)", e.Count)
	case EventDisconnected:
		s += fmt.Sprintf("(%v)", e.Err)
	}
	if e.Participant != nil {
		s += fmt.Sprintf("(%s %s %s)", e.Participant.UserID, e.Participant.PeerID, e.Participant.StageStatus)
	}
	return s
}

type listener struct {
	id int
	fn func(Event)
}

// listeners is a copy-on-write list: emitting reads it without locking.
type listeners struct {
	list atomic.Pointer[[]listener]
	next int // guarded by Meeting.lmu
}

// On registers fn for every event of the meeting and returns a function that
// removes it. Listeners are called one at a time, in registration order, on
// the connection's reader goroutine (a few meeting events come from the
// goroutine that called Leave or from the reconnect loop, never at the same
// time as another event). A listener must return quickly and must not call
// a Meeting or Stage method that waits for the server (that would wait for
// the very goroutine running it); start a goroutine for that. Reading state
// (Self, Participants, Stage().Status()) is fine and already shows the
// event's effect.
func (m *Meeting) On(fn func(Event)) (remove func()) {
	m.lmu.Lock()
	defer m.lmu.Unlock()
	m.ls.next++
	id := m.ls.next
	var cur []listener
	if p := m.ls.list.Load(); p != nil {
		cur = *p
	}
	nl := make([]listener, len(cur), len(cur)+1)
	copy(nl, cur)
	nl = append(nl, listener{id: id, fn: fn})
	m.ls.list.Store(&nl)
	return func() {
		m.lmu.Lock()
		defer m.lmu.Unlock()
		cur := *m.ls.list.Load()
		nl := make([]listener, 0, len(cur))
		for _, l := range cur {
			if l.id != id {
				nl = append(nl, l)
			}
		}
		m.ls.list.Store(&nl)
	}
}

// emit calls the listeners for each event, in order.
func (m *Meeting) emit(events ...Event) {
	if len(events) == 0 {
		return
	}
	m.emitMu.Lock()
	defer m.emitMu.Unlock()
	for _, ev := range events {
		p := m.ls.list.Load()
		if p == nil {
			continue
		}
		for _, l := range *p {
			m.call1(l.fn, ev)
		}
	}
}

// call1 runs one listener; a panicking listener is logged, not fatal to the
// reader.
func (m *Meeting) call1(fn func(Event), ev Event) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error("stagekit: event listener panicked", "event", ev.Name, "panic", r)
		}
	}()
	fn(ev)
}
