package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/stage"
)

// raw does a REST call with the admin key and extra headers; it returns
// the status and the body.
func (s *server) raw(method, path, body string, headers ...string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.app.APIKey())
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// wantCode checks an error answer's status and code.
func wantCode(t *testing.T, status int, body []byte, wantStatus, wantCode int) map[string]any {
	t.Helper()
	var e struct {
		Error map[string]any `json:"error"`
	}
	json.Unmarshal(body, &e)
	if status != wantStatus || e.Error == nil || int(e.Error["code"].(float64)) != wantCode {
		t.Fatalf("got %d %s; want %d with code %d", status, body, wantStatus, wantCode)
	}
	return e.Error
}

// waitStatus reads w's events until its own status is want (or fails).
func (w *ws) waitStatus(userID string, want stage.Status) protocol.Change {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %s to be %s: %v", userID, want, err)
		}
		var m protocol.ServerMessage
		json.Unmarshal(b, &m)
		evs := append([]protocol.ServerMessage{m}, m.Events...)
		for _, ev := range evs {
			for _, ch := range ev.Changes {
				if ch.UserID == userID && ch.To == want {
					return ch
				}
			}
		}
	}
}

// joinAs connects a participant's socket and joins the room.
func (s *server) joinAs(p rest.Participant) *ws {
	s.t.Helper()
	w, err := dial(s.t, s.url, "")
	if err != nil {
		s.t.Fatal(err)
	}
	w.helloJoin(p.Token)
	return w
}

func (s *server) addParticipant(meetingID, name, preset, custom string) rest.Participant {
	var p rest.Participant
	s.call("POST", "/v1/meetings/"+meetingID+"/participants", map[string]string{"name": name, "preset_name": preset, "custom_participant_id": custom}, 201, &p)
	return p
}

