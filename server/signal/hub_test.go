package signal

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

const mid = "meeting-1"

func TestHelloJoinSnapshot(t *testing.T) {
	e := newEnv(t)
	hostTok, hostID := e.user(mid, "Host", stage.PresetWebinarHost)

	host, hello := e.connect("host", hostTok)
	if hello.MeetingID != mid || hello.Self.UserID != hostID || hello.Self.Name != "Host" ||
		hello.Self.PresetName != stage.PresetWebinarHost || hello.Self.PeerID == "" ||
		hello.Self.StageStatus != stage.Accepted {
		t.Fatalf("hello %+v", hello)
	}
	if want := (protocol.Permissions{StageEnabled: true, StageAccess: stage.Allowed, AcceptStageRequests: true, ScreenshareAccess: stage.Allowed, MaxScreenshareCount: 1,
		CanProduceAudio: stage.Allowed, CanProduceVideo: stage.Allowed, CanProduceScreenshare: stage.Allowed, ViewType: stage.ViewWebinar, VideoSimulcast: true}); hello.Permissions != want {
		t.Fatalf("permissions %+v", hello.Permissions)
	}
	if hello.GraceMs != time.Minute.Milliseconds() {
		t.Fatalf("graceMs %d", hello.GraceMs)
	}
	if e.hub.RoomMembers(mid) != nil {
		t.Fatal("hello alone entered the room")
	}

	res := host.ok(protocol.ClientMessage{Type: protocol.TypeJoin})
	snap := res.Snapshot
	if snap == nil || res.Seq != 0 || snap.Seq != 0 || snap.Count != 1 {
		t.Fatalf("join result %s", res.raw)
	}
	if snap.Self.PeerID != hello.Self.PeerID || snap.Self.StageStatus != stage.Accepted || len(snap.Participants) != 0 {
		t.Fatalf("host snapshot %+v", snap)
	}

	viewer, vsnap := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	if vsnap.Seq != 0 || vsnap.Count != 2 || vsnap.Self.StageStatus != stage.OffStage || len(vsnap.Participants) != 1 ||
		vsnap.Participants[0].UserID != hostID || vsnap.Participants[0].StageStatus != stage.Accepted {
		t.Fatalf("viewer snapshot %+v", vsnap)
	}
	if vsnap.Requests != nil {
		t.Fatalf("viewer snapshot carries requests")
	}
	ev := host.nextEvent()
	if ev.Event != protocol.EventParticipantJoined || ev.Seq != 1 || ev.Participant.UserID != "u-viewer" ||
		ev.Participant.StageStatus != stage.OffStage || ev.Participant.PeerID != vsnap.Self.PeerID {
		t.Fatalf("participantJoined %s", ev.raw)
	}

	// snapshot, ping and stage.requests answer without changing anything.
	s := host.ok(protocol.ClientMessage{Type: protocol.TypeSnapshot}).Snapshot
	if s == nil || s.Seq != 1 || len(s.Participants) != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	host.ok(protocol.ClientMessage{Type: protocol.TypePing})
	viewer.ok(protocol.ClientMessage{Type: protocol.TypePing})
	if r := host.ok(protocol.ClientMessage{Type: protocol.TypeStageRequests}); len(r.Requests) != 0 {
		t.Fatalf("requests %s", r.raw)
	}
	// A second join on the same connection answers the state again.
	if r := viewer.ok(protocol.ClientMessage{Type: protocol.TypeJoin}); r.Snapshot == nil || r.Snapshot.Seq != 0 {
		t.Fatalf("second join %s", r.raw)
	}
	e.barrier(mid, host, viewer)

	st := e.hub.Stats()
	if st.Rooms != 1 || st.Connections != 3 || st.MessagesIn == 0 || st.MessagesOut == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestHostViewerFlow is the whole stage flow between a host and two viewers,
// and who receives what: the host everything (with the pending list as a
// delta), a viewer its own moves and those of users in view, and nothing
// at all of the other viewer's private moves.
func TestHostViewerFlow(t *testing.T) {
	e := newEnv(t)
	var (
		subMu   sync.Mutex
		changes []stage.Change
	)
	remove := e.hub.Subscribe(mid, func(c stage.Change) {
		subMu.Lock()
		changes = append(changes, c)
		subMu.Unlock()
	})
	defer remove()

	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	viewer, vsnap := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	other, osnap := e.join(mid, "Other", stage.PresetWebinarViewer)
	host.nextEvent() // viewer joined
	host.nextEvent() // other joined
	if len(osnap.Participants) != 1 || osnap.Participants[0].UserID != "u-host" || osnap.Count != 3 {
		t.Fatalf("other's snapshot lists %+v (count %d), want the host only and count 3", osnap.Participants, osnap.Count)
	}
	vid, vpeer := vsnap.Self.UserID, vsnap.Self.PeerID
	otherFrames := len(other.frames())

	// The viewer requests: it sees its change, the host the change and the
	// request added; the other viewer receives nothing.
	id := viewer.send(act(protocol.TypeStageRequest))
	res := viewer.reply(id)
	if res.Type != protocol.TypeResult || res.Status != stage.Requested || res.Seq != 1 {
		t.Fatalf("request result %s", res.raw)
	}
	ev := viewer.stageEvent()
	if ev.Seq != 1 || len(ev.Changes) != 1 || ev.Changes[0] != (protocol.Change{UserID: vid, PeerID: vpeer, From: stage.OffStage, To: stage.Requested, Cause: stage.CauseRequest}) {
		t.Fatalf("viewer's own event %s", ev.raw)
	}
	evIdx := viewer.index(func(m msg) bool { return m.Type == protocol.TypeEvent && m.Seq == 1 })
	resIdx := viewer.index(func(m msg) bool { return m.Type == protocol.TypeResult && m.ID == id })
	if evIdx < 0 || evIdx > resIdx {
		t.Fatalf("the actor got its result (%d) before the event (%d)", resIdx, evIdx)
	}
	hev := host.stageEvent()
	want := []protocol.StageRequest{{DisplayName: "Viewer", UserID: vid, PeerID: vpeer, RequestedAt: nowMs}}
	if !equalRequests(hev.RequestsAdded, want) || hev.RequestsRemoved != nil {
		t.Fatalf("host's event %s", hev.raw)
	}
	if r := host.ok(protocol.ClientMessage{Type: protocol.TypeStageRequests}); !equalRequests(r.Requests, want) {
		t.Fatalf("stage.requests %s", r.raw)
	}

	// The host grants: the request leaves the list; the host's own status
	// is answered.
	res = host.ok(act(protocol.TypeStageGrant, vid))
	if res.Status != stage.Accepted || res.Seq != host.lastSeq() {
		t.Fatalf("grant result %s (last event %d)", res.raw, host.lastSeq())
	}
	hev = host.stageEvent()
	if hev.RequestsAdded != nil || !slices.Equal(hev.RequestsRemoved, []string{vid}) || hev.Changes[0].Cause != stage.CauseGrant || hev.Changes[0].To != stage.Accepted {
		t.Fatalf("grant event for host %s", hev.raw)
	}
	if ev := viewer.stageEvent(); ev.Seq != 2 || ev.Changes[0].To != stage.Accepted {
		t.Fatalf("grant event for viewer %s", ev.raw)
	}

	// Join the stage, get kicked, request again and be denied. The other
	// viewer sees only what happens in view: the viewer coming on stage
	// (introduced by name) and leaving it (hidden), the host's own moves.
	steps := []struct {
		by     *tclient
		m      protocol.ClientMessage
		to     stage.Status
		cause  stage.Cause
		status stage.Status // the actor's status in the result
		public bool
	}{
		{viewer, act(protocol.TypeStageJoin), stage.OnStage, stage.CauseJoin, stage.OnStage, true},
		{host, act(protocol.TypeStageKick, vid), stage.OffStage, stage.CauseKick, stage.Accepted, true},
		{viewer, act(protocol.TypeStageRequest), stage.Requested, stage.CauseRequest, stage.Requested, false},
		{viewer, act(protocol.TypeStageCancel), stage.OffStage, stage.CauseCancel, stage.OffStage, false},
		{viewer, act(protocol.TypeStageRequest), stage.Requested, stage.CauseRequest, stage.Requested, false},
		{host, act(protocol.TypeStageDeny, vid), stage.OffStage, stage.CauseDeny, stage.Accepted, false},
		{host, act(protocol.TypeStageGrant, vid), stage.Accepted, stage.CauseInvite, stage.Accepted, false},
		{viewer, act(protocol.TypeStageLeave), stage.OffStage, stage.CauseLeave, stage.OffStage, false}, // declines the invitation
		{host, act(protocol.TypeStageJoin), stage.OnStage, stage.CauseJoin, stage.OnStage, true},
		{host, act(protocol.TypeStageLeave), stage.Accepted, stage.CauseLeave, stage.Accepted, true},
	}
	for i, s := range steps {
		res := s.by.ok(s.m)
		if res.Seq != s.by.lastSeq() || res.Status != s.status {
			t.Fatalf("step %d %s: result %s (last event %d)", i, s.m.Type, res.raw, s.by.lastSeq())
		}
		for _, c := range []*tclient{host, viewer, other} {
			if c == other && !s.public {
				continue
			}
			ev := c.stageEvent()
			if len(ev.Changes) != 1 || ev.Changes[0].To != s.to || ev.Changes[0].Cause != s.cause {
				t.Fatalf("step %d %s: %s got %s", i, s.m.Type, c.name, ev.raw)
			}
			ch := ev.Changes[0]
			pendingMoved := s.cause == stage.CauseRequest || s.cause == stage.CauseCancel || s.cause == stage.CauseDeny
			if c == host && (ev.RequestsAdded != nil || ev.RequestsRemoved != nil) != pendingMoved {
				t.Fatalf("step %d: host's delta %s", i, ev.raw)
			}
			// Only the audience is introduced to a user coming into view
			// or told of one leaving it.
			intro := c != host && ch.UserID == vid && s.to == stage.OnStage
			hidden := c != host && ch.UserID == vid && s.cause == stage.CauseKick
			if (ch.Name == "Viewer" && ch.PresetName == stage.PresetWebinarViewer) != intro || ch.Hidden != hidden {
				t.Fatalf("step %d: %s got %s", i, c.name, ev.raw)
			}
		}
	}
	if got := other.stageEvents(); got != 4 {
		t.Fatalf("other viewer got %d stage events, want the 4 in view", got)
	}

	// The viewer requests and then leaves the meeting: the request is
	// withdrawn and the hosts get it removed with participantLeft; the
	// other viewer hears nothing of either.
	otherFrames = len(other.frames())
	viewer.ok(act(protocol.TypeStageRequest))
	host.stageEvent()
	viewer.stageEvent()
	viewer.ok(protocol.ClientMessage{Type: protocol.TypeLeave})
	if code := viewer.closed(); code != websocket.StatusNormalClosure {
		t.Fatalf("leave closed with %d", code)
	}
	hev = host.nextEvent()
	if hev.Event != protocol.EventParticipantLeft || hev.Participant.UserID != vid || !slices.Equal(hev.RequestsRemoved, []string{vid}) {
		t.Fatalf("host's participantLeft %s", hev.raw)
	}
	if _, in := memberStatuses(e.hub.RoomMembers(mid))[vid]; in {
		t.Fatal("viewer still in the room after leave")
	}
	e.barrier(mid, host, other)
	for _, m := range other.frames()[otherFrames:] {
		if m.Event != protocol.EventCount && !(m.Event == protocol.EventParticipantJoined && strings.HasPrefix(m.Participant.Name, "Barrier")) {
			t.Fatalf("other viewer received %s about a private move", m.raw)
		}
	}
	sameOrder(t, host, viewer, other)

	subMu.Lock()
	defer subMu.Unlock()
	var got []stage.Cause
	for _, c := range changes {
		if c.UserID == vid {
			got = append(got, c.Cause)
		}
	}
	wantCauses := []stage.Cause{stage.CauseRequest, stage.CauseGrant, stage.CauseJoin, stage.CauseKick,
		stage.CauseRequest, stage.CauseCancel, stage.CauseRequest, stage.CauseDeny, stage.CauseInvite,
		stage.CauseLeave, stage.CauseRequest, stage.CauseExit}
	if strings.Join(causes(got), ",") != strings.Join(causes(wantCauses), ",") {
		t.Fatalf("subscriber saw %v, want %v", got, wantCauses)
	}
}

func causes(cs []stage.Cause) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func equalRequests(a, b []protocol.StageRequest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A raw protocol client is refused every privileged action, and nothing
// changes for anyone.
func TestRawClientRefusedPrivilegedActions(t *testing.T) {
	e := newEnv(t)
	host, hsnap := e.join(mid, "Host", stage.PresetWebinarHost)
	viewer, vsnap := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	other, osnap := e.join(mid, "Other", stage.PresetWebinarViewer)
	live, _ := e.join(mid, "Live", stage.PresetLivestreamViewer)
	group, _ := e.join(mid, "Group", stage.PresetGroupCallParticipant)
	for _, c := range []*tclient{host, host, host, host} {
		c.nextEvent() // the host sees everyone who joined after it, the audience none of them
	}
	other.ok(act(protocol.TypeStageRequest))
	for _, c := range []*tclient{host, other, group} { // group calls see everyone
		c.stageEvent()
	}
	before := memberStatuses(e.hub.RoomMembers(mid))

	hid, oid := hsnap.Self.UserID, osnap.Self.UserID
	for _, m := range []protocol.ClientMessage{
		act(protocol.TypeStageGrant, oid),
		act(protocol.TypeStageGrant, vsnap.Self.UserID),
		act(protocol.TypeStageDeny, oid),
		act(protocol.TypeStageKick, hid),
		{Type: protocol.TypeStageRequests},
	} {
		viewer.fails(m, int(stage.CodePermissionDenied))
		live.fails(m, int(stage.CodePermissionDenied))
	}
	live.fails(act(protocol.TypeStageRequest), int(stage.CodePermissionDenied)) // NOT_ALLOWED
	group.fails(act(protocol.TypeStageRequest), int(stage.CodeStageDisabled))
	viewer.fails(act(protocol.TypeStageJoin), int(stage.CodeBadStatus))  // OFF_STAGE → ON_STAGE
	viewer.fails(act(protocol.TypeStageLeave), int(stage.CodeBadStatus)) // not on stage
	viewer.fails(act(protocol.TypeStageCancel), int(stage.CodeBadStatus))
	other.fails(act(protocol.TypeStageRequest), int(stage.CodeBadStatus)) // already requested

	if after := memberStatuses(e.hub.RoomMembers(mid)); !mapsEqual(before, after) {
		t.Fatalf("statuses changed: %v → %v", before, after)
	}
	e.barrier(mid, host, viewer, other, live, group)
}

func mapsEqual(a, b map[string]stage.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A user with stage access ALLOWED asking for the stage gets its status and
// no event: nothing was queued.
func TestAllowedRequestIsNoOp(t *testing.T) {
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	viewer, _ := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	host.nextEvent()
	res := host.ok(act(protocol.TypeStageRequest))
	if res.Seq != host.lastSeq() || res.Status != stage.Accepted {
		t.Fatalf("ALLOWED request result %s", res.raw)
	}
	e.barrier(mid, host, viewer)
}

func TestStageActionsBeforeJoin(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.user(mid, "Viewer", stage.PresetWebinarViewer)
	c, _ := e.connect("viewer", tok)
	for _, typ := range []string{protocol.TypeStageRequest, protocol.TypeStageCancel, protocol.TypeStageJoin,
		protocol.TypeStageLeave, protocol.TypeStageRequests, protocol.TypeSnapshot} {
		c.fails(protocol.ClientMessage{Type: typ}, protocol.CodeNotJoined)
	}
	c.fails(act(protocol.TypeStageGrant, "x"), protocol.CodeNotJoined)
	if e.hub.RoomMembers(mid) != nil {
		t.Fatal("a room appeared")
	}
	c.ok(protocol.ClientMessage{Type: protocol.TypeJoin})
	c.ok(act(protocol.TypeStageRequest))
}

func TestGrantCrossingCancel(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateLimit = 1e6 }) // this test is about order, not rate
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	viewer, vsnap := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	watcher, _ := e.join(mid, "Watcher", stage.PresetGroupCallParticipant) // sees everyone
	host.nextEvent()
	host.nextEvent()
	vid := vsnap.Self.UserID
	outcomes := map[string]int{}
	for i := 0; i < 40; i++ {
		viewer.ok(act(protocol.TypeStageRequest))
		host.stageEvent() // the host saw the request
		viewer.stageEvent()
		watcher.stageEvent()

		grant := protocol.ClientMessage{Type: protocol.TypeStageGrant, UserIDs: []string{vid}, Expect: []stage.Status{stage.Requested}}
		var gid, cid uint64
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); gid = host.send(grant) }()
		go func() { defer wg.Done(); cid = viewer.send(act(protocol.TypeStageCancel)) }()
		wg.Wait()
		g, c := host.reply(gid), viewer.reply(cid)
		var final stage.Status
		switch {
		case g.Type == protocol.TypeResult && c.Type == protocol.TypeError:
			wantError(t, "cancel after grant", c, int(stage.CodeBadStatus))
			final = stage.Accepted
			outcomes["grant"]++
		case g.Type == protocol.TypeError && c.Type == protocol.TypeResult:
			wantError(t, "grant after cancel", g, int(stage.CodeBadStatus))
			if g.Error.UserIDs == nil || g.Error.UserIDs[0] != vid {
				t.Fatalf("grant error does not name the user: %s", g.raw)
			}
			final = stage.OffStage
			outcomes["cancel"]++
		default:
			t.Fatalf("want exactly one winner: grant %s, cancel %s", g.raw, c.raw)
		}
		// Exactly one stage event, the same for all.
		for _, cl := range []*tclient{host, viewer, watcher} {
			ev := cl.stageEvent()
			if ev.Changes[0].UserID != vid || ev.Changes[0].To != final {
				t.Fatalf("%s saw %s, want %s", cl.name, ev.raw, final)
			}
		}
		if final == stage.Accepted {
			viewer.ok(act(protocol.TypeStageLeave)) // decline: back to OFF_STAGE
			for _, cl := range []*tclient{host, viewer, watcher} {
				cl.stageEvent()
			}
		}
	}
	t.Logf("outcomes %v", outcomes)
	e.barrier(mid, host, viewer, watcher)
	sameOrder(t, host, viewer, watcher)
}

