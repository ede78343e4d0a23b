package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/netproxy"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// statusOf is userID's status as u sees it.
func (u *plainMember) statusOf(userID string) stage.Status { return statusSeen(u.m, u.id, userID) }

// Three nodes with -edges: the room lives on A (the host came first), the
// viewers stay on the nodes they reached (B and C), and so does a second
// host on C. The stage runs across them: requests in order on both hosts'
// lists, an action answered after its event, grants and stage joins seen
// everywhere, the count covering every node. Then C is killed: its users
// come back through another node with their place kept.
func TestClusterEdgesServeTheAudienceWhereItConnects(t *testing.T) {
	const ttl = 2 * time.Second
	c := newClusterWith(t, 3, ttl, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(b.url, "edges")
	if err != nil {
		t.Fatal(err)
	}
	host := c.joinDefault(mid, a, "Host", stage.PresetWebinarHost)
	v1 := c.joinDefault(mid, b, "V1", stage.PresetWebinarViewer)
	v2 := c.joinDefault(mid, cn, "V2", stage.PresetWebinarViewer)
	v3 := c.joinDefault(mid, a, "V3", stage.PresetWebinarViewer)
	host2 := c.joinDefault(mid, cn, "Host2", stage.PresetWebinarHost)
	all := []*plainMember{host, v1, v2, v3, host2}
	for _, nd := range []*clusterNode{b, cn} {
		if n := nd.metric(t, "stagekit_rooms"); n != 0 {
			t.Errorf("node %s serves %v rooms of its own; the room is A's", nd.id, n)
		}
	}
	if n := b.metric(t, "stagekit_connections"); n != 1 {
		t.Errorf("node B holds %v connections, want V1's", n)
	}
	if n := cn.metric(t, "stagekit_connections"); n != 2 {
		t.Errorf("node C holds %v connections, want V2's and Host2's", n)
	}
	for _, u := range all {
		eventually(t, u.name+" counts everyone", func() bool { return u.m.Count() == len(all) })
	}
	// Audience-aware: the watchers' stream is read where a host is (C), not
	// where only viewers are (B).
	if _, ok := b.logged("edge follows the room's watchers' stream", nil); ok {
		t.Error("B, with viewers only, follows the watchers' stream")
	}
	if _, ok := cn.logged("edge follows the room's watchers' stream", nil); !ok {
		t.Error("C, with a host, does not follow the watchers' stream")
	}
	eventually(t, "the hosts see every participant", func() bool {
		return len(host.m.Participants()) == len(all)-1 && len(host2.m.Participants()) == len(all)-1
	})

	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "V1 request", v1.m.Stage().RequestAccess(ctx))
	if s := v1.m.Stage().Status(); s != stage.Requested {
		t.Errorf("V1's status right after its request was answered: %s (the answer came before the event)", s)
	}
	time.Sleep(5 * time.Millisecond) // distinct requestedAt
	act(t, "V2 request", v2.m.Stage().RequestAccess(ctx))
	want := []string{v1.id, v2.id}
	for _, h := range []*plainMember{host, host2} {
		eventually(t, h.name+" sees both requests in order", func() bool { return slices.Equal(pendingIDs(h.m), want) })
	}
	got, err := host2.m.Stage().GetAccessRequests(ctx)
	if err != nil || len(got) != 2 || got[0].UserID != v1.id {
		t.Errorf("Host2's getAccessRequests: %v, %v", got, err)
	}

	act(t, "grant V1 from the edge", host2.m.Stage().GrantAccess(ctx, []string{v1.id}))
	eventually(t, "V1 accepted", func() bool { return v1.m.Stage().Status() == stage.Accepted })
	act(t, "V1 joins the stage", v1.m.Stage().Join(ctx))
	for _, u := range []*plainMember{host, v2, v3, host2} {
		eventually(t, u.name+" sees V1 on stage", func() bool { return u.statusOf(v1.id) == stage.OnStage })
	}
	for _, h := range []*plainMember{host, host2} {
		eventually(t, h.name+" sees V2's request only", func() bool { return slices.Equal(pendingIDs(h.m), []string{v2.id}) })
	}

	// Edge C dies: V2 and Host2 reconnect through another node (the SDK's
	// defaults) and keep their place; nobody else reconnects.
	killed := time.Now()
	cn.signal(t, syscall.SIGKILL)
	for _, u := range []*plainMember{v2, host2} {
		eventually(t, u.name+" back after C died", func() bool { _, ok := u.reconnectedSince(killed); return ok })
	}
	if s := v2.m.Stage().Status(); s != stage.Requested {
		t.Errorf("V2's status after its node died: %s, want its request kept", s)
	}
	eventually(t, "the host still sees V2's request", func() bool { return slices.Equal(pendingIDs(host.m), []string{v2.id}) })
	for _, u := range []*plainMember{host, v1, v3} {
		if _, ok := u.reconnectedSince(killed); ok {
			t.Errorf("%s reconnected, though its node lives", u.name)
		}
	}
	act(t, "deny V2 after the move", host2.m.Stage().DenyAccess(ctx, []string{v2.id}))
	eventually(t, "V2 denied", func() bool { return v2.m.Stage().Status() == stage.OffStage })
	took, _ := v2.reconnectedSince(killed)
	t.Logf("edge killed: its users back through another node after %v", took.Sub(killed).Round(time.Millisecond))
}

