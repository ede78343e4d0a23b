package signal

import (
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// The owner decides screen shares in the room's one order, for its own
// users (Hub.ClaimScreenshare, as its SFU asks) and an edge's (share and
// unshare in the edge's batches) alike: the last slot goes to whichever
// claim comes first, the other is refused with 2106, in a batch as alone;
// a release from a node the user left is ignored; a member who moves to
// another node leaves its slot there; leaving the stage ends it; an owner
// whose lease is not current admits nothing.
func TestScreenshareSlots(t *testing.T) {
	e, _, _ := edgeOwnerEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost) // u-host
	host.ok(act(protocol.TypeStageJoin))
	e.batch("m", remoteJoin("m", "Far", stage.PresetWebinarHost), remoteAct("u-far", protocol.TypeStageJoin))
	share := func(user string) edgeCall { return edgeCall{Op: opShare, User: user} }
	unshare := func(user string) edgeCall { return edgeCall{Op: opUnshare, User: user} }
	slots := func() []string {
		r := e.hub.existingRoom("m")
		r.mu.Lock()
		defer r.mu.Unlock()
		var out []string
		for _, m := range r.st.Screenshares() {
			out = append(out, m.UserID)
		}
		return out
	}
	code := func(err error) int {
		if err == nil {
			return 0
		}
		return protocol.ErrorOf(err).Code
	}
	const hostID = "u-host"

	// The edge's user first: the owner's own is refused.
	ans := e.batch("m", share("u-far"), share("u-far"))
	for i, a := range ans.Answers {
		if a.Error != nil {
			t.Fatalf("share %d: %v (a claim again keeps the slot)", i, a.Error)
		}
	}
	if got := code(e.hub.ClaimScreenshare("m", hostID)); got != int(stage.CodeScreenshareLimit) {
		t.Fatalf("the owner's user claims the last slot: code %d, want %d", got, stage.CodeScreenshareLimit)
	}
	// Released and claimed in one batch, in its order; then the owner's
	// user holds it and the edge's is refused.
	ans = e.batch("m", unshare("u-far"), share("u-far"), unshare("u-far"))
	if a := ans.Answers[1]; a.Error != nil {
		t.Fatalf("share after unshare in one batch: %v", a.Error)
	}
	if err := e.hub.ClaimScreenshare("m", hostID); err != nil {
		t.Fatalf("the owner's user claims the free slot: %v", err)
	}
	if a := e.batch("m", share("u-far")).Answers[0]; a.Error == nil || a.Error.Code != int(stage.CodeScreenshareLimit) {
		t.Fatalf("the edge's user claims while the owner's shares: %+v, want %d", a, stage.CodeScreenshareLimit)
	}
	// Not ON_STAGE, not in the room.
	e.batch("m", remoteJoin("m", "Viewer", stage.PresetWebinarViewer))
	if a := e.batch("m", share("u-viewer")).Answers[0]; a.Error == nil || a.Error.Code != int(stage.CodeBadStatus) {
		t.Fatalf("a viewer off stage shares: %+v, want %d", a, stage.CodeBadStatus)
	}
	if a := e.batch("m", share("u-nobody")).Answers[0]; a.Error == nil || a.Error.Code != protocol.CodeNotJoined {
		t.Fatalf("a stranger shares: %+v, want %d", a, protocol.CodeNotJoined)
	}
	// Leaving the stage ends the owner's user's slot.
	host.ok(act(protocol.TypeStageLeave))
	if got := slots(); len(got) != 0 {
		t.Fatalf("slots %q after the sharer left the stage", got)
	}

	// The edge's user shares, then moves to this node: its slot ends with
	// the move, and a late release from the edge it left changes nothing.
	if a := e.batch("m", share("u-far")).Answers[0]; a.Error != nil {
		t.Fatal(a.Error)
	}
	token, _ := e.user("m", "Far", stage.PresetWebinarHost)
	e.joinWith("Far here", token)
	if got := slots(); len(got) != 0 {
		t.Fatalf("slots %q after the sharer moved to another node", got)
	}
	if err := e.hub.ClaimScreenshare("m", "u-far"); err != nil {
		t.Fatalf("the mover shares through its new node: %v", err)
	}
	e.batch("m", unshare("u-far"))
	if got := slots(); len(got) != 1 || got[0] != "u-far" {
		t.Fatalf("slots %q after a release from the node the user left, want u-far's kept", got)
	}
	e.hub.ReleaseScreenshare("m", "u-far")
	if got := slots(); len(got) != 0 {
		t.Fatalf("slots %q after the release", got)
	}

	// An owner whose lease is not current (paused past it, cut off from
	// Redis) admits no claim: nothing fences it in the store.
	pl := e.hub.cfg.Placement.(*placement)
	pl.mu.Lock()
	pl.stale = true
	pl.mu.Unlock()
	if got := code(e.hub.ClaimScreenshare("m", "u-far")); got != protocol.CodeRoomMoved {
		t.Fatalf("a claim under a stale lease: code %d, want %d", got, protocol.CodeRoomMoved)
	}
	e.batch("m", remoteJoin("m", "Other", stage.PresetWebinarHost), remoteAct("u-other", protocol.TypeStageJoin))
	if a := e.batch("m", share("u-other")).Answers[0]; a.Error == nil || a.Error.Code != protocol.CodeRoomMoved {
		t.Fatalf("an edge's claim under a stale lease: %+v, want %d", a, protocol.CodeRoomMoved)
	}
	if got := slots(); len(got) != 0 {
		t.Fatalf("slots %q admitted under a stale lease", got)
	}
}