func TestTwoHostsGrantSameUser(t *testing.T) {
	for _, withExpect := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "expect"}[withExpect], func(t *testing.T) {
			e := newEnv(t)
			h1, _ := e.join(mid, "HostA", stage.PresetWebinarHost)
			h2, _ := e.join(mid, "HostB", stage.PresetWebinarHost)
			v, vsnap := e.join(mid, "Viewer", stage.PresetWebinarViewer)
			h1.nextEvent()
			h1.nextEvent()
			h2.nextEvent()
			vid := vsnap.Self.UserID
			v.ok(act(protocol.TypeStageRequest))
			for _, c := range []*tclient{h1, h2, v} {
				c.stageEvent()
			}
			grant := act(protocol.TypeStageGrant, vid)
			if withExpect {
				grant.Expect = []stage.Status{stage.Requested}
			}
			var id1, id2 uint64
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); id1 = h1.send(grant) }()
			go func() { defer wg.Done(); id2 = h2.send(grant) }()
			wg.Wait()
			r1, r2 := h1.reply(id1), h2.reply(id2)
			if (r1.Type == protocol.TypeResult) == (r2.Type == protocol.TypeResult) {
				t.Fatalf("want exactly one winner: %s / %s", r1.raw, r2.raw)
			}
			loser := r1
			if r1.Type == protocol.TypeResult {
				loser = r2
			}
			wantError(t, "losing grant", loser, int(stage.CodeBadStatus))
			for _, c := range []*tclient{h1, h2, v} {
				ev := c.stageEvent()
				if ev.Changes[0].To != stage.Accepted || ev.Changes[0].Cause != stage.CauseGrant {
					t.Fatalf("%s: %s", c.name, ev.raw)
				}
			}
			e.barrier(mid, h1, h2, v)
			want := memberStatuses(e.hub.RoomMembers(mid))
			for _, c := range []*tclient{h1, h2, v} {
				// Everyone here is in view (hosts, the panelist barrier) or v
				// itself: the audience's snapshot is the whole room too.
				got := statuses(*c.ok(protocol.ClientMessage{Type: protocol.TypeSnapshot}).Snapshot)
				if !mapsEqual(got, want) {
					t.Fatalf("%s sees %v, room has %v", c.name, got, want)
				}
			}
			sameOrder(t, h1, h2, v)
		})
	}
}

