package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/server/validate"
	"github.com/stagekit/stagekit/server/webhook"
	"github.com/stagekit/stagekit/stage"
)

// TokenIssuer signs participant tokens; *auth.Authenticator is one.
type TokenIssuer interface {
	Issue(meetingID, participantID string) (string, error)
	// Reissue revokes the participant's earlier tokens and returns a new
	// one; store.ErrNotFound for an unknown participant.
	Reissue(ctx context.Context, meetingID, participantID string) (string, error)
}

// RoomRemover takes a deleted participant out of its live room, closing its
// connection; the signaling hub is one. It must not block for long.
type RoomRemover interface {
	RemoveParticipant(meetingID, userID string)
}

// RoomReader reads a meeting's live room; the signaling hub is one. It must
// not block for long.
type RoomReader interface {
	// RoomMembers returns the live room's members in join order, nil when
	// the meeting has no live room.
	RoomMembers(meetingID string) []stage.Member
}

// Options configure the API.
type Options struct {
	APIKey  string          // required
	Store   store.Store     // required
	Tokens  TokenIssuer     // required
	Presets *config.Presets // required
	Rooms   RoomRemover     // optional: nil when no live rooms are kept
	Members RoomReader      // optional: live rooms for GET …/stage; nil shows every room empty
	Control StageControl    // optional: stage actions, limits and sessions of live rooms
	// DefaultLimits are the stage limits of meetings without their own.
	DefaultLimits stage.Limits
	// Presets receives the presets stored over REST; nil sets them in
	// Presets only.
	PresetSink PresetSink
	// WebhookSecret makes a new webhook's signing secret (default
	// webhook.NewSecret).
	WebhookSecret func() string
	Logger        *slog.Logger // optional
	// BodyTimeout bounds reading a request body (default 5s): a body
	// still arriving then is answered 408 (4114) and the connection closed.
	BodyTimeout time.Duration
}

// API serves the REST routes; mount it at "/v1/". It answers every request it
// gets, unknown routes included, with a JSON body.
type API struct {
	keyHash    [sha256.Size]byte
	store      store.Store
	tokens     TokenIssuer
	presets    *config.Presets
	rooms      RoomRemover
	members    RoomReader
	control    StageControl
	secrets    func() string
	presetSink PresetSink
	defaults   stage.Limits
	log        *slog.Logger
	bodyTTL    time.Duration
	mux        *http.ServeMux
}

// New builds the API.
func New(o Options) (*API, error) {
	switch {
	case o.APIKey == "":
		return nil, errors.New("rest: an admin API key is required")
	case o.Store == nil || o.Tokens == nil || o.Presets == nil:
		return nil, errors.New("rest: a store, a token issuer and presets are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WebhookSecret == nil {
		o.WebhookSecret = webhook.NewSecret
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = DefaultBodyTimeout
	}
	a := &API{keyHash: sha256.Sum256([]byte(o.APIKey)), store: o.Store, tokens: o.Tokens,
		presets: o.Presets, rooms: o.Rooms, members: o.Members, control: o.Control, defaults: o.DefaultLimits, secrets: o.WebhookSecret, presetSink: o.PresetSink,
		log: o.Logger, bodyTTL: o.BodyTimeout, mux: http.NewServeMux()}

	type route = map[string]handler // method → handler
	routes := []struct {
		path    string
		methods route
	}{
		{"/v1/meetings", route{"POST": a.createMeeting}},
		{"/v1/meetings/{id}", route{"GET": a.getMeeting}},
		{"/v1/meetings/{id}/participants", route{"POST": a.addParticipant, "GET": a.listParticipants}},
		{"/v1/meetings/{id}/participants/{participant_id}", route{"GET": a.getParticipant, "DELETE": a.deleteParticipant}},
		{"/v1/meetings/{id}/participants/{participant_id}/token", route{"POST": a.regenerateToken}},
		{"/v1/meetings/{id}/stage", route{"GET": a.getStage}},
		{"/v1/meetings/{id}/stage/grant", route{"POST": a.stageAction(stage.ActGrant)}},
		{"/v1/meetings/{id}/stage/deny", route{"POST": a.stageAction(stage.ActDeny)}},
		{"/v1/meetings/{id}/stage/kick", route{"POST": a.stageAction(stage.ActKick)}},
		{"/v1/meetings/{id}/stage/events", route{"GET": a.stageEvents}},
		{"/v1/meetings/{id}/stage/limits", route{"GET": a.getLimits, "PUT": a.putLimits}},
		{"/v1/meetings/{id}/active-session", route{"GET": a.activeSession}},
		{"/v1/meetings/{id}/active-session/kick", route{"POST": a.kickSession(false)}},
		{"/v1/meetings/{id}/active-session/kick-all", route{"POST": a.kickSession(true)}},
		{"/v1/presets", route{"GET": a.listPresets, "POST": a.createPreset}},
		{"/v1/presets/{name}", route{"GET": a.getPreset, "PUT": a.updatePreset, "DELETE": a.deletePreset}},
		{"/v1/webhooks", route{"POST": a.createWebhook, "GET": a.listWebhooks}},
		{"/v1/webhooks/{webhook_id}", route{"GET": a.getWebhook, "DELETE": a.deleteWebhook}},
		{"/v1/webhooks/{webhook_id}/deliveries", route{"GET": a.webhookDeliveries}},
	}
	for _, rt := range routes {
		var allow []string
		for method, h := range rt.methods {
			a.mux.Handle(method+" "+rt.path, a.wrap(h))
			allow = append(allow, method)
			if method == "GET" {
				allow = append(allow, "HEAD")
			}
		}
		slices.Sort(allow)
		allowed := strings.Join(allow, ", ")
		// The same path without a method: only reached by other methods.
		a.mux.Handle(rt.path, a.wrap(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allowed)
			return fail(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed on this route; allowed: %s", r.Method, allowed)
		}))
	}
	a.mux.Handle("/", a.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return fail(http.StatusNotFound, CodeRouteNotFound, "no route %s %s", r.Method, r.URL.Path)
	}))
	return a, nil
}

