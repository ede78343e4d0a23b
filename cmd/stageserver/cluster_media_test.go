package main

import (
	"context"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/client/media"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// mediaViewer is a member with media whose received video is checked
// packet by packet: each synthetic frame's stamp (its index and write
// time), and the RTP sequence numbers.
type mediaViewer struct {
	*member
	log *dialLog

	mu      sync.Mutex
	frames  map[uint64]time.Time // frame index → arrival
	written map[uint64]time.Time // frame index → when the presenter wrote it
	bad     int                  // video packets without a valid stamp
	seqs    map[uint32]map[uint16]bool
}

func (v *mediaViewer) onPacket(t *media.Track, p *rtp.Packet) {
	if t.Info.Kind != "video" || len(p.Payload) == 0 { // padding (bandwidth probes) carries no frame
		return
	}
	now := time.Now()
	idx, at, ok := media.SyntheticStamp(p.Payload, true)
	v.mu.Lock()
	defer v.mu.Unlock()
	ss := v.seqs[p.SSRC]
	if ss == nil {
		ss = map[uint16]bool{}
		v.seqs[p.SSRC] = ss
	}
	ss[p.SequenceNumber] = true
	if !ok {
		v.bad++
		return
	}
	if _, seen := v.frames[idx]; !seen {
		v.frames[idx], v.written[idx] = now, at
	}
}

// joinViewer connects a member with media through nd, with the SDK's
// default reconnect settings.
func (c *testCluster) joinViewer(mid string, nd *clusterNode, name, preset string) *mediaViewer {
	c.t.Helper()
	p := c.add(mid, name, preset)
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	v := &mediaViewer{log: &dialLog{}, frames: map[uint64]time.Time{}, written: map[uint64]time.Time{}, seqs: map[uint32]map[uint16]bool{}}
	m, err := client.Init(ctx, client.Options{BaseURI: nd.url, AuthToken: p.Token, Logger: v.log})
	if err != nil {
		c.t.Fatalf("%s: init via %s: %v", name, nd.id, err)
	}
	u := &member{t: c.t, name: name, id: p.ID, m: m}
	v.member = u
	m.On(func(e client.Event) {
		if e.Name == client.EventReconnected {
			u.mu.Lock()
			u.reconnected = append(u.reconnected, time.Now())
			u.mu.Unlock()
		}
	})
	s, err := media.Attach(m, media.Options{API: c.api, OnPacket: v.onPacket})
	if err != nil {
		c.t.Fatal(err)
	}
	u.s = s
	c.t.Cleanup(func() { s.Close(); m.Close() })
	if err := m.Join(ctx); err != nil {
		c.t.Fatalf("%s: join via %s: %v", name, nd.id, err)
	}
	return v
}

// window returns how many of the frames written in [from, to) v received,
// of how many any viewer in all received (a frame nobody received was not
// sent in the window).
func window(all []*mediaViewer, v *mediaViewer, from, to time.Time) (got, of int) {
	sent := map[uint64]bool{}
	for _, w := range all {
		w.mu.Lock()
		for idx, at := range w.written {
			if !at.Before(from) && at.Before(to) {
				sent[idx] = true
			}
		}
		w.mu.Unlock()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for idx := range sent {
		if _, ok := v.frames[idx]; ok {
			got++
		}
	}
	return got, len(sent)
}

// Media between nodes: a presenter on the owner (A), native viewers on
// two edges (two on B, one on C). Each edge receives the presenter's track
// once, over one relay per edge, and fans it out to its own viewers, who
// get every frame intact. The owner is killed: another node takes the room,
// the presenter comes back and publishes again, and the viewers on the
// surviving edges get its media over their own connections (no
// reconnect), their edges having followed the room to the new owner. Then
// the edge that does not own the room is killed: its viewer reconnects
// elsewhere and gets the media there, and the owner drops that edge's
// relay.
func TestClusterEdgesRelayMedia(t *testing.T) {
	const ttl = 2 * time.Second
	c := newClusterWith(t, 3, ttl, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(a.url, "edges, media")
	if err != nil {
		t.Fatal(err)
	}
	host := c.join(mid, a, "Host", stage.PresetWebinarHost)
	v1 := c.joinViewer(mid, b, "V1", stage.PresetWebinarViewer)
	v1b := c.joinViewer(mid, b, "V1b", stage.PresetWebinarViewer)
	v2 := c.joinViewer(mid, cn, "V2", stage.PresetWebinarViewer)
	viewers := []*mediaViewer{v1, v1b, v2}
	for _, nd := range []*clusterNode{b, cn} {
		if n := nd.metric(t, "stagekit_rooms"); n != 0 {
			t.Fatalf("node %s serves %v rooms; the room is A's", nd.id, n)
		}
	}
	host.publish()
	for _, v := range viewers {
		v.receiving(host)
	}
	from := time.Now()
	time.Sleep(3 * time.Second)
	to := time.Now().Add(-500 * time.Millisecond) // what was written before is in by now
	for _, v := range viewers {
		got, of := window(viewers, v, from, to)
		v.mu.Lock()
		bad := v.bad
		v.mu.Unlock()
		t.Logf("%s received %d of the %d frames written in the window", v.name, got, of)
		if of < 30 || got == 0 {
			t.Errorf("%s: %d of %d frames in 2.5 s", v.name, got, of)
		}
		if bad > 0 {
			t.Errorf("%s: %d video packets without the presenter's stamp", v.name, bad)
		}
	}
	// One relay per edge: A sends the host's one track to B and to C, once
	// each (two subscriptions), and receives nothing (nobody publishes on
	// the edges); B fans it out to its two viewers, C to its one.
	eventually(t, "one relay each way per edge", func() bool {
		return a.metric(t, "stagekit_media_relays_out") == 2 && a.metric(t, "stagekit_media_relays_in") == 2 &&
			b.metric(t, "stagekit_media_relays_in") == 1 && cn.metric(t, "stagekit_media_relays_in") == 1
	})
	for _, x := range []struct {
		nd           *clusterNode
		tracks, subs float64
	}{{a, 1, 2}, {b, 1, 2}, {cn, 1, 1}} {
		if tr, sub := x.nd.metric(t, "stagekit_media_tracks"), x.nd.metric(t, "stagekit_media_subscriptions"); tr != x.tracks || sub != x.subs {
			t.Errorf("node %s: %v tracks, %v subscriptions; want %v and %v", x.nd.id, tr, sub, x.tracks, x.subs)
		}
	}

	// The owner dies.
	offers := map[*mediaViewer]int{}
	for _, v := range viewers {
		offers[v] = v.s.Offers()
	}
	killed := time.Now()
	a.signal(t, syscall.SIGKILL)
	for _, v := range viewers {
		v.receiving(host)
	}
	back := time.Since(killed)
	for _, v := range viewers {
		if n := v.log.since(killed, "connection lost"); len(n) > 0 {
			t.Errorf("%s, on a surviving edge, lost its connection: %q", v.name, n)
		}
		// Its slots were bound to the new relay's track: no new offer.
		if n := v.s.Offers(); n != offers[v] {
			t.Errorf("%s got %d offers after the owner died; its subscribe connection should have stayed as it was", v.name, n-offers[v])
		}
	}
	owner, edge := b, cn
	if cn.metric(t, "stagekit_rooms") == 1 {
		owner, edge = cn, b
	}
	eventually(t, "one relay each way between the new owner and the other edge", func() bool {
		return owner.metric(t, "stagekit_media_relays_out") == 1 && owner.metric(t, "stagekit_media_relays_in") == 1 &&
			edge.metric(t, "stagekit_media_relays_out") == 1 && edge.metric(t, "stagekit_media_relays_in") == 1
	})
	t.Logf("kill -9 of the owner (lease TTL %v): media at every edge viewer again after %v, without a reconnect", ttl, back.Round(time.Millisecond))

	// The edge that does not own the room dies: its viewers come back
	// through the owner (the SDK's defaults) and get the media there; the
	// owner drops that edge's relays.
	lost := viewers[2:]
	if edge == b {
		lost = viewers[:2]
	}
	edgeKilled := time.Now()
	edge.signal(t, syscall.SIGKILL)
	for _, v := range lost {
		eventually(t, v.name+" back after its edge died", func() bool { _, ok := v.reconnectedSince(edgeKilled); return ok })
		v.receiving(host)
	}
	eventually(t, "the dead edge's relays dropped", func() bool {
		return owner.metric(t, "stagekit_media_relays_out") == 0 && owner.metric(t, "stagekit_media_relays_in") == 0
	})
}

// A presenter may publish through any node: a viewer on edge B brought on
// stage by the host on the owner (A) publishes at B, which relays its
// track to A, which relays it on to edge C: one copy per track per hop,
// nothing sent back where it came from. The owner dies: the presenter and
// C's viewer keep their sockets, and the track reaches C again through the
// new owner (or from it, if B took the room). Off the stage (kicked by the
// host), its media stops everywhere.
func TestClusterEdgePresenter(t *testing.T) {
	c := newClusterWith(t, 3, 2*time.Second, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(a.url, "edges, a presenter on an edge")
	if err != nil {
		t.Fatal(err)
	}
	host := c.join(mid, a, "Host", stage.PresetWebinarHost)
	presenter := c.joinViewer(mid, b, "Presenter", stage.PresetWebinarViewer)
	atOwner := c.joinViewer(mid, a, "AtOwner", stage.PresetWebinarViewer)
	atC := c.joinViewer(mid, cn, "AtC", stage.PresetWebinarViewer)
	if n := b.metric(t, "stagekit_rooms"); n != 0 {
		t.Fatalf("node B serves %v rooms; the room is A's", n)
	}
	// Relays are for the cluster's nodes only.
	if res, err := http.Get(a.url + "/v1/cluster/relay?meeting=" + mid + "&node=http://intruder"); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a relay asked without the cluster's key: %v, %v; want 403", res, err)
	} else {
		res.Body.Close()
	}
	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "grant the presenter", host.m.Stage().GrantAccess(ctx, []string{presenter.id}))
	eventually(t, "the presenter accepted", func() bool { return presenter.m.Stage().Status() == stage.Accepted })
	presenter.publish()
	for _, v := range []*member{atOwner.member, atC.member, host} {
		v.receiving(presenter.member)
	}
	for _, x := range []struct {
		nd           *clusterNode
		tracks, subs float64
	}{{b, 1, 1}, {a, 1, 3}, {cn, 1, 1}} { // B: to A; A: to its host, its viewer and C; C: to its viewer
		eventually(t, "node "+x.nd.id+"'s tracks and subscriptions", func() bool {
			return x.nd.metric(t, "stagekit_media_tracks") == x.tracks && x.nd.metric(t, "stagekit_media_subscriptions") == x.subs
		})
	}
	for _, v := range []*mediaViewer{atOwner, atC} {
		v.mu.Lock()
		bad, n := v.bad, len(v.frames)
		v.mu.Unlock()
		if bad > 0 || n == 0 {
			t.Errorf("%s: %d frames, %d video packets without the presenter's stamp", v.name, n, bad)
		}
	}

	killed := time.Now()
	a.signal(t, syscall.SIGKILL)
	for _, v := range []*member{atC.member, atOwner.member, host} {
		v.receiving(presenter.member)
	}
	t.Logf("kill -9 of the owner: the edge presenter's media at C again after %v", time.Since(killed).Round(time.Millisecond))
	for _, u := range []*mediaViewer{presenter, atC} {
		if n := u.log.since(killed, "connection lost"); len(n) > 0 {
			t.Errorf("%s, on a surviving edge, lost its connection: %q", u.name, n)
		}
	}

	act(t, "kick the presenter", host.m.Stage().Kick(ctx, []string{presenter.id}))
	eventually(t, "the presenter off stage", func() bool { return presenter.m.Stage().Status() == stage.OffStage })
	for _, nd := range []*clusterNode{b, cn} {
		eventually(t, "node "+nd.id+" forwards no track", func() bool { return nd.metric(t, "stagekit_media_tracks") == 0 })
	}
	peer := presenter.m.Stage().PeerID()
	was, _ := atC.s.ReceivedFrom(peer)
	time.Sleep(300 * time.Millisecond)
	if now, _ := atC.s.ReceivedFrom(peer); now != was {
		t.Errorf("%d packets of the kicked presenter reached C's viewer after every node dropped its track", now-was)
	}
}
