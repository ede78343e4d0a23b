package client

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Events derived from the server's messages, for the local user and for the
// others, fed through the real reader.

func TestSelfStageEvents(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	n.snap = func() protocol.Snapshot {
		return protocol.Snapshot{Seq: 3, Self: me, Participants: []protocol.Participant{part("h", "ph", stage.Accepted)}}
	}
	m, rec := start(t, n, true)
	wantNames(t, rec.take(), EventRoomJoined)
	fc := n.last()

	steps := []struct {
		ev   protocol.ServerMessage
		want []string
		st   stage.Status
	}{
		{stageEvent(4, change("v", "pv", stage.OffStage, stage.Requested, stage.CauseRequest)),
			[]string{EventStageStatusUpdate}, stage.Requested},
		{stageEvent(5, change("v", "pv", stage.Requested, stage.Accepted, stage.CauseGrant)),
			[]string{EventStageRequestApproved, EventAcceptPresentRequests, EventStageStatusUpdate}, stage.Accepted},
		{stageEvent(6, change("v", "pv", stage.Accepted, stage.OnStage, stage.CauseJoin)),
			[]string{EventStageStatusUpdate}, stage.OnStage},
		{stageEvent(7, change("v", "pv", stage.OnStage, stage.OffStage, stage.CauseKick)),
			[]string{EventStageStatusUpdate}, stage.OffStage},
		{stageEvent(8, change("v", "pv", stage.OffStage, stage.Accepted, stage.CauseInvite)),
			[]string{EventAcceptPresentRequests, EventStageStatusUpdate}, stage.Accepted},
		{stageEvent(9, change("v", "pv", stage.Accepted, stage.OffStage, stage.CauseLeave)),
			[]string{EventStageStatusUpdate}, stage.OffStage},
		{stageEvent(10, change("v", "pv", stage.OffStage, stage.Requested, stage.CauseRequest)),
			[]string{EventStageStatusUpdate}, stage.Requested},
		{stageEvent(11, change("v", "pv", stage.Requested, stage.OffStage, stage.CauseDeny)),
			[]string{EventStageRequestRejected, EventStageStatusUpdate}, stage.OffStage},
		{stageEvent(12, change("v", "pv", stage.OffStage, stage.Requested, stage.CauseRequest)),
			[]string{EventStageStatusUpdate}, stage.Requested},
		{stageEvent(13, change("v", "pv", stage.Requested, stage.OffStage, stage.CauseCancel)),
			[]string{EventStageStatusUpdate}, stage.OffStage},
	}
	for _, s := range steps {
		fc.push(s.ev)
		barrier(t, m)
		evs := rec.take()
		wantNames(t, evs, s.want...)
		last := evs[len(evs)-1] // the status update, after its cause's events
		if last.Status != s.st || last.Seq != s.ev.Seq || last.Cause != s.ev.Changes[0].Cause {
			t.Fatalf("seq %d: event %+v", s.ev.Seq, last)
		}
		if got := m.Stage().Status(); got != s.st {
			t.Fatalf("seq %d: Status() = %s, want %s", s.ev.Seq, got, s.st)
		}
		if got := m.Self().StageStatus; got != s.st {
			t.Fatalf("seq %d: Self().StageStatus = %s", s.ev.Seq, got)
		}
	}
	if m.Seq() != 13 {
		t.Fatalf("Seq() = %d", m.Seq())
	}
	if len(m.Requests()) != 0 {
		t.Fatal("a viewer keeps a request list")
	}
}