func TestBatches(t *testing.T) {
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	v, vsnap := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	host.nextEvent()
	vid := vsnap.Self.UserID

	// 10,000 ids: a coded refusal; the connection and the room carry on.
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = "user-" + itoa(uint64(i))
	}
	for _, typ := range []string{protocol.TypeStageGrant, protocol.TypeStageDeny, protocol.TypeStageKick} {
		host.fails(act(typ, ids...), int(stage.CodeBatchTooLarge))
	}
	// An unknown id refuses the whole batch and is named.
	res := host.fails(act(protocol.TypeStageGrant, vid, "ghost"), int(stage.CodeUnknownUser))
	if len(res.Error.UserIDs) != 1 || res.Error.UserIDs[0] != "ghost" {
		t.Fatalf("unknown ids %v", res.Error.UserIDs)
	}
	host.fails(protocol.ClientMessage{Type: protocol.TypeStageGrant}, int(stage.CodeEmptyBatch))
	host.fails(protocol.ClientMessage{Type: protocol.TypeStageGrant, UserIDs: []string{vid}, Expect: []stage.Status{"", ""}}, int(stage.CodeBadExpect))
	if st := memberStatuses(e.hub.RoomMembers(mid))[vid]; st != stage.OffStage {
		t.Fatalf("viewer moved to %s", st)
	}
	host.ok(protocol.ClientMessage{Type: protocol.TypePing})
	v.ok(protocol.ClientMessage{Type: protocol.TypePing})
	e.barrier(mid, host, v)
	host.ok(act(protocol.TypeStageGrant, vid, vid)) // duplicates are one
	if ev := v.stageEvent(); len(ev.Changes) != 1 || ev.Changes[0].Cause != stage.CauseInvite {
		t.Fatalf("invite %s", ev.raw)
	}
}

