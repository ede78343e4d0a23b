package signal

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/stagekit/stagekit/stage"
)

// ErrNotServed is returned for a room this node does not serve (another
// node of the cluster owns it) or cannot open (the hub is closing).
var ErrNotServed = errors.New("signal: the room is not served here")

// AdminAction is a stage action of the admin REST API: grant, deny or kick
// of the users named by user id or by custom participant id.
type AdminAction struct {
	Kind      stage.Kind
	UserIDs   []string
	CustomIDs []string
	// IdempotencyKey, when set, makes a retried call answer what the first
	// one did without applying again (the answer is stored with the change).
	IdempotencyKey string
}

// AdminOutcome is the answer to an admin action, as the REST API sends it.
type AdminOutcome struct {
	// Seq is the room's event seq after the change.
	Seq     int64         `json:"seq"`
	Changes []AdminChange `json:"changes"`
}

// AdminChange is one user's move.
type AdminChange struct {
	UserID              string       `json:"userId"`
	CustomParticipantID string       `json:"customParticipantId,omitempty"`
	From                stage.Status `json:"from"`
	To                  stage.Status `json:"to"`
	Cause               stage.Cause  `json:"cause"`
}

// AdminStage applies a as one action in the room's order, with the SDK's
// checks (all or none, unknown ids named), and returns the answer as JSON
// once the change is stored. Refusals are *stage.Error.
func (h *Hub) AdminStage(meetingID string, a AdminAction) ([]byte, error) {
	for {
		r := h.room(meetingID)
		if r == nil {
			return nil, ErrNotServed
		}
		out, err, ok := r.adminApply(a)
		if ok {
			return out, err
		}
	}
}

// adminApply runs a under the room's lock; ok is false when the room was
// dropped meanwhile and must be fetched anew.
func (r *room) adminApply(a AdminAction) (out []byte, err error, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return nil, nil, false
	}
	defer r.dropIfEmptyLocked()
	if a.IdempotencyKey != "" && r.hub.cfg.Stage != nil {
		prev, found, err := r.hub.cfg.Stage.IdempotentResponse(r.id, a.IdempotencyKey)
		if err != nil {
			return nil, err, true
		}
		if found {
			return prev, nil, true
		}
	}
	targets := append([]string(nil), a.UserIDs...)
	if len(a.CustomIDs) > 0 {
		ids, err := r.byCustomIDLocked(a.CustomIDs)
		if err != nil {
			return nil, err, true
		}
		targets = append(targets, ids...)
	}
	res, err := r.st.Apply(stage.Action{Kind: a.Kind, Actor: ActorAPI, Admin: true, Targets: targets, At: r.hub.cfg.Now().UnixMilli()})
	if err != nil {
		return nil, err, true
	}
	log := r.newEventLog(ActorAPI)
	log.stage(res.Changes)
	outcome := AdminOutcome{Seq: r.eventSeq + int64(len(log.events)), Changes: make([]AdminChange, len(res.Changes))}
	for i, ch := range res.Changes {
		m, _ := r.st.Member(ch.UserID)
		outcome.Changes[i] = AdminChange{UserID: ch.UserID, CustomParticipantID: m.CustomID, From: ch.From, To: ch.To, Cause: ch.Cause}
	}
	out, err = json.Marshal(outcome)
	if err != nil {
		return nil, err, true
	}
	if !r.commitLocked(res.Changes, nil, log, a.IdempotencyKey, out) {
		return nil, ErrNotServed, true // fenced: deposed, nothing told
	}
	r.tellLocked(res.Changes, a.Kind)
	return out, nil, true
}

// byCustomIDLocked resolves custom participant ids to the user ids of
// members; unknown ones are named in a 2101 error.
func (r *room) byCustomIDLocked(custom []string) ([]string, error) {
	want := make(map[string]bool, len(custom))
	for _, c := range custom {
		want[c] = true
	}
	found := map[string]string{}
	for _, m := range r.st.Members() {
		if m.CustomID != "" && want[m.CustomID] {
			found[m.CustomID] = m.UserID
		}
	}
	var ids, unknown []string
	for _, c := range custom {
		if id, ok := found[c]; ok {
			ids = append(ids, id)
		} else {
			unknown = append(unknown, c)
		}
	}
	if len(unknown) > 0 {
		return nil, &stage.Error{Code: stage.CodeUnknownUser, Message: "no participant in the room has the custom participant id", UserIDs: unknown}
	}
	return ids, nil
}

// SetLimits applies a meeting's new limits to its live room, if this node
// serves one (the caller stored them): a timeout changed applies at once.
func (h *Hub) SetLimits(meetingID string, l stage.Limits) {
	r := h.existingRoom(meetingID)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.SetLimits(l)
	r.armExpiryLocked()
}

// Session is a live room's session: RealtimeKit's active session.
type Session struct {
	ID        string
	StartedAt time.Time
	Title     string
	Members   []stage.Member // in join order
}

// ActiveSession returns the meeting's live session, if its room is served
// here and has members.
func (h *Hub) ActiveSession(meetingID string) (Session, bool) {
	r := h.existingRoom(meetingID)
	if r == nil {
		return Session{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.Len() == 0 || r.dead {
		return Session{}, false
	}
	return Session{ID: r.sess.ID, StartedAt: r.sess.StartedAt, Title: r.sess.Title, Members: r.st.Members()}, true
}