func TestParticipantEvents(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	n.snap = func() protocol.Snapshot {
		return protocol.Snapshot{Seq: 1, Self: me, Participants: []protocol.Participant{part("h", "ph", stage.Accepted)}}
	}
	m, rec := start(t, n, true)
	rec.take()
	fc := n.last()

	x := part("x", "px", stage.OffStage)
	fc.push(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: 2, Event: protocol.EventParticipantJoined, Participant: &x})
	fc.push(stageEvent(3, change("h", "ph", stage.Accepted, stage.OnStage, stage.CauseJoin),
		change("x", "px", stage.OffStage, stage.Accepted, stage.CauseInvite)))
	barrier(t, m)
	evs := rec.take()
	wantNames(t, evs, EventParticipantJoined, EventParticipantStageStatusUpdate, EventParticipantStageStatusUpdate)
	if evs[0].Participant.UserID != "x" || evs[1].Participant.UserID != "h" || evs[1].Status != stage.OnStage ||
		evs[1].Participant.StageStatus != stage.OnStage || evs[2].Participant.UserID != "x" || evs[2].Cause != stage.CauseInvite {
		t.Fatalf("events %v", evs)
	}
	ps := m.Participants()
	if len(ps) != 2 || ps[0].UserID != "h" || ps[0].StageStatus != stage.OnStage || ps[1].UserID != "x" || ps[1].StageStatus != stage.Accepted {
		t.Fatalf("participants %+v", ps)
	}
	if p, ok := m.Participant("px"); !ok || p.StageStatus != stage.Accepted {
		t.Fatalf("Participant(px) = %+v %v", p, ok)
	}
	// The event's participant is a copy: changing it changes nothing.
	evs[0].Participant.StageStatus = stage.OnStage
	if p, _ := m.Participant("px"); p.StageStatus != stage.Accepted {
		t.Fatal("event participant aliases the state")
	}

	h := part("h", "ph", stage.OnStage)
	fc.push(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: 4, Event: protocol.EventParticipantLeft, Participant: &h})
	barrier(t, m)
	evs = rec.take()
	wantNames(t, evs, EventParticipantLeft)
	if evs[0].Participant.UserID != "h" {
		t.Fatalf("left %+v", evs[0].Participant)
	}
	if ps := m.Participants(); len(ps) != 1 || ps[0].UserID != "x" {
		t.Fatalf("participants after leave %+v", ps)
	}
	if _, ok := m.Participant("ph"); ok {
		t.Fatal("left participant still there")
	}
}

// Joins the server committed together come as one participantsJoined
// event (one seq); the client tells of them as it would of separate
// joins: a participantJoined each, in order, each once, the user itself
// left out and a stale entry of a joiner replaced. The events after it
// follow on its seq.
func TestParticipantsJoinedIsAJoinEach(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, hostPerms)
	n.snap = func() protocol.Snapshot {
		return protocol.Snapshot{Seq: 1, Self: me, Participants: []protocol.Participant{part("h", "ph", stage.Accepted), part("b", "pb-old", stage.OffStage)}}
	}
	m, rec := start(t, n, true)
	rec.take()
	fc := n.last()

	joined := []protocol.Participant{part("a", "pa", stage.OffStage), part("b", "pb", stage.OffStage), me, part("c", "pc", stage.OffStage)}
	fc.push(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: 2, Event: protocol.EventParticipantsJoined, Participants: joined})
	d := part("d", "pd", stage.OffStage)
	fc.push(protocol.ServerMessage{Type: protocol.TypeBatch, Events: []protocol.ServerMessage{
		{Type: protocol.TypeEvent, Seq: 3, Event: protocol.EventParticipantsJoined, Participants: []protocol.Participant{d, part("e", "pe", stage.OffStage)}},
		{Type: protocol.TypeEvent, Seq: 4, Event: protocol.EventParticipantLeft, Participant: &d},
	}})
	barrier(t, m)
	evs := rec.take()
	wantNames(t, evs, EventParticipantJoined, EventParticipantJoined, EventParticipantJoined, EventParticipantJoined, EventParticipantJoined, EventParticipantLeft)
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%s %s %d", ev.Name, ev.Participant.PeerID, ev.Seq))
	}
	want := []string{"participantJoined pa 2", "participantJoined pb 2", "participantJoined pc 2",
		"participantJoined pd 3", "participantJoined pe 3", "participantLeft pd 4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}
	var ps []string
	for _, p := range m.Participants() {
		ps = append(ps, p.PeerID)
	}
	if want := []string{"ph", "pa", "pb", "pc", "pe"}; !reflect.DeepEqual(ps, want) {
		t.Fatalf("participants %q, want %q", ps, want)
	}
	if m.Seq() != 4 {
		t.Fatalf("seq %d after the events, want 4", m.Seq())
	}
}

