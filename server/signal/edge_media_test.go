package signal

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// An edge's news of its user's media (the edge probes the user's
// connection itself) runs in the batches' order at the owner: whoever sees
// the user, here and on the edges, is told it is reconnecting while its
// media is silent or its connection dropped, and back once both are up,
// each change once; news from a node the user is no longer on changes
// nothing; a rejoin says whether the media it keeps is still silent (a new
// media session is not); a snapshot shows who is reconnecting.
func TestEdgeMediaNewsAtTheOwner(t *testing.T) {
	e, _, rec := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	e.batch("m", remoteJoin("m", "Far", stage.PresetWebinarHost)) // a host on the edge
	join := remoteJoin("m", "P", stage.PresetWebinarViewer)
	e.batch("m", join)
	for range 2 {
		if ev := host.nextEvent(); ev.Event != protocol.EventParticipantJoined {
			t.Fatalf("host: %s", ev.raw)
		}
	}
	from := len(rec.commits())
	media := func(live bool) edgeCall { return edgeCall{Op: "media", User: "u-p", Live: live} }
	rejoin := func(mediaLost bool) edgeCall {
		c := join
		c.MediaLost = mediaLost
		return c
	}
	farSees := func() bool {
		ans := e.hub.answerEdge(edgeCall{Op: "snapshot", Meeting: "m", Node: edgeNode, User: "u-far"})
		if ans.Snapshot == nil {
			t.Fatalf("Far's snapshot: %+v", ans)
		}
		for _, p := range ans.Snapshot.Participants {
			if p.UserID == "u-p" {
				return p.Reconnecting
			}
		}
		t.Fatal("P is not in Far's snapshot")
		return false
	}

	var want []bool
	step := func(what string, reconnecting bool, told bool, calls ...edgeCall) {
		t.Helper()
		e.batch("m", calls...)
		if told {
			want = append(want, reconnecting)
		}
		if got := farSees(); got != reconnecting {
			t.Errorf("%s: a snapshot shows P reconnecting %v, want %v", what, got, reconnecting)
		}
	}
	step("media silent", true, true, media(false))
	step("media silent again", true, false, media(false))
	// From a node P is not on: nothing.
	if ans := e.hub.answerEdge(edgeCall{Op: "batch", Meeting: "m", Node: "http://other:1", User: "u-p", Calls: []edgeCall{media(true)}}); ans.Error != nil {
		t.Fatalf("%+v", ans.Error)
	}
	if !farSees() {
		t.Error("news from a node P is not on showed it back")
	}
	step("media heard", false, true, media(true))
	step("dropped", true, true, edgeCall{Op: "drop", User: "u-p"})
	step("back, its kept media silent", true, false, rejoin(true))
	step("its media heard", false, true, media(true))
	step("silent and dropped in one batch", true, true, media(false), edgeCall{Op: "drop", User: "u-p"})
	step("back with a new media session", false, true, rejoin(false))

	var here []bool
	for len(here) < len(want) {
		ev := host.nextEvent()
		if ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != "u-p" {
			t.Fatalf("host: %s", ev.raw)
		}
		here = append(here, ev.Participant.Reconnecting)
	}
	if !slices.Equal(here, want) {
		t.Errorf("the host here was told reconnecting %v, want %v", here, want)
	}
	var edge []bool
	for _, c := range rec.commits()[from:] {
		groups, err := edgeGroups(c.entries())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if g.host == nil {
				continue
			}
			var m protocol.ServerMessage
			if err := json.Unmarshal(g.host.Watch, &m); err != nil {
				t.Fatal(err)
			}
			if m.Event == protocol.EventParticipantConnection && m.Participant.UserID == "u-p" {
				edge = append(edge, m.Participant.Reconnecting)
			}
		}
	}
	if !slices.Equal(edge, want) {
		t.Errorf("the edges' hosts were told reconnecting %v, want %v", edge, want)
	}
}

