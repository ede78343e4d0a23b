package rest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/stagekit/stagekit/server/store"
)

// Meeting is a meeting as the API shows it.
type Meeting struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	CreatedAt string `json:"created_at"`
}

// Participant is a participant as the API shows it. Token is set only when a
// token was just issued (creation, regeneration).
type Participant struct {
	ID                  string `json:"id"`
	Token               string `json:"token,omitempty"`
	Name                string `json:"name"`
	PresetName          string `json:"preset_name"`
	CustomParticipantID string `json:"custom_participant_id"`
	CreatedAt           string `json:"created_at"`
}

// TimeFormat is the format of created_at: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

func stamp(t time.Time) string { return t.UTC().Format(TimeFormat) }

func fromMs(ms int64) time.Time { return time.UnixMilli(ms) }

func meetingOut(m store.Meeting) Meeting {
	return Meeting{ID: m.ID, Title: m.Title, CreatedAt: stamp(m.CreatedAt)}
}

func participantOut(p store.Participant, token string) Participant {
	return Participant{ID: p.ID, Token: token, Name: p.Name, PresetName: p.PresetName,
		CustomParticipantID: p.CustomParticipantID, CreatedAt: stamp(p.CreatedAt)}
}

// notFound turns store.ErrNotFound into the route's 404.
func notFound(err error, code int, what, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, code, "%s %q not found", what, id)
	}
	return err
}

func (a *API) createMeeting(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Title string `json:"title"`
	}
	if err := readBody(w, r, &body); err != nil {
		return err
	}
	body.Title = strings.TrimSpace(body.Title)
	if err := checkText("title", body.Title, MaxTitleBytes, false); err != nil {
		return err
	}
	m, err := a.store.CreateMeeting(r.Context(), body.Title)
	if err != nil {
		return err
	}
	return writeData(w, http.StatusCreated, meetingOut(m))
}

func (a *API) getMeeting(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	m, err := a.store.GetMeeting(r.Context(), id)
	if err != nil {
		return notFound(err, CodeMeetingNotFound, "meeting", id)
	}
	return writeData(w, http.StatusOK, meetingOut(m))
}

func (a *API) addParticipant(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name                string `json:"name"`
		PresetName          string `json:"preset_name"`
		CustomParticipantID string `json:"custom_participant_id"`
	}
	if err := readBody(w, r, &body); err != nil {
		return err
	}
	body.Name = strings.TrimSpace(body.Name)
	if err := checkText("name", body.Name, MaxNameBytes, true); err != nil {
		return err
	}
	if err := checkText("custom_participant_id", body.CustomParticipantID, MaxCustomBytes, false); err != nil {
		return err
	}
	if body.PresetName == "" {
		return fail(http.StatusBadRequest, CodeInvalidField, "preset_name is required; one of: %s", strings.Join(a.presets.Names(), ", "))
	}
	if _, ok := a.presets.Get(body.PresetName); !ok {
		return fail(http.StatusBadRequest, CodeUnknownPreset, "unknown preset_name %q; one of: %s",
			truncate(body.PresetName, 64), strings.Join(a.presets.Names(), ", "))
	}
	meetingID := r.PathValue("id")
	p, err := a.store.AddParticipant(r.Context(), store.Participant{MeetingID: meetingID,
		Name: body.Name, PresetName: body.PresetName, CustomParticipantID: body.CustomParticipantID})
	if err != nil {
		return notFound(err, CodeMeetingNotFound, "meeting", meetingID)
	}
	token, err := a.tokens.Issue(p.MeetingID, p.ID)
	if err != nil {
		// Do not leave a participant nobody got a token for.
		if derr := a.store.DeleteParticipant(context.WithoutCancel(r.Context()), p.MeetingID, p.ID); derr != nil {
			a.log.Error("rest: cannot undo a participant after a token failure", "participant", p.ID, "err", derr)
		}
		return err
	}
	return writeData(w, http.StatusCreated, participantOut(p, token))
}

func (a *API) listParticipants(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ps, err := a.store.ListParticipants(r.Context(), id)
	if err != nil {
		return notFound(err, CodeMeetingNotFound, "meeting", id)
	}
	out := make([]Participant, len(ps))
	for i, p := range ps {
		out[i] = participantOut(p, "")
	}
	return writeData(w, http.StatusOK, out)
}

// participant reads the route's participant, with a 404 for an unknown
// meeting or participant.
func (a *API) participant(r *http.Request) (store.Participant, error) {
	meetingID, id := r.PathValue("id"), r.PathValue("participant_id")
	p, err := a.store.GetParticipant(r.Context(), meetingID, id)
	if errors.Is(err, store.ErrNotFound) {
		if _, merr := a.store.GetMeeting(r.Context(), meetingID); merr != nil {
			return p, notFound(merr, CodeMeetingNotFound, "meeting", meetingID)
		}
		return p, notFound(err, CodeParticipantNotFound, "participant", id)
	}
	return p, err
}

func (a *API) getParticipant(w http.ResponseWriter, r *http.Request) error {
	p, err := a.participant(r)
	if err != nil {
		return err
	}
	return writeData(w, http.StatusOK, participantOut(p, ""))
}

func (a *API) deleteParticipant(w http.ResponseWriter, r *http.Request) error {
	p, err := a.participant(r)
	if err != nil {
		return err
	}
	// The store first: from here on its tokens no longer authenticate, so
	// it cannot come back once removed from the room.
	if err := a.store.DeleteParticipant(r.Context(), p.MeetingID, p.ID); err != nil {
		return notFound(err, CodeParticipantNotFound, "participant", p.ID) // a concurrent delete won
	}
	if a.rooms != nil {
		a.rooms.RemoveParticipant(p.MeetingID, p.ID)
	}
	a.log.Info("participant deleted", "meeting", p.MeetingID, "participant", p.ID)
	return writeData(w, http.StatusOK, participantOut(p, ""))
}

func (a *API) regenerateToken(w http.ResponseWriter, r *http.Request) error {
	p, err := a.participant(r)
	if err != nil {
		return err
	}
	token, err := a.tokens.Reissue(r.Context(), p.MeetingID, p.ID)
	if err != nil {
		return notFound(err, CodeParticipantNotFound, "participant", p.ID) // a concurrent delete won
	}
	return writeData(w, http.StatusOK, struct {
		Token string `json:"token"`
	}{token})
}

func (a *API) listPresets(w http.ResponseWriter, r *http.Request) error {
	return writeData(w, http.StatusOK, a.presets.All())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
