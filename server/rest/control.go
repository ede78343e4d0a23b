package rest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/stagekit/stagekit/server/signal"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

// StageControl applies the admin's stage actions and limits to live rooms;
// the signaling hub is one. Its calls return once the change is stored.
type StageControl interface {
	AdminStage(meetingID string, a signal.AdminAction) ([]byte, error)
	SetLimits(meetingID string, l stage.Limits)
	ActiveSession(meetingID string) (signal.Session, bool)
}

// MaxIdempotencyKeyBytes bounds the Idempotency-Key header.
const MaxIdempotencyKeyBytes = 255

// targetsBody names a batch's users, by user id or custom participant id.
type targetsBody struct {
	UserIDs             []string `json:"user_ids"`
	CustomParticipantID []string `json:"custom_participant_ids"`
}

// check validates the ids: at least one, at most stage.MaxBatch, each a
// valid text.
func (b targetsBody) check() error {
	n := len(b.UserIDs) + len(b.CustomParticipantID)
	if n == 0 {
		return fail(http.StatusBadRequest, int(stage.CodeEmptyBatch), "name at least one user in user_ids or custom_participant_ids")
	}
	if n > stage.MaxBatch {
		return fail(http.StatusBadRequest, int(stage.CodeBatchTooLarge), "%d users named; at most %d per call", n, stage.MaxBatch)
	}
	for _, id := range b.UserIDs {
		if err := checkText("user_ids[]", id, MaxCustomBytes, true); err != nil {
			return err
		}
	}
	for _, id := range b.CustomParticipantID {
		if err := checkText("custom_participant_ids[]", id, MaxCustomBytes, true); err != nil {
			return err
		}
	}
	return nil
}

// stageFailure answers a refused stage action with its code: the room is
// unchanged.
func stageFailure(err error) error {
	var se *stage.Error
	if !errors.As(err, &se) {
		if errors.Is(err, signal.ErrNotServed) {
			return fail(http.StatusServiceUnavailable, CodeUnavailable, "the meeting's room cannot be served now; retry")
		}
		return err
	}
	status := http.StatusBadRequest
	switch se.Code {
	case stage.CodeUnknownUser:
		status = http.StatusNotFound
	case stage.CodePermissionDenied, stage.CodeStageDisabled:
		status = http.StatusForbidden
	case stage.CodeBadStatus, stage.CodeStageFull:
		status = http.StatusConflict
	}
	return &apiError{status: status, code: int(se.Code), message: se.Error(), userIDs: se.UserIDs}
}

// stageAction answers POST /v1/meetings/{id}/stage/{grant|deny|kick}.
func (a *API) stageAction(kind stage.Kind) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if a.control == nil {
			return fail(http.StatusServiceUnavailable, CodeUnavailable, "this server keeps no live rooms")
		}
		var body targetsBody
		if err := readBody(w, r, &body); err != nil {
			return err
		}
		if err := body.check(); err != nil {
			return err
		}
		key := r.Header.Get("Idempotency-Key")
		if len(key) > MaxIdempotencyKeyBytes || (key != "" && checkText("Idempotency-Key", key, MaxIdempotencyKeyBytes, true) != nil) {
			return fail(http.StatusBadRequest, CodeInvalidField, "Idempotency-Key: want 1 to %d printable bytes", MaxIdempotencyKeyBytes)
		}
		id := r.PathValue("id")
		if _, err := a.store.GetMeeting(r.Context(), id); err != nil {
			return notFound(err, CodeMeetingNotFound, "meeting", id)
		}
		out, err := a.control.AdminStage(id, signal.AdminAction{Kind: kind, UserIDs: body.UserIDs, CustomIDs: body.CustomParticipantID, IdempotencyKey: key})
		if err != nil {
			return stageFailure(err)
		}
		return writeData(w, http.StatusOK, json.RawMessage(out))
	}
}

// LimitsBody is a meeting's stage limits over REST (0: none).
type LimitsBody struct {
	MaxOnStage               int `json:"max_on_stage"`
	RequestTimeoutSeconds    int `json:"request_timeout_seconds"`
	InvitationTimeoutSeconds int `json:"invitation_timeout_seconds"`
}

// Bounds of the limits.
const (
	MaxOnStageLimit = stage.MaxBatch
	MaxTimeoutSecs  = 7 * 24 * 3600
)

