// Package demo is the demo mode's small API: it lets the demo page create a
// meeting and participant links without the admin key ever reaching a
// browser. It is mounted only when the server runs with -demo.
//
// The API is unauthenticated, so it is fenced in: it makes links only for
// meetings it created itself (recorded in the store, so they survive a
// restart), and only for the creator, who got a random secret when it
// created the meeting; every client address is rate limited. Errors have the
// REST API's shape and codes.
//
//	POST /demo/api/meetings                    {title?}                       → 201 {meetingId, title, creatorSecret, links}
//	POST /demo/api/meetings/{id}/participants  {name, preset, creatorSecret}  → 201 link
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/server/validate"
	"github.com/stagekit/stagekit/stage"
)

// Tokens issues participant tokens.
type Tokens interface {
	Issue(meetingID, participantID string) (string, error)
}

// Limits bound each client address's use of the API: a token bucket per
// address for meeting creation and one for links. Zero fields take the
// defaults.
type Limits struct {
	MeetingsPerMinute float64 // default 6
	MeetingBurst      int     // default 5
	LinksPerMinute    float64 // default 60
	LinkBurst         int     // default 20
}

// Defaults of Limits.
var DefaultLimits = Limits{MeetingsPerMinute: 6, MeetingBurst: 5, LinksPerMinute: 60, LinkBurst: 20}

// maxBodyBytes bounds a request body.
const maxBodyBytes = 4 << 10

// Handler serves /demo/api/.
type Handler struct {
	store    store.Store
	tokens   Tokens
	log      *slog.Logger
	mux      *http.ServeMux
	meetings *limiter
	links    *limiter
}

// Link is one participant's page.
type Link struct {
	Name   string `json:"name"`
	Preset string `json:"preset"`
	UserID string `json:"userId"`
	URL    string `json:"url"`
}

// New returns the demo API handler.
func New(st store.Store, tokens Tokens, log *slog.Logger, limits Limits) *Handler {
	d := DefaultLimits
	if limits.MeetingsPerMinute <= 0 {
		limits.MeetingsPerMinute = d.MeetingsPerMinute
	}
	if limits.MeetingBurst <= 0 {
		limits.MeetingBurst = d.MeetingBurst
	}
	if limits.LinksPerMinute <= 0 {
		limits.LinksPerMinute = d.LinksPerMinute
	}
	if limits.LinkBurst <= 0 {
		limits.LinkBurst = d.LinkBurst
	}
	h := &Handler{store: st, tokens: tokens, log: log, mux: http.NewServeMux(),
		meetings: newLimiter(rate.Limit(limits.MeetingsPerMinute/60), limits.MeetingBurst),
		links:    newLimiter(rate.Limit(limits.LinksPerMinute/60), limits.LinkBurst)}
	h.mux.Handle("POST /demo/api/meetings", h.meetings.wrap(http.HandlerFunc(h.createMeeting)))
	h.mux.Handle("POST /demo/api/meetings/{id}/participants", h.links.wrap(http.HandlerFunc(h.addParticipant)))
	h.mux.HandleFunc("/demo/api/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, rest.CodeRouteNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
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
	if !readBody(w, r, &body, true) {
		return
	}
	title := strings.TrimSpace(body.Title)
	if err := validate.Text("title", title, rest.MaxTitleBytes, false); err != nil {
		writeErr(w, http.StatusBadRequest, rest.CodeInvalidField, err.Error())
		return
	}
	if title == "" {
		title = "Demo webinar"
	}
	secret, err := newSecret()
	if err != nil {
		h.fail(w, err)
		return
	}
	hash := sha256.Sum256([]byte(secret))
	m, err := h.store.CreateDemoMeeting(r.Context(), title, hash[:])
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
		l, err := h.link(r.Context(), m.ID, p.name, p.preset)
		if err != nil {
			h.fail(w, err)
			return
		}
		links = append(links, l)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"meetingId": m.ID, "title": m.Title, "creatorSecret": secret, "links": links})
}