func TestHostPendingListEvents(t *testing.T) {
	me := part("h", "ph", stage.Accepted)
	n := newFakeNet(t, me, hostPerms)
	n.snap = func() protocol.Snapshot {
		return protocol.Snapshot{Seq: 1, Self: me, Participants: []protocol.Participant{part("v", "pv", stage.OffStage)}, Requests: []protocol.StageRequest{}}
	}
	m, rec := start(t, n, true)
	wantNames(t, rec.take(), EventRoomJoined) // an empty list is not announced
	fc := n.last()

	rv, rw := req("v", "pv", 100), req("w", "pw", 200)
	ev := stageEvent(2, change("v", "pv", stage.OffStage, stage.Requested, stage.CauseRequest))
	ev.RequestsAdded = []protocol.StageRequest{rv}
	fc.push(ev)
	barrier(t, m)
	evs := rec.take()
	wantNames(t, evs, EventParticipantStageStatusUpdate, EventNewStageRequest, EventStageAccessRequestUpdate)
	if !reflect.DeepEqual(evs[2].Requests, []protocol.StageRequest{rv}) || evs[1].Count != 1 {
		t.Fatalf("events %v", evs)
	}

	w := part("w", "pw", stage.OffStage)
	fc.push(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: 3, Event: protocol.EventParticipantJoined, Participant: &w})
	ev = stageEvent(4, change("w", "pw", stage.OffStage, stage.Requested, stage.CauseRequest))
	ev.RequestsAdded = []protocol.StageRequest{rw}
	fc.push(ev)
	barrier(t, m)
	evs = rec.take()
	wantNames(t, evs, EventParticipantJoined, EventParticipantStageStatusUpdate, EventNewStageRequest, EventStageAccessRequestUpdate)
	if evs[2].Count != 2 || len(evs[3].Requests) != 2 {
		t.Fatalf("events %v", evs)
	}

	// The requester leaves: the list changes, no new request.
	w.StageStatus = stage.Requested
	fc.push(protocol.ServerMessage{Type: protocol.TypeEvent, Seq: 5, Event: protocol.EventParticipantLeft, Participant: &w,
		RequestsRemoved: []string{"w"}})
	// A grant empties it.
	ev = stageEvent(6, change("v", "pv", stage.Requested, stage.Accepted, stage.CauseGrant))
	ev.RequestsRemoved = []string{"v"}
	fc.push(ev)
	barrier(t, m)
	evs = rec.take()
	wantNames(t, evs, EventParticipantLeft, EventStageAccessRequestUpdate, EventParticipantStageStatusUpdate, EventStageAccessRequestUpdate)
	if len(evs[1].Requests) != 1 || evs[3].Requests == nil || len(evs[3].Requests) != 0 {
		t.Fatalf("events %v", evs)
	}
	if len(m.Requests()) != 0 {
		t.Fatalf("Requests() = %v", m.Requests())
	}
}

