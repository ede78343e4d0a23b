// Package demo is the demo mode's small API: it lets the demo page create a
// meeting and participant links without the admin key ever reaching a
// browser. It is mounted only when the server runs with -demo.
package demo

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

// Tokens issues participant tokens.
type Tokens interface {
	Issue(meetingID, participantID string) (string, error)
}

// Handler serves /demo/api/.
type Handler struct {
	store  *store.Store
	tokens Tokens
	log    *slog.Logger
	mux    *http.ServeMux
}

// Link is one participant's page.
type Link struct {
	Name   string `json:"name"`
	Preset string `json:"preset"`
	UserID string `json:"userId"`
	URL    string `json:"url"`
}

// New returns the demo API handler.
func New(st *store.Store, tokens Tokens, log *slog.Logger) *Handler {
	h := &Handler{store: st, tokens: tokens, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /demo/api/meetings", h.createMeeting)
	h.mux.HandleFunc("POST /demo/api/meetings/{id}/participants", h.addParticipant)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// demoPresets are the presets the demo page may hand out.
var demoPresets = map[string]bool{
	stage.PresetWebinarHost: true, stage.PresetWebinarViewer: true, stage.PresetLivestreamViewer: true,
}

func (h *Handler) createMeeting(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Title string `json:"title"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeErr(w, http.StatusBadRequest, "malformed JSON body")
		return
	}
	title := strings.TrimSpace(body.Title)
	if title == "" {
		title = "Demo webinar"
	}
	if len(title) > 120 {
		title = title[:120]
	}
	m, err := h.store.CreateMeeting(r.Context(), title)
	if err != nil {
		h.fail(w, err)
		return
	}
	people := []struct{ name, preset string }{
		{"Host", stage.PresetWebinarHost},
		{"Viewer 1", stage.PresetWebinarViewer},
		{"Viewer 2", stage.PresetWebinarViewer},
		{"Viewer 3", stage.PresetWebinarViewer},
		{"Watcher", stage.PresetLivestreamViewer},
	}
	links := make([]Link, 0, len(people))
	for _, p := range people {
		l, err := h.link(r, m.ID, p.name, p.preset)
		if err != nil {
			h.fail(w, err)
			return
		}
		links = append(links, l)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"meetingId": m.ID, "title": m.Title, "links": links})
}

func (h *Handler) addParticipant(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name   string `json:"name"`
		Preset string `json:"preset"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "malformed JSON body")
		return
	}
	name := strings.TrimSpace(body.Name)
	if name == "" || len(name) > 60 {
		writeErr(w, http.StatusBadRequest, "name must be 1 to 60 characters")
		return
	}
	if !demoPresets[body.Preset] {
		writeErr(w, http.StatusBadRequest, "preset must be webinar_host, webinar_viewer or livestream_viewer")
		return
	}
	l, err := h.link(r, r.PathValue("id"), name, body.Preset)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "meeting not found")
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, l)
}

func (h *Handler) link(r *http.Request, meetingID, name, preset string) (Link, error) {
	p, err := h.store.AddParticipant(r.Context(), store.Participant{MeetingID: meetingID, Name: name, PresetName: preset})
	if err != nil {
		return Link{}, err
	}
	tok, err := h.tokens.Issue(meetingID, p.ID)
	if err != nil {
		return Link{}, err
	}
	q := url.Values{"token": {tok}, "meeting": {meetingID}}
	return Link{Name: name, Preset: preset, UserID: p.ID, URL: "/demo/?" + q.Encode()}, nil
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.log.Error("demo api", "err", err)
	writeErr(w, http.StatusInternalServerError, "internal error")
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