func (a *API) getLimits(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := a.store.GetMeeting(r.Context(), id); err != nil {
		return notFound(err, CodeMeetingNotFound, "meeting", id)
	}
	l, err := a.store.MeetingLimits(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		d := a.defaults
		return writeData(w, http.StatusOK, LimitsBody{d.MaxOnStage, int(d.RequestTTL / 1000), int(d.InviteTTL / 1000)})
	}
	if err != nil {
		return err
	}
	return writeData(w, http.StatusOK, LimitsBody{l.MaxOnStage, int(l.RequestTTLms / 1000), int(l.InviteTTLms / 1000)})
}

func (a *API) putLimits(w http.ResponseWriter, r *http.Request) error {
	var body LimitsBody
	if err := readBody(w, r, &body); err != nil {
		return err
	}
	switch {
	case body.MaxOnStage < 0 || body.MaxOnStage > MaxOnStageLimit:
		return fail(http.StatusBadRequest, CodeInvalidField, "max_on_stage: want 0 (no limit) to %d", MaxOnStageLimit)
	case body.RequestTimeoutSeconds < 0 || body.RequestTimeoutSeconds > MaxTimeoutSecs,
		body.InvitationTimeoutSeconds < 0 || body.InvitationTimeoutSeconds > MaxTimeoutSecs:
		return fail(http.StatusBadRequest, CodeInvalidField, "timeouts: want 0 (none) to %d seconds", MaxTimeoutSecs)
	}
	id := r.PathValue("id")
	l := store.Limits{MaxOnStage: body.MaxOnStage, RequestTTLms: int64(body.RequestTimeoutSeconds) * 1000, InviteTTLms: int64(body.InvitationTimeoutSeconds) * 1000}
	if err := a.store.SetMeetingLimits(r.Context(), id, l); err != nil {
		return notFound(err, CodeMeetingNotFound, "meeting", id)
	}
	if a.control != nil {
		a.control.SetLimits(id, stage.Limits{MaxOnStage: l.MaxOnStage, RequestTTL: l.RequestTTLms, InviteTTL: l.InviteTTLms})
	}
	return writeData(w, http.StatusOK, body)
}

// LogEntry is one entry of a meeting's stage log.
type LogEntry struct {
	Seq    int64           `json:"seq"`
	ID     string          `json:"id"`
	Event  string          `json:"event"`
	At     string          `json:"at"`
	Actor  string          `json:"actor"`
	UserID string          `json:"user_id,omitempty"`
	Data   json.RawMessage `json:"data"`
}

// Page size of the stage log.
const (
	DefaultLogPage = 100
	MaxLogPage     = 1000
)

// stageEvents answers GET /v1/meetings/{id}/stage/events?after=SEQ&limit=N.
func (a *API) stageEvents(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	if _, err := a.store.GetMeeting(r.Context(), id); err != nil {
		return notFound(err, CodeMeetingNotFound, "meeting", id)
	}
	evs, err := a.store.StageEvents(r.Context(), id, after, limit)
	if err != nil {
		return err
	}
	out := struct {
		Events []LogEntry `json:"events"`
		Next   int64      `json:"next"` // pass as after for the next page
	}{Events: make([]LogEntry, len(evs)), Next: after}
	for i, e := range evs {
		out.Events[i] = LogEntry{Seq: e.Seq, ID: e.ID, Event: e.Type, At: stamp(fromMs(e.At)), Actor: e.Actor, UserID: e.UserID, Data: e.Payload}
		out.Next = e.Seq
	}
	return writeData(w, http.StatusOK, out)
}

func pageParams(r *http.Request) (after int64, limit int, err error) {
	q := r.URL.Query()
	limit = DefaultLogPage
	if v := q.Get("after"); v != "" {
		after, err = strconv.ParseInt(v, 10, 64)
		if err != nil || after < 0 {
			return 0, 0, fail(http.StatusBadRequest, CodeInvalidField, "after: want a seq (a whole number, 0 or more)")
		}
	}
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > MaxLogPage {
			return 0, 0, fail(http.StatusBadRequest, CodeInvalidField, "limit: want 1 to %d", MaxLogPage)
		}
	}
	return after, limit, nil
}