func TestFirstJoinReportsKeptStatusAndPendingList(t *testing.T) {
	// A new process of a user still within its grace period: hello says
	// OFF_STAGE, the room says REQUESTED.
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	inRoom := me
	inRoom.StageStatus = stage.Requested
	n.snap = func() protocol.Snapshot { return protocol.Snapshot{Seq: 9, Self: inRoom} }
	m, rec := start(t, n, false)
	if m.Self().RoomJoined || m.Stage().Status() != stage.OffStage {
		t.Fatalf("before join: %+v", m.Self())
	}
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := rec.take()
	wantNames(t, evs, EventStageStatusUpdate, EventRoomJoined)
	if evs[0].Status != stage.Requested || m.Stage().Status() != stage.Requested || !m.Self().RoomJoined || m.Seq() != 9 {
		t.Fatalf("after join: %v %+v", evs, m.Self())
	}

	// A host joining a room with pending requests hears of them.
	hn := newFakeNet(t, part("h", "ph", stage.Accepted), hostPerms)
	hn.snap = func() protocol.Snapshot {
		return protocol.Snapshot{Seq: 9, Self: part("h", "ph", stage.Accepted), Participants: []protocol.Participant{inRoom},
			Requests: []protocol.StageRequest{req("v", "pv", 5)}}
	}
	hm, hrec := start(t, hn, true)
	evs = hrec.take()
	wantNames(t, evs, EventStageAccessRequestUpdate, EventRoomJoined)
	if len(hm.Requests()) != 1 || len(hm.Participants()) != 1 {
		t.Fatalf("host state %+v %+v", hm.Requests(), hm.Participants())
	}
	// Two Joins at once: one roomJoined.
	n2 := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	m2, rec2 := start(t, n2, false)
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- m2.Join(context.Background()) }()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	joined := 0
	for _, e := range rec2.take() {
		if e.Name == EventRoomJoined {
			joined++
		}
	}
	if joined != 1 {
		t.Fatalf("%d roomJoined events", joined)
	}
	// Joining again later is a no-op.
	if err := hm.Join(context.Background()); err != nil || len(hn.last().sentOf(protocol.TypeJoin)) != 1 {
		t.Fatalf("second join: %v", err)
	}
}