// With -edges and the SDK's default settings: an edge stopped with SIGTERM
// sends its users to the room's successor at once (none retries a node
// that is gone) and they keep their place; then the owner is killed
// (kill -9): once its lease ends another node takes the room over from
// the durable state, and every client is back with the stage as it was:
// those on the owner reconnect, those on a surviving edge resync over the
// socket they have.
func TestClusterEdgesShutdownAndOwnerDeath(t *testing.T) {
	const ttl = 2 * time.Second
	c := newClusterWith(t, 3, ttl, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(b.url, "edges, faults")
	if err != nil {
		t.Fatal(err)
	}
	host := c.joinDefault(mid, a, "Host", stage.PresetWebinarHost)
	star := c.joinDefault(mid, b, "Star", stage.PresetWebinarViewer)
	asker := c.joinDefault(mid, cn, "Asker", stage.PresetWebinarViewer)
	watcher := c.joinDefault(mid, cn, "Watcher", stage.PresetWebinarViewer)
	all := []*plainMember{host, star, asker, watcher}
	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "grant the star", host.m.Stage().GrantAccess(ctx, []string{star.id}))
	eventually(t, "the star accepted", func() bool { return star.m.Stage().Status() == stage.Accepted })
	act(t, "the star on stage", star.m.Stage().Join(ctx))
	act(t, "the asker's request", asker.m.Stage().RequestAccess(ctx))
	eventually(t, "the host sees the request", func() bool { return slices.Equal(pendingIDs(host.m), []string{asker.id}) })
	check := func(when string) {
		t.Helper()
		for _, u := range all {
			eventually(t, u.name+" sees the star on stage "+when, func() bool { return u.statusOf(star.id) == stage.OnStage })
		}
		eventually(t, "the asker's request "+when, func() bool {
			return asker.m.Stage().Status() == stage.Requested && slices.Equal(pendingIDs(host.m), []string{asker.id})
		})
	}
	check("before")

	stopped := time.Now()
	cn.signal(t, syscall.SIGTERM)
	var moved time.Duration
	for _, u := range []*plainMember{asker, watcher} {
		eventually(t, u.name+" moved off C", func() bool {
			at, ok := u.reconnectedSince(stopped)
			moved = max(moved, at.Sub(stopped))
			return ok
		})
		if failed := u.log.since(stopped, "reconnect failed"); len(failed) > 0 {
			t.Errorf("%s retried a node that was gone: %q", u.name, failed)
		}
	}
	check("after C's shutdown")
	t.Logf("SIGTERM of an edge: its users resynced elsewhere after %v", moved.Round(time.Millisecond))

	killed := time.Now()
	a.signal(t, syscall.SIGKILL)
	eventually(t, "the host back after the owner died", func() bool { _, ok := host.reconnectedSince(killed); return ok })
	check("after the owner died")
	back := time.Since(killed)
	// The star's edge (B) lives: it follows the new owner (B itself, or C's
	// successor) and resyncs the star over the same socket.
	if n := star.log.since(killed, "connection lost"); len(n) > 0 {
		t.Errorf("the star, on a surviving edge, lost its connection: %q", n)
	}
	if n := b.metric(t, "stagekit_rooms"); n != 1 {
		t.Errorf("node B serves %v rooms, want the room", n)
	}
	act(t, "grant the asker on the new owner", host.m.Stage().GrantAccess(ctx, []string{asker.id}))
	eventually(t, "the asker accepted", func() bool { return asker.m.Stage().Status() == stage.Accepted })
	act(t, "the asker on stage", asker.m.Stage().Join(ctx))
	eventually(t, "the star, on its edge, sees the new owner's events", func() bool { return star.statusOf(asker.id) == stage.OnStage })
	if n := star.log.since(killed, "connection lost"); len(n) > 0 {
		t.Errorf("the star, on a surviving edge, lost its connection: %q", n)
	}
	t.Logf("kill -9 of the owner (lease TTL %v): the stage as before everywhere after %v", ttl, back.Round(time.Millisecond))
}

