package signal

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/mailru/easyjson/jwriter"

	"github.com/stagekit/stagekit/stage"
)

// Event is one entry of a room's stage log, stored with the change that
// caused it (StageCommit) and sent to webhooks from there. Seq is the
// room's order; ID is unique.
type Event struct {
	Seq     int64
	ID      string
	Type    string
	At      int64 // ms since epoch
	Actor   string
	UserID  string
	Payload []byte
}

// Event types: RealtimeKit's meeting and participant events, and this
// server's stage events in the same style.
const (
	EventMeetingStarted        = "meeting.started"
	EventMeetingEnded          = "meeting.ended"
	EventParticipantJoined     = "meeting.participantJoined"
	EventParticipantLeft       = "meeting.participantLeft"
	EventStageRequested        = "meeting.stageRequested"
	EventStageRequestCancelled = "meeting.stageRequestCancelled"
	EventStageRequestGranted   = "meeting.stageRequestGranted"
	EventStageRequestDenied    = "meeting.stageRequestDenied"
	EventStageRequestExpired   = "meeting.stageRequestExpired"
	EventStageInvited          = "meeting.stageInvited"
	EventStageInviteDeclined   = "meeting.stageInvitationDeclined"
	EventStageInviteExpired    = "meeting.stageInvitationExpired"
	EventStageJoined           = "meeting.stageJoined"
	EventStageLeft             = "meeting.stageLeft"
	EventStageKicked           = "meeting.stageKicked"
	EventStageStatusChanged    = "meeting.stageStatusChanged" // any other move (a preset changed under the user)
)

// EventTypes lists every event type, for webhook registration.
var EventTypes = []string{
	EventMeetingStarted, EventMeetingEnded, EventParticipantJoined, EventParticipantLeft,
	EventStageRequested, EventStageRequestCancelled, EventStageRequestGranted, EventStageRequestDenied,
	EventStageRequestExpired, EventStageInvited, EventStageInviteDeclined, EventStageInviteExpired,
	EventStageJoined, EventStageLeft, EventStageKicked, EventStageStatusChanged,
}

// Actors of events, as stored and sent: a participant's user id after
// "participant:", the admin REST API, or the server itself (a timeout).
const (
	ActorAPI    = "api"
	ActorSystem = "system"
)

func participantActor(userID string) string { return "participant:" + userID }

// stageEventType names a stage change's event.
func stageEventType(ch stage.Change) string {
	switch ch.Cause {
	case stage.CauseRequest:
		return EventStageRequested
	case stage.CauseCancel:
		return EventStageRequestCancelled
	case stage.CauseGrant:
		return EventStageRequestGranted
	case stage.CauseInvite:
		return EventStageInvited
	case stage.CauseDeny:
		return EventStageRequestDenied
	case stage.CauseKick:
		return EventStageKicked
	case stage.CauseJoin:
		return EventStageJoined
	case stage.CauseLeave:
		if ch.From == stage.Accepted {
			return EventStageInviteDeclined
		}
		return EventStageLeft
	case stage.CauseExpire:
		if ch.From == stage.Requested {
			return EventStageRequestExpired
		}
		return EventStageInviteExpired
	}
	return EventStageStatusChanged
}

// session is what the room knows of its meeting and current session, for
// event payloads.
type session struct {
	Title     string
	CreatedAt time.Time
	ID        string // the session: from the first member's entry to the last one's exit
	StartedAt time.Time
}

func newSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

const stampLayout = "2006-01-02T15:04:05.000Z"

func stampMs(ms int64) string { return time.UnixMilli(ms).UTC().Format(stampLayout) }

func actorOf(a string) payloadActor {
	switch {
	case a == ActorAPI || a == ActorSystem:
		return payloadActor{Type: a}
	case len(a) > len("participant:"):
		return payloadActor{Type: "participant", ID: a[len("participant:"):]}
	}
	return payloadActor{Type: a}
}

// eventLog collects the events of one commit, numbering them from the
// room's last seq.
type eventLog struct {
	r      *room
	actor  string
	at     int64
	events []Event
	// The log's stamps, formatted once for all its events (a batch of
	// joins writes many).
	atStamp                    string
	created, started           time.Time
	createdStamp, startedStamp string
	// arena holds the log's encoded payloads one after another: a batch of
	// joins encodes each into it instead of a buffer (and its chunks) each.
	arena []byte
	// part is the participant of the payload being encoded.
	part payloadParticipant
	// random holds the next events' ids (idBytes each), read from
	// crypto/rand several at a time: a read each was 3% of an owner's CPU
	// in a join wave. unread is how many are left.
	random [16 * idBytes]byte
	unread int
}

// idBytes is the random part of an event id.
const idBytes = 12