func TestResyncDiff(t *testing.T) {
	cases := []struct {
		name       string
		before     protocol.Snapshot
		after      protocol.Snapshot
		host       bool
		want       []string
		wantStatus stage.Status
	}{{
		name: "granted while away, participants moved",
		before: protocol.Snapshot{Seq: 1, Self: part("v", "pv", stage.Requested), Participants: []protocol.Participant{
			part("a", "pa", stage.OffStage), part("b", "pb", stage.OnStage)}},
		after: protocol.Snapshot{Seq: 7, Self: part("v", "pv", stage.Accepted), Participants: []protocol.Participant{
			part("b", "pb", stage.OffStage), part("c", "pc", stage.OffStage)}},
		want: []string{EventParticipantLeft, EventParticipantStageStatusUpdate, EventParticipantJoined,
			EventStageRequestApproved, EventAcceptPresentRequests, EventStageStatusUpdate},
		wantStatus: stage.Accepted,
	}, {
		name:       "denied while away",
		before:     protocol.Snapshot{Seq: 1, Self: part("v", "pv", stage.Requested)},
		after:      protocol.Snapshot{Seq: 2, Self: part("v", "pv", stage.OffStage)},
		want:       []string{EventStageRequestRejected, EventStageStatusUpdate},
		wantStatus: stage.OffStage,
	}, {
		name:       "invited while away",
		before:     protocol.Snapshot{Seq: 1, Self: part("v", "pv", stage.OffStage)},
		after:      protocol.Snapshot{Seq: 2, Self: part("v", "pv", stage.Accepted)},
		want:       []string{EventAcceptPresentRequests, EventStageStatusUpdate},
		wantStatus: stage.Accepted,
	}, {
		name:       "grace ran out: back as a new peer, request withdrawn (not rejected)",
		before:     protocol.Snapshot{Seq: 1, Self: part("v", "pv", stage.Requested)},
		after:      protocol.Snapshot{Seq: 2, Self: part("v", "pv2", stage.OffStage)},
		want:       []string{EventStageStatusUpdate},
		wantStatus: stage.OffStage,
	}, {
		name: "host: a request came and one went",
		host: true,
		before: protocol.Snapshot{Seq: 1, Self: part("h", "ph", stage.Accepted), Participants: []protocol.Participant{
			part("a", "pa", stage.Requested)}, Requests: []protocol.StageRequest{req("a", "pa", 1)}},
		after: protocol.Snapshot{Seq: 5, Self: part("h", "ph", stage.Accepted), Participants: []protocol.Participant{
			part("a", "pa", stage.OffStage), part("b", "pb", stage.Requested)}, Requests: []protocol.StageRequest{req("b", "pb", 2)}},
		want: []string{EventParticipantStageStatusUpdate, EventParticipantJoined, EventNewStageRequest, EventStageAccessRequestUpdate},
	}, {
		name: "host: a request went",
		host: true,
		before: protocol.Snapshot{Seq: 1, Self: part("h", "ph", stage.Accepted), Participants: []protocol.Participant{
			part("a", "pa", stage.Requested)}, Requests: []protocol.StageRequest{req("a", "pa", 1)}},
		after: protocol.Snapshot{Seq: 5, Self: part("h", "ph", stage.Accepted), Participants: []protocol.Participant{
			part("a", "pa", stage.OffStage)}, Requests: []protocol.StageRequest{}},
		want: []string{EventParticipantStageStatusUpdate, EventStageAccessRequestUpdate},
	}, {
		name:   "nothing changed",
		before: protocol.Snapshot{Seq: 1, Self: part("v", "pv", stage.Requested)},
		after:  protocol.Snapshot{Seq: 1, Self: part("v", "pv", stage.Requested)},
		want:   []string{},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newState()
			if c.host {
				s.self.Permissions = hostPerms
			}
			s.self.Participant = c.before.Self
			s.sync(c.before, true)
			evs := s.sync(c.after, false)
			wantNames(t, evs, c.want...)
			for _, e := range evs {
				if e.Seq != c.after.Seq {
					t.Fatalf("event %v has seq %d", e, e.Seq)
				}
			}
			if c.wantStatus != "" && s.self.StageStatus != c.wantStatus {
				t.Fatalf("status %s", s.self.StageStatus)
			}
			if s.self.PeerID != c.after.Self.PeerID || s.lastSeq != c.after.Seq || len(s.order) != len(c.after.Participants) {
				t.Fatalf("state not replaced: %+v", s)
			}
			for i, p := range c.after.Participants {
				if s.order[i] != p.PeerID || *s.peers[p.PeerID] != p {
					t.Fatalf("participant %d: %+v", i, s.peers[s.order[i]])
				}
			}
			if c.host && !reflect.DeepEqual(s.requests, c.after.Requests) {
				t.Fatalf("requests %+v", s.requests)
			}
		})
	}
}

func TestGrantCarriesSeenStatuses(t *testing.T) {
	me := part("h", "ph", stage.Accepted)
	n := newFakeNet(t, me, hostPerms)
	n.snap = func() protocol.Snapshot {
		return protocol.Snapshot{Seq: 1, Self: me, Participants: []protocol.Participant{part("v", "pv", stage.Requested), part("w", "pw", stage.OffStage)}}
	}
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		fc.push(protocol.ServerMessage{Type: protocol.TypeError, ID: msg.ID, Error: protocol.NewError(2006, "moved")})
	}
	m, _ := start(t, n, true)
	wantCode(t, m.Stage().GrantAccess(context.Background(), []string{"v", "w", "nobody"}), 2006)
	wantCode(t, m.Stage().DenyAccess(context.Background(), []string{"v"}), 2006)
	sent := n.last().sentOf(protocol.TypeStageGrant)
	if len(sent) != 1 || !reflect.DeepEqual(sent[0].Expect, []stage.Status{stage.Requested, stage.OffStage, ""}) {
		t.Fatalf("grant sent %+v", sent)
	}
	if d := n.last().sentOf(protocol.TypeStageDeny); len(d) != 1 || d[0].Expect != nil || !reflect.DeepEqual(d[0].UserIDs, []string{"v"}) {
		t.Fatalf("deny sent %+v", d)
	}
}
