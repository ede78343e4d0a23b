package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stagekit/stagekit/internal/clusterenv"
	"github.com/stagekit/stagekit/internal/netproxy"
)

const ttl = 600 * time.Millisecond

func newNode(t testing.TB, redisURL, id string) *Node {
	t.Helper()
	return newNodeTTL(t, redisURL, id, ttl)
}

// newNodeTTL is newNode with a lease TTL of its own (a node's Redis calls
// time out after a sixth of it).
func newNodeTTL(t testing.TB, redisURL, id string, ttl time.Duration) *Node {
	t.Helper()
	n, err := New(context.Background(), Config{RedisURL: redisURL, NodeID: id, Advertise: "http://" + id + ".test:1",
		LeaseTTL: ttl, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// rooms is the hub as a node sees it: which rooms are served here, and
// which were deposed.
type rooms struct {
	mu      sync.Mutex
	serving map[string]bool
	deposed chan string
}

func newRooms(ids ...string) *rooms {
	r := &rooms{serving: map[string]bool{}, deposed: make(chan string, 16)}
	for _, id := range ids {
		r.serving[id] = true
	}
	return r
}

func (r *rooms) Serving(id string) bool                     { r.mu.Lock(); defer r.mu.Unlock(); return r.serving[id] }
func (r *rooms) RemoveParticipant(meetingID, userID string) {}
func (r *rooms) Depose(id string) {
	r.mu.Lock()
	delete(r.serving, id)
	r.mu.Unlock()
	r.deposed <- id
}

func claim(t *testing.T, n *Node, room string) (int64, string) {
	t.Helper()
	e, owner, left, err := n.Claim(context.Background(), room)
	if owner != "" && (left <= 0 || left > ttl) {
		t.Errorf("%s's claim of %s: owner %s with %v left, want within the TTL %v", n.ID(), room, owner, left, ttl)
	}
	if err != nil {
		t.Fatalf("%s claims %s: %v", n.ID(), room, err)
	}
	return e, owner
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{RedisURL: "redis://127.0.0.1:1/0", NodeID: "", Advertise: "http://x:1"},
		{RedisURL: "redis://127.0.0.1:1/0", NodeID: "a|b", Advertise: "http://x:1"},
		{RedisURL: "redis://127.0.0.1:1/0", NodeID: "a", Advertise: "x:1"},
		{RedisURL: "redis://127.0.0.1:1/0", NodeID: "a", Advertise: "http://x:1", LeaseTTL: time.Millisecond},
		{RedisURL: "nope://", NodeID: "a", Advertise: "http://x:1"},
		{RedisURL: "redis://127.0.0.1:1/0", NodeID: "a", Advertise: "http://x:1"}, // nothing listens
	} {
		if n, err := New(context.Background(), c); err == nil {
			n.Close()
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

// One owner at a time: the first claim wins, the others are sent to it; a
// release lets another node claim under a newer epoch.
func TestClaimRedirectRelease(t *testing.T) {
	r := clusterenv.RedisServer(t)
	a, b := newNode(t, r.URL(), "a"), newNode(t, r.URL(), "b")
	ea, owner := claim(t, a, "room1")
	if owner != "" || ea <= 0 {
		t.Fatalf("a's claim = %d, %q; want an epoch, no owner", ea, owner)
	}
	if again, owner := claim(t, a, "room1"); again != ea || owner != "" {
		t.Errorf("a's second claim = %d, %q; want the same epoch %d", again, owner, ea)
	}
	if _, owner := claim(t, b, "room1"); owner != "http://a.test:1" {
		t.Errorf("b's claim: owner %q, want a's URL", owner)
	}
	if eb, owner := claim(t, b, "room2"); owner != "" || eb <= 0 {
		t.Errorf("b's claim of another room = %d, %q", eb, owner)
	}
	a.Release("room1", ea+1) // not the epoch held: ignored
	if _, owner := claim(t, b, "room1"); owner == "" {
		t.Fatal("a release under a wrong epoch released the lease")
	}
	a.Release("room1", ea)
	eb, owner := claim(t, b, "room1")
	if owner != "" || eb <= ea {
		t.Errorf("b's claim after the release = %d, %q; want an epoch above %d", eb, owner, ea)
	}
	if _, owner := claim(t, a, "room1"); owner != "http://b.test:1" {
		t.Errorf("a's claim after b took the room: owner %q", owner)
	}
	if s := a.Stats(); s.Acquired != 1 || s.Released != 1 {
		t.Errorf("a's stats %+v", s)
	}
}

// Concurrent claims of one room (an edge's join wave) share the claim
// script's runs: whichever run they get, exactly one node holds the room,
// every claim on it sees its one epoch and every claim elsewhere its URL.
// A claim given up by its caller does not fail the others waiting on the
// same run.
func TestConcurrentClaims(t *testing.T) {
	r := clusterenv.RedisServer(t)
	a, b := newNode(t, r.URL(), "a"), newNode(t, r.URL(), "b")
	type got struct {
		node  string
		epoch int64
		owner string
		err   error
	}
	results := make(chan got, 64)
	var wg sync.WaitGroup
	for i := range 64 {
		n := a
		if i%2 == 1 {
			n = b
		}
		wg.Go(func() {
			e, owner, _, err := n.Claim(context.Background(), "wave")
			results <- got{n.ID(), e, owner, err}
		})
		if i == 10 {
			ctx, cancel := context.WithCancel(context.Background())
			wg.Go(func() { n.Claim(ctx, "wave") })
			cancel()
		}
	}
	wg.Wait()
	close(results)
	epochs := map[string]int64{}
	owners := map[string]string{}
	for g := range results {
		if g.err != nil {
			t.Fatalf("%s's claim: %v", g.node, g.err)
		}
		if g.owner == "" {
			if e, ok := epochs[g.node]; ok && e != g.epoch {
				t.Errorf("%s's claims saw epochs %d and %d", g.node, e, g.epoch)
			}
			epochs[g.node] = g.epoch
		} else {
			owners[g.node] = g.owner
		}
	}
	if len(epochs) != 1 {
		t.Fatalf("nodes holding the room: %v, want one", epochs)
	}
	for holder := range epochs {
		if _, ok := owners[holder]; ok {
			t.Errorf("%s holds the room but was also sent elsewhere", holder)
		}
		for n, url := range owners {
			if url != "http://"+holder+".test:1" {
				t.Errorf("%s was sent to %s, want %s", n, url, holder)
			}
		}
	}
	if s := a.Stats().Acquired + b.Stats().Acquired; s != 1 {
		t.Errorf("leases acquired: %d, want 1", s)
	}
}

// An owner that stops renewing (killed) loses its lease after the TTL, and
// another node takes the room under a newer epoch. One that renews keeps it.
func TestLeaseExpiresUnlessRenewed(t *testing.T) {
	r := clusterenv.RedisServer(t)
	dead, live, other := newNode(t, r.URL(), "dead"), newNode(t, r.URL(), "live"), newNode(t, r.URL(), "other")
	live.Start(newRooms("kept"))
	e1, _ := claim(t, dead, "orphan") // never started: no renewals, like a killed process
	claim(t, live, "kept")
	time.Sleep(ttl + ttl/2)
	e2, owner := claim(t, other, "orphan")
	if owner != "" || e2 <= e1 {
		t.Errorf("claim of the expired room = %d, %q; want it, above epoch %d", e2, owner, e1)
	}
	if _, owner := claim(t, other, "kept"); owner != "http://live.test:1" {
		t.Errorf("the renewed room's owner = %q, want live", owner)
	}
	// A room no longer served is released by the renewal loop.
	rs := newRooms()
	idle := newNode(t, r.URL(), "idle")
	idle.Start(rs)
	dead.Close() // never registered: leaves nothing behind
	claim(t, idle, "unused")
	deadline := time.Now().Add(5 * ttl)
	// Held drops before the release's round trip to Redis is counted.
	for s := idle.Stats(); (s.Held > 0 || s.Released == 0) && time.Now().Before(deadline); s = idle.Stats() {
		time.Sleep(ttl / 8)
	}
	if s := idle.Stats(); s.Held != 0 || s.Released != 1 {
		t.Errorf("a room not served is still held: %+v", s)
	}
	// live's node list catches up within a heartbeat (TTL/2).
	deadline = time.Now().Add(2 * ttl)
	for len(live.Nodes()) != 2 && time.Now().Before(deadline) {
		time.Sleep(ttl / 8)
	}
	if nodes := live.Nodes(); len(nodes) != 2 || nodes[0] != "http://live.test:1" || nodes[1] != "http://idle.test:1" {
		t.Errorf("Nodes() = %v; want live (this node) first, then idle", nodes)
	}
}

// A node cut off from Redis deposes its rooms before its lease can expire
// there: by the time another node can claim the room, the old owner has
// stopped serving it.
func TestPartitionedOwnerDeposesBeforeExpiry(t *testing.T) {
	r := clusterenv.RedisServer(t)
	px, err := netproxy.Start(r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	rs := newRooms("room")
	cut := newNode(t, "redis://"+strings.TrimPrefix(px.URL(), "http://")+"/0", "cut")
	cut.Start(rs)
	other := newNode(t, r.URL(), "other")
	e1, _ := claim(t, cut, "room")
	px.BlackHole(true)
	start := time.Now()
	for {
		select {
		case id := <-rs.deposed:
			if id != "room" {
				t.Fatalf("deposed %q", id)
			}
			// Deposed; the lease must still be the old owner's in Redis.
			if _, owner := claim(t, other, "room"); owner != "http://cut.test:1" {
				t.Errorf("deposed after %v, but the lease had expired already (owner %q)", time.Since(start), owner)
			}
			time.Sleep(ttl)
			e2, owner := claim(t, other, "room")
			if owner != "" || e2 <= e1 {
				t.Errorf("after expiry the other node's claim = %d, %q", e2, owner)
			}
			if s := cut.Stats(); s.Lost != 1 {
				t.Errorf("cut's stats %+v, want one lease lost", s)
			}
			// The cut node cannot claim while partitioned.
			if _, _, _, err := cut.Claim(context.Background(), "room"); err == nil {
				t.Error("a partitioned node's claim succeeded")
			}
			return
		case <-time.After(3 * ttl):
			t.Fatal("the partitioned node did not depose its room")
		}
	}
}

// Holds: the room's lease held under that epoch and usable (renewed within
// 2/3 of its TTL): not another room's, not another epoch's, not one left
// unrenewed (no renewal loop runs here).
func TestHolds(t *testing.T) {
	r := clusterenv.RedisServer(t)
	long := newNodeTTL(t, r.URL(), "long", time.Minute)
	e, _ := claim(t, long, "room")
	if !long.Holds("room", e) {
		t.Error("a lease just claimed is not held")
	}
	if long.Holds("room", e-1) || long.Holds("other", e) {
		t.Error("held under another epoch, or another room's")
	}
	short := newNodeTTL(t, r.URL(), "short", 600*time.Millisecond)
	e2, _ := claim(t, short, "room2")
	time.Sleep(400 * time.Millisecond) // 2/3 of the TTL, unrenewed
	if short.Holds("room2", e2) {
		t.Error("a lease unrenewed for 2/3 of its TTL is still held")
	}
}

// The node list offers only nodes heard from within 1.5 TTL, though a
// registration lasts 3 TTL: a node killed a moment ago is not offered.
func TestNodeListLeavesStaleNodesOut(t *testing.T) {
	n := &Node{cfg: Config{NodeID: "me", Advertise: "http://me:1", LeaseTTL: time.Second}}
	now := time.UnixMilli(1_000_000)
	beatAt := func(ago time.Duration) float64 { return float64(now.Add(nodeExpiry*time.Second - ago).UnixMilli()) }
	n.setNodes([]redis.Z{
		{Member: "me|http://me:1", Score: beatAt(0)},
		{Member: "fresh|http://fresh:1", Score: beatAt(500 * time.Millisecond)},
		{Member: "late|http://late:1", Score: beatAt(1400 * time.Millisecond)},
		{Member: "gone|http://gone:1", Score: beatAt(1600 * time.Millisecond)},
		{Member: "malformed", Score: beatAt(0)},
	}, now)
	if got, want := n.Nodes(), []string{"http://me:1", "http://fresh:1", "http://late:1"}; !slices.Equal(got, want) {
		t.Errorf("Nodes() = %v, want %v", got, want)
	}
}

// A room's successor is one of the other nodes, the same for every client
// of the room, and the rooms spread over the nodes.
func TestSuccessor(t *testing.T) {
	if got := successor([]string{"http://me:1"}, "room"); got != "" {
		t.Errorf("alone: successor %q", got)
	}
	if got := successor(nil, "room"); got != "" {
		t.Errorf("no list: successor %q", got)
	}
	nodes := []string{"http://me:1", "http://b:1", "http://c:1"}
	used := map[string]int{}
	for i := range 100 {
		room := fmt.Sprintf("room-%d", i)
		s := successor(nodes, room)
		if s != successor(nodes, room) || s == nodes[0] || !slices.Contains(nodes, s) {
			t.Fatalf("successor of %s: %q", room, s)
		}
		used[s]++
	}
	if used["http://b:1"] < 20 || used["http://c:1"] < 20 {
		t.Errorf("rooms over the nodes: %v", used)
	}
}
