package client

import (
	"slices"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// state is what the client knows of the room. It is pure: the reader applies
// server messages to it under Meeting.mu and emits the events it returns.
type state struct {
	self     Self
	peers    map[string]*Participant // other participants by peer id
	byUser   map[string]string       // their peer ids by user id
	order    []string                // their peer ids in join order
	requests []protocol.StageRequest // pending list, hosts only
	lastSeq  uint64                  // connection seq of the last applied event or snapshot
	count    int                     // the room's participant count, self included

	// The pending list changed (and a request was added) since the list
	// events were last emitted: they are emitted once per frame.
	requestsChanged, requestAdded bool

	// cancelling is set while the user's own cancel may have been applied
	// without the client knowing (its answer lost): a resync that finds the
	// request gone then is no denial.
	cancelling bool
}

func newState() state {
	return state{peers: map[string]*Participant{}, byUser: map[string]string{}}
}

func (s *state) isHost() bool { return s.self.Permissions.AcceptStageRequests }

func (s *state) seesEveryone() bool { return s.self.Permissions.SeesEveryone() }

// find returns the participant with peerID, or failing that with userID.
func (s *state) find(peerID, userID string) *Participant {
	if p := s.peers[peerID]; p != nil {
		return p
	}
	if id, ok := s.byUser[userID]; ok {
		return s.peers[id]
	}
	return nil
}

func (s *state) add(p Participant) {
	s.peers[p.PeerID] = &p
	s.byUser[p.UserID] = p.PeerID
	s.order = append(s.order, p.PeerID)
}

func (s *state) remove(p *Participant) {
	delete(s.peers, p.PeerID)
	if s.byUser[p.UserID] == p.PeerID {
		delete(s.byUser, p.UserID)
	}
	if i := slices.Index(s.order, p.PeerID); i >= 0 {
		s.order = slices.Delete(s.order, i, i+1)
	}
}

func copyRequests(r []protocol.StageRequest) []protocol.StageRequest {
	out := make([]protocol.StageRequest, len(r))
	copy(out, r)
	return out
}

func copyParticipant(p Participant) *Participant { return &p }

// applyEvent applies one in-order room event (msg.Seq == lastSeq+1) and
// returns the events a user sees for it. Changes of the pending list are
// only recorded: requestEvents reports them, once per frame.
func (s *state) applyEvent(msg protocol.ServerMessage) []Event {
	s.lastSeq = msg.Seq
	var evs []Event
	switch msg.Event {
	case protocol.EventStage:
		for _, ch := range msg.Changes {
			evs = s.applyChange(evs, ch, msg.Seq)
		}
	case protocol.EventParticipantJoined:
		if p := msg.Participant; p != nil {
			evs = s.joined(evs, *p, msg.Seq)
		}
	case protocol.EventParticipantsJoined:
		// Joins the server committed together: each is a participantJoined.
		for _, p := range msg.Participants {
			evs = s.joined(evs, p, msg.Seq)
		}
	case protocol.EventPermissions:
		if msg.Permissions == nil {
			break
		}
		s.self.Permissions = *msg.Permissions
		if p := msg.Participant; p != nil && p.UserID == s.self.UserID {
			s.self.PresetName, s.self.IsHost = p.PresetName, p.IsHost
		}
		if !s.isHost() {
			s.requests = nil
		}
		evs = append(evs, Event{Name: EventPermissionsUpdate, Seq: msg.Seq})
	case protocol.EventParticipantConnection:
		p := msg.Participant
		if p == nil {
			break
		}
		if old := s.find(p.PeerID, p.UserID); old != nil && old.Reconnecting != p.Reconnecting {
			old.Reconnecting = p.Reconnecting
			evs = append(evs, Event{Name: EventParticipantConnection, Seq: msg.Seq, Participant: copyParticipant(*old)})
		}
	case protocol.EventParticipantLeft:
		p := msg.Participant
		if p == nil {
			break
		}
		if old := s.find(p.PeerID, p.UserID); old != nil {
			s.remove(old)
			evs = append(evs, Event{Name: EventParticipantLeft, Seq: msg.Seq, Participant: copyParticipant(*p)})
		}
	}
	if s.isHost() && (len(msg.RequestsRemoved) > 0 || len(msg.RequestsAdded) > 0) {
		s.applyRequestDelta(msg.RequestsRemoved, msg.RequestsAdded)
	}
	return evs
}

// joined adds a participant who joined (replacing a stale entry of the
// same user) and appends its participantJoined; it ignores the user itself.
func (s *state) joined(evs []Event, p Participant, seq uint64) []Event {
	if p.UserID == s.self.UserID {
		return evs
	}
	if old := s.find(p.PeerID, p.UserID); old != nil {
		s.remove(old)
	}
	s.add(p)
	return append(evs, Event{Name: EventParticipantJoined, Seq: seq, Participant: copyParticipant(p)})
}

// applyRequestDelta removes the named requests, then appends the new ones.
func (s *state) applyRequestDelta(removed []string, added []protocol.StageRequest) {
	if len(removed) > 0 {
		gone := make(map[string]bool, len(removed))
		for _, id := range removed {
			gone[id] = true
		}
		kept := s.requests[:0:0]
		for _, r := range s.requests {
			if !gone[r.UserID] {
				kept = append(kept, r)
			}
		}
		s.requests = kept
	}
	if len(added) > 0 {
		listed := make(map[string]bool, len(s.requests))
		for _, r := range s.requests {
			listed[r.UserID] = true
		}
		for _, r := range added {
			// A request already listed is replaced, never doubled.
			if listed[r.UserID] {
				s.requests = slices.DeleteFunc(s.requests, func(q protocol.StageRequest) bool { return q.UserID == r.UserID })
			}
			listed[r.UserID] = true
			s.requests = append(s.requests, r)
		}
	}
	s.requestsChanged = true
	s.requestAdded = s.requestAdded || len(added) > 0
}

// requestEvents reports a change of the pending list since the last call,
// in RealtimeKit's order: newStageRequest with the count when a request was
// added, then stageAccessRequestUpdate with the whole list.
func (s *state) requestEvents() []Event {
	if !s.requestsChanged {
		return nil
	}
	var evs []Event
	if s.requestAdded {
		evs = append(evs, Event{Name: EventNewStageRequest, Seq: s.lastSeq, Count: len(s.requests)})
	}
	evs = append(evs, Event{Name: EventStageAccessRequestUpdate, Seq: s.lastSeq, Requests: copyRequests(s.requests)})
	s.requestsChanged, s.requestAdded = false, false
	return evs
}

// applyChange applies one status change of a stage event. The local user's
// cause events (stageRequestApproved, stageRequestRejected,
// acceptPresentRequests) come before its stageStatusUpdate, as in
// RealtimeKit. The audience
// learns of a user coming into view from the change itself (Name set) and
// drops one leaving it (Hidden) after its status update.
func (s *state) applyChange(evs []Event, ch protocol.Change, seq uint64) []Event {
	if ch.UserID == s.self.UserID {
		s.self.StageStatus = ch.To
		switch ch.Cause {
		case stage.CauseGrant:
			evs = append(evs,
				Event{Name: EventStageRequestApproved, Seq: seq},
				Event{Name: EventAcceptPresentRequests, Seq: seq})
		case stage.CauseInvite:
			evs = append(evs, Event{Name: EventAcceptPresentRequests, Seq: seq})
		case stage.CauseDeny:
			evs = append(evs, Event{Name: EventStageRequestRejected, Seq: seq})
		}
		return append(evs, Event{Name: EventStageStatusUpdate, Seq: seq, Status: ch.To, Cause: ch.Cause})
	}
	p := s.find(ch.PeerID, ch.UserID)
	if p == nil {
		if ch.Name == "" || ch.Hidden {
			return evs // not someone this client knows; a resync would add it
		}
		s.add(Participant{PeerID: ch.PeerID, UserID: ch.UserID, Name: ch.Name, PresetName: ch.PresetName, StageStatus: ch.To,
			CustomParticipantID: ch.CustomParticipantID, IsHost: ch.IsHost})
		p = s.peers[ch.PeerID]
		evs = append(evs, Event{Name: EventParticipantJoined, Seq: seq, Participant: copyParticipant(*p)})
	}
	p.StageStatus = ch.To
	evs = append(evs, Event{Name: EventParticipantStageStatusUpdate, Seq: seq, Status: ch.To, Cause: ch.Cause, Participant: copyParticipant(*p)})
	if ch.Hidden {
		s.remove(p)
		evs = append(evs, Event{Name: EventParticipantLeft, Seq: seq, Participant: copyParticipant(*p)})
	}
	return evs
}

// sync replaces the state with a snapshot and returns the events that turn
// the old state into the new one. first is the first Join of the meeting:
// the participants and the pending list fill in silently except that a
// non-empty list is announced and a status that differs from hello's is
// reported. Otherwise (a resync after a gap or a reconnect) every difference
// is reported as the user would have seen it: participants that left, joined
// or changed status, the local status (with approved, rejected or
// acceptPresentRequests when the user kept its peer id, i.e. stayed in the
// room, and the move can only have been a grant, an invitation or a denial),
// and the pending list (with newStageRequest when a request was added).
func (s *state) sync(snap protocol.Snapshot, first bool) []Event {
	seq := snap.Seq
	var evs []Event

	fresh := make(map[string]*Participant, len(snap.Participants))
	byUser := make(map[string]string, len(snap.Participants))
	order := make([]string, 0, len(snap.Participants))
	for _, p := range snap.Participants {
		np := p
		fresh[np.PeerID] = &np
		byUser[np.UserID] = np.PeerID
		order = append(order, np.PeerID)
	}
	if !first {
		for _, id := range s.order {
			if _, ok := fresh[id]; !ok {
				evs = append(evs, Event{Name: EventParticipantLeft, Seq: seq, Participant: copyParticipant(*s.peers[id])})
			}
		}
		for _, id := range order {
			np := fresh[id]
			old, ok := s.peers[id]
			switch {
			case !ok:
				evs = append(evs, Event{Name: EventParticipantJoined, Seq: seq, Participant: copyParticipant(*np)})
			case old.StageStatus != np.StageStatus:
				evs = append(evs, Event{Name: EventParticipantStageStatusUpdate, Seq: seq, Status: np.StageStatus, Participant: copyParticipant(*np)})
			}
		}
	}
	s.peers, s.byUser, s.order = fresh, byUser, order

	old := s.self.Participant
	s.self.Participant = snap.Self
	if snap.StartedAt != 0 {
		s.self.StartedAt = snap.StartedAt
	}
	s.self.RoomJoined = true
	if to := snap.Self.StageStatus; to != old.StageStatus {
		if !first && old.PeerID == snap.Self.PeerID {
			switch {
			case old.StageStatus == stage.Requested && to == stage.Accepted:
				evs = append(evs, Event{Name: EventStageRequestApproved, Seq: seq}, Event{Name: EventAcceptPresentRequests, Seq: seq})
			case old.StageStatus == stage.Requested && to == stage.OffStage && !s.cancelling:
				evs = append(evs, Event{Name: EventStageRequestRejected, Seq: seq})
			case old.StageStatus == stage.OffStage && to == stage.Accepted:
				evs = append(evs, Event{Name: EventAcceptPresentRequests, Seq: seq})
			}
		}
		evs = append(evs, Event{Name: EventStageStatusUpdate, Seq: seq, Status: to})
	}

	if s.isHost() {
		reqs := copyRequests(snap.Requests)
		if !sameRequests(s.requests, reqs) {
			added := hasNewRequest(s.requests, reqs)
			s.requests = reqs
			if added && !first {
				evs = append(evs, Event{Name: EventNewStageRequest, Seq: seq, Count: len(reqs)})
			}
			evs = append(evs, Event{Name: EventStageAccessRequestUpdate, Seq: seq, Requests: copyRequests(reqs)})
		}
	} else {
		s.requests = nil
	}
	s.requestsChanged, s.requestAdded = false, false
	s.cancelling = false // the snapshot tells how it ended
	if snap.Count != s.count {
		s.count = snap.Count
		if !first {
			evs = append(evs, Event{Name: EventParticipantCount, Seq: seq, Count: snap.Count})
		}
	}
	s.lastSeq = seq
	return evs
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

// hasNewRequest says whether b holds a request that a does not.
func hasNewRequest(a, b []protocol.StageRequest) bool {
	seen := make(map[protocol.StageRequest]struct{}, len(a))
	for _, r := range a {
		seen[r] = struct{}{}
	}
	for _, r := range b {
		if _, ok := seen[r]; !ok {
			return true
		}
	}
	return false
}