// SessionParticipant is a live participant as the active session lists it.
type SessionParticipant struct {
	ID                  string       `json:"id"`
	PeerID              string       `json:"peer_id"`
	Name                string       `json:"name"`
	PresetName          string       `json:"preset_name"`
	CustomParticipantID string       `json:"custom_participant_id"`
	StageStatus         stage.Status `json:"stage_status"`
}

// ActiveSession is RealtimeKit's active session of a meeting.
type ActiveSession struct {
	ID                 string               `json:"id"`
	AssociatedID       string               `json:"associated_id"`
	MeetingDisplayName string               `json:"meeting_display_name"`
	Type               string               `json:"type"`
	Status             string               `json:"status"`
	LiveParticipants   int                  `json:"live_participants"`
	StartedAt          string               `json:"started_at"`
	Participants       []SessionParticipant `json:"participants"`
}

func sessionParticipant(m stage.Member) SessionParticipant {
	return SessionParticipant{ID: m.UserID, PeerID: m.PeerID, Name: m.Name, PresetName: m.Preset.Name, CustomParticipantID: m.CustomID, StageStatus: m.Status}
}

// session reads the meeting's live session; 404 (4113) when it has none.
func (a *API) session(r *http.Request) (signal.Session, error) {
	id := r.PathValue("id")
	if _, err := a.store.GetMeeting(r.Context(), id); err != nil {
		return signal.Session{}, notFound(err, CodeMeetingNotFound, "meeting", id)
	}
	var s signal.Session
	ok := false
	if a.control != nil {
		s, ok = a.control.ActiveSession(id)
	}
	if !ok {
		return s, fail(http.StatusNotFound, CodeNoActiveSession, "meeting %q has no active session", id)
	}
	return s, nil
}

func (a *API) activeSession(w http.ResponseWriter, r *http.Request) error {
	s, err := a.session(r)
	if err != nil {
		return err
	}
	out := ActiveSession{ID: s.ID, AssociatedID: r.PathValue("id"), MeetingDisplayName: s.Title, Type: "meeting", Status: "LIVE",
		LiveParticipants: len(s.Members), StartedAt: stamp(s.StartedAt), Participants: make([]SessionParticipant, len(s.Members))}
	for i, m := range s.Members {
		out.Participants[i] = sessionParticipant(m)
	}
	return writeData(w, http.StatusOK, out)
}

// kickSession answers active-session/kick (the named users) and
// active-session/kick-all (everyone): each is taken out of the live room
// and its connection closed (4031); its token stays valid.
func (a *API) kickSession(all bool) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body targetsBody
		if !all {
			if err := readBody(w, r, &body); err != nil {
				return err
			}
			if err := body.check(); err != nil {
				return err
			}
		}
		s, err := a.session(r)
		if err != nil {
			return err
		}
		byUser, byCustom := map[string]stage.Member{}, map[string]stage.Member{}
		for _, m := range s.Members {
			byUser[m.UserID] = m
			if m.CustomID != "" {
				byCustom[m.CustomID] = m
			}
		}
		var kicked []stage.Member
		var unknown []string
		if all {
			kicked = s.Members
		}
		for _, id := range body.UserIDs {
			if m, ok := byUser[id]; ok {
				kicked = append(kicked, m)
			} else {
				unknown = append(unknown, id)
			}
		}
		for _, id := range body.CustomParticipantID {
			if m, ok := byCustom[id]; ok {
				kicked = append(kicked, m)
			} else {
				unknown = append(unknown, id)
			}
		}
		if len(unknown) > 0 { // all or none
			return &apiError{status: http.StatusNotFound, code: int(stage.CodeUnknownUser),
				message: "not in the active session: " + strings.Join(unknown, ", "), userIDs: unknown}
		}
		out := struct {
			Action       string               `json:"action"`
			Participants []SessionParticipant `json:"participants"`
		}{Action: "kick", Participants: []SessionParticipant{}}
		seen := map[string]bool{}
		for _, m := range kicked {
			if seen[m.UserID] {
				continue
			}
			seen[m.UserID] = true
			if a.rooms != nil {
				a.rooms.RemoveParticipant(r.PathValue("id"), m.UserID)
			}
			out.Participants = append(out.Participants, sessionParticipant(m))
		}
		return writeData(w, http.StatusOK, out)
	}
}