func TestMalformedMessages(t *testing.T) {
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	c, _ := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	host.nextEvent()
	raw := func(s string) msg {
		t.Helper()
		before := len(c.frames())
		if err := c.sendRaw(websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
		var out msg
		c.waitUntil("an error", func() bool {
			for _, m := range c.log[before:] {
				if m.Type == protocol.TypeError {
					out = m
					return true
				}
			}
			return false
		})
		return out
	}
	wantError(t, "garbage", raw(`{"v":1,"id":7,"type":`), protocol.CodeMalformed)
	wantError(t, "not an object", raw(`[1,2,3]`), protocol.CodeMalformed)
	wantError(t, "trailing", raw(`{"v":1,"id":8,"type":"ping"} {}`), protocol.CodeMalformed)
	res := raw(`{"v":1,"id":9,"type":"stage.teleport"}`)
	wantError(t, "unknown type", res, protocol.CodeUnknownType)
	if res.ID != 9 {
		t.Fatalf("unknown type error lost the id: %s", res.raw)
	}
	wantError(t, "version", raw(`{"v":2,"id":10,"type":"ping"}`), protocol.CodeBadVersion)
	wantError(t, "no id", raw(`{"v":1,"type":"ping"}`), protocol.CodeBadArgs)
	wantError(t, "bad user id", raw(`{"v":1,"id":11,"type":"stage.grant","userIds":[""]}`), protocol.CodeBadArgs)
	wantError(t, "second hello", raw(`{"v":1,"id":12,"type":"hello","token":"x"}`), protocol.CodeHelloFirst)

	before := len(c.frames())
	if err := c.sendRaw(websocket.MessageBinary, []byte(`{"v":1,"id":13,"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	c.waitUntil("the binary refusal", func() bool { return len(c.log) > before })
	wantError(t, "binary", c.frames()[before], protocol.CodeMalformed)

	// Still open, still in the room, nothing changed for anyone.
	c.ok(protocol.ClientMessage{Type: protocol.TypePing})
	e.barrier(mid, host, c)
	c.ok(act(protocol.TypeStageRequest))
	if st := e.hub.Stats(); st.Rejected < 8 {
		t.Fatalf("rejected %d", st.Rejected)
	}
}

func TestOversizedFrameCloses1009(t *testing.T) {
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	c, _ := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	host.nextEvent()
	big := `{"v":1,"id":5,"type":"ping","token":"` + strings.Repeat("x", protocol.MaxFrameBytes) + `"}`
	_ = c.sendRaw(websocket.MessageText, []byte(big)) // may fail once the server closes
	if code := c.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %d, want 1009", code)
	}
	// A frame of exactly the limit is fine.
	c2, _ := e.join(mid, "Viewer2", stage.PresetWebinarViewer)
	host.nextEvent()
	pad := protocol.MaxFrameBytes - len(`{"v":1,"id":5,"type":"ping","sdp":""}`)
	c2.ok(protocol.ClientMessage{ID: 5, Type: protocol.TypePing, SDP: strings.Repeat("y", pad)})
	host.ok(protocol.ClientMessage{Type: protocol.TypePing})
}

func TestHelloRefusals(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HelloTimeout = 300 * time.Millisecond })
	cases := []struct {
		name  string
		frame string
		code  int // error code
		close websocket.StatusCode
	}{
		{"missing token", `{"v":1,"id":1,"type":"hello"}`, protocol.CodeTokenMissing, 4010},
		{"garbage token", `{"v":1,"id":1,"type":"hello","token":"garbage"}`, protocol.CodeTokenInvalid, 4011},
		{"expired token", `{"v":1,"id":1,"type":"hello","token":"expired"}`, protocol.CodeTokenExpired, 4012},
		{"revoked token", `{"v":1,"id":1,"type":"hello","token":"revoked"}`, protocol.CodeTokenRevoked, 4013},
		{"huge token", `{"v":1,"id":1,"type":"hello","token":"` + strings.Repeat("t", protocol.MaxTokenBytes+1) + `"}`, protocol.CodeTokenInvalid, 4011},
		{"join first", `{"v":1,"id":1,"type":"join"}`, protocol.CodeHelloFirst, 4006},
		{"stage first", `{"v":1,"id":1,"type":"stage.grant","userIds":["a"]}`, protocol.CodeHelloFirst, 4006},
		{"malformed first", `{"v":1,`, protocol.CodeMalformed, 4006},
		{"store down", `{"v":1,"id":1,"type":"hello","token":"broken-store"}`, protocol.CodeInternal, websocket.StatusInternalError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(tc.name)
			if err := c.sendRaw(websocket.MessageText, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			if code := c.closed(); code != tc.close {
				t.Fatalf("closed with %d, want %d", code, tc.close)
			}
			f := c.frames()
			if len(f) != 1 {
				t.Fatalf("want one error before the close, got %d frames", len(f))
			}
			wantError(t, tc.name, f[0], tc.code)
		})
	}
	t.Run("no hello in time", func(t *testing.T) {
		c := e.dial("silent")
		if code := c.closed(); code != protocol.CodeHelloFirst {
			t.Fatalf("closed with %d, want 4006", code)
		}
	})
	t.Run("binary hello", func(t *testing.T) {
		c := e.dial("binary")
		tok, _ := e.user(mid, "Bin", stage.PresetWebinarViewer)
		b, _ := json.Marshal(protocol.ClientMessage{V: 1, ID: 1, Type: protocol.TypeHello, Token: tok})
		c.sendRaw(websocket.MessageBinary, b)
		if code := c.closed(); code != protocol.CodeHelloFirst {
			t.Fatalf("closed with %d, want 4006", code)
		}
	})
	t.Run("authenticator panics", func(t *testing.T) {
		c := e.dial("panic")
		c.sendRaw(websocket.MessageText, []byte(`{"v":1,"id":1,"type":"hello","token":"panic"}`))
		if code := c.closed(); code != websocket.StatusInternalError {
			t.Fatalf("closed with %d, want 1011", code)
		}
		if !strings.Contains(e.logs.String(), "panicked") {
			t.Fatalf("panic not logged: %s", e.logs.String())
		}
		// The hub is alive.
		e.join(mid, "AfterPanic", stage.PresetWebinarViewer)
	})
}

func TestFloodIsClosedOthersUnaffected(t *testing.T) {
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	v2, v2snap := e.join(mid, "Calm", stage.PresetWebinarViewer)
	flood, _ := e.join(mid, "Flood", stage.PresetWebinarViewer)
	host.nextEvent()
	host.nextEvent()

	for i := 0; i < 3000; i++ {
		typ := protocol.TypeStageRequest
		if i%2 == 1 {
			typ = protocol.TypeStageCancel
		}
		b, _ := json.Marshal(protocol.ClientMessage{V: 1, ID: uint64(i + 1), Type: typ})
		if err := flood.sendRaw(websocket.MessageText, b); err != nil {
			break // closed by the server
		}
	}
	if code := flood.closed(); code != protocol.CodeRateLimited {
		t.Fatalf("flooder closed with %d, want 4020", code)
	}
	limited := 0
	for _, m := range flood.frames() {
		if m.Type == protocol.TypeError && m.Error.Code == protocol.CodeRateLimited {
			limited++
			if m.ID == 0 {
				t.Fatalf("rate-limit error without the request id: %s", m.raw)
			}
		}
	}
	if limited != floodCloseAt {
		t.Fatalf("%d rate-limited answers before the close, want %d", limited, floodCloseAt)
	}

	// The others keep working and saw a consistent order.
	host.ok(protocol.ClientMessage{Type: protocol.TypePing})
	v2.ok(act(protocol.TypeStageRequest))
	host.ok(act(protocol.TypeStageGrant, v2snap.Self.UserID))
	sameOrder(t, host, v2, flood)
	if st := e.hub.Stats(); st.Rejected < floodCloseAt {
		t.Fatalf("stats rejected %d", st.Rejected)
	}
}

func TestRateLimitRecovers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateLimit = 1000 })
	c, _ := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	// Bursts under the limit, with pauses, are never refused.
	for round := 0; round < 3; round++ {
		ids := make([]uint64, 100)
		for i := range ids {
			ids[i] = c.send(protocol.ClientMessage{Type: protocol.TypePing})
		}
		for _, id := range ids {
			if r := c.reply(id); r.Type != protocol.TypeResult {
				t.Fatalf("refused within the burst: %s", r.raw)
			}
		}
	}
}

func TestGraceReconnectKeepsPlace(t *testing.T) {
	e := newEnv(t) // grace of a minute: well within it
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	tok, vid := e.user(mid, "Viewer", stage.PresetWebinarViewer)
	v, vsnap := e.joinWith("viewer", tok)
	starTok, _ := e.user(mid, "Star", stage.PresetWebinarViewer)
	star, ssnap := e.joinWith("star", starTok)
	host.nextEvent()
	host.nextEvent()
	v.ok(act(protocol.TypeStageRequest))
	host.ok(act(protocol.TypeStageGrant, ssnap.Self.UserID))
	star.ok(act(protocol.TypeStageJoin))
	for i := 0; i < 3; i++ {
		host.stageEvent()
	}

	// Both drop without a word (network failure), then come back.
	v.ws.CloseNow()
	star.ws.CloseNow()
	v.closed()
	star.closed()
	// The host saw neither leave: each of them reconnecting (the server
	// has noticed both drops before they come back).
	seen := map[string][]bool{}
	next := func() {
		ev := host.nextEvent()
		if ev.Event != protocol.EventParticipantConnection {
			t.Fatalf("host: %s", ev.raw)
		}
		seen[ev.Participant.UserID] = append(seen[ev.Participant.UserID], ev.Participant.Reconnecting)
	}
	next()
	next()

	v2, hello := e.connect("viewer-again", tok)
	if hello.Self.PeerID != vsnap.Self.PeerID || hello.Self.StageStatus != stage.Requested {
		t.Fatalf("hello after reconnect %+v", hello.Self)
	}
	res := v2.ok(protocol.ClientMessage{Type: protocol.TypeJoin})
	if res.Snapshot.Self.StageStatus != stage.Requested || res.Snapshot.Self.PeerID != vsnap.Self.PeerID {
		t.Fatalf("snapshot after reconnect %+v", res.Snapshot.Self)
	}
	_, s2 := e.joinWith("star-again", starTok)
	if s2.Self.StageStatus != stage.OnStage {
		t.Fatalf("star after reconnect %s", s2.Self.StageStatus)
	}
	if r := host.ok(protocol.ClientMessage{Type: protocol.TypeStageRequests}); len(r.Requests) != 1 || r.Requests[0].UserID != vid {
		t.Fatalf("requests after reconnect %s", r.raw)
	}
	// Nor join: each of them back.
	next()
	next()
	if want := []bool{true, false}; !slices.Equal(seen[vid], want) || !slices.Equal(seen[s2.Self.UserID], want) {
		t.Fatalf("host saw reconnecting %v", seen)
	}
	// The viewer, back first, sees the star (on stage, in view) come back.
	if ev := v2.nextEvent(); ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != s2.Self.UserID || ev.Participant.Reconnecting {
		t.Fatalf("viewer: %s", ev.raw)
	}
	e.barrier(mid, host, v2)
	// The re-attached connection acts for the user.
	host.ok(act(protocol.TypeStageGrant, vid))
	if ev := v2.stageEvent(); ev.Changes[0].UserID != vid || ev.Changes[0].To != stage.Accepted {
		t.Fatalf("%s", ev.raw)
	}
}

func TestGraceExpiryWithdrawsRequest(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Grace = 150 * time.Millisecond })
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	other, _ := e.join(mid, "Other", stage.PresetWebinarViewer)
	tok, vid := e.user(mid, "Viewer", stage.PresetWebinarViewer)
	v, _ := e.joinWith("viewer", tok)
	host.nextEvent()
	host.nextEvent()
	v.ok(act(protocol.TypeStageRequest))
	if ev := host.stageEvent(); len(ev.RequestsAdded) != 1 {
		t.Fatalf("%s", ev.raw)
	}

	v.ws.CloseNow()
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != vid || !ev.Participant.Reconnecting {
		t.Fatalf("host after the drop %s", ev.raw)
	}
	ev := host.nextEvent()
	if ev.Event != protocol.EventParticipantLeft || ev.Participant.UserID != vid || !slices.Equal(ev.RequestsRemoved, []string{vid}) {
		t.Fatalf("host after grace %s", ev.raw)
	}
	// The other viewer never saw the viewer: it hears nothing of its exit.
	e.barrier(mid, host, other)
	if r := host.ok(protocol.ClientMessage{Type: protocol.TypeStageRequests}); len(r.Requests) != 0 {
		t.Fatalf("requests %s", r.raw)
	}
	// Coming back after the grace period is a fresh entry.
	v2, snap := e.joinWith("viewer-late", tok)
	if snap.Self.StageStatus != stage.OffStage {
		t.Fatalf("late status %s", snap.Self.StageStatus)
	}
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantJoined || ev.Participant.UserID != vid {
		t.Fatalf("%s", ev.raw)
	}
	v2.ok(protocol.ClientMessage{Type: protocol.TypePing})
}

func TestRoomDroppedWhenEmpty(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Grace = 50 * time.Millisecond })
	a, _ := e.join(mid, "A", stage.PresetWebinarHost)
	b, _ := e.join(mid, "B", stage.PresetWebinarViewer)
	a.ok(protocol.ClientMessage{Type: protocol.TypeLeave})
	b.ws.CloseNow() // dropped: the room lives until its grace ends
	b.closed()
	deadline := time.Now().Add(waitTimeout)
	for e.hub.Stats().Rooms != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("room not dropped: %+v", e.hub.Stats())
		}
		time.Sleep(10 * time.Millisecond) // polling an observable, not synchronising
	}
	if e.hub.RoomMembers(mid) != nil {
		t.Fatal("members of a dropped room")
	}
	// The meeting gets a fresh room.
	_, snap := e.join(mid, "C", stage.PresetWebinarViewer)
	if snap.Seq != 0 || snap.Count != 1 || len(snap.Participants) != 0 {
		t.Fatalf("fresh room %+v", snap)
	}
}

func TestSecondConnectionReplacesFirst(t *testing.T) {
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	tok, vid := e.user(mid, "Viewer", stage.PresetWebinarViewer)
	first, s1 := e.joinWith("first", tok)
	host.nextEvent()
	first.ok(act(protocol.TypeStageRequest))
	host.stageEvent()

	second, s2 := e.joinWith("second", tok)
	if code := first.closed(); code != protocol.CodeReplaced {
		t.Fatalf("first closed with %d, want 4030", code)
	}
	if s2.Self.PeerID != s1.Self.PeerID || s2.Self.StageStatus != stage.Requested {
		t.Fatalf("second %+v", s2.Self)
	}
	e.barrier(mid, host, second) // no participantJoined for a re-attach
	second.ok(act(protocol.TypeStageCancel))
	if ev := host.stageEvent(); ev.Changes[0].UserID != vid || ev.Changes[0].To != stage.OffStage {
		t.Fatalf("%s", ev.raw)
	}
	if n := len(e.hub.RoomMembers(mid)); n != 3 {
		t.Fatalf("%d members", n)
	}
}

func TestRemoveParticipant(t *testing.T) {
	e := newEnv(t)
	var (
		mu  sync.Mutex
		got []stage.Change
	)
	defer e.hub.Subscribe(mid, func(c stage.Change) { mu.Lock(); got = append(got, c); mu.Unlock() })()
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	tok, vid := e.user(mid, "Viewer", stage.PresetWebinarViewer)
	v, _ := e.joinWith("viewer", tok)
	host.nextEvent()
	v.ok(act(protocol.TypeStageRequest))
	host.stageEvent()
	// A second connection of the same user that said hello but did not join.
	pending, _ := e.connect("pending", tok)

	e.hub.RemoveParticipant(mid, vid)
	if code := v.closed(); code != protocol.CodeRemoved {
		t.Fatalf("closed with %d, want 4031", code)
	}
	if code := pending.closed(); code != protocol.CodeRemoved {
		t.Fatalf("pending connection closed with %d, want 4031", code)
	}
	if !strings.Contains(v.closeReason(), "removed") {
		t.Fatalf("reason %q", v.closeReason())
	}
	ev := host.nextEvent()
	if ev.Event != protocol.EventParticipantLeft || ev.Participant.UserID != vid || !slices.Equal(ev.RequestsRemoved, []string{vid}) {
		t.Fatalf("%s", ev.raw)
	}
	if _, in := memberStatuses(e.hub.RoomMembers(mid))[vid]; in {
		t.Fatal("still a member")
	}
	// A token verified around the removal does not get back in.
	late := e.dial("late")
	late.sendRaw(websocket.MessageText, []byte(`{"v":1,"id":1,"type":"hello","token":"`+tok+`"}`))
	if code := late.closed(); code != protocol.CodeTokenRevoked {
		t.Fatalf("late hello closed with %d, want 4013", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(got); n != 2 || got[1].Cause != stage.CauseExit || got[1].From != stage.Requested {
		t.Fatalf("subscriber saw %+v", got)
	}
	e.hub.RemoveParticipant(mid, "nobody")  // unknown: no-op
	e.hub.RemoveParticipant("nowhere", vid) // unknown meeting: no-op
	e.barrier(mid, host)
}

func TestCloseGoesAway(t *testing.T) {
	e := newEnv(t)
	a, _ := e.join(mid, "A", stage.PresetWebinarHost)
	b, _ := e.connect("b", func() string { tok, _ := e.user("m2", "B", stage.PresetWebinarViewer); return tok }())
	e.hub.Close()
	for _, c := range []*tclient{a, b} {
		if code := c.closed(); code != websocket.StatusGoingAway {
			t.Fatalf("%s closed with %d, want 1001", c.name, code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, res, err := websocket.Dial(ctx, e.wsURL, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after close: %v %v", err, res)
	}
	if st := e.hub.Stats(); st.Connections != 0 || st.Rooms != 0 {
		t.Fatalf("stats after close %+v", st)
	}
}

func TestOrigins(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OriginPatterns = []string{"app.example.com"} })
	dial := func(origin string) error {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, e.wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil {
			ws.CloseNow()
		}
		return err
	}
	if err := dial("https://app.example.com"); err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
	if err := dial("https://evil.example.net"); err == nil {
		t.Fatal("foreign origin accepted")
	}
}

func TestDeadPeerIsDropped(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Grace = 50 * time.Millisecond },
		func(h *Hub) { h.pingInterval = 100 * time.Millisecond })
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)

	// A peer that stops reading never answers pings.
	tok, vid := e.user(mid, "Dead", stage.PresetWebinarViewer)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for i, m := range []protocol.ClientMessage{{Type: protocol.TypeHello, Token: tok}, {Type: protocol.TypeJoin}} {
		m.V, m.ID = 1, uint64(i+1)
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantJoined {
		t.Fatalf("%s", ev.raw)
	}
	// The host keeps answering pings (its reader runs) and stays; it sees
	// the dead peer reconnecting, then gone.
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != vid || !ev.Participant.Reconnecting {
		t.Fatalf("%s", ev.raw)
	}
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantLeft || ev.Participant.UserID != vid {
		t.Fatalf("%s", ev.raw)
	}
	host.ok(protocol.ClientMessage{Type: protocol.TypePing})
}

func TestSubscriberPanicDoesNotBreakRoom(t *testing.T) {
	e := newEnv(t)
	remove := e.hub.Subscribe(mid, func(stage.Change) { panic("bad subscriber") })
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	v, vsnap := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	host.nextEvent()
	v.ok(act(protocol.TypeStageRequest))
	host.ok(act(protocol.TypeStageGrant, vsnap.Self.UserID))
	if !strings.Contains(e.logs.String(), "stage subscriber panicked") {
		t.Fatalf("not logged: %s", e.logs.String())
	}
	remove()
	remove() // idempotent
	v.ok(act(protocol.TypeStageJoin))
}

func TestSubscribeKeepsRoomUntilRemoved(t *testing.T) {
	e := newEnv(t)
	remove := e.hub.Subscribe("m-sub", func(stage.Change) {})
	if e.hub.Stats().Rooms != 1 {
		t.Fatal("subscription did not create the room")
	}
	remove()
	if e.hub.Stats().Rooms != 0 {
		t.Fatal("empty room kept after the subscription ended")
	}
}

// A slow consumer is closed with 4032 instead of blocking the room.
func TestSlowConsumerPolicy(t *testing.T) {
	h := NewHub(Config{Auth: &fakeAuth{}, SendQueue: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c := newConn(h, discard{})
	c.out.claim() // a writer busy elsewhere: nothing leaves the queue
	c.enqueue([]byte("1"))
	c.enqueue([]byte("2"))
	if c.isClosing() {
		t.Fatal("closed with room in the queue")
	}
	c.enqueue([]byte("3")) // must not block
	if !c.isClosing() || c.closeCode != protocol.CodeSlowConsumer || c.closeFlush {
		t.Fatalf("closing=%v code=%d flush=%v", c.isClosing(), c.closeCode, c.closeFlush)
	}
	c.enqueue([]byte("4")) // dropped silently once closing
	if c.out.len() != 2 {
		t.Fatalf("%d queued", c.out.len())
	}
}

// A client that stops reading while the room is busy is cut off; the room
// and the other clients never wait for it.
func TestSlowConsumerEndToEnd(t *testing.T) {
	// Events go out one by one (no host tick). The queue of 64 frames is
	// far more than a reading client falls behind, so only the one that
	// does not read overflows it.
	e := newEnv(t, func(c *Config) {
		c.SendQueue, c.HostTick, c.RateLimit, c.Grace = 64, -1, 1e6, 50*time.Millisecond
	},
		func(h *Hub) { h.closeTimeout = 200 * time.Millisecond })
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	// The slow client sees everyone, so every event of the room reaches it.
	tok, slowID := e.user(mid, "Slow", stage.PresetGroupCallParticipant)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for i, m := range []protocol.ClientMessage{{Type: protocol.TypeHello, Token: tok}, {Type: protocol.TypeJoin}} {
		m.V, m.ID = 1, uint64(i+1)
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// From here the slow client reads nothing. A user with a 20 kB id makes
	// every stage event big enough to fill the socket buffers quickly.
	host.nextEvent()
	noisyTok, _ := e.user(mid, "Noisy"+strings.Repeat("n", 20000), stage.PresetWebinarViewer)
	noisy, _ := e.joinWith("noisy", noisyTok)
	host.nextEvent()
	for i := 0; !strings.Contains(e.logs.String(), "closing a slow connection"); i++ {
		if i > 5000 {
			t.Fatal("slow consumer never cut off")
		}
		noisy.ok(act(protocol.TypeStageRequest))
		noisy.ok(act(protocol.TypeStageCancel))
	}
	for {
		ev := host.nextEvent()
		if ev.Event == protocol.EventParticipantLeft {
			if ev.Participant.UserID != slowID {
				t.Fatalf("%s", ev.raw)
			}
			break
		}
	}
	host.ok(protocol.ClientMessage{Type: protocol.TypePing})
}

func TestCloseReason(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := closeReason(long)
	if len(got) > maxReason || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Fatalf("closeReason cut badly: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if got := closeReason("bad \xff byte"); !utf8.ValidString(got) {
		t.Fatalf("invalid UTF-8 kept: %q", got)
	}
	if got := closeReason("short"); got != "short" {
		t.Fatal(got)
	}
}

// Silent media (the media server's MediaLiveness) shows the user as
// reconnecting to whoever sees it, and pings its WebSocket at once with the
// probe's short deadline: a live client answers and stays (reconnecting
// until its media is heard again); a dead one is dropped now, not after
// the ping interval, and keeps its place for the grace period.
func TestSilentMediaProbesSignaling(t *testing.T) {
	e := newEnv(t, func(h *Hub) { h.probeTimeout = 200 * time.Millisecond }) // the ping interval stays 20 s
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	live, lsnap := e.join(mid, "Live", stage.PresetWebinarViewer)
	lid := lsnap.Self.UserID
	host.nextEvent() // Live joined

	e.hub.MediaLiveness(mid, lid, false)
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != lid || !ev.Participant.Reconnecting {
		t.Fatalf("host after silent media: %s", ev.raw)
	}
	// Its reader answers the probe: it stays attached.
	live.ok(protocol.ClientMessage{Type: protocol.TypePing})
	e.hub.MediaLiveness(mid, lid, false) // unchanged: nothing told
	e.hub.MediaLiveness(mid, lid, true)
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != lid || ev.Participant.Reconnecting {
		t.Fatalf("host after media back: %s", ev.raw)
	}
	live.ok(protocol.ClientMessage{Type: protocol.TypePing})

	// A peer that stopped reading: the probe drops it at once.
	tok, did := e.user(mid, "Dead", stage.PresetWebinarViewer)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for i, m := range []protocol.ClientMessage{{Type: protocol.TypeHello, Token: tok}, {Type: protocol.TypeJoin}} {
		m.V, m.ID = 1, uint64(i+1)
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantJoined {
		t.Fatalf("%s", ev.raw)
	}
	e.hub.MediaLiveness(mid, did, false)
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != did || !ev.Participant.Reconnecting {
		t.Fatalf("%s", ev.raw)
	}
	waitFor(t, "the dead peer dropped by the probe", func() bool {
		return strings.Contains(e.logs.String(), "dropping an unresponsive connection")
	})
	// Within the grace period (a minute here) it keeps its place.
	if _, st, ok := e.hub.existingRoom(mid).peek(did); !ok || st != stage.OffStage {
		t.Fatalf("the dropped user: in room %v, status %s", ok, st)
	}
}