// nextID is a new event id: "evt_" and idBytes random bytes in hex.
func (l *eventLog) nextID() string {
	if l.unread == 0 {
		rand.Read(l.random[:])
		l.unread = len(l.random) / idBytes
	}
	l.unread--
	idb := l.random[l.unread*idBytes:][:idBytes]
	id := [len("evt_") + 2*idBytes]byte{'e', 'v', 't', '_'}
	hex.Encode(id[len("evt_"):], idb)
	return string(id[:])
}

// encode encodes what marshal writes into the log's arena and returns its
// bytes there. (A func, not an easyjson.Marshaler, which would put each
// payload on the heap.)
func (l *eventLog) encode(marshal func(*jwriter.Writer)) []byte {
	const minArena = 8 << 10
	if cap(l.arena)-len(l.arena) < minArena/8 {
		l.arena = make([]byte, 0, minArena)
	}
	start := len(l.arena)
	// The writer starts in the arena's free tail; a payload larger than
	// that goes on in the writer's own chunks and is copied out whole. The
	// tail never has the capacity of easyjson's pooled chunks (powers of
	// two), so the writer never hands it to its pool.
	tail := cap(l.arena) - start
	if tail&(tail-1) == 0 {
		tail--
	}
	var w jwriter.Writer
	w.Buffer.Buf = l.arena[start : start : start+tail]
	marshal(&w)
	b, err := w.BuildBytes()
	if err != nil || len(b) == 0 {
		return nil
	}
	if &b[0] == &l.arena[start : start+1][0] {
		l.arena = l.arena[:start+len(b)] // it fit in the tail
	}
	return b[:len(b):len(b)]
}

// stamp is the log's time, formatted.
func (l *eventLog) stamp() string {
	if l.atStamp == "" {
		l.atStamp = stampMs(l.at)
	}
	return l.atStamp
}

// sessionStamps are the session's creation and start, formatted ("" when
// unset); formatted again only when they changed.
func (l *eventLog) sessionStamps(s *session) (created, started string) {
	if !s.CreatedAt.IsZero() {
		if l.createdStamp == "" || !l.created.Equal(s.CreatedAt) {
			l.created, l.createdStamp = s.CreatedAt, s.CreatedAt.UTC().Format(stampLayout)
		}
		created = l.createdStamp
	}
	if !s.StartedAt.IsZero() {
		if l.startedStamp == "" || !l.started.Equal(s.StartedAt) {
			l.started, l.startedStamp = s.StartedAt, s.StartedAt.UTC().Format(stampLayout)
		}
		started = l.startedStamp
	}
	return created, started
}

func (r *room) newEventLog(actor string) *eventLog {
	return &eventLog{r: r, actor: actor, at: r.hub.cfg.Now().UnixMilli()}
}

func (l *eventLog) add(typ string, m *stage.Member, st *payloadStage, reason string) {
	if l == nil || l.r.hub.cfg.Stage == nil {
		return // nowhere to keep them
	}
	r := l.r
	seq := r.eventSeq + int64(len(l.events)) + 1
	at := l.stamp()
	p := payload{Event: typ, ID: l.nextID(), Seq: seq, At: at, Actor: actorOf(l.actor), Stage: st, Reason: reason,
		Meeting: payloadMeeting{ID: r.id, SessionID: r.sess.ID, Title: r.sess.Title, Status: "LIVE"}}
	p.Meeting.CreatedAt, p.Meeting.StartedAt = l.sessionStamps(&r.sess)
	if typ == EventMeetingEnded {
		p.Meeting.Status, p.Meeting.EndedAt = "ENDED", at
	}
	uid := ""
	if m != nil {
		uid = m.UserID
		l.part = payloadParticipant{PeerID: m.PeerID, UserID: m.UserID, UserDisplayName: m.Name,
			CustomParticipantID: m.CustomID, PresetName: m.Preset.Name, StageStatus: m.Status}
		p.Participant = &l.part
		switch typ {
		case EventParticipantJoined:
			p.Participant.JoinedAt = at
		case EventParticipantLeft:
			p.Participant.LeftAt = at
		}
	}
	body := l.encode(p.MarshalEasyJSON)
	if body == nil {
		return
	}
	l.events = append(l.events, Event{Seq: seq, ID: p.ID, Type: typ, At: l.at, Actor: l.actor, UserID: uid, Payload: body})
}

// stage adds the events of committed stage changes.
func (l *eventLog) stage(changes []stage.Change) {
	for _, ch := range changes {
		m, ok := l.r.st.Member(ch.UserID)
		if !ok {
			continue
		}
		l.add(stageEventType(ch), &m, &payloadStage{From: ch.From, To: ch.To, Cause: ch.Cause}, "")
	}
}
