package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/stage"
)

// waitEvent reads w's frames until an event named name (or fails).
func (w *ws) waitEvent(name string) protocol.ServerMessage {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for event %s: %v", name, err)
		}
		var m protocol.ServerMessage
		json.Unmarshal(b, &m)
		for _, ev := range append([]protocol.ServerMessage{m}, m.Events...) {
			if ev.Event == name {
				return ev
			}
		}
	}
}

// snapshot asks for a snapshot and returns it.
func (w *ws) snapshot(id uint64) protocol.Snapshot {
	w.t.Helper()
	w.send(protocol.ClientMessage{ID: id, Type: protocol.TypeSnapshot})
	m, err := w.read(id)
	if err != nil || m.Snapshot == nil {
		w.t.Fatalf("snapshot: %+v %v", m, err)
	}
	return *m.Snapshot
}

// TestPresetsOverREST: presets are created in RealtimeKit's shape, stored
// (they survive a restart), and a change applies at once to the people
// holding them: statuses the preset cannot hold move, the user is told its
// new permissions, everyone resyncs, and a hidden participant leaves
// everyone's lists and the count.
func TestPresetsOverREST(t *testing.T) {
	dir := t.TempDir()
	s := start(t, app.Config{APIKey: key, DataDir: dir})
	body := `{"name":"stagehand","config":{"view_type":"AUDIO_ROOM"},"permissions":{"stage_enabled":true,
		"stage_access":"CAN_REQUEST","can_accept_production_requests":false,"media":{"video":{"can_produce":"NOT_ALLOWED"}}}}`
	if st, b := s.raw("POST", "/v1/presets", body); st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	st, b := s.raw("POST", "/v1/presets", body)
	wantCode(t, st, b, 409, 4118)
	st, b = s.raw("DELETE", "/v1/presets/webinar_host", "")
	wantCode(t, st, b, 409, 4119)
	st, b = s.raw("PUT", "/v1/presets/nope", `{"name":"nope","stage_access":"ALLOWED"}`)
	wantCode(t, st, b, 404, 4117)
	st, b = s.raw("PUT", "/v1/presets/stagehand", `{"name":"other","stage_access":"ALLOWED"}`)
	wantCode(t, st, b, 400, 4104)

	mid, ps := s.meetingWith("Host")
	hand := s.addParticipant(mid, "Hand", "stagehand", "")
	hw := s.joinAs(ps[0])
	w, err := dial(t, s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	hello := w.helloJoin(hand.Token)
	if p := hello.Permissions; p.ViewType != stage.ViewAudioRoom || p.CanProduceVideo != stage.NotAllowed || p.CanProduceAudio != stage.Allowed || p.StageAccess != stage.CanRequest {
		t.Fatalf("hello permissions %+v", p)
	}
	w.send(protocol.ClientMessage{ID: 10, Type: protocol.TypeStageRequest})
	w.waitStatus(hand.ID, stage.Requested)
	hw.waitStatus(hand.ID, stage.Requested)

	// The preset loses the stage: the request goes, the user and the host
	// are told, the user gets its permissions, everyone resyncs.
	if st, b := s.raw("PUT", "/v1/presets/stagehand", `{"name":"stagehand","stage_enabled":true,"stage_access":"NOT_ALLOWED"}`); st != 200 {
		t.Fatalf("update: %d %s", st, b)
	}
	if ch := w.waitStatus(hand.ID, stage.OffStage); ch.Cause != stage.CausePreset {
		t.Fatalf("the user was told %+v", ch)
	}
	perms := w.waitEvent(protocol.EventPermissions)
	if perms.Permissions == nil || perms.Permissions.StageAccess != stage.NotAllowed || perms.Permissions.ViewType != stage.ViewWebinar {
		t.Fatalf("permissions event %+v", perms.Permissions)
	}
	w.waitEvent(protocol.EventResync)
	hw.waitStatus(hand.ID, stage.OffStage)
	hw.waitEvent(protocol.EventResync)
	if snap := hw.snapshot(20); snap.Count != 2 || len(snap.Participants) != 1 {
		t.Fatalf("host's snapshot before hiding: count %d, %d others", snap.Count, len(snap.Participants))
	}
	// Hidden: out of the host's list and the count.
	if st, b := s.raw("PUT", "/v1/presets/stagehand", `{"name":"stagehand","stage_enabled":true,"stage_access":"NOT_ALLOWED","hidden_participant":true}`); st != 200 {
		t.Fatalf("update: %d %s", st, b)
	}
	hw.waitEvent(protocol.EventResync)
	if snap := hw.snapshot(21); snap.Count != 1 || len(snap.Participants) != 0 {
		t.Fatalf("host's snapshot after hiding: count %d, %d others", snap.Count, len(snap.Participants))
	}

	// Stored: a restarted server has them.
	s.stop()
	s = start(t, app.Config{APIKey: key, DataDir: dir})
	var p stage.Preset
	s.call("GET", "/v1/presets/stagehand", nil, 200, &p)
	if !p.HiddenParticipant || p.StageAccess != stage.NotAllowed {
		t.Fatalf("after a restart: %+v", p)
	}
	s.call("DELETE", "/v1/presets/stagehand", nil, 200, nil)
	st, b = s.raw("GET", "/v1/presets/stagehand", "")
	wantCode(t, st, b, 404, 4117)
}
