// Package rest is the admin REST API, in the shape of RealtimeKit's:
// meetings and their participants, authenticated by the admin key.
package rest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/stagekit/stagekit/server/presets"
	"github.com/stagekit/stagekit/server/store"
)

// REST error codes, in the JSON error body's "code".
const (
	CodeUnauthorized  = 4100 // missing or wrong admin key
	CodeMalformedBody = 4101 // not JSON, unknown fields, or too large
	CodeUnknownPreset = 4102
	CodeMissingField  = 4103 // a required field is empty or too long
	CodeNotFound      = 4104 // unknown meeting or participant
	CodeInternal      = 5000
	maxBodyBytes      = 64 << 10
	maxNameBytes      = 256
)

// Tokens issues participant tokens.
type Tokens interface {
	Issue(meetingID, participantID string) (string, error)
}

// RoomRemover takes a deleted participant out of its live room.
type RoomRemover interface {
	RemoveParticipant(meetingID, userID string)
}

// API serves the REST routes.
type API struct {
	key     string
	store   *store.Store
	tokens  Tokens
	presets *presets.Registry
	rooms   RoomRemover
	log     *slog.Logger
}

// New returns the API; rooms may be nil.
func New(adminKey string, st *store.Store, tokens Tokens, reg *presets.Registry, rooms RoomRemover, log *slog.Logger) *API {
	return &API{key: adminKey, store: st, tokens: tokens, presets: reg, rooms: rooms, log: log}
}

// Register adds the routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/meetings", a.admin(a.createMeeting))
	mux.HandleFunc("GET /v1/meetings/{id}", a.admin(a.getMeeting))
	mux.HandleFunc("POST /v1/meetings/{id}/participants", a.admin(a.addParticipant))
	mux.HandleFunc("GET /v1/meetings/{id}/participants", a.admin(a.listParticipants))
	mux.HandleFunc("DELETE /v1/meetings/{id}/participants/{pid}", a.admin(a.deleteParticipant))
	mux.HandleFunc("GET /v1/presets", a.admin(a.listPresets))
}

type handler func(w http.ResponseWriter, r *http.Request) error

// apiError is an error answered with its status and code.
type apiError struct {
	status  int
	code    int
	message string
}

func (e *apiError) Error() string { return e.message }

func fail(status, code int, msg string) error { return &apiError{status, code, msg} }

func (a *API) admin(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := a.checkKey(r)
		if err == nil {
			err = h(w, r)
		}
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			if errors.Is(err, store.ErrNotFound) {
				ae = &apiError{http.StatusNotFound, CodeNotFound, "not found"}
			} else {
				a.log.Error("rest", "path", r.URL.Path, "err", err)
				ae = &apiError{http.StatusInternalServerError, CodeInternal, "internal error"}
			}
		}
		writeJSON(w, ae.status, map[string]any{"success": false, "error": map[string]any{"code": ae.code, "message": ae.message}})
	}
}

func (a *API) checkKey(r *http.Request) error {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.key)) != 1 {
		return fail(http.StatusUnauthorized, CodeUnauthorized, "missing or wrong API key")
	}
	return nil
}

func (a *API) createMeeting(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Title string `json:"title"`
	}
	if err := readJSON(w, r, &body); err != nil {
		return err
	}
	if len(body.Title) > maxNameBytes {
		return fail(http.StatusBadRequest, CodeMissingField, "title is longer than 256 bytes")
	}
	m, err := a.store.CreateMeeting(r.Context(), body.Title)
	if err != nil {
		return err
	}
	return writeData(w, http.StatusCreated, m)
}

func (a *API) getMeeting(w http.ResponseWriter, r *http.Request) error {
	m, err := a.store.GetMeeting(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, CodeNotFound, "meeting not found")
	}
	if err != nil {
		return err
	}
	return writeData(w, http.StatusOK, m)
}

type participantOut struct {
	ID                  string `json:"id"`
	Token               string `json:"token,omitempty"`
	Name                string `json:"name"`
	PresetName          string `json:"preset_name"`
	CustomParticipantID string `json:"custom_participant_id"`
	CreatedAt           string `json:"created_at"`
}

func outOf(p store.Participant, token string) participantOut {
	return participantOut{ID: p.ID, Token: token, Name: p.Name, PresetName: p.PresetName,
		CustomParticipantID: p.CustomParticipantID, CreatedAt: p.CreatedAt.Format("2006-01-02T15:04:05.000Z")}
}

func (a *API) addParticipant(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name                string `json:"name"`
		PresetName          string `json:"preset_name"`
		CustomParticipantID string `json:"custom_participant_id"`
	}
	if err := readJSON(w, r, &body); err != nil {
		return err
	}
	switch {
	case body.Name == "" || len(body.Name) > maxNameBytes:
		return fail(http.StatusBadRequest, CodeMissingField, "name is required (1 to 256 bytes)")
	case len(body.CustomParticipantID) > maxNameBytes:
		return fail(http.StatusBadRequest, CodeMissingField, "custom_participant_id is longer than 256 bytes")
	}
	if _, ok := a.presets.Get(body.PresetName); !ok {
		return fail(http.StatusBadRequest, CodeUnknownPreset, "unknown preset_name "+quote(body.PresetName))
	}
	p, err := a.store.AddParticipant(r.Context(), store.Participant{MeetingID: r.PathValue("id"),
		Name: body.Name, PresetName: body.PresetName, CustomParticipantID: body.CustomParticipantID})
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, CodeNotFound, "meeting not found")
	}
	if err != nil {
		return err
	}
	token, err := a.tokens.Issue(p.MeetingID, p.ID)
	if err != nil {
		return err
	}
	return writeData(w, http.StatusCreated, outOf(p, token))
}

func (a *API) listParticipants(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.store.ListParticipants(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, CodeNotFound, "meeting not found")
	}
	if err != nil {
		return err
	}
	out := make([]participantOut, len(ps))
	for i, p := range ps {
		out[i] = outOf(p, "")
	}
	return writeData(w, http.StatusOK, out)
}

func (a *API) deleteParticipant(w http.ResponseWriter, r *http.Request) error {
	meetingID, pid := r.PathValue("id"), r.PathValue("pid")
	p, err := a.store.GetParticipant(r.Context(), meetingID, pid)
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, CodeNotFound, "participant not found")
	}
	if err != nil {
		return err
	}
	if err := a.store.DeleteParticipant(r.Context(), meetingID, pid); err != nil {
		return err
	}
	if a.rooms != nil {
		a.rooms.RemoveParticipant(meetingID, pid)
	}
	return writeData(w, http.StatusOK, outOf(p, ""))
}

func (a *API) listPresets(w http.ResponseWriter, r *http.Request) error {
	return writeData(w, http.StatusOK, a.presets.All())
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, CodeMalformedBody, "body larger than 64 KiB")
		}
		return fail(http.StatusBadRequest, CodeMalformedBody, "malformed JSON body: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(http.StatusBadRequest, CodeMalformedBody, "malformed JSON body: trailing data")
	}
	return nil
}

func writeData(w http.ResponseWriter, status int, v any) error {
	writeJSON(w, status, map[string]any{"success": true, "data": v})
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
