package signal

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// placement places rooms as a cluster would: on this node (at epoch)
// unless owners names another node; fail makes every claim fail.
type placement struct {
	mu       sync.Mutex
	epoch    int64
	owners   map[string]string
	fail     error
	released []string
	stale    bool // the lease held is not usable any more (Holds)
}

func (p *placement) Holds(string, int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.stale
}

func (p *placement) Claim(ctx context.Context, meetingID string) (int64, string, time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return 0, "", 0, p.fail
	}
	if o := p.owners[meetingID]; o != "" {
		return 0, o, 3 * time.Second, nil
	}
	return p.epoch, "", 0, nil
}

func (p *placement) Release(meetingID string, epoch int64) {
	p.mu.Lock()
	p.released = append(p.released, meetingID)
	p.mu.Unlock()
}

func (p *placement) Nodes() []string { return []string{"http://this:1", "http://other:1"} }

func (p *placement) Successor(meetingID string) string { return "http://other:1" }

// fencedStage keeps stage records in memory behind an epoch fence, as the
// real stores do (server/store's tests cover those).
type fencedStage struct {
	mu    sync.Mutex
	fence map[string]int64
	saves int
	fail  error // every save fails with it
}

func (s *fencedStage) ClaimStage(meetingID string, epoch int64) (StageClaim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fence[meetingID] > epoch {
		return StageClaim{}, ErrFenced
	}
	s.fence[meetingID] = epoch
	return StageClaim{}, nil
}

func (s *fencedStage) IdempotentResponse(meetingID, key string) ([]byte, bool, error) {
	return nil, false, nil
}

func (s *fencedStage) SaveStage(meetingID string, epoch int64, c StageCommit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fence[meetingID] != epoch {
		return ErrFenced
	}
	if s.fail != nil {
		return s.fail
	}
	s.saves++
	return nil
}

func (s *fencedStage) takeOver(meetingID string, epoch int64) {
	s.mu.Lock()
	s.fence[meetingID] = epoch
	s.mu.Unlock()
}

func clusterEnv(t *testing.T) (*env, *placement, *fencedStage) {
	p := &placement{epoch: 7, owners: map[string]string{}}
	st := &fencedStage{fence: map[string]int64{}}
	e := newEnv(t, func(c *Config) { c.Placement, c.Stage = p, st })
	return e, p, st
}

// A hello for a room another node serves is answered with that node's URL
// and its lease's time left, and the socket closes with the same code.
func TestHelloRedirectsToTheOwner(t *testing.T) {
	e, p, _ := clusterEnv(t)
	p.owners["m"] = "http://other:1"
	tok, _ := e.user("m", "Viewer", stage.PresetWebinarViewer)
	c := e.dial("Viewer")
	res := c.call(protocol.ClientMessage{Type: protocol.TypeHello, Token: tok})
	wantError(t, "hello", res, protocol.CodeElsewhere)
	if res.Error.Redirect != "http://other:1" || res.Error.LeaseMs != 3000 {
		t.Errorf("redirect %q, lease %d ms", res.Error.Redirect, res.Error.LeaseMs)
	}
	if code := c.closed(); code != protocol.CodeElsewhere {
		t.Errorf("closed with %d, want %d", code, protocol.CodeElsewhere)
	}
	if e.hub.Serving("m") {
		t.Error("a redirecting node serves the room")
	}
}

// A node that cannot place the room (no Redis) tells the client to try
// another; one that can lists the cluster's nodes in the hello result.
func TestHelloWhenPlacementFailsOrSucceeds(t *testing.T) {
	e, p, _ := clusterEnv(t)
	p.fail = errors.New("redis unreachable")
	tok, _ := e.user("m", "Viewer", stage.PresetWebinarViewer)
	c := e.dial("Viewer")
	wantError(t, "hello", c.call(protocol.ClientMessage{Type: protocol.TypeHello, Token: tok}), protocol.CodeUnavailable)
	if code := c.closed(); code != protocol.CodeUnavailable {
		t.Errorf("closed with %d", code)
	}
	p.mu.Lock()
	p.fail = nil
	p.mu.Unlock()
	_, hello := e.connect("Viewer", tok)
	if len(hello.Nodes) != 2 || hello.Nodes[0] != "http://this:1" {
		t.Errorf("hello lists nodes %v", hello.Nodes)
	}
}

// A clustered hub that shuts down closes its clients with 4053 and the
// room's successor node as the reason: they go there without backing off.
func TestCloseNamesTheSuccessor(t *testing.T) {
	e, _, _ := clusterEnv(t)
	viewer, _ := e.join("m", "Viewer", stage.PresetWebinarViewer)
	e.hub.Close()
	if code := viewer.closed(); code != protocol.CodeNodeLeaving {
		t.Errorf("closed with %d, want %d", code, protocol.CodeNodeLeaving)
	}
	if r := viewer.closeReason(); r != "http://other:1" {
		t.Errorf("close reason %q, want the successor's URL", r)
	}
}