// The users of a node that left the cluster keep their place and are shown
// reconnecting, and back when the node is listed again: to the hosts here
// and, in one commit of the streams whatever their number, on the edges.
func TestEdgeNodeGoneShowsItsUsersReconnecting(t *testing.T) {
	e, _, rec := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	e.batch("m", remoteJoin("m", "Far", stage.PresetWebinarHost)) // a host on another edge
	const gone = "http://edge2:1"
	if ans := e.hub.answerEdge(edgeCall{Op: "batch", Meeting: "m", Node: gone, User: "u-v1",
		Calls: []edgeCall{remoteJoin("m", "V1", stage.PresetWebinarViewer), remoteJoin("m", "V2", stage.PresetWebinarViewer)}}); ans.Error != nil {
		t.Fatalf("%+v", ans.Error)
	}
	for range 3 { // Far, V1, V2 (the test client splits participantsJoined)
		if ev := host.nextEvent(); ev.Event != protocol.EventParticipantJoined {
			t.Fatalf("host: %s", ev.raw)
		}
	}
	r := e.hub.existingRoom("m")
	for _, step := range []struct {
		gone, back   map[string]bool
		reconnecting bool
	}{{map[string]bool{gone: true}, nil, true}, {nil, map[string]bool{gone: true}, false}} {
		from := len(rec.commits())
		r.nodesChanged(step.gone, step.back)
		told := map[string]bool{}
		for len(told) < 2 {
			ev := host.nextEvent()
			if ev.Event != protocol.EventParticipantConnection || ev.Participant.Reconnecting != step.reconnecting {
				t.Fatalf("host: %s, want reconnecting %v", ev.raw, step.reconnecting)
			}
			told[ev.Participant.UserID] = true
		}
		if !told["u-v1"] || !told["u-v2"] {
			t.Errorf("the host was told of %v, want V1 and V2", told)
		}
		commits := rec.commits()[from:]
		if len(commits) != 1 {
			t.Fatalf("%d commits for the edges, want 1", len(commits))
		}
		groups, err := edgeGroups(commits[0].entries())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, g := range groups {
			if g.host == nil {
				continue
			}
			var m protocol.ServerMessage
			if err := json.Unmarshal(g.host.Watch, &m); err != nil {
				t.Fatal(err)
			}
			if m.Event == protocol.EventParticipantConnection && m.Participant.Reconnecting == step.reconnecting {
				n++
			}
		}
		if n != 2 {
			t.Errorf("the edges' hosts are told of %d users, want 2", n)
		}
	}
	if _, st, ok := r.peek("u-v1"); !ok || st != stage.OffStage {
		t.Errorf("V1: in the room %v, %s", ok, st)
	}
}

// A user's new connection on an edge joins while its old one there ends,
// and the edge tells the owner of that end after the new join (in the
// join's batch or a later one). Such a drop or leave is of a connection
// the owner no longer has: the user stays, and nobody is told it is
// reconnecting (on one node, room.dropped ignores a replaced connection
// the same way). The current connection's drop still counts.
func TestEdgeStaleDropAfterRejoinChangesNothing(t *testing.T) {
	e, _, _ := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	join := func(n uint64) edgeCall {
		c := remoteJoin("m", "P", stage.PresetWebinarViewer)
		c.Conn = n
		return c
	}
	gone := func(op string, n uint64) edgeCall { return edgeCall{Op: op, User: "u-p", Conn: n} }
	e.batch("m", join(1))
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantJoined {
		t.Fatalf("host: %s", ev.raw)
	}
	attached := func(what string) {
		t.Helper()
		r := e.hub.existingRoom("m")
		r.mu.Lock()
		rm, timer := r.remote["u-p"], r.timers["u-p"]
		r.mu.Unlock()
		if rm == nil || rm.node != edgeNode || timer != nil {
			t.Fatalf("%s: remote %+v, grace timer %v", what, rm, timer != nil)
		}
	}
	e.batch("m", join(2), gone("drop", 1))
	attached("the old connection's drop in the new join's batch")
	e.batch("m", gone("drop", 1))
	attached("the old connection's drop in a batch of its own")
	e.batch("m", gone("leave", 1))
	attached("the old connection's leave")
	e.barrier("m", host) // the host was told nothing of it

	e.batch("m", gone("drop", 2))
	if ev := host.nextEvent(); ev.Event != protocol.EventParticipantConnection || ev.Participant.UserID != "u-p" || !ev.Participant.Reconnecting {
		t.Fatalf("host after the current connection's drop: %s", ev.raw)
	}
}
