package sfu

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// relayLink wires an edge's RelayIn to the origin's relay participant in
// one process, as a link between nodes would.
type relayLink struct {
	origin atomic.Pointer[Participant]
	// Paused lists go one at a time, in order, as on a socket.
	pausedMu sync.Mutex
	pausedN  uint64
	crossed  atomic.Int64 // paused lists sent
}

func (l *relayLink) SendPaused(ids []string) {
	l.pausedMu.Lock()
	l.pausedN++
	n := l.pausedN
	l.pausedMu.Unlock()
	l.crossed.Add(1)
	go func() {
		l.pausedMu.Lock()
		defer l.pausedMu.Unlock()
		if n == l.pausedN { // else a newer list replaces it
			l.origin.Load().HandleRelayPaused(ids)
		}
	}()
}

func (l *relayLink) SendAnswer(sdp string) {
	go func() { _ = l.origin.Load().HandleSubscribeAnswer(sdp) }()
}

func (l *relayLink) SendCandidate(c protocol.ICECandidate) {
	go func() { _ = l.origin.Load().HandleCandidate(protocol.PCSubscribe, c) }()
}

// nodeName names an SFU as a cluster names its nodes.
func nodeName(s *SFU) string { return fmt.Sprintf("node-%p", s) }

// startRelay relays meeting m from origin to edge.
func startRelay(t *testing.T, origin, edge *SFU, m string) *RelayIn {
	t.Helper()
	link := &relayLink{}
	in, err := edge.NewRelayIn(m, nodeName(origin), link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	p, err := origin.JoinRelay(m, nodeName(edge), in.Signaler())
	if err != nil {
		t.Fatal(err)
	}
	link.origin.Store(p)
	return in
}

// A presenter on one node reaches viewers on another through one relay:
// each track crosses once, whatever the edge's audience; the edge's viewers
// see the presenter's ids, start from a keyframe, and their keyframe
// requests reach the presenter; a stage change at the origin reaches them
// (the presenter's tracks end, the next presenter's come), and a relay's
// slot never carries a second source.
func TestRelay(t *testing.T) {
	origin, edge := newTestSFU(t), newTestSFU(t)
	api := clientAPI(t)
	in := startRelay(t, origin, edge, "r")
	host := joinClient(t, origin, api, "r", "host")
	host.withAudio = true
	viewers := make([]*tclient, 3)
	for i := range viewers {
		viewers[i] = joinClient(t, edge, api, "r", "viewer"+string(rune('a'+i)))
	}
	local := joinClient(t, origin, api, "r", "local") // a viewer on the origin

	origin.SetPublishing("r", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	for _, v := range append(viewers, local) {
		waitFor(t, flowTimeout, v.userID+" receiving the host", func() bool {
			tr := v.tracksFrom(host.peerID)
			return len(tr) == 2 && tr[0].packets.Load() >= 20 && tr[1].packets.Load() >= 20
		})
	}
	for _, v := range viewers {
		kinds := map[string]bool{}
		for _, ti := range v.lastTracks() {
			if ti.PeerID == host.peerID && ti.UserID == "host" {
				kinds[ti.Kind] = true
			}
		}
		if !kinds["audio"] || !kinds["video"] {
			t.Errorf("%s: tracks message %+v, want the host's audio and video under its ids", v.userID, v.lastTracks())
		}
		for _, rt := range v.tracksFrom(host.peerID) {
			if rt.remote.Kind().String() == "video" && !rt.firstKey.Load() {
				t.Errorf("%s: the first video packet was not a keyframe", v.userID)
			}
		}
	}
	// At the origin: the host's two tracks go to the relay and the local
	// viewer, one copy each; the edge fans them out to its three viewers.
	if st := origin.Stats(); st.Subscriptions != 4 {
		t.Errorf("origin subscriptions %d, want 4 (2 tracks × relay and local viewer)", st.Subscriptions)
	}
	if st := edge.Stats(); st.Tracks != 2 || st.Subscriptions != 6 {
		t.Errorf("edge tracks %d subscriptions %d, want 2 and 6", st.Tracks, st.Subscriptions)
	}

	// An edge viewer's keyframe request reaches the presenter.
	time.Sleep(2 * minKeyframeInterval)
	plis := host.pliCount.Load()
	var video *recvTrack
	for _, rt := range viewers[0].tracksFrom(host.peerID) {
		if rt.remote.Kind().String() == "video" {
			video = rt
		}
	}
	if err := viewers[0].sendPLI(video); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the edge viewer's PLI at the host", func() bool { return host.pliCount.Load() > plis })

	// The host leaves the stage; b comes on: the edge's viewers follow.
	b := joinClient(t, origin, api, "r", "b")
	origin.SetPublishing("r", "host", false)
	for _, v := range viewers {
		waitFor(t, flowTimeout, v.userID+": the host's tracks end", func() bool { return v.liveFrom(host.peerID) == 0 })
	}
	origin.SetPublishing("r", "b", true)
	if err := b.publish(); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		waitFor(t, flowTimeout, v.userID+" receiving b", func() bool { return v.packetsFrom(b.peerID) >= 20 })
	}
	in.mu.Lock()
	spent, live := 0, 0
	for _, rt := range in.remotes {
		if rt.spent {
			spent++
		}
		if rt.src != nil {
			live++
		}
	}
	in.mu.Unlock()
	if spent != 2 || live != 1 {
		t.Errorf("relay slots at the edge: %d spent, %d live; want the host's 2 spent and b's video live on a new one", spent, live)
	}
	for _, c := range append(viewers, host, b, local) {
		if err := c.errs(); err != nil {
			t.Errorf("%s: %v", c.userID, err)
		}
	}
}

// BenchmarkRelayHop is what a relay adds to a packet's way: a presenter on
// the origin, one viewer there and one on an edge behind a relay (both on
// this machine, one clock); each video packet's arrival at the edge viewer
// less its arrival at the origin's viewer is the hop (the origin's slot,
// the relay PC, the edge's source and slot). It reports the p50, p99 and
// max over about 5 s of 200 packets/s.
func BenchmarkRelayHop(b *testing.B) {
	origin, edge := newTestSFU(b), newTestSFU(b)
	api := clientAPI(b)
	link := &relayLink{}
	in, err := edge.NewRelayIn("hop", "origin", link)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	p, err := origin.JoinRelay("hop", "edge", in.Signaler())
	if err != nil {
		b.Fatal(err)
	}
	link.origin.Store(p)
	host := joinClient(b, origin, api, "hop", "host")
	local := joinClient(b, origin, api, "hop", "local")
	far := joinClient(b, edge, api, "hop", "far")
	origin.SetPublishing("hop", "host", true)
	if err := host.publish(); err != nil {
		b.Fatal(err)
	}
	waitFor(b, flowTimeout, "both viewers receiving", func() bool {
		return local.packetsFrom(host.peerID) >= 50 && far.packetsFrom(host.peerID) >= 50
	})
	var mu sync.Mutex
	at := map[int64][2]int64{} // index → arrival at the local and the far viewer
	record := func(side int) *func(string, int64, int64) {
		f := func(_ string, index, when int64) {
			mu.Lock()
			a := at[index]
			if a[side] == 0 {
				a[side] = when
			}
			at[index] = a
			mu.Unlock()
		}
		return &f
	}
	local.onVideo.Store(record(0))
	far.onVideo.Store(record(1))
	b.ResetTimer()
	time.Sleep(5 * time.Second)
	b.StopTimer()
	local.onVideo.Store(nil)
	far.onVideo.Store(nil)
	mu.Lock()
	var hops []time.Duration
	missing := 0
	for _, a := range at {
		if a[0] == 0 || a[1] == 0 {
			missing++
			continue
		}
		hops = append(hops, time.Duration(a[1]-a[0]))
	}
	mu.Unlock()
	if len(hops) == 0 {
		b.Fatal("no packet reached both viewers")
	}
	slices.Sort(hops)
	q := func(f float64) time.Duration { return hops[min(len(hops)-1, int(f*float64(len(hops))))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1e3, "hop-p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1e3, "hop-p99-ms")
	b.ReportMetric(float64(hops[len(hops)-1].Microseconds())/1e3, "hop-max-ms")
	b.Logf("relay hop over %d packets (%d seen at one viewer only): p50 %v, p99 %v, max %v", len(hops), missing, q(0.5), q(0.99), hops[len(hops)-1])
}

// A relay whose connection dies is made again by the origin (a new PC
// after closedGrace, as for a viewer who closed its own) and the edge's
// viewers get the presenter again, without doing anything themselves.
func TestRelayRecovers(t *testing.T) {
	origin, edge := newTestSFU(t), newTestSFU(t)
	api := clientAPI(t)
	in := startRelay(t, origin, edge, "rr")
	host := joinClient(t, origin, api, "rr", "host")
	viewer := joinClient(t, edge, api, "rr", "viewer")
	origin.SetPublishing("rr", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "the viewer receiving", func() bool { return viewer.packetsFrom(host.peerID) >= 20 })
	in.mu.Lock()
	pc := in.pc
	in.mu.Unlock()
	_ = pc.Close()
	time.Sleep(500 * time.Millisecond)
	n := viewer.packetsFrom(host.peerID)
	waitFor(t, flowTimeout+closedGrace, "the viewer receiving again", func() bool { return viewer.packetsFrom(host.peerID) >= n+50 })
	in.mu.Lock()
	replaced := in.pc != pc
	in.mu.Unlock()
	if !replaced {
		t.Error("the edge's relay PC was not replaced")
	}
	if got := viewer.offerCount(); got != 1 {
		t.Errorf("the viewer got %d offers, want 1: the relay's recovery is not its business", got)
	}
	if err := viewer.errs(); err != nil {
		t.Error(err)
	}
}

// lossyConn drops every 20th RTP packet it reads: a lossy link into a node.
type lossyConn struct {
	net.PacketConn
	rtp atomic.Int64
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		// RFC 7983: 128-191 is RTP or RTCP; RTCP's payload types are 192-223.
		if err == nil && n > 12 && b[0] >= 128 && b[0] <= 191 && (b[1]&0x7f < 64 || b[1]&0x7f > 95) {
			if c.rtp.Add(1)%20 == 0 {
				continue
			}
		}
		return n, addr, err
	}
}

// What the hop between the nodes loses the edge asks the origin for again
// (NACK), and the origin's slot answers from its source's history: the edge's
// viewer misses nothing.
func TestRelayRetransmits(t *testing.T) {
	origin := newTestSFU(t)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lossy := &lossyConn{PacketConn: udp}
	mux := webrtc.NewICEUDPMux(nil, lossy) // one reader of the socket, for every PC of the edge
	edge, err := New(Config{GatherTimeout: time.Second, UDPPortMin: 43000, UDPPortMax: 43999, SettingEngine: func(se *webrtc.SettingEngine) {
		loopback(se)
		se.SetICEUDPMux(mux)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edge.Close(); _ = udp.Close() })
	api := clientAPI(t)
	startRelay(t, origin, edge, "rt")
	host := joinClient(t, origin, api, "rt", "host")
	viewer := joinClient(t, edge, api, "rt", "viewer")
	origin.SetPublishing("rt", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "the viewer receiving", func() bool { return viewer.packetsFrom(host.peerID) >= 20 })
	var mu sync.Mutex
	seen := map[int64]bool{}
	f := func(_ string, index, _ int64) {
		mu.Lock()
		seen[index] = true
		mu.Unlock()
	}
	viewer.onVideo.Store(&f)
	r0 := origin.Stats().Retransmits
	// Enough packets for the loss to be asked for (a loaded machine's
	// host publishes more slowly: a count, not a time).
	waitFor(t, 60*time.Second, "300 video packets at the edge's viewer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 300
	})
	viewer.onVideo.Store(nil)
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	lo, hi := int64(-1), int64(-1)
	for i := range seen {
		if lo < 0 || i < lo {
			lo = i
		}
		hi = max(hi, i)
	}
	// The first and last 50 packets may have come before or after the
	// window (a retransmission arrives after what followed its original).
	missing := 0
	for i := lo + 50; i < hi-50; i++ {
		if !seen[i] {
			missing++
		}
	}
	if lossy.rtp.Load() < 100 || hi-lo < 200 {
		t.Fatalf("too little traffic: %d RTP packets in, indices %d..%d", lossy.rtp.Load(), lo, hi)
	}
	if missing > 0 {
		t.Errorf("the edge's viewer missed %d of %d packets", missing, hi-lo-100)
	}
	if got := origin.Stats().Retransmits - r0; got == 0 {
		t.Error("the origin retransmitted nothing")
	}
}

// Two nodes relaying to each other (a room with people on both): a
// presenter on either reaches the viewers on both, once; what one node
// relays in never goes back out.
func TestRelayBothWays(t *testing.T) {
	a, b := newTestSFU(t), newTestSFU(t)
	api := clientAPI(t)
	startRelay(t, a, b, "bw")
	startRelay(t, b, a, "bw")
	hostA := joinClient(t, a, api, "bw", "hostA")
	hostB := joinClient(t, b, api, "bw", "hostB")
	viewA := joinClient(t, a, api, "bw", "viewA")
	viewB := joinClient(t, b, api, "bw", "viewB")
	a.SetPublishing("bw", "hostA", true)
	b.SetPublishing("bw", "hostB", true)
	if err := hostA.publish(); err != nil {
		t.Fatal(err)
	}
	if err := hostB.publish(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*tclient{viewA, viewB} {
		for _, h := range []*tclient{hostA, hostB} {
			waitFor(t, flowTimeout, v.userID+" receiving "+h.userID, func() bool { return v.packetsFrom(h.peerID) >= 20 })
		}
	}
	time.Sleep(500 * time.Millisecond) // a copy going round would show by now
	for _, v := range []*tclient{viewA, viewB} {
		owners := map[string]int{}
		for _, ti := range v.lastTracks() {
			owners[ti.UserID]++
		}
		if len(owners) != 2 || owners["hostA"] != 1 || owners["hostB"] != 1 {
			t.Errorf("%s's tracks by owner %v, want one of each host", v.userID, owners)
		}
	}
	// Each node: its own host's track to its viewer and the relay out; the
	// other host's relayed track to its viewer and its own host, not back
	// out (that would be a fifth).
	for _, s := range []*SFU{a, b} {
		if st := s.Stats(); st.Tracks != 2 || st.Subscriptions != 4 {
			t.Errorf("tracks %d subscriptions %d, want 2 and 4", st.Tracks, st.Subscriptions)
		}
	}
	for _, c := range []*tclient{hostA, hostB, viewA, viewB} {
		if err := c.errs(); err != nil {
			t.Errorf("%s: %v", c.userID, err)
		}
	}
}

// Relays in a star, as a cluster runs them (each edge and the owner relay
// both ways): a presenter on one edge reaches the owner's viewers and the
// other edge's through the owner, one copy per track per hop, and nothing
// goes back where it came from.
func TestRelayThroughTheOwner(t *testing.T) {
	owner, e1, e2 := newTestSFU(t), newTestSFU(t), newTestSFU(t)
	api := clientAPI(t)
	for _, e := range []*SFU{e1, e2} {
		startRelay(t, owner, e, "star")
		startRelay(t, e, owner, "star")
	}
	host := joinClient(t, e1, api, "star", "host")
	atOwner := joinClient(t, owner, api, "star", "atOwner")
	atE2 := joinClient(t, e2, api, "star", "atE2")
	e1.SetPublishing("star", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*tclient{atOwner, atE2} {
		waitFor(t, flowTimeout, v.userID+" receiving the host", func() bool { return v.packetsFrom(host.peerID) >= 20 })
	}
	time.Sleep(500 * time.Millisecond) // a copy going round would show by now
	for _, v := range []*tclient{atOwner, atE2} {
		n := 0
		for _, ti := range v.lastTracks() {
			if ti.UserID == "host" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s has %d tracks of the host, want 1", v.userID, n)
		}
	}
	// e1: the host's track to the owner only; the owner: to its viewer and
	// e2, not back to e1; e2: to its viewer, not back to the owner.
	for _, c := range []struct {
		name string
		s    *SFU
		subs int
	}{{"e1", e1, 1}, {"owner", owner, 2}, {"e2", e2, 1}} {
		if st := c.s.Stats(); st.Tracks != 1 || st.Subscriptions != c.subs || st.RelaysIn+st.RelaysOut == 0 {
			t.Errorf("%s: tracks %d subscriptions %d relays %d in %d out; want 1 track, %d subscriptions", c.name, st.Tracks, st.Subscriptions, st.RelaysIn, st.RelaysOut, c.subs)
		}
	}
	if st := owner.Stats(); st.RelaysIn != 2 || st.RelaysOut != 2 {
		t.Errorf("owner: %d relays in, %d out; want 2 and 2", st.RelaysIn, st.RelaysOut)
	}
	for _, c := range []*tclient{host, atOwner, atE2} {
		if err := c.errs(); err != nil {
			t.Errorf("%s: %v", c.userID, err)
		}
	}
}

// relayedLayers lists, for each edge node a relay sends to, the ranks of
// userID's simulcast layers that cross to it now (the relay's slots in
// the layers' fan-outs, as "node:rank" counts).
func relayedLayers(s *SFU, meetingID, userID string) map[string]int {
	out := map[string]int{}
	for _, src := range s.tracksOf(meetingID, userID) {
		if src.group == nil {
			continue
		}
		for _, sl := range *src.slots.Load() {
			if sl.p.relay {
				out[fmt.Sprintf("%s:%d", sl.p.node, src.layer)]++
			}
		}
	}
	return out
}

// checkPictures checks that a viewer's picture ids and TL0PICIDX have no
// jump, unless a node on the way shed packets: a forwarder sheds what
// waited too long up to a keyframe (a loaded machine: -race, other
// jobs), hiding it from the sequence numbers but not from the pictures.
func checkPictures(t *testing.T, who string, sl *recvSlot, nodes ...*SFU) {
	t.Helper()
	var shed uint64
	for _, s := range nodes {
		shed += s.Stats().PacketsShed
	}
	pid, tl0 := sl.pidJumps.Load(), sl.tl0Jumps.Load()
	switch {
	case shed > 0 && pid+tl0 > 0:
		t.Logf("%s: %d jumps in the picture ids, %d in TL0PICIDX, after %d packets were shed on the way (a loaded machine)", who, pid, tl0, shed)
	case pid != 0 || tl0 != 0:
		t.Errorf("%s: %d jumps in the picture ids, %d in TL0PICIDX", who, pid, tl0)
	}
}

// A simulcast track crosses to each edge as the layers its viewers watch,
// one copy of each, and each edge viewer gets its own layer of it with
// the one source switch (no gap in numbers or picture ids, each change
// at a keyframe). A layer nobody on any node watches is paused at the
// publisher, and resumed when an edge's viewer needs it; a keyframe
// request for a layer reaches the publisher for that layer.
func TestRelaySimulcastLayers(t *testing.T) {
	origin, e1, e2 := newTestSFU(t), newTestSFU(t), newTestSFU(t)
	api := clientAPI(t)
	links := map[*SFU]*relayLink{}
	for _, e := range []*SFU{e1, e2} {
		in := startRelay(t, origin, e, "sl")
		links[e] = in.link.(*relayLink)
	}
	top := joinClient(t, e1, api, "sl", "top")   // e1, nothing limits it
	low := joinClient(t, e1, api, "sl", "low")   // e1, capped at q
	mid := joinClient(t, e2, api, "sl", "mid")   // e2, capped at h
	top2 := joinClient(t, e1, api, "sl", "top2") // e1 again, on f: no second copy
	low.part.sub.capLayers(0)
	mid.part.sub.capLayers(1)
	pub := joinClient(t, origin, api, "sl", "pub")
	origin.SetPublishing("sl", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	pubMid := pub.publishedMid()
	onLayer := func(v *tclient, want int64) *recvSlot {
		t.Helper()
		var sl *recvSlot
		waitFor(t, flowTimeout, v.userID+" on layer "+simulcastRIDs[want].rid, func() bool {
			sl = v.videoSlot(pub.peerID)
			return sl != nil && sl.layer.Load() == want
		})
		n := v.packetsFrom(pub.peerID)
		waitFor(t, flowTimeout, v.userID+": packets on the layer", func() bool { return v.packetsFrom(pub.peerID) >= n+50 })
		return sl
	}
	slots := map[*tclient]*recvSlot{top: onLayer(top, 2), low: onLayer(low, 0), mid: onLayer(mid, 1), top2: onLayer(top2, 2)}

	// What crosses: q and f to e1 (once, for its three viewers), h to e2.
	n1, n2 := nodeName(e1), nodeName(e2)
	want := map[string]int{n1 + ":0": 1, n1 + ":2": 1, n2 + ":1": 1}
	waitFor(t, flowTimeout, "only the layers watched cross", func() bool { return maps.Equal(relayedLayers(origin, "sl", "pub"), want) })
	// The layers e1 does not get no longer flow into it.
	forwarded := func(s *SFU, rank int) uint64 {
		for _, src := range s.tracksOf("sl", "pub") {
			if src.group != nil && src.layer == rank {
				return src.forwarded.Load()
			}
		}
		return 0
	}
	// Looked at over a window in which no viewer's layer changed (on a
	// loaded machine a viewer's estimate may dip, and what crosses follows
	// it, as it should).
	changes := func() (n int64) {
		for _, v := range []*tclient{top, low, mid, top2} {
			if sl := v.videoSlot(pub.peerID); sl != nil {
				n += sl.layerChanges.Load()
			}
		}
		return n
	}
	quiet := false
	for range 5 {
		c0, h1, q2 := changes(), forwarded(e1, 1), forwarded(e2, 0)
		time.Sleep(500 * time.Millisecond)
		if changes() != c0 || !maps.Equal(relayedLayers(origin, "sl", "pub"), want) {
			continue
		}
		quiet = true
		if d := forwarded(e1, 1) - h1; d > 0 {
			t.Errorf("e1 received %d packets of h, which none of its viewers watches", d)
		}
		if d := forwarded(e2, 0) - q2; d > 0 {
			t.Errorf("e2 received %d packets of q, which none of its viewers watches", d)
		}
		break
	}
	if !quiet {
		t.Log("the viewers' layers never held still for 500 ms: what crosses meanwhile not checked")
	}
	waitFor(t, flowTimeout, "no layer paused at the publisher: each is watched on some node", func() bool { return pub.pausedRIDs(pubMid) == "" })

	// mid moves up to f: nobody anywhere watches h, and the publisher
	// pauses it; low moves up to h: it is resumed, and q paused.
	mid.part.sub.capLayers(2)
	onLayer(mid, 2)
	waitFor(t, flowTimeout, "h paused at the publisher", func() bool { return pub.pausedRIDs(pubMid) == "h" })
	low.part.sub.capLayers(1)
	waitFor(t, flowTimeout, "h resumed and q paused at the publisher", func() bool { return pub.pausedRIDs(pubMid) == "q" })
	onLayer(low, 1)
	want = map[string]int{n1 + ":1": 1, n1 + ":2": 1, n2 + ":2": 1}
	waitFor(t, flowTimeout, "the layers watched now cross", func() bool { return maps.Equal(relayedLayers(origin, "sl", "pub"), want) })

	// low's keyframe request reaches the publisher for h.
	time.Sleep(2 * minKeyframeInterval)
	plis := [3]int64{pub.layerPLIs[0].Load(), pub.layerPLIs[1].Load(), pub.layerPLIs[2].Load()}
	var video *recvTrack
	for _, rt := range low.tracksFrom(pub.peerID) {
		if rt.remote.Kind().String() == "video" {
			video = rt
		}
	}
	if err := low.sendPLI(video); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "low's PLI at the publisher, for h", func() bool { return pub.layerPLIs[1].Load() > plis[1] })
	if pub.layerPLIs[0].Load() != plis[0] {
		t.Error("low's PLI reached the publisher for q too")
	}

	for v, sl := range slots {
		if got := len(v.tracksFrom(pub.peerID)); got != 1 {
			t.Errorf("%s got the track as %d tracks, want 1", v.userID, got)
		}
		if g := sl.gaps.Load(); g != 0 {
			t.Errorf("%s: %d gaps in the sequence numbers", v.userID, g)
		}
		checkPictures(t, v.userID, sl, origin, e1, e2)
		if b := sl.badSwitches.Load(); b != 0 {
			t.Errorf("%s: %d layer changes did not start at a keyframe", v.userID, b)
		}
		if err := v.errs(); err != nil {
			t.Errorf("%s: %v", v.userID, err)
		}
	}
	if links[e1].crossed.Load() == 0 || links[e2].crossed.Load() == 0 {
		t.Error("an edge never told the origin which layers it does not watch")
	}
}

// A simulcast track published at an edge crosses to the owner and from
// there to the other edge as the layers watched beyond each hop: each
// node's viewers get their own layer, and a layer nobody watches on any
// node is paused at the publisher, two hops away.
func TestRelaySimulcastThroughTheOwner(t *testing.T) {
	owner, e1, e2 := newTestSFU(t), newTestSFU(t), newTestSFU(t)
	api := clientAPI(t)
	for _, e := range []*SFU{e1, e2} {
		startRelay(t, owner, e, "sstar")
		startRelay(t, e, owner, "sstar")
	}
	atOwner := joinClient(t, owner, api, "sstar", "atOwner")
	atE2 := joinClient(t, e2, api, "sstar", "atE2")
	atOwner.part.sub.capLayers(0)
	pub := joinClient(t, e1, api, "sstar", "pub")
	e1.SetPublishing("sstar", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	pubMid := pub.publishedMid()
	onLayer := func(v *tclient, want int64) *recvSlot {
		t.Helper()
		var sl *recvSlot
		waitFor(t, flowTimeout, v.userID+" on layer "+simulcastRIDs[want].rid, func() bool {
			sl = v.videoSlot(pub.peerID)
			return sl != nil && sl.layer.Load() == want
		})
		return sl
	}
	slots := map[*tclient]*recvSlot{atOwner: onLayer(atOwner, 0), atE2: onLayer(atE2, 2)}
	// e1 sends the owner q (its viewer's) and f (for e2); the owner sends
	// e2 f; h is watched nowhere.
	waitFor(t, flowTimeout, "h paused at the publisher", func() bool { return pub.pausedRIDs(pubMid) == "h" })
	waitFor(t, flowTimeout, "q and f to the owner", func() bool {
		return maps.Equal(relayedLayers(e1, "sstar", "pub"), map[string]int{nodeName(owner) + ":0": 1, nodeName(owner) + ":2": 1})
	})
	waitFor(t, flowTimeout, "f to e2", func() bool {
		return maps.Equal(relayedLayers(owner, "sstar", "pub"), map[string]int{nodeName(e2) + ":2": 1})
	})
	// e2's viewer needs h: resumed at the publisher, two hops away.
	atE2.part.sub.capLayers(1)
	waitFor(t, flowTimeout, "h resumed, f paused", func() bool { return pub.pausedRIDs(pubMid) == "f" })
	onLayer(atE2, 1)
	n := atE2.packetsFrom(pub.peerID)
	waitFor(t, flowTimeout, "atE2: packets on h", func() bool { return atE2.packetsFrom(pub.peerID) >= n+50 })
	for v, sl := range slots {
		if g := sl.gaps.Load(); g != 0 {
			t.Errorf("%s: %d gaps in the sequence numbers", v.userID, g)
		}
		checkPictures(t, v.userID, sl, owner, e1, e2)
		if b := sl.badSwitches.Load(); b != 0 {
			t.Errorf("%s: %d layer changes did not start at a keyframe", v.userID, b)
		}
		if err := v.errs(); err != nil {
			t.Errorf("%s: %v", v.userID, err)
		}
	}
}

// The relay rebuilt (its PC failed): the origin forgets the old PC's paused
// list, and the edge names the new slots' paused layers again, so that still
// only the layer its viewer watches crosses and the others stay paused at
// the publisher; the viewer's stream goes on without a gap.
func TestRelaySimulcastPausedAcrossRebuild(t *testing.T) {
	origin, edge := newTestSFU(t), newTestSFU(t)
	api := clientAPI(t)
	in := startRelay(t, origin, edge, "pr")
	link := in.link.(*relayLink)
	low := joinClient(t, edge, api, "pr", "low")
	low.part.sub.capLayers(0)
	pub := joinClient(t, origin, api, "pr", "pub")
	origin.SetPublishing("pr", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	pubMid := pub.publishedMid()
	want := map[string]int{nodeName(edge) + ":0": 1}
	settled := func(what string) {
		t.Helper()
		waitFor(t, flowTimeout, what+": only q crosses", func() bool { return maps.Equal(relayedLayers(origin, "pr", "pub"), want) })
		waitFor(t, flowTimeout, what+": h and f paused at the publisher", func() bool { return pub.pausedRIDs(pubMid) == "f,h" })
		n := low.packetsFrom(pub.peerID)
		waitFor(t, flowTimeout, what+": the viewer receiving", func() bool { return low.packetsFrom(pub.peerID) >= n+50 })
	}
	settled("before")
	sent := link.crossed.Load()

	in.mu.Lock()
	pc := in.pc
	in.mu.Unlock()
	_ = pc.Close()
	waitFor(t, flowTimeout+closedGrace, "the relay PC replaced", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.pc != pc
	})
	settled("after the rebuild")
	if link.crossed.Load() == sent {
		t.Error("the edge did not name its paused layers again after the rebuild")
	}
	sl := low.videoSlot(pub.peerID)
	if sl == nil || sl.layer.Load() != 0 {
		t.Fatal("the viewer is not on q")
	}
	if g := sl.gaps.Load(); g != 0 {
		t.Errorf("%d gaps in the viewer's sequence numbers", g)
	}
	if got := low.offerCount(); got != 1 {
		t.Errorf("the viewer got %d offers, want 1", got)
	}
	if err := low.errs(); err != nil {
		t.Error(err)
	}
}
