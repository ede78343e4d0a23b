package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

const key = "admin-key-for-tests"

// removals records what the API asked the live rooms to remove.
type removals struct {
	mu  sync.Mutex
	got []string
}

func (r *removals) RemoveParticipant(meetingID, userID string) {
	r.mu.Lock()
	r.got = append(r.got, meetingID+"/"+userID)
	r.mu.Unlock()
}

func (r *removals) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// liveRooms is a fake hub's view of its live rooms, by meeting id.
type liveRooms struct {
	mu    sync.Mutex
	rooms map[string][]stage.Member
}

func (l *liveRooms) RoomMembers(meetingID string) []stage.Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rooms[meetingID])
}

func (l *liveRooms) set(meetingID string, ms []stage.Member) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rooms == nil {
		l.rooms = map[string][]stage.Member{}
	}
	l.rooms[meetingID] = ms
}

type env struct {
	t     *testing.T
	st    store.Store
	au    *auth.Authenticator
	api   *rest.API
	rooms *removals
	live  *liveRooms
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	presets, err := config.ParsePresets([]byte(`[{"name":"panelist","stage_enabled":true,"stage_access":"ALLOWED"}]`))
	if err != nil {
		t.Fatal(err)
	}
	au, err := auth.New(context.Background(), auth.Options{Store: st, Presets: presets})
	if err != nil {
		t.Fatal(err)
	}
	rooms, live := &removals{}, &liveRooms{}
	api, err := rest.New(rest.Options{APIKey: key, Store: st, Tokens: au, Presets: presets, Rooms: rooms,
		Members: live, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, au: au, api: api, rooms: rooms, live: live}
}

type response struct {
	status int
	header http.Header
	raw    []byte
}

// do sends a request with the admin key unless auth is given ("-" for none).
func (e *env) do(method, path, body string, authz ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	switch {
	case len(authz) == 0:
		req.Header.Set("Authorization", "Bearer "+key)
	case authz[0] != "-":
		req.Header.Set("Authorization", authz[0])
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
}

// data decodes a success envelope.
func (r response) data(t *testing.T, v any) {
	t.Helper()
	var env struct {
		Success *bool           `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("body %s: %v", r.raw, err)
	}
	if env.Success == nil || !*env.Success {
		t.Fatalf("success not true in %s", r.raw)
	}
	d := json.NewDecoder(bytes.NewReader(env.Data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("data %s: %v", env.Data, err)
	}
}

// wantError checks status, code and the exact error envelope.
func (r response) wantError(t *testing.T, status, code int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var env struct {
		Success *bool `json:"success"`
		Error   *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("error body %s: %v", r.raw, err)
	}
	if env.Success == nil || *env.Success || env.Error == nil {
		t.Fatalf("not an error envelope: %s", r.raw)
	}
	if env.Error.Code != code {
		t.Fatalf("code %d, want %d: %s", env.Error.Code, code, env.Error.Message)
	}
	if env.Error.Message == "" {
		t.Error("empty message")
	}
	return env.Error.Message
}

func (e *env) meeting(title string) rest.Meeting {
	e.t.Helper()
	res := e.do("POST", "/v1/meetings", `{"title":`+quote(title)+`}`)
	if res.status != http.StatusCreated {
		e.t.Fatalf("create meeting: %d %s", res.status, res.raw)
	}
	var m rest.Meeting
	res.data(e.t, &m)
	return m
}

func (e *env) participant(meetingID, name, preset string) rest.Participant {
	e.t.Helper()
	res := e.do("POST", "/v1/meetings/"+meetingID+"/participants",
		`{"name":`+quote(name)+`,"preset_name":`+quote(preset)+`,"custom_participant_id":"c-`+name+`"}`)
	if res.status != http.StatusCreated {
		e.t.Fatalf("add participant: %d %s", res.status, res.raw)
	}
	var p rest.Participant
	res.data(e.t, &p)
	return p
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") || len(s) != len("2006-01-02T15:04:05.000Z") {
		t.Fatalf("created_at %q: want RFC 3339 UTC with milliseconds (%v)", s, err)
	}
	return tm
}

func TestMeetings(t *testing.T) {
	e := newEnv(t)
	before := time.Now().Add(-time.Second)
	m := e.meeting("Town hall ✓")
	if m.ID == "" || m.Title != "Town hall ✓" {
		t.Fatalf("meeting %+v", m)
	}
	if at := parseTime(t, m.CreatedAt); at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("created_at %v is not now", at)
	}
	res := e.do("GET", "/v1/meetings/"+m.ID, "")
	if res.status != http.StatusOK {
		t.Fatalf("get: %d %s", res.status, res.raw)
	}
	var got rest.Meeting
	res.data(t, &got)
	if got != m {
		t.Errorf("GET = %+v, want %+v", got, m)
	}
	// Title is optional; surrounding spaces go.
	if m2 := e.meeting("  "); m2.Title != "" || m2.ID == m.ID {
		t.Errorf("blank-title meeting %+v", m2)
	}
	res = e.do("POST", "/v1/meetings", `{}`)
	if res.status != http.StatusCreated {
		t.Errorf("untitled meeting: %d %s", res.status, res.raw)
	}
	// HEAD works where GET does.
	if res := e.do("HEAD", "/v1/meetings/"+m.ID, ""); res.status != http.StatusOK {
		t.Errorf("HEAD: %d", res.status)
	}
}

func TestParticipantsLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.meeting("webinar")
	host := e.participant(m.ID, "Hana", stage.PresetWebinarHost)
	viewer := e.participant(m.ID, "Vic", stage.PresetWebinarViewer)
	panel := e.participant(m.ID, "Pat", "panelist") // a configured preset

	if host.ID == "" || host.Token == "" || host.Name != "Hana" || host.PresetName != stage.PresetWebinarHost || host.CustomParticipantID != "c-Hana" {
		t.Fatalf("created %+v", host)
	}
	parseTime(t, host.CreatedAt)
	// The token authenticates as the participant, with its preset resolved.
	id, err := e.au.Authenticate(ctx, panel.Token)
	if err != nil {
		t.Fatal(err)
	}
	if id.MeetingID != m.ID || id.UserID != panel.ID || id.Name != "Pat" || id.Preset.Name != "panelist" || id.Preset.StageAccess != stage.Allowed {
		t.Errorf("identity %+v", id)
	}

	// List: oldest first, no tokens, exactly the stored fields.
	res := e.do("GET", "/v1/meetings/"+m.ID+"/participants", "")
	if res.status != http.StatusOK {
		t.Fatalf("list: %d %s", res.status, res.raw)
	}
	if bytes.Contains(res.raw, []byte("token")) {
		t.Errorf("list shows tokens: %s", res.raw)
	}
	var list []rest.Participant
	res.data(t, &list)
	want := []rest.Participant{host, viewer, panel}
	for i := range want {
		want[i].Token = ""
	}
	if !slices.Equal(list, want) {
		t.Errorf("list = %+v\nwant %+v", list, want)
	}

	// Get one.
	res = e.do("GET", "/v1/meetings/"+m.ID+"/participants/"+viewer.ID, "")
	var one rest.Participant
	res.data(t, &one)
	if one != want[1] {
		t.Errorf("get one = %+v, want %+v", one, want[1])
	}

	// A fresh token works; the old one still does until the participant goes.
	res = e.do("POST", "/v1/meetings/"+m.ID+"/participants/"+viewer.ID+"/token", "")
	if res.status != http.StatusOK {
		t.Fatalf("regenerate: %d %s", res.status, res.raw)
	}
	var fresh struct {
		Token string `json:"token"`
	}
	res.data(t, &fresh)
	if id, err := e.au.Authenticate(ctx, fresh.Token); err != nil || id.UserID != viewer.ID {
		t.Fatalf("fresh token: %+v, %v", id, err)
	}

	// Delete: 200 with the participant; both tokens revoked; the room told.
	res = e.do("DELETE", "/v1/meetings/"+m.ID+"/participants/"+viewer.ID, "")
	if res.status != http.StatusOK {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
	var deleted rest.Participant
	res.data(t, &deleted)
	if deleted != want[1] {
		t.Errorf("deleted = %+v", deleted)
	}
	for _, tok := range []string{viewer.Token, fresh.Token} {
		_, err := e.au.Authenticate(ctx, tok)
		var eb *protocol.ErrorBody
		if !asErrorBody(err, &eb) || eb.Code != protocol.CodeTokenRevoked {
			t.Errorf("token after delete: %v, want 4013", err)
		}
	}
	if got := e.rooms.list(); !slices.Equal(got, []string{m.ID + "/" + viewer.ID}) {
		t.Errorf("room removals %v", got)
	}
	res = e.do("GET", "/v1/meetings/"+m.ID+"/participants", "")
	list = nil
	res.data(t, &list)
	if len(list) != 2 || list[0].ID != host.ID || list[1].ID != panel.ID {
		t.Errorf("after delete: %+v", list)
	}
	// Deleting again: 404, and the room is not told twice.
	e.do("DELETE", "/v1/meetings/"+m.ID+"/participants/"+viewer.ID, "").wantError(t, 404, rest.CodeParticipantNotFound)
	if n := len(e.rooms.list()); n != 1 {
		t.Errorf("%d removals after a failed delete", n)
	}
	// An empty meeting lists [], not null.
	m2 := e.meeting("empty")
	res = e.do("GET", "/v1/meetings/"+m2.ID+"/participants", "")
	if !bytes.Contains(res.raw, []byte(`"data":[]`)) {
		t.Errorf("empty list: %s", res.raw)
	}
}

func asErrorBody(err error, out **protocol.ErrorBody) bool {
	eb, ok := err.(*protocol.ErrorBody)
	*out = eb
	return ok
}

func TestPresets(t *testing.T) {
	e := newEnv(t)
	res := e.do("GET", "/v1/presets", "")
	if res.status != http.StatusOK {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	var ps []stage.Preset
	res.data(t, &ps)
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"group_call_participant", "livestream_viewer", "panelist", "webinar_host", "webinar_presenter", "webinar_viewer"}) {
		t.Errorf("names %v", names)
	}
	if !bytes.Contains(res.raw, []byte(`{"name":"webinar_host","stage_enabled":true,"stage_access":"ALLOWED","accept_stage_requests":true}`)) {
		t.Errorf("webinar_host not in the documented shape: %s", res.raw)
	}
}

func TestNilRoomsIsSafe(t *testing.T) {
	e := bareEnv(t, nil)
	m := e.meeting("x")
	p := e.participant(m.ID, "a", stage.PresetWebinarViewer)
	if res := e.do("DELETE", "/v1/meetings/"+m.ID+"/participants/"+p.ID, ""); res.status != http.StatusOK {
		t.Fatalf("delete without rooms: %d %s", res.status, res.raw)
	}
}

func TestNewNeedsItsParts(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	presets := config.BuiltinPresets()
	au, _ := auth.New(context.Background(), auth.Options{Store: st, Presets: presets})
	for name, o := range map[string]rest.Options{
		"no key":     {Store: st, Tokens: au, Presets: presets},
		"no store":   {APIKey: key, Tokens: au, Presets: presets},
		"no tokens":  {APIKey: key, Store: st, Presets: presets},
		"no presets": {APIKey: key, Store: st, Tokens: au},
	} {
		if _, err := rest.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestErrors covers every route with every error status it can give.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	m := e.meeting("m")
	p := e.participant(m.ID, "P", stage.PresetWebinarViewer)
	other := e.meeting("other")
	mp := "/v1/meetings/" + m.ID
	pp := mp + "/participants/" + p.ID
	big := `{"title":"` + strings.Repeat("x", rest.MaxBodyBytes) + `"}`
	long := strings.Repeat("n", 257)

	routes := []struct{ method, path, body string }{
		{"POST", "/v1/meetings", `{"title":"t"}`},
		{"GET", mp, ""},
		{"POST", mp + "/participants", `{"name":"n","preset_name":"webinar_viewer"}`},
		{"GET", mp + "/participants", ""},
		{"GET", pp, ""},
		{"POST", pp + "/token", ""},
		{"DELETE", pp, ""},
		{"GET", mp + "/stage", ""},
		{"GET", "/v1/presets", ""},
		{"GET", "/v1/nothing-here", ""},
	}
	t.Run("401", func(t *testing.T) {
		for _, rt := range routes {
			for _, authz := range []string{"-", "", "Bearer", "Bearer ", "Bearer wrong", "Bearer " + key + "x", "Basic " + key, key, "Bearer " + key[:len(key)-1]} {
				res := e.do(rt.method, rt.path, rt.body, authz)
				res.wantError(t, http.StatusUnauthorized, rest.CodeUnauthorized)
				if res.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: no WWW-Authenticate", rt.method, rt.path)
				}
			}
		}
		// Nothing was changed by the refused requests.
		if _, err := e.st.GetParticipant(context.Background(), m.ID, p.ID); err != nil {
			t.Errorf("participant gone after unauthorized DELETEs: %v", err)
		}
		// The scheme is case-insensitive.
		if res := e.do("GET", mp, "", "bearer "+key); res.status != http.StatusOK {
			t.Errorf("lower-case scheme: %d", res.status)
		}
	})

	cases := []struct {
		name         string
		method, path string
		body         string
		status, code int
	}{
		// 404: unknown meeting on every meeting route.
		{"get unknown meeting", "GET", "/v1/meetings/nope", "", 404, rest.CodeMeetingNotFound},
		{"add to unknown meeting", "POST", "/v1/meetings/nope/participants", `{"name":"n","preset_name":"webinar_viewer"}`, 404, rest.CodeMeetingNotFound},
		{"list unknown meeting", "GET", "/v1/meetings/nope/participants", "", 404, rest.CodeMeetingNotFound},
		{"get in unknown meeting", "GET", "/v1/meetings/nope/participants/" + p.ID, "", 404, rest.CodeMeetingNotFound},
		{"delete in unknown meeting", "DELETE", "/v1/meetings/nope/participants/" + p.ID, "", 404, rest.CodeMeetingNotFound},
		{"token in unknown meeting", "POST", "/v1/meetings/nope/participants/" + p.ID + "/token", "", 404, rest.CodeMeetingNotFound},
		{"stage of unknown meeting", "GET", "/v1/meetings/nope/stage", "", 404, rest.CodeMeetingNotFound},
		// 404: unknown participant, or one of another meeting.
		{"get unknown participant", "GET", mp + "/participants/nope", "", 404, rest.CodeParticipantNotFound},
		{"delete unknown participant", "DELETE", mp + "/participants/nope", "", 404, rest.CodeParticipantNotFound},
		{"token unknown participant", "POST", mp + "/participants/nope/token", "", 404, rest.CodeParticipantNotFound},
		{"get via other meeting", "GET", "/v1/meetings/" + other.ID + "/participants/" + p.ID, "", 404, rest.CodeParticipantNotFound},
		{"delete via other meeting", "DELETE", "/v1/meetings/" + other.ID + "/participants/" + p.ID, "", 404, rest.CodeParticipantNotFound},
		// 404: unknown routes.
		{"unknown route", "GET", "/v1/nothing-here", "", 404, rest.CodeRouteNotFound},
		{"trailing slash", "GET", mp + "/", "", 404, rest.CodeRouteNotFound},
		{"too deep", "GET", pp + "/token/x", "", 404, rest.CodeRouteNotFound},
		{"list meetings not offered", "GET", "/v1/meetings", "", 405, rest.CodeMethodNotAllowed},
		// 405 on every route.
		{"PUT meetings", "PUT", "/v1/meetings", `{}`, 405, rest.CodeMethodNotAllowed},
		{"DELETE meeting", "DELETE", mp, "", 405, rest.CodeMethodNotAllowed},
		{"PATCH participants", "PATCH", mp + "/participants", `{}`, 405, rest.CodeMethodNotAllowed},
		{"PUT participant", "PUT", pp, `{}`, 405, rest.CodeMethodNotAllowed},
		{"GET token", "GET", pp + "/token", "", 405, rest.CodeMethodNotAllowed},
		{"POST presets without a name", "POST", "/v1/presets", `{}`, 400, rest.CodeInvalidField},
		{"PATCH presets", "PATCH", "/v1/presets", `{}`, 405, rest.CodeMethodNotAllowed},
		{"POST stage", "POST", mp + "/stage", `{}`, 405, rest.CodeMethodNotAllowed},
		{"DELETE stage", "DELETE", mp + "/stage", "", 405, rest.CodeMethodNotAllowed},
		{"stage too deep", "GET", mp + "/stage/x", "", 404, rest.CodeRouteNotFound},
		{"OPTIONS meeting", "OPTIONS", mp, "", 405, rest.CodeMethodNotAllowed},
		// 400: malformed bodies, on both routes that take one.
		{"meeting: no body", "POST", "/v1/meetings", "", 400, rest.CodeMalformedBody},
		{"meeting: not JSON", "POST", "/v1/meetings", `title=x`, 400, rest.CodeMalformedBody},
		{"meeting: array", "POST", "/v1/meetings", `[{"title":"x"}]`, 400, rest.CodeMalformedBody},
		{"meeting: null", "POST", "/v1/meetings", `null`, 400, rest.CodeMalformedBody},
		{"meeting: truncated", "POST", "/v1/meetings", `{"title":"x"`, 400, rest.CodeMalformedBody},
		{"meeting: two objects", "POST", "/v1/meetings", `{"title":"x"} {"title":"y"}`, 400, rest.CodeMalformedBody},
		{"meeting: trailing junk", "POST", "/v1/meetings", `{"title":"x"}]`, 400, rest.CodeMalformedBody},
		{"meeting: wrong type", "POST", "/v1/meetings", `{"title":5}`, 400, rest.CodeMalformedBody},
		{"meeting: unknown field", "POST", "/v1/meetings", `{"title":"x","colour":"red"}`, 400, rest.CodeUnknownField},
		{"meeting: too large", "POST", "/v1/meetings", big, 400, rest.CodeBodyTooLarge},
		{"meeting: long title", "POST", "/v1/meetings", `{"title":"` + long + `"}`, 400, rest.CodeInvalidField},
		{"meeting: control char", "POST", "/v1/meetings", `{"title":"a\u0007b"}`, 400, rest.CodeInvalidField},
		{"participant: no body", "POST", mp + "/participants", "", 400, rest.CodeMalformedBody},
		{"participant: not JSON", "POST", mp + "/participants", `{name: "x"}`, 400, rest.CodeMalformedBody},
		{"participant: wrong type", "POST", mp + "/participants", `{"name":["x"],"preset_name":"webinar_viewer"}`, 400, rest.CodeMalformedBody},
		{"participant: unknown field", "POST", mp + "/participants", `{"name":"n","preset_name":"webinar_viewer","role":"x"}`, 400, rest.CodeUnknownField},
		{"participant: too large", "POST", mp + "/participants", `{"name":"` + strings.Repeat("x", rest.MaxBodyBytes) + `"}`, 400, rest.CodeBodyTooLarge},
		{"participant: missing name", "POST", mp + "/participants", `{"preset_name":"webinar_viewer"}`, 400, rest.CodeInvalidField},
		{"participant: blank name", "POST", mp + "/participants", `{"name":"   ","preset_name":"webinar_viewer"}`, 400, rest.CodeInvalidField},
		{"participant: long name", "POST", mp + "/participants", `{"name":"` + long + `","preset_name":"webinar_viewer"}`, 400, rest.CodeInvalidField},
		{"participant: newline in name", "POST", mp + "/participants", `{"name":"a\nb","preset_name":"webinar_viewer"}`, 400, rest.CodeInvalidField},
		{"participant: long custom id", "POST", mp + "/participants", `{"name":"n","preset_name":"webinar_viewer","custom_participant_id":"` + long + `"}`, 400, rest.CodeInvalidField},
		{"participant: missing preset", "POST", mp + "/participants", `{"name":"n"}`, 400, rest.CodeInvalidField},
		{"participant: unknown preset", "POST", mp + "/participants", `{"name":"n","preset_name":"admin"}`, 400, rest.CodeUnknownPreset},
		{"participant: preset wrong case", "POST", mp + "/participants", `{"name":"n","preset_name":"WEBINAR_HOST"}`, 400, rest.CodeUnknownPreset},
		// A malformed body is refused before the meeting is looked up.
		{"participant: bad body, unknown meeting", "POST", "/v1/meetings/nope/participants", `{`, 400, rest.CodeMalformedBody},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(c.method, c.path, c.body)
			msg := res.wantError(t, c.status, c.code)
			if c.status == 405 && res.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			t.Log(msg)
		})
	}

	// None of the refused requests added or removed anything.
	list, err := e.st.ListParticipants(context.Background(), m.ID)
	if err != nil || len(list) != 1 || list[0].ID != p.ID {
		t.Errorf("participants after refused requests: %+v, %v", list, err)
	}
	if got := e.rooms.list(); len(got) != 0 {
		t.Errorf("rooms told to remove %v", got)
	}
}

func TestAllowHeader(t *testing.T) {
	e := newEnv(t)
	res := e.do("PUT", "/v1/meetings/x/participants", "")
	if got := res.header.Get("Allow"); got != "GET, HEAD, POST" {
		t.Errorf("Allow = %q", got)
	}
	res = e.do("GET", "/v1/meetings", "")
	if got := res.header.Get("Allow"); got != "POST" {
		t.Errorf("Allow = %q", got)
	}
}

func TestUnknownPresetMessageListsPresets(t *testing.T) {
	e := newEnv(t)
	m := e.meeting("m")
	msg := e.do("POST", "/v1/meetings/"+m.ID+"/participants", `{"name":"n","preset_name":"admin"}`).
		wantError(t, 400, rest.CodeUnknownPreset)
	for _, want := range []string{`"admin"`, "webinar_host", "panelist"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestStoreFailureIs500(t *testing.T) {
	e := newEnv(t)
	m := e.meeting("m")
	e.st.Close()
	e.do("GET", "/v1/meetings/"+m.ID, "").wantError(t, 500, rest.CodeInternal)
	e.do("POST", "/v1/meetings", `{"title":"x"}`).wantError(t, 500, rest.CodeInternal)
}

func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t)
	m := e.meeting("busy")
	var wg sync.WaitGroup
	const n = 40
	ids := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("POST", "/v1/meetings/"+m.ID+"/participants", strings.NewReader(`{"name":"x","preset_name":"webinar_viewer"}`))
			req.Header.Set("Authorization", "Bearer "+key)
			rec := httptest.NewRecorder()
			e.api.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				t.Errorf("status %d %s", rec.Code, rec.Body)
				return
			}
			var env struct{ Data rest.Participant }
			json.Unmarshal(rec.Body.Bytes(), &env)
			ids <- env.Data.ID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("duplicate id %s", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d participants created, want %d", len(seen), n)
	}
}

// A client that goes away mid-request is no server failure: nothing is
// logged as an error (the request's context ends, the store call fails with
// it).
func TestAbandonedRequestIsNoError(t *testing.T) {
	var logs strings.Builder
	api := bareEnv(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).api
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/v1/meetings", strings.NewReader(`{"title":"gone"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	api.ServeHTTP(httptest.NewRecorder(), req)
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("an abandoned request was logged as an error:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "abandoned") {
		t.Fatalf("no debug line for the abandoned request:\n%s", logs.String())
	}
}

// bareEnv is an API with the built-in presets and no live rooms, logging to
// logger (nil: the package's default).
func bareEnv(t *testing.T, logger *slog.Logger) *env {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	presets := config.BuiltinPresets()
	au, _ := auth.New(context.Background(), auth.Options{Store: st, Presets: presets})
	api, err := rest.New(rest.Options{APIKey: key, Store: st, Tokens: au, Presets: presets, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, au: au, api: api}
}
