package signal

import (
	"strings"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// A join may carry the name the user set before joining (RealtimeKit's
// setName): the room, and those who see the user, know it by that name. A
// blank or over-long name is refused with 4005 and the user is
// not in the room; the snapshot says when the room's session started.
func TestJoinWithName(t *testing.T) {
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	tok, uid := e.user(mid, "Viewer", stage.PresetWebinarViewer)
	viewer, _ := e.connect("viewer", tok)
	for _, bad := range []string{"   ", strings.Repeat("n", protocol.MaxNameBytes+1)} {
		viewer.fails(protocol.ClientMessage{Type: protocol.TypeJoin, Name: bad}, protocol.CodeBadArgs)
		for _, m := range e.hub.RoomMembers(mid) {
			if m.UserID == uid {
				t.Fatalf("a join with a bad name (%q) entered the room", bad)
			}
		}
	}
	res := viewer.ok(protocol.ClientMessage{Type: protocol.TypeJoin, Name: "Vera"})
	if res.Snapshot == nil || res.Snapshot.Self.Name != "Vera" || res.Snapshot.StartedAt <= 0 {
		t.Fatalf("join result %s", res.raw)
	}
	host.waitUntil("the viewer, named Vera", func() bool { // host.mu held
		for _, m := range host.log {
			if m.Event == protocol.EventParticipantJoined && m.Participant != nil && m.Participant.Name == "Vera" {
				return true
			}
		}
		return false
	})
}