// An edge's link to Redis blips (its connections cut, new ones refused,
// for less than the lease TTL): what happened meanwhile reaches its
// viewer from the streams once the link is back, without a reconnect.
func TestClusterEdgeCatchesUpAfterARedisBlip(t *testing.T) {
	const ttl = 2 * time.Second
	var px *netproxy.Proxy
	c := newClusterWith(t, 3, ttl, func(i int, addr string) string {
		if i != 1 {
			return addr
		}
		p, err := netproxy.Start(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		px = p
		return strings.TrimPrefix(p.URL(), "http://")
	}, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(a.url, "edges, blip")
	if err != nil {
		t.Fatal(err)
	}
	host := c.joinDefault(mid, a, "Host", stage.PresetWebinarHost)
	viewer := c.joinDefault(mid, b, "Viewer", stage.PresetWebinarViewer)
	star := c.joinDefault(mid, cn, "Star", stage.PresetWebinarViewer)
	ctx, cancel := ctxWait()
	defer cancel()
	eventually(t, "the viewer counts everyone", func() bool { return viewer.m.Count() == 3 })

	blip := time.Now()
	px.SetDown(true)
	px.Cut()
	act(t, "grant the star", host.m.Stage().GrantAccess(ctx, []string{star.id}))
	eventually(t, "the star accepted", func() bool { return star.m.Stage().Status() == stage.Accepted })
	act(t, "the star on stage", star.m.Stage().Join(ctx))
	time.Sleep(ttl / 2)
	if s := viewer.statusOf(star.id); s == stage.OnStage {
		t.Errorf("the viewer saw the star on stage while its node was cut off from Redis")
	}
	px.SetDown(false)
	eventually(t, "the viewer sees the star on stage", func() bool { return viewer.statusOf(star.id) == stage.OnStage })
	if _, ok := viewer.reconnectedSince(blip); ok {
		t.Error("the viewer reconnected: its node should have caught up from the stream")
	}
	t.Logf("Redis blip of %v on the viewer's edge: caught up %v after the link came back", ttl/2, time.Since(blip)-ttl/2)
}

// The fencing of a paused owner holds for its edges' calls too: an edge
// forwards a viewer's request to the owner (A) while A is stopped
// (SIGSTOP) past its lease; another node takes the room and the edges
// follow it; when A wakes and reads the call, its write is fenced (or it
// deposed the room first), so the edge answers the viewer with an error
// and the request exists nowhere. A viewer that joins through an edge
// meanwhile is in the room once another node owns it.
func TestClusterEdgesPausedOwnerCannotCommit(t *testing.T) {
	const ttl = time.Second
	c := newClusterWith(t, 3, ttl, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(b.url, "edges, paused owner")
	if err != nil {
		t.Fatal(err)
	}
	c.joinDefault(mid, a, "Anchor", stage.PresetWebinarViewer) // A owns the room
	host := c.joinDefault(mid, cn, "Host", stage.PresetWebinarHost)
	stale := c.joinDefault(mid, b, "Stale", stage.PresetWebinarViewer)
	for _, nd := range []*clusterNode{b, cn} {
		if n := nd.metric(t, "stagekit_rooms"); n != 0 {
			t.Fatalf("node %s serves the room; A should own it", nd.id)
		}
	}
	a.signal(t, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			a.signal(t, syscall.SIGCONT)
		}
	}()
	// B's call to A waits in A's socket buffer.
	staleErr := make(chan error, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer rcancel()
		staleErr <- stale.m.Stage().RequestAccess(rctx)
	}()
	// A viewer joining through B meanwhile: B's join call waits on A too,
	// then is refused (4051); the SDK joins again once it has reconnected.
	late := c.add(mid, "Late", stage.PresetWebinarViewer)
	lateJoined := make(chan error, 1)
	go func() {
		jctx, jcancel := ctxWait()
		defer jcancel()
		m, err := client.Init(jctx, client.Options{BaseURI: b.url, AuthToken: late.Token})
		if err == nil {
			t.Cleanup(m.Close)
			err = m.Join(jctx)
		}
		lateJoined <- err
	}()
	// A's lease expires; an edge claims the room (each checks every second).
	eventually(t, "another node owns the room", func() bool {
		return b.metric(t, "stagekit_rooms") == 1 || cn.metric(t, "stagekit_rooms") == 1
	})
	fresh := c.joinDefault(mid, cn, "Fresh", stage.PresetWebinarViewer)
	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "fresh request on the new owner", fresh.m.Stage().RequestAccess(ctx))
	a.signal(t, syscall.SIGCONT)
	stopped = false
	if err := <-staleErr; err == nil {
		t.Fatal("a request forwarded to the paused owner was acknowledged after it lost the room")
	} else {
		t.Logf("the stale request's answer: %v (code %d)", err, client.CodeOf(err))
	}
	var fenced, deposed bool
	eventually(t, "the woken owner fenced or deposed", func() bool {
		_, fenced = a.logged("stage write fenced: another node owns the room now; deposing it here", map[string]string{"meeting": mid})
		_, deposed = a.logged("room lease lost; deposing the room here", map[string]string{"meeting": mid})
		return fenced || deposed
	})
	t.Logf("woken owner: write fenced %v, lease loss noticed first %v", fenced, deposed && !fenced)
	var seen []string
	defer func() {
		if t.Failed() {
			t.Logf("the host last saw requests %v (stale %s, fresh %s), status of stale %s, count %d", seen, stale.id, fresh.id, host.statusOf(stale.id), host.m.Count())
		}
	}()
	eventually(t, "the host sees only the fresh request", func() bool {
		seen = pendingIDs(host.m)
		return slices.Equal(seen, []string{fresh.id})
	})
	if err := <-lateJoined; err != nil {
		t.Errorf("a viewer joining through an edge while the owner was paused: %v", err)
	}
	eventually(t, "the stale viewer back in the room", func() bool { return stale.m.Count() == 5 })
	if s := stale.m.Stage().Status(); s != stage.OffStage {
		t.Errorf("the stale viewer's status %s: its unacknowledged request exists", s)
	}
	if s := host.statusOf(stale.id); s != stage.OffStage {
		t.Errorf("the host sees the stale viewer %s", s)
	}
}

// Many users of one edge at once: their joins, requests and leaves reach
// the owner in batches (one call, one transaction, one stream commit per
// batch). Nothing of a single node's semantics changes: each request is
// answered after its own event, both hosts (one on the owner, one on
// another edge) list the requests in the same order as the owner does,
// one grant of them all reaches everyone, and the count covers every node.
func TestClusterEdgesBatchedCrowd(t *testing.T) {
	const crowd = 30
	c := newClusterWith(t, 3, 2*time.Second, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(b.url, "edges, a crowd")
	if err != nil {
		t.Fatal(err)
	}
	host := c.joinDefault(mid, a, "Host", stage.PresetWebinarHost)
	host2 := c.joinDefault(mid, cn, "Host2", stage.PresetWebinarHost)
	parts := make([]testserver.Participant, crowd)
	for i := range parts {
		parts[i] = c.add(mid, fmt.Sprintf("V%02d", i), stage.PresetWebinarViewer)
	}
	ctx, cancel := ctxWait()
	defer cancel()
	// What each host is told of the crowd's joins (a run of joins in a
	// batch is one participantsJoined event, the SDK a participantJoined
	// for each joiner).
	var joinsMu sync.Mutex
	joined := map[*plainMember][]client.Event{}
	for _, u := range []*plainMember{host, host2} {
		u.m.On(func(e client.Event) {
			if e.Name == client.EventParticipantJoined {
				joinsMu.Lock()
				joined[u] = append(joined[u], e)
				joinsMu.Unlock()
			}
		})
	}
	viewers := make([]*client.Meeting, crowd)
	all := func(f func(i int) error) {
		t.Helper()
		errs := make([]error, crowd)
		var wg sync.WaitGroup
		for i := range crowd {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	all(func(i int) error {
		m, err := client.Init(ctx, client.Options{BaseURI: b.url, AuthToken: parts[i].Token})
		if err != nil {
			return err
		}
		t.Cleanup(func() { m.Close() })
		viewers[i] = m
		return m.Join(ctx)
	})
	for _, u := range []*plainMember{host, host2} {
		eventually(t, u.name+" counts everyone", func() bool { return u.m.Count() == crowd+2 })
	}
	// Each host was told of each viewer once, in the owner's order (a
	// late joiner's snapshot lists the room in join order).
	late := c.joinDefault(mid, a, "Late", stage.PresetWebinarHost)
	var joinOrder []string
	for _, p := range late.m.Participants() {
		if strings.HasPrefix(p.Name, "V") {
			joinOrder = append(joinOrder, p.UserID)
		}
	}
	if len(joinOrder) != crowd {
		t.Fatalf("the late host sees %d of the %d viewers", len(joinOrder), crowd)
	}
	if err := late.m.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*plainMember{host, host2} {
		eventually(t, u.name+" told of every viewer", func() bool {
			joinsMu.Lock()
			defer joinsMu.Unlock()
			return len(joined[u]) >= crowd
		})
		joinsMu.Lock()
		var got []string
		seqs := map[uint64]bool{}
		for _, e := range joined[u] {
			if strings.HasPrefix(e.Participant.Name, "V") {
				got, seqs[e.Seq] = append(got, e.Participant.UserID), true
			}
		}
		joinsMu.Unlock()
		if !slices.Equal(got, joinOrder) {
			t.Errorf("%s was told of the viewers' joins\n%q\nthe owner's order\n%q", u.name, got, joinOrder)
		}
		t.Logf("%s: %d joins told in %d events", u.name, len(got), len(seqs))
	}
	// Two thirds request at once; each sees its own request before the answer.
	all(func(i int) error {
		if i%3 == 0 {
			return nil
		}
		if err := viewers[i].Stage().RequestAccess(ctx); err != nil {
			return err
		}
		if s := viewers[i].Stage().Status(); s != stage.Requested {
			return fmt.Errorf("V%02d's status right after its request was answered: %s", i, s)
		}
		return nil
	})
	owner, err := host.m.Stage().GetAccessRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range owner {
		order = append(order, r.UserID)
	}
	if len(order) != crowd-crowd/3 {
		t.Fatalf("the owner lists %d requests, want %d", len(order), crowd-crowd/3)
	}
	for _, u := range []*plainMember{host, host2} {
		eventually(t, u.name+" lists the requests in the owner's order", func() bool { return slices.Equal(pendingIDs(u.m), order) })
	}
	// One grant of them all, from the edge's host; the first third leaves.
	act(t, "grant all", host2.m.Stage().GrantAccess(ctx, order))
	all(func(i int) error {
		if i%3 == 0 {
			return viewers[i].Leave(ctx)
		}
		return nil
	})
	for i, v := range viewers {
		if i%3 != 0 {
			eventually(t, fmt.Sprintf("V%02d accepted", i), func() bool { return v.Stage().Status() == stage.Accepted })
		}
	}
	for _, u := range []*plainMember{host, host2} {
		eventually(t, u.name+" sees every grant and leave", func() bool {
			return len(pendingIDs(u.m)) == 0 && u.m.Count() == crowd+2-crowd/3
		})
	}
	t.Logf("edge B sent %v calls in %v batches", b.metric(t, "stagekit_edge_batched_calls_total"), b.metric(t, "stagekit_edge_batches_total"))
}

// An admin's preset change reaches a user on an edge as it reaches one on
// the owner: promoted to a preset that accepts stage requests, the user is
// told its new permissions and gets the hosts' events (the pending list)
// from then on, on the node it is on, without a new join.
func TestClusterEdgesPresetChange(t *testing.T) {
	c := newClusterWith(t, 3, 2*time.Second, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	preset := func(accept bool) map[string]any {
		return map[string]any{"name": "stagehand", "permissions": map[string]any{
			"stage_enabled": true, "stage_access": "CAN_REQUEST", "can_accept_production_requests": accept}}
	}
	if err := testserver.Do(a.url, "POST", "/v1/presets", preset(false), http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	known := func(accept bool) func() bool {
		return func() bool {
			for _, nd := range c.nodes {
				var p stage.Preset
				if testserver.Do(nd.url, "GET", "/v1/presets/stagehand", nil, http.StatusOK, &p) != nil || p.AcceptStageRequests != accept {
					return false
				}
			}
			return true
		}
	}
	eventually(t, "every node knows the preset", known(false))
	mid, err := testserver.CreateMeeting(b.url, "edges, a preset change")
	if err != nil {
		t.Fatal(err)
	}
	c.joinDefault(mid, a, "Host", stage.PresetWebinarHost) // A owns the room
	hand := c.joinDefault(mid, b, "Hand", "stagehand")
	viewer := c.joinDefault(mid, cn, "Viewer", stage.PresetWebinarViewer)
	if n := b.metric(t, "stagekit_rooms"); n != 0 {
		t.Fatalf("node %s serves the room; A should own it", b.id)
	}
	told := make(chan struct{}, 4)
	hand.m.On(func(e client.Event) {
		if e.Name == client.EventPermissionsUpdate {
			told <- struct{}{}
		}
	})
	if hand.m.Self().Permissions.AcceptStageRequests {
		t.Fatal("the stagehand accepts requests before the change")
	}
	if err := testserver.Do(a.url, "PUT", "/v1/presets/stagehand", preset(true), http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-told:
	case <-time.After(clusterWait):
		t.Fatal("the user on the edge was not told its new permissions")
	}
	eventually(t, "the new permissions on the edge", func() bool { return hand.m.Self().Permissions.AcceptStageRequests })
	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "the viewer asks", viewer.m.Stage().RequestAccess(ctx))
	eventually(t, "the promoted user on the edge sees the request", func() bool {
		return slices.Equal(pendingIDs(hand.m), []string{viewer.id})
	})
}
