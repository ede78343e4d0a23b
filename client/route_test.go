package client

import (
	"slices"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// dialsSince returns the URLs dialed after the first n dials.
func (n *fakeNet) dialsSince(from int) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.dials[from:])
}

func (n *fakeNet) dialCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.dials)
}

// A node that shuts down closes with 4053 and the node to go to: the
// client goes there next, without backing off (MinBackoff is an hour here:
// a backoff would never end within the test) and without retrying the node
// that left.
func TestNodeLeavingSendsTheClientToItsSuccessorAtOnce(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	n.nodes = []string{"http://fake", "http://b", "http://c"}
	_, rec := startWith(t, n, true, Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	rec.take()
	before := n.dialCount()
	n.last().shut(protocol.CodeNodeLeaving, "http://c")
	wantNames(t, rec.waitFor(EventReconnected), EventReconnecting, EventReconnected)
	if got := n.dialsSince(before); !slices.Equal(got, []string{"ws://c/v1/ws"}) {
		t.Fatalf("dialed %v after the node left; want the successor only", got)
	}
}

// Without a successor named, the client tries the other nodes, never the
// one that left nor one found unreachable while another remains.
func TestNodeLeavingSkipsGoneNodes(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	n.nodes = []string{"http://fake", "http://b", "http://c"}
	_, rec := startWith(t, n, true, Options{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	rec.take()
	n.set(func() { n.down = map[string]bool{"ws://fake/v1/ws": true, "ws://b/v1/ws": true} })
	before := n.dialCount()
	n.last().shut(protocol.CodeNodeLeaving, "")
	rec.waitFor(EventReconnected)
	got := n.dialsSince(before)
	if len(got) == 0 || got[len(got)-1] != "ws://c/v1/ws" {
		t.Fatalf("dialed %v; want to end on c", got)
	}
	if slices.Contains(got, "ws://fake/v1/ws") {
		t.Errorf("dialed %v: retried the node that left", got)
	}
	if b := slices.Index(got, "ws://b/v1/ws"); b >= 0 && slices.Contains(got[b+1:], "ws://b/v1/ws") {
		t.Errorf("dialed %v: retried b after it was found unreachable", got)
	}
	// c serves now; when c is cut, the client retries c first (it was
	// reached), and of the others only those not found gone.
	n.set(func() { n.down = map[string]bool{"ws://c/v1/ws": true} })
	before = n.dialCount()
	n.last().shut(-1, "")
	rec.waitFor(EventReconnected)
	got = n.dialsSince(before)
	if got[0] != "ws://c/v1/ws" {
		t.Errorf("after a cut, dialed %v; want c first", got)
	}
}

func TestRouteTarget(t *testing.T) {
	home := "ws://lb/v1/ws"
	r := route{}
	r.setNodes([]string{"http://a", "http://b"})
	if got := r.target(home, 0); got != home {
		t.Fatalf("first target %s", got)
	}
	r.current = "ws://a/v1/ws"
	if got := r.target(home, 0); got != r.current {
		t.Fatalf("target with a current node %s", got)
	}
	r.markDown("ws://a/v1/ws")
	r.markDown(home)
	if r.current != "" {
		t.Fatalf("the current node %s is down but kept", r.current)
	}
	for i := range 4 {
		if got := r.target(home, i+1); got != "ws://b/v1/ws" {
			t.Fatalf("target %d: %s, want the only node not down", i, got)
		}
	}
	r.markDown("ws://b/v1/ws")
	seen := map[string]bool{}
	for i := range 3 {
		seen[r.target(home, i+1)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("every node down: tried %v, want all of them in turn", seen)
	}
	r.leaving("http://b")
	if r.current != "ws://b/v1/ws" {
		t.Fatalf("leaving named b, current %s", r.current)
	}
	r.leaving("not a url")
	if r.current != "" {
		t.Fatalf("leaving b without a valid successor: current %s", r.current)
	}
}

// A successor that turns out gone too is followed by the next node at once,
// still without backing off (MinBackoff is an hour).
func TestNodeLeavingToAGoneSuccessorTriesTheNextAtOnce(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	n.nodes = []string{"http://fake", "http://b", "http://c"}
	_, rec := startWith(t, n, true, Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	rec.take()
	n.set(func() { n.down = map[string]bool{"ws://c/v1/ws": true} })
	before := n.dialCount()
	n.last().shut(protocol.CodeNodeLeaving, "http://c")
	rec.waitFor(EventReconnected)
	if got := n.dialsSince(before); !slices.Equal(got, []string{"ws://c/v1/ws", "ws://b/v1/ws"}) {
		t.Fatalf("dialed %v; want the successor, then the only other node left", got)
	}
}
