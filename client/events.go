package client

import (
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Event names. The first six are meeting.stage's documented events for the
// local user.
const (
	EventStageStatusUpdate        = "stageStatusUpdate"        // Status
	EventStageAccessRequestUpdate = "stageAccessRequestUpdate" // Requests
	EventNewStageRequest          = "newStageRequest"          // Count
	EventStageRequestApproved     = "stageRequestApproved"
	EventStageRequestRejected     = "stageRequestRejected"
	EventAcceptPresentRequests    = "acceptPresentRequests"

	EventParticipantJoined            = "participantJoined"            // Participant
	EventParticipantLeft              = "participantLeft"              // Participant
	EventParticipantStageStatusUpdate = "participantStageStatusUpdate" // Participant, Status

	EventRoomJoined   = "roomJoined"
	EventRoomLeft     = "roomLeft"
	EventReconnecting = "reconnecting"
	EventReconnected  = "reconnected"
	EventDisconnected = "disconnected" // Err: the server ended the session for good
	EventMedia        = "media"        // Media: a media signaling message for the media layer
)

// Event is something that happened to the meeting, already applied to the
// local state when listeners see it.
type Event struct {
	Name        string
	Status      stage.Status
	Requests    []protocol.StageRequest
	Count       int
	Participant *Participant
	Err         error
	Media       *protocol.ServerMessage
}

// applyEvent applies a room event and returns what to emit.
func (m *Meeting) applyEvent(c *conn, msg protocol.ServerMessage) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.self.RoomJoined || msg.Seq <= m.lastSeq {
		return nil // before the join snapshot, or already covered by one
	}
	if m.resyncing {
		return nil // the snapshot on its way covers it
	}
	if msg.Seq != m.lastSeq+1 {
		m.resyncing = true
		go func() {
			ctx, cancel := contextWithTimeout(m.opts.RequestTimeout)
			defer cancel()
			if _, err := c.call(ctx, protocol.ClientMessage{Type: protocol.TypeSnapshot}); err != nil {
				m.log.Warn("resync failed", "err", err)
			}
		}()
		return nil
	}
	m.lastSeq = msg.Seq
	var out []Event
	switch msg.Event {
	case protocol.EventStage:
		for _, ch := range msg.Changes {
			out = append(out, m.applyChangeLocked(ch)...)
		}
	case protocol.EventParticipantJoined:
		if p := msg.Participant; p != nil && p.UserID != m.self.UserID {
			if _, known := m.participants[p.PeerID]; !known {
				m.order = append(m.order, p.PeerID)
			}
			cp := *p
			m.participants[p.PeerID] = &cp
			out = append(out, Event{Name: EventParticipantJoined, Participant: &cp})
		}
	case protocol.EventParticipantLeft:
		if p := msg.Participant; p != nil {
			if old, ok := m.participants[p.PeerID]; ok {
				m.removeLocked(p.PeerID)
				out = append(out, Event{Name: EventParticipantLeft, Participant: old})
			}
		}
	}
	if msg.PendingChanged {
		m.requests = nonNil(msg.Requests)
		out = append(out, Event{Name: EventStageAccessRequestUpdate, Requests: m.requests})
		if msg.RequestAdded {
			out = append(out, Event{Name: EventNewStageRequest, Count: len(m.requests)})
		}
	}
	return out
}

func (m *Meeting) applyChangeLocked(ch protocol.Change) []Event {
	if ch.UserID == m.self.UserID {
		m.self.StageStatus = ch.To
		out := []Event{{Name: EventStageStatusUpdate, Status: ch.To}}
		switch ch.Cause {
		case stage.CauseGrant:
			out = append(out, Event{Name: EventStageRequestApproved}, Event{Name: EventAcceptPresentRequests})
		case stage.CauseInvite:
			out = append(out, Event{Name: EventAcceptPresentRequests})
		case stage.CauseDeny:
			out = append(out, Event{Name: EventStageRequestRejected})
		}
		return out
	}
	p, ok := m.participants[ch.PeerID]
	if !ok {
		return nil
	}
	p.StageStatus = ch.To
	cp := *p
	return []Event{{Name: EventParticipantStageStatusUpdate, Participant: &cp, Status: ch.To}}
}

// applySnapshot replaces the local state with the server's and returns the
// events a user would have seen between the two (none on a first join).
func (m *Meeting) applySnapshot(s protocol.Snapshot) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := !m.self.RoomJoined
	var out []Event
	if first {
		out = append(out, Event{Name: EventRoomJoined})
	} else {
		out = m.diffLocked(s)
	}
	m.self.Participant = s.Self
	m.self.RoomJoined = true
	m.participants = make(map[string]*Participant, len(s.Participants))
	m.order = m.order[:0]
	for _, p := range s.Participants {
		cp := p
		m.participants[p.PeerID] = &cp
		m.order = append(m.order, p.PeerID)
	}
	if m.self.Permissions.AcceptStageRequests {
		m.requests = nonNil(s.Requests)
	}
	m.lastSeq = s.Seq
	m.resyncing = false
	return out
}

// diffLocked lists the events between the local state and a snapshot.
func (m *Meeting) diffLocked(s protocol.Snapshot) []Event {
	var out []Event
	if s.Self.StageStatus != m.self.StageStatus {
		out = append(out, Event{Name: EventStageStatusUpdate, Status: s.Self.StageStatus})
	}
	seen := make(map[string]bool, len(s.Participants))
	for _, p := range s.Participants {
		seen[p.PeerID] = true
		cp := p
		old, ok := m.participants[p.PeerID]
		switch {
		case !ok:
			out = append(out, Event{Name: EventParticipantJoined, Participant: &cp})
		case old.StageStatus != p.StageStatus:
			out = append(out, Event{Name: EventParticipantStageStatusUpdate, Participant: &cp, Status: p.StageStatus})
		}
	}
	for _, id := range m.order {
		if !seen[id] {
			out = append(out, Event{Name: EventParticipantLeft, Participant: m.participants[id]})
		}
	}
	if m.self.Permissions.AcceptStageRequests && !sameRequests(m.requests, s.Requests) {
		out = append(out, Event{Name: EventStageAccessRequestUpdate, Requests: nonNil(s.Requests)})
	}
	return out
}

func (m *Meeting) removeLocked(peerID string) {
	delete(m.participants, peerID)
	for i, id := range m.order {
		if id == peerID {
			m.order = append(m.order[:i], m.order[i+1:]...)
			return
		}
	}
}

func sameRequests(a, b []protocol.StageRequest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func nonNil(r []protocol.StageRequest) []protocol.StageRequest {
	if r == nil {
		return []protocol.StageRequest{}
	}
	return r
}