func (h *Handler) addParticipant(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name          string `json:"name"`
		Preset        string `json:"preset"`
		CreatorSecret string `json:"creatorSecret"`
	}
	if !readBody(w, r, &body, false) {
		return
	}
	name := strings.TrimSpace(body.Name)
	if err := validate.Text("name", name, rest.MaxNameBytes, true); err != nil {
		writeErr(w, http.StatusBadRequest, rest.CodeInvalidField, err.Error())
		return
	}
	if !demoPresets[body.Preset] {
		writeErr(w, http.StatusBadRequest, rest.CodeUnknownPreset, "preset must be webinar_host, webinar_viewer or livestream_viewer")
		return
	}
	meetingID := r.PathValue("id")
	want, err := h.store.DemoCreatorSecretHash(r.Context(), meetingID)
	if errors.Is(err, store.ErrNotFound) {
		// Meetings made through the admin API are not the demo's to hand out.
		writeErr(w, http.StatusNotFound, rest.CodeMeetingNotFound, "no demo meeting has this id")
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	// Every link needs the secret, viewer links too: anyone in the meeting
	// knows its id, and could otherwise mint new identities (one an admin
	// removed could come straight back).
	got := sha256.Sum256([]byte(body.CreatorSecret))
	if body.CreatorSecret == "" || subtle.ConstantTimeCompare(got[:], want) != 1 {
		writeErr(w, http.StatusForbidden, rest.CodeNotCreator, "only the meeting's creator may add participants: creatorSecret is missing or wrong")
		return
	}
	l, err := h.link(r.Context(), meetingID, name, body.Preset)
	if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
		writeErr(w, http.StatusNotFound, rest.CodeMeetingNotFound, "no demo meeting has this id")
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, l)
}

func (h *Handler) link(ctx context.Context, meetingID, name, preset string) (Link, error) {
	p, err := h.store.AddParticipant(ctx, store.Participant{MeetingID: meetingID, Name: name, PresetName: preset})
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

// newSecret is a creator secret: 32 random bytes, base64url.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.log.Error("demo api", "err", err)
	writeErr(w, http.StatusInternalServerError, rest.CodeInternal, "internal error")
}

// readBody decodes one JSON object of at most maxBodyBytes, without unknown
// fields, answering the error itself when it cannot; an empty body is an
// empty object when emptyOK.
func readBody(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeErr(w, http.StatusBadRequest, rest.CodeBodyTooLarge, fmt.Sprintf("body larger than %d bytes", maxBodyBytes))
		return false
	case err != nil:
		writeErr(w, http.StatusBadRequest, rest.CodeMalformedBody, "cannot read the body")
		return false
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 && emptyOK {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			writeErr(w, http.StatusBadRequest, rest.CodeUnknownField, strings.TrimPrefix(err.Error(), "json: "))
			return false
		}
		writeErr(w, http.StatusBadRequest, rest.CodeMalformedBody, "body must be one JSON object of the route's fields")
		return false
	}
	if dec.More() {
		writeErr(w, http.StatusBadRequest, rest.CodeMalformedBody, "body must be one JSON object, without trailing data")
		return false
	}
	return true
}

func writeErr(w http.ResponseWriter, status, code int, msg string) {
	rest.WriteError(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// limiter is a token bucket per client address. The address is the TCP
// peer's: behind a proxy every client shares the proxy's bucket.
type limiter struct {
	every rate.Limit
	burst int

	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
	swept  time.Time
}

func newLimiter(every rate.Limit, burst int) *limiter {
	return &limiter{every: every, burst: burst, byAddr: map[string]*rate.Limiter{}}
}

func (l *limiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, retry := l.allow(clientAddr(r), time.Now())
		if !ok {
			secs := max(1, int(math.Ceil(retry.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeErr(w, http.StatusTooManyRequests, rest.CodeTooManyRequests,
				fmt.Sprintf("too many demo requests from this address; retry in %d s", secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allow takes a token from addr's bucket, or says how long until one is free.
func (l *limiter) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		// A full bucket is the same as none: drop it, so that the map holds
		// only recently active addresses.
		for a, b := range l.byAddr {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.byAddr, a)
			}
		}
		l.swept = now
	}
	b, ok := l.byAddr[addr]
	if !ok {
		b = rate.NewLimiter(l.every, l.burst)
		l.byAddr[addr] = b
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.TokensAt(now)
	return false, time.Duration(missing / float64(l.every) * float64(time.Second))
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