// ServeHTTP checks the admin key, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.Error("rest: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
			if sw.status == 0 {
				writeError(sw, &apiError{status: http.StatusInternalServerError, code: CodeInternal, message: "internal error"})
			}
		}
		a.log.Debug("rest", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	}()
	if !a.authorized(r) {
		sw.Header().Set("WWW-Authenticate", `Bearer realm="stagekit"`)
		writeError(sw, &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, message: "missing or wrong admin API key (Authorization: Bearer KEY)"})
		return
	}
	// A path with ./ or ../ or // parts would get the mux's HTML redirect:
	// answer it as any unknown route.
	if p := r.URL.Path; cleanPath(p) != p {
		writeError(sw, &apiError{status: http.StatusNotFound, code: CodeRouteNotFound, message: "no route " + r.Method + " " + truncate(p, 256)})
		return
	}
	// Bound the body's upload; unsupported writers (tests) just skip it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.bodyTTL))
	a.mux.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), bodyTTLKey{}, a.bodyTTL)))
}

// cleanPath is p without ./, ../ and // parts, its trailing slash kept.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// authorized compares the bearer key with the admin key in constant time
// (hashes first, so not even the key's length leaks).
func (a *API) authorized(r *http.Request) bool {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return subtle.ConstantTimeCompare(got[:], a.keyHash[:]) == 1
}

// statusWriter remembers the status written, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handler is a route's handler; a returned error is answered as JSON.
type handler func(w http.ResponseWriter, r *http.Request) error

func (a *API) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			if r.Context().Err() != nil {
				// The client went away mid-request: nothing failed here,
				// and nobody reads the answer.
				a.log.Debug("rest: request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
				return
			}
			a.log.Error("rest: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = &apiError{status: http.StatusInternalServerError, code: CodeInternal, message: "internal error"}
		}
		writeError(w, ae)
	})
}

// apiError is an error answered with its status and code.
type apiError struct {
	status  int
	code    int
	message string
	userIDs []string // the users a stage refusal names
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %d %s", e.status, e.code, e.message) }

func fail(status, code int, format string, args ...any) error {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code    int      `json:"code"`
		Message string   `json:"message"`
		UserIDs []string `json:"user_ids,omitempty"`
	} `json:"error"`
}

// WriteError answers the API's error body with status and code; the other
// HTTP APIs of the server use it so that every error has one shape.
func WriteError(w http.ResponseWriter, status, code int, message string) {
	writeError(w, &apiError{status: status, code: code, message: message})
}

func writeError(w http.ResponseWriter, e *apiError) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.UserIDs = e.code, e.message, e.userIDs
	writeJSON(w, e.status, b)
}

type dataBody struct {
	Success bool `json:"success"`
	Data    any  `json:"data"`
}

func writeData(w http.ResponseWriter, status int, v any) error {
	writeJSON(w, status, dataBody{Success: true, Data: v})
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only our own types are marshalled
		status, body = http.StatusInternalServerError, []byte(`{"success":false,"error":{"code":5000,"message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// DefaultBodyTimeout is how long a request's body may take to arrive.
const DefaultBodyTimeout = 5 * time.Second

type bodyTTLKey struct{}

// readRaw reads the request's body: at most MaxBodyBytes, within the body
// deadline.
func readRaw(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fail(http.StatusBadRequest, CodeBodyTooLarge, "body larger than %d bytes", MaxBodyBytes)
		}
		if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection cannot be read again: answer and close it.
			w.Header().Set("Connection", "close")
			ttl, _ := r.Context().Value(bodyTTLKey{}).(time.Duration)
			return nil, fail(http.StatusRequestTimeout, CodeBodyTooSlow, "the body did not arrive within %v", ttl)
		}
		return nil, fail(http.StatusBadRequest, CodeMalformedBody, "cannot read the body: %v", err)
	}
	return data, nil
}

// readBody decodes the request's body, one JSON object, into v.
func readBody(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := readRaw(w, r)
	if err != nil {
		return err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fail(http.StatusBadRequest, CodeMalformedBody, "body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &typ):
			return fail(http.StatusBadRequest, CodeMalformedBody, "field %q: want a JSON %s, got %s", typ.Field, typ.Type.Kind(), typ.Value)
		case errors.As(err, &syn):
			return fail(http.StatusBadRequest, CodeMalformedBody, "malformed JSON at byte %d: %v", syn.Offset, syn)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fail(http.StatusBadRequest, CodeUnknownField, "%s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return fail(http.StatusBadRequest, CodeMalformedBody, "malformed JSON: %v", err)
		}
	}
	if dec.More() || dec.InputOffset() != int64(len(trimmed)) {
		return fail(http.StatusBadRequest, CodeMalformedBody, "body must be one JSON object, without trailing data")
	}
	return nil
}

// checkText validates a text field with the check every HTTP API shares.
func checkText(field, v string, max int, required bool) error {
	if err := validate.Text(field, v, max, required); err != nil {
		return fail(http.StatusBadRequest, CodeInvalidField, "%s", err)
	}
	return nil
}