// TestStageOverREST: grant, deny and kick over REST go through the room's
// one order with the SDK's checks; the users are told; an Idempotency-Key
// applies once; the audit log lists every change with its actor.
func TestStageOverREST(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	mid, ps := s.meetingWith("Host")
	v1 := s.addParticipant(mid, "Viewer One", stage.PresetWebinarViewer, "crm-1")
	v2 := s.addParticipant(mid, "Viewer Two", stage.PresetWebinarViewer, "crm-2")
	base := "/v1/meetings/" + mid

	// No live room yet: every id is unknown.
	st, b := s.raw("POST", base+"/stage/grant", `{"user_ids":["`+v1.ID+`"]}`)
	if e := wantCode(t, st, b, 404, 2101); !strings.Contains(e["message"].(string), v1.ID) {
		t.Fatalf("unknown id not named: %s", b)
	}
	hw := s.joinAs(ps[0])
	w1, w2 := s.joinAs(v1), s.joinAs(v2)

	// v1 requests through the SDK; the backend grants it by custom id and
	// invites v2 by user id, in one batch, with a key.
	w1.send(protocol.ClientMessage{ID: 10, Type: protocol.TypeStageRequest})
	w1.waitStatus(v1.ID, stage.Requested)
	body := `{"user_ids":["` + v2.ID + `"],"custom_participant_ids":["crm-1"]}`
	st, first := s.raw("POST", base+"/stage/grant", body, "Idempotency-Key", "grant-1")
	if st != 200 {
		t.Fatalf("grant: %d %s", st, first)
	}
	var out struct {
		Data struct {
			Seq     int64
			Changes []struct{ UserID, CustomParticipantID, From, To, Cause string }
		}
	}
	json.Unmarshal(first, &out)
	if len(out.Data.Changes) != 2 || out.Data.Changes[0].Cause != "invite" || out.Data.Changes[1].Cause != "grant" || out.Data.Changes[1].CustomParticipantID != "crm-1" {
		t.Fatalf("grant answer: %s", first)
	}
	if ch := w1.waitStatus(v1.ID, stage.Accepted); ch.Cause != stage.CauseGrant {
		t.Fatalf("v1 told %+v", ch)
	}
	w2.waitStatus(v2.ID, stage.Accepted)
	hw.waitStatus(v2.ID, stage.Accepted) // the host sees it too
	// The retry answers the same and applies nothing.
	st, again := s.raw("POST", base+"/stage/grant", body, "Idempotency-Key", "grant-1")
	if st != 200 || !bytes.Equal(again, first) {
		t.Fatalf("retried grant: %d %s\nfirst %s", st, again, first)
	}
	// Without the key the same grant is refused: they moved (2006), all or none.
	st, b = s.raw("POST", base+"/stage/grant", body)
	wantCode(t, st, b, 409, 2006)
	// Unknown custom ids are named; an empty batch and a bad body are coded.
	st, b = s.raw("POST", base+"/stage/kick", `{"custom_participant_ids":["crm-1","nobody"]}`)
	if e := wantCode(t, st, b, 404, 2101); !slices.Equal(toStrings(e["user_ids"]), []string{"nobody"}) {
		t.Fatalf("unknown custom id: %s", b)
	}
	st, b = s.raw("POST", base+"/stage/deny", `{}`)
	wantCode(t, st, b, 400, 2102)
	st, b = s.raw("POST", base+"/stage/deny", `{"user_ids":"x"}`)
	wantCode(t, st, b, 400, rest.CodeMalformedBody)
	st, b = s.raw("POST", "/v1/meetings/nope/stage/deny", `{"user_ids":["x"]}`)
	wantCode(t, st, b, 404, rest.CodeMeetingNotFound)

	// v1 joins through the SDK, the backend kicks it.
	w1.send(protocol.ClientMessage{ID: 11, Type: protocol.TypeStageJoin})
	w1.waitStatus(v1.ID, stage.OnStage)
	if st, b := s.raw("POST", base+"/stage/kick", `{"user_ids":["`+v1.ID+`"]}`); st != 200 {
		t.Fatalf("kick: %d %s", st, b)
	}
	w1.waitStatus(v1.ID, stage.OffStage)

	// The audit log: every change in the room's order, with its actor.
	var log struct {
		Events []rest.LogEntry
		Next   int64
	}
	s.call("GET", base+"/stage/events?after=0&limit=1000", nil, 200, &log)
	var got []string
	for i, e := range log.Events {
		if e.Seq != int64(i+1) {
			t.Fatalf("seq %d at %d", e.Seq, i)
		}
		if strings.HasPrefix(e.Event, "meeting.stage") {
			got = append(got, e.Event+" by "+e.Actor)
		}
	}
	want := []string{
		"meeting.stageRequested by participant:" + v1.ID,
		"meeting.stageInvited by api", "meeting.stageRequestGranted by api",
		"meeting.stageJoined by participant:" + v1.ID,
		"meeting.stageKicked by api",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stage log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s.call("GET", base+"/stage/events?after="+itoa(log.Next), nil, 200, &log)
	if len(log.Events) != 0 {
		t.Fatalf("page after the last: %+v", log.Events)
	}
	st, b = s.raw("GET", base+"/stage/events?after=-1", "")
	wantCode(t, st, b, 400, rest.CodeInvalidField)
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestStageLimits: a meeting's stage limit refuses a grant beyond it (all
// or none); a request and an invitation expire, the user and the hosts are
// told, and the log says so.
func TestStageLimits(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	mid, ps := s.meetingWith("Host", "V1", "V2")
	base := "/v1/meetings/" + mid
	s.call("PUT", base+"/stage/limits", map[string]int{"max_on_stage": 1, "request_timeout_seconds": 1, "invitation_timeout_seconds": 1}, 200, nil)
	var l rest.LimitsBody
	s.call("GET", base+"/stage/limits", nil, 200, &l)
	if l != (rest.LimitsBody{MaxOnStage: 1, RequestTimeoutSeconds: 1, InvitationTimeoutSeconds: 1}) {
		t.Fatalf("limits %+v", l)
	}
	st, b := s.raw("PUT", base+"/stage/limits", `{"max_on_stage":-1}`)
	wantCode(t, st, b, 400, rest.CodeInvalidField)

	hw, w1, w2 := s.joinAs(ps[0]), s.joinAs(ps[1]), s.joinAs(ps[2])
	st, b = s.raw("POST", base+"/stage/grant", `{"user_ids":["`+ps[1].ID+`","`+ps[2].ID+`"]}`)
	wantCode(t, st, b, 409, int(stage.CodeStageFull))
	// The invitation expires after a second: v1 and the host are told.
	if st, b := s.raw("POST", base+"/stage/grant", `{"user_ids":["`+ps[1].ID+`"]}`); st != 200 {
		t.Fatalf("grant: %d %s", st, b)
	}
	if ch := w1.waitStatus(ps[1].ID, stage.OffStage); ch.Cause != stage.CauseExpire {
		t.Fatalf("v1 told %+v", ch)
	}
	hw.waitStatus(ps[1].ID, stage.OffStage)
	// So does a request.
	w2.send(protocol.ClientMessage{ID: 10, Type: protocol.TypeStageRequest})
	w2.waitStatus(ps[2].ID, stage.Requested)
	if ch := w2.waitStatus(ps[2].ID, stage.OffStage); ch.Cause != stage.CauseExpire {
		t.Fatalf("v2 told %+v", ch)
	}
	var log struct{ Events []rest.LogEntry }
	s.call("GET", base+"/stage/events", nil, 200, &log)
	var expired []string
	for _, e := range log.Events {
		if strings.HasSuffix(e.Event, "Expired") {
			expired = append(expired, e.Event+" by "+e.Actor)
		}
	}
	if !slices.Equal(expired, []string{"meeting.stageInvitationExpired by system", "meeting.stageRequestExpired by system"}) {
		t.Fatalf("expiries logged: %v", expired)
	}
}

// TestActiveSession: RealtimeKit's active session, kick and kick-all.
func TestActiveSession(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	mid, ps := s.meetingWith("Host", "V1", "V2")
	base := "/v1/meetings/" + mid
	st, b := s.raw("GET", base+"/active-session", "")
	wantCode(t, st, b, 404, rest.CodeNoActiveSession)
	ws := []*ws{s.joinAs(ps[0]), s.joinAs(ps[1]), s.joinAs(ps[2])}
	var sess rest.ActiveSession
	s.call("GET", base+"/active-session", nil, 200, &sess)
	if sess.LiveParticipants != 3 || sess.AssociatedID != mid || sess.ID == "" || len(sess.Participants) != 3 || sess.Participants[1].ID != ps[1].ID {
		t.Fatalf("active session %+v", sess)
	}
	st, b = s.raw("POST", base+"/active-session/kick", `{"user_ids":["`+ps[1].ID+`","ghost"]}`)
	wantCode(t, st, b, 404, 2101) // all or none
	if st, b := s.raw("POST", base+"/active-session/kick", `{"user_ids":["`+ps[1].ID+`"]}`); st != 200 {
		t.Fatalf("kick: %d %s", st, b)
	}
	if code := ws[1].waitClose(); code != protocol.CodeRemoved {
		t.Fatalf("kicked socket closed with %d", code)
	}
	if st, b := s.raw("POST", base+"/active-session/kick-all", ""); st != 200 || !strings.Contains(string(b), ps[2].ID) {
		t.Fatalf("kick-all: %d %s", st, b)
	}
	ws[0].waitClose()
	ws[2].waitClose()
	st, b = s.raw("GET", base+"/active-session", "")
	wantCode(t, st, b, 404, rest.CodeNoActiveSession)
	// The session's events: started, joins, leaves, ended.
	var log struct{ Events []rest.LogEntry }
	s.call("GET", base+"/stage/events", nil, 200, &log)
	if n := len(log.Events); n != 8 || log.Events[0].Event != "meeting.started" || log.Events[n-1].Event != "meeting.ended" {
		var names []string
		for _, e := range log.Events {
			names = append(names, e.Event)
		}
		t.Fatalf("session events: %v", names)
	}
}