// Another node took the room over: this node's next stage write is fenced.
// The change is told to nobody, the actor gets no answer, and every
// client of the room is closed with 4051 to reconnect to the new owner.
func TestFencedWriteDeposesTheRoom(t *testing.T) {
	e, p, st := clusterEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	viewer, _ := e.join("m", "Viewer", stage.PresetWebinarViewer)
	viewer.ok(act(protocol.TypeStageRequest))
	host.waitUntil("the request", func() bool { // called under host.mu
		for _, m := range host.log {
			if m.Type == protocol.TypeEvent && m.Event == protocol.EventStage {
				return true
			}
		}
		return false
	})
	events := host.stageEvents()
	st.takeOver("m", 8)
	viewer.send(act(protocol.TypeStageCancel))
	for _, c := range []*tclient{host, viewer} {
		if code := c.closed(); code != protocol.CodeRoomMoved {
			t.Errorf("%s closed with %d, want %d", c.name, code, protocol.CodeRoomMoved)
		}
	}
	if n := host.stageEvents(); n != events {
		t.Errorf("the host was told of %d stage events after the fence", n-events)
	}
	if viewer.index(func(m msg) bool { return m.Type == protocol.TypeResult && m.Status == stage.OffStage }) >= 0 {
		t.Error("the fenced cancel was acknowledged")
	}
	// The clients may see their close before the hub has forgotten the room.
	waitFor(t, "the deposed room no longer served", func() bool { return !e.hub.Serving("m") })
	waitFor(t, "the lease released", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.released) == 1 })
	// The room now lives elsewhere: a new hello is sent there.
	p.mu.Lock()
	p.owners["m"] = "http://other:1"
	p.mu.Unlock()
	tok, _ := e.user("m", "Late", stage.PresetWebinarViewer)
	c := e.dial("Late")
	wantError(t, "hello after the takeover", c.call(protocol.ClientMessage{Type: protocol.TypeHello, Token: tok}), protocol.CodeElsewhere)
}

// In a cluster a change that could not be stored is not acknowledged
// either (another node would restore the room without it): the room is
// deposed and restarts from the durable state.
func TestUnstoredChangeIsNotAcknowledgedInACluster(t *testing.T) {
	e, _, st := clusterEnv(t)
	viewer, _ := e.join("m", "Viewer", stage.PresetWebinarViewer)
	st.mu.Lock()
	st.fail = errors.New("database unreachable")
	st.mu.Unlock()
	viewer.send(act(protocol.TypeStageRequest))
	if code := viewer.closed(); code != protocol.CodeRoomMoved {
		t.Errorf("closed with %d, want %d", code, protocol.CodeRoomMoved)
	}
	if viewer.index(func(m msg) bool { return m.Type == protocol.TypeResult && m.Status == stage.Requested }) >= 0 {
		t.Error("an unstored request was acknowledged")
	}
}

// A room whose stage is fenced at a newer epoch is not created here: the
// join is refused with 4051 and the client reconnects.
func TestJoinRefusedWhenTheRoomIsFenced(t *testing.T) {
	e, p, st := clusterEnv(t)
	st.takeOver("m", 9) // newer than this node's epoch 7
	tok, _ := e.user("m", "Viewer", stage.PresetWebinarViewer)
	c, _ := e.connect("Viewer", tok)
	wantError(t, "join", c.call(protocol.ClientMessage{Type: protocol.TypeJoin}), protocol.CodeRoomMoved)
	if code := c.closed(); code != protocol.CodeRoomMoved {
		t.Errorf("closed with %d", code)
	}
	waitFor(t, "the fenced room's lease released", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.released) == 1 })
}

// Depose (a lost lease) closes the room's clients with 4051 and forgets it.
func TestDeposeClosesTheRoom(t *testing.T) {
	e, _, _ := clusterEnv(t)
	host, _ := e.join("m", "Host", stage.PresetWebinarHost)
	other, _ := e.join("other", "Other", stage.PresetWebinarHost)
	e.hub.Depose("m")
	if code := host.closed(); code != websocket.StatusCode(protocol.CodeRoomMoved) {
		t.Errorf("closed with %d", code)
	}
	if e.hub.Serving("m") || !e.hub.Serving("other") {
		t.Error("Depose ended the wrong rooms")
	}
	other.ok(protocol.ClientMessage{Type: protocol.TypePing})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An edge whose claim makes this node the room's owner opens the room here
// at once (restored and fenced at this node's epoch) before it follows
// itself: a lease held for a room not served here would be given up after
// two renewals, and the edge's users, rejoining a moment later, refused.
// Fenced at a newer epoch, it is not opened, and the edge is told so.
func TestEdgeTakeoverOpensTheRoomAtOnce(t *testing.T) {
	e, st, _ := edgeOwnerEnv(t)
	p := e.hub.cfg.Placement.(*placement)
	p.owners["m"] = "http://other:1"
	if owner, err := e.hub.ownerForEdge("m"); err != nil || owner != "http://other:1" {
		t.Fatalf("owned elsewhere: %q, %v", owner, err)
	}
	if e.hub.Serving("m") {
		t.Fatal("a room owned elsewhere is served here")
	}
	delete(p.owners, "m") // the owner died; this node's claim wins
	owner, err := e.hub.ownerForEdge("m")
	if err != nil || owner != "http://this:1" {
		t.Fatalf("taken over: %q, %v", owner, err)
	}
	if !e.hub.Serving("m") {
		t.Fatal("the room this node now owns is not served here")
	}
	st.mu.Lock()
	fence := st.fence["m"]
	st.mu.Unlock()
	if fence != p.epoch {
		t.Fatalf("fence %d, want this node's epoch %d", fence, p.epoch)
	}

	st.takeOver("n", p.epoch+1) // another node took "n" over meanwhile
	if owner, err := e.hub.ownerForEdge("n"); err == nil {
		t.Fatalf("fenced room: followed %q", owner)
	}
	if e.hub.Serving("n") {
		t.Fatal("a fenced room is served here")
	}
}
