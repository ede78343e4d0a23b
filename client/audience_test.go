package client

import (
	"fmt"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// A host's join answer split into part frames is put back together: every
// participant and request, in order, and the list announced once.
func TestJoinSnapshotInParts(t *testing.T) {
	const n = 700
	me := part("h", "ph", stage.Accepted)
	net := newFakeNet(t, me, hostPerms)
	var ps []protocol.Participant
	var rs []protocol.StageRequest
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("v%03d", i)
		ps = append(ps, part(u, "p"+u, stage.Requested))
		rs = append(rs, req(u, "p"+u, int64(i+1)))
	}
	net.onJoin = func(fc *fakeConn, msg protocol.ClientMessage) {
		fc.push(protocol.ServerMessage{Type: protocol.TypePart, ID: msg.ID, Participants: ps[:300]})
		fc.push(protocol.ServerMessage{Type: protocol.TypePart, ID: msg.ID, Participants: ps[300:600]})
		fc.push(protocol.ServerMessage{Type: protocol.TypePart, ID: msg.ID, Requests: rs[:500]})
		snap := protocol.Snapshot{Seq: 0, Self: me, Participants: ps[600:], Requests: rs[500:], Count: n + 1}
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Snapshot: &snap})
	}
	m, rec := start(t, net, true)
	wantNames(t, rec.take(), EventStageAccessRequestUpdate, EventRoomJoined)
	got, reqs := m.Participants(), m.Requests()
	if len(got) != n || len(reqs) != n || m.Count() != n+1 {
		t.Fatalf("%d participants, %d requests, count %d", len(got), len(reqs), m.Count())
	}
	for i := range got {
		if got[i].UserID != ps[i].UserID || reqs[i] != rs[i] {
			t.Fatalf("entry %d: %s / %+v", i, got[i].UserID, reqs[i])
		}
	}
}

// The events of a batch frame are applied in order, and the pending list's
// events come once for the frame, after the others.
func TestBatchFrame(t *testing.T) {
	me := part("h", "ph", stage.Accepted)
	net := newFakeNet(t, me, hostPerms)
	m, rec := start(t, net, true) // joined at seq 1
	rec.take()
	fc := net.last()
	var evs []protocol.ServerMessage
	for i := 1; i <= 3; i++ {
		u := fmt.Sprintf("v%d", i)
		p := part(u, "p"+u, stage.OffStage)
		evs = append(evs, protocol.ServerMessage{Type: protocol.TypeEvent, Seq: uint64(2 * i), Event: protocol.EventParticipantJoined, Participant: &p})
		ev := stageEvent(uint64(2*i+1), change(u, "p"+u, stage.OffStage, stage.Requested, stage.CauseRequest))
		ev.RequestsAdded = []protocol.StageRequest{req(u, "p"+u, int64(i))}
		evs = append(evs, ev)
	}
	fc.push(protocol.ServerMessage{Type: protocol.TypeBatch, Events: evs})
	barrier(t, m)
	got := rec.take()
	wantNames(t, got,
		EventParticipantJoined, EventParticipantStageStatusUpdate,
		EventParticipantJoined, EventParticipantStageStatusUpdate,
		EventParticipantJoined, EventParticipantStageStatusUpdate,
		EventNewStageRequest, EventStageAccessRequestUpdate)
	if len(got[7].Requests) != 3 || got[6].Count != 3 || m.Seq() != 7 {
		t.Fatalf("list %v count %d seq %d", got[7].Requests, got[6].Count, m.Seq())
	}
}

// The audience learns of a user coming on stage from the change itself and
// drops the user when it leaves the stage; the count follows the server.
func TestAudienceViewFollowsTheStage(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	net := newFakeNet(t, me, viewerPerms)
	net.snap = func() protocol.Snapshot {
		return protocol.Snapshot{Self: me, Participants: []protocol.Participant{part("h", "ph", stage.Accepted)}, Count: 40}
	}
	m, rec := start(t, net, true)
	rec.take()
	if m.Count() != 40 {
		t.Fatalf("count %d", m.Count())
	}
	fc := net.last()
	on := change("w", "pw", stage.Accepted, stage.OnStage, stage.CauseJoin)
	on.Name, on.PresetName = "W", stage.PresetWebinarViewer
	fc.push(stageEvent(1, on))
	barrier(t, m)
	evs := rec.take()
	wantNames(t, evs, EventParticipantJoined, EventParticipantStageStatusUpdate)
	if p, ok := m.Participant("pw"); !ok || p.Name != "W" || p.StageStatus != stage.OnStage || p.PresetName != stage.PresetWebinarViewer {
		t.Fatalf("participant on stage: %+v %v", p, ok)
	}
	off := change("w", "pw", stage.OnStage, stage.OffStage, stage.CauseKick)
	off.Hidden = true
	fc.push(stageEvent(2, off))
	fc.push(protocol.ServerMessage{Type: protocol.TypeEvent, Event: protocol.EventCount, Count: 41})
	barrier(t, m)
	evs = rec.take()
	wantNames(t, evs, EventParticipantStageStatusUpdate, EventParticipantLeft, EventParticipantCount)
	if _, ok := m.Participant("pw"); ok || len(m.Participants()) != 1 || m.Count() != 41 || evs[2].Count != 41 {
		t.Fatalf("after leaving the stage: %+v, count %d", m.Participants(), m.Count())
	}
}
