package sfu

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

const flowTimeout = 15 * time.Second

// A publisher ON_STAGE reaches every other participant; nobody receives
// their own media.
func TestPublisherReachesSubscribers(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	const n = 5
	subs := make([]*tclient, n)
	for i := range subs {
		subs[i] = joinClient(t, s, api, "m1", "viewer"+string(rune('a'+i)))
	}
	other := joinClient(t, s, api, "elsewhere", "viewer") // same user id, another meeting
	host := joinClient(t, s, api, "m1", "host")
	s.SetPublishing("m1", "host", true)
	if err := host.publish(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	for i, c := range subs {
		waitFor(t, flowTimeout, "subscriber "+c.userID+" receiving", func() bool { return c.packetsFrom(host.peerID) >= 20 })
		tr := c.lastTracks()
		if len(tr) != 1 || tr[0].UserID != "host" || tr[0].PeerID != host.peerID || tr[0].Kind != "video" || tr[0].TrackID != "video0" {
			t.Errorf("subscriber %d: tracks message %+v", i, tr)
		}
		if got := c.tracksFrom(host.peerID); len(got) != 1 || got[0].remote.ID() != tr[0].TrackID {
			t.Errorf("subscriber %d: received tracks %d, want 1 with id %q", i, len(got), tr[0].TrackID)
		}
	}
	if other.offerCount() != 0 {
		t.Errorf("a participant of another meeting got %d offers", other.offerCount())
	}
	if host.offerCount() != 0 {
		t.Errorf("the publisher got %d subscribe offers; it has nothing to receive", host.offerCount())
	}
	st := s.Stats()
	if st.Meetings != 2 || st.Participants != n+2 || st.Tracks != 1 || st.Subscriptions != n {
		t.Errorf("stats %+v", st)
	}
	if st.PacketsIn == 0 || st.PacketsOut < st.PacketsIn || st.KeyframeRequests+st.CatchUps == 0 {
		t.Errorf("stats counters %+v", st)
	}
	for _, c := range append(subs, host) {
		if err := c.errs(); err != nil {
			t.Errorf("%s: %v", c.userID, err)
		}
	}
}

// A subscriber already connected gets a second publisher's tracks on free
// receive slots, with no renegotiation of its subscribe PC; a subscriber
// joining later gets both; each addition, and a subscriber's own PLI, sends
// a PLI to the publisher.
func TestSlotsAndKeyframes(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "m2", "viewer")
	a := joinClient(t, s, api, "m2", "a")
	b := joinClient(t, s, api, "m2", "b")
	s.SetPublishing("m2", "a", true)
	if err := a.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving a", func() bool { return viewer.packetsFrom(a.peerID) >= 20 })
	// The viewer started from a's last keyframe in the history, or from a
	// keyframe it asked a for.
	waitFor(t, flowTimeout, "a catch-up or a's first PLI", func() bool { return s.Stats().CatchUps >= 1 || a.pliCount.Load() >= 1 })
	if viewer.offerCount() != 1 {
		t.Fatalf("viewer offers %d, want 1", viewer.offerCount())
	}

	// b goes on stage with audio and video: they take free slots of the
	// viewer's (no new offer); a gets its first offer.
	b.withAudio = true
	s.SetPublishing("m2", "b", true)
	if err := b.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving b's audio and video", func() bool {
		tr := viewer.tracksFrom(b.peerID)
		return len(tr) == 2 && tr[0].packets.Load() >= 5 && tr[1].packets.Load() >= 5
	})
	waitFor(t, flowTimeout, "a receiving b", func() bool { return a.packetsFrom(b.peerID) >= 20 })
	waitFor(t, flowTimeout, "b receiving a", func() bool { return b.packetsFrom(a.peerID) >= 20 })
	if got := viewer.offerCount(); got != 1 {
		t.Errorf("viewer offers %d, want 1 (slots rebound, no renegotiation)", got)
	}
	viewer.mu.Lock()
	restarts := viewer.restarts
	viewer.mu.Unlock()
	if restarts != 0 {
		t.Errorf("the viewer's subscribe PC was replaced, not renegotiated")
	}
	kinds := map[string]int{}
	for _, ti := range viewer.lastTracks() {
		kinds[ti.UserID+"/"+ti.Kind]++
	}
	if len(kinds) != 3 || kinds["a/video"] != 1 || kinds["b/video"] != 1 || kinds["b/audio"] != 1 {
		t.Errorf("viewer's tracks message: %v", kinds)
	}
	// b's microphone and camera are one stream at the viewer (played in
	// sync), not a's.
	{
		c := viewer
		bt, at := c.tracksFrom(b.peerID), c.tracksFrom(a.peerID)
		if bt[0].remote.StreamID() != bt[1].remote.StreamID() || bt[0].remote.StreamID() == at[0].remote.StreamID() {
			t.Errorf("%s: b's tracks in streams %q and %q, a's in %q; want b's in one of their own", c.userID, bt[0].remote.StreamID(), bt[1].remote.StreamID(), at[0].remote.StreamID())
		}
	}
	for _, rt := range viewer.tracksFrom(b.peerID) {
		if want := map[string]string{"video": "video/VP8", "audio": "audio/opus"}[rt.remote.Kind().String()]; !strings.EqualFold(rt.remote.Codec().MimeType, want) {
			t.Errorf("b's %s track arrives as %s", rt.remote.Kind(), rt.remote.Codec().MimeType)
		}
	}

	// A late subscriber starts both videos from their last keyframes in the
	// histories (the publishers now send one every 50 packets, a quarter of
	// a second), without asking the publishers. Its slots catch up when they
	// start or at the first packet the fan-out brings them, whichever comes
	// first; a slot that meets a fresh keyframe first needs none.
	a.keyEvery.Store(50)
	b.keyEvery.Store(50)
	time.Sleep(2 * minKeyframeInterval)
	pa, pb, cu, shed := a.pliCount.Load(), b.pliCount.Load(), s.Stats().CatchUps, s.Stats().PacketsShed
	late := joinClient(t, s, api, "m2", "late")
	waitFor(t, flowTimeout, "late receiving a and b (b's audio and video)", func() bool {
		return late.packetsFrom(a.peerID) >= 20 && late.packetsFrom(b.peerID) >= 20 && len(late.tracksFrom(b.peerID)) == 2
	})
	// (A forwarder that shed what waited too long, on a loaded machine,
	// asks for a keyframe itself.)
	plisOK := a.pliCount.Load() == pa && b.pliCount.Load() == pb || s.Stats().PacketsShed != shed
	if got := s.Stats().CatchUps - cu; got == 0 || got > 2 || !plisOK {
		t.Errorf("late subscriber: %d catch-ups, PLIs %d and %d; want 1 or 2 and none", got, a.pliCount.Load()-pa, b.pliCount.Load()-pb)
	}
	if bt := late.tracksFrom(b.peerID); len(bt) != 2 || bt[0].remote.StreamID() != bt[1].remote.StreamID() {
		t.Errorf("late: b's tracks not in one stream")
	}
	for _, rt := range append(late.tracksFrom(a.peerID), late.tracksFrom(b.peerID)...) {
		if rt.remote.Kind() == webrtc.RTPCodecTypeVideo && !rt.firstKey.Load() {
			t.Errorf("the late subscriber's first packet of %s was not a keyframe", rt.owner)
		}
	}

	// A subscriber's PLI reaches the publisher.
	time.Sleep(2 * minKeyframeInterval)
	pa = a.pliCount.Load()
	if err := viewer.sendPLI(viewer.tracksFrom(a.peerID)[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the viewer's PLI at a", func() bool { return a.pliCount.Load() > pa })

	for _, c := range []*tclient{viewer, a, b, late} {
		if err := c.errs(); err != nil {
			t.Errorf("%s: %v", c.userID, err)
		}
	}
}

// SetPublishing(false) (a kick) stops forwarding at once while the client
// keeps sending, removes the track from every subscriber and closes the
// publish PC; coming back on stage needs a new offer, which works.
func TestKickStopsForwarding(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	subs := []*tclient{
		joinClient(t, s, api, "m3", "v1"),
		joinClient(t, s, api, "m3", "v2"),
		joinClient(t, s, api, "m3", "v3"),
	}
	host := joinClient(t, s, api, "m3", "host")
	s.SetPublishing("m3", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	for _, c := range subs {
		waitFor(t, flowTimeout, c.userID+" receiving", func() bool { return c.packetsFrom(host.peerID) >= 20 })
	}
	ft := s.tracksOf("m3", "host")[0]

	kicked := time.Now()
	s.SetPublishing("m3", "host", false) // a kick
	forwardedAtKick := ft.forwarded.Load()
	sentAtKick := host.sentPkts.Load()
	seqAtKick := host.lastSeq.Load() // every later packet was sent after the kick

	// Every subscriber's slot is freed (a tracks message, no offer).
	for _, c := range subs {
		waitFor(t, flowTimeout, c.userID+"'s track removed", func() bool { return c.liveFrom(host.peerID) == 0 })
	}
	t.Logf("kick → every subscriber's track removed in %v", time.Since(kicked))

	// The client keeps sending: nothing more is forwarded (one packet may be
	// in the fan-out when the flag flips) and, after in-flight packets, the
	// subscribers' counts stay put.
	time.Sleep(time.Until(kicked.Add(300 * time.Millisecond)))
	if fwd := ft.forwarded.Load(); fwd > forwardedAtKick+1 {
		t.Errorf("forwarded %d packets after the kick", fwd-forwardedAtKick)
	}
	counts := make([]int64, len(subs))
	for i, c := range subs {
		counts[i] = c.packetsFrom(host.peerID)
	}
	time.Sleep(500 * time.Millisecond)
	if host.sentPkts.Load() <= sentAtKick {
		t.Fatalf("the test publisher stopped sending; the test proves nothing")
	}
	for i, c := range subs {
		if got := c.packetsFrom(host.peerID); got != counts[i] {
			t.Errorf("%s received %d packets between 300ms and 800ms after the kick", c.userID, got-counts[i])
		}
		if seq := c.maxSeqFrom(host.peerID); seq > seqAtKick {
			t.Errorf("%s received sequence number %d, sent after the kick (last before: %d)", c.userID, seq, seqAtKick)
		}
		if tr := c.lastTracks(); len(tr) != 0 {
			t.Errorf("%s: tracks after the kick: %+v", c.userID, tr)
		}
		if c.offerCount() != 1 {
			t.Errorf("%s: offers %d, want 1 (no renegotiation)", c.userID, c.offerCount())
		}
	}
	if st := s.Stats(); st.Tracks != 0 || st.Subscriptions != 0 {
		t.Errorf("stats after kick %+v", st)
	}
	waitFor(t, 5*time.Second, "the publish PC closed by the server", func() bool { return !host.part.hasPublishPC() })

	// An offer now is refused.
	if _, err := host.part.HandlePublishOffer(validOffer(t, api), nil); codeOf(err) != protocol.CodeMediaRefused {
		t.Errorf("offer after the kick: %v, want 4040", err)
	}

	// Back on stage with a new publish PC: forwarding resumes.
	s.SetPublishing("m3", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	for _, c := range subs {
		waitFor(t, flowTimeout, c.userID+" receiving again", func() bool {
			return c.liveFrom(host.peerID) == 1 && c.packetsFrom(host.peerID) >= counts[0]+20
		})
	}
}

// An offer from a user who is not ON_STAGE is refused with 4040 and nothing
// of theirs is forwarded; bad SDP is 4041.
func TestOfferRefusedWhenNotOnStage(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "m4", "viewer")
	sneaky := joinClient(t, s, api, "m4", "sneaky")
	err := sneaky.publish()
	if codeOf(err) != protocol.CodeMediaRefused {
		t.Fatalf("publish while OFF_STAGE: %v, want 4040", err)
	}
	// Other stage statuses refuse too.
	for _, st := range []stage.Status{stage.Requested, stage.Accepted, stage.OffStage} {
		s.SetPublishing("m4", "sneaky", st == stage.OnStage)
		if _, err := sneaky.part.HandlePublishOffer(validOffer(t, api), nil); codeOf(err) != protocol.CodeMediaRefused {
			t.Errorf("offer while %s: %v, want 4040", st, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if st := s.Stats(); st.PacketsIn != 0 || st.PacketsOut != 0 || st.Tracks != 0 {
		t.Errorf("stats %+v", st)
	}
	if viewer.offerCount() != 0 || viewer.packetsFrom(sneaky.peerID) != 0 {
		t.Errorf("viewer got %d offers, %d packets", viewer.offerCount(), viewer.packetsFrom(sneaky.peerID))
	}

	// Allowed now, but the offer is garbage: 4041. The hub's dispatcher
	// gives the same codes.
	s.SetPublishing("m4", "sneaky", true)
	if _, err := sneaky.part.HandlePublishOffer("v=0 nonsense", nil); codeOf(err) != protocol.CodeMediaFailed {
		t.Errorf("garbage offer: %v, want 4041", err)
	}
	if _, err := s.HandleMessage("m4", "viewer", protocol.ClientMessage{Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: validOffer(t, api)}); codeOf(err) != protocol.CodeMediaRefused {
		t.Errorf("viewer's offer via HandleMessage: %v, want 4040", err)
	}
	if _, err := s.HandleMessage("m4", "viewer", protocol.ClientMessage{Type: protocol.TypeMediaAnswer, PC: protocol.PCSubscribe, SDP: "x"}); codeOf(err) != protocol.CodeMediaFailed {
		t.Errorf("answer without an offer: %v, want 4041", err)
	}
	if _, err := s.HandleMessage("m4", "nobody", protocol.ClientMessage{Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: "x"}); codeOf(err) != protocol.CodeMediaFailed {
		t.Errorf("offer from a user who did not join: %v, want 4041", err)
	}
	res, err := s.HandleMessage("m4", "sneaky", protocol.ClientMessage{Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: validOffer(t, api)})
	if err != nil || res.PC != protocol.PCPublish || !strings.Contains(res.SDP, "a=recvonly") {
		t.Errorf("allowed offer via HandleMessage: %v, %+v", err, res)
	}
	if err := sneaky.part.HandleCandidate("nope", protocol.ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}); codeOf(err) != protocol.CodeBadArgs {
		t.Errorf("candidate for an unknown PC: %v", err)
	}
}

// Leave removes the user's tracks from everyone, closes its connections,
// and leaves no goroutine behind.
func TestLeaveCleansUp(t *testing.T) {
	base := runtime.NumGoroutine()
	s, err := New(Config{SettingEngine: loopback, GatherTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	api := clientAPI(t)
	v1 := joinClient(t, s, api, "m5", "v1")
	v2 := joinClient(t, s, api, "m5", "v2")
	host := joinClient(t, s, api, "m5", "host")
	s.SetPublishing("m5", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*tclient{v1, v2} {
		waitFor(t, flowTimeout, c.userID+" receiving", func() bool { return c.packetsFrom(host.peerID) >= 20 })
	}
	s.Leave("m5", "host")
	s.Leave("m5", "host") // twice is harmless
	for _, c := range []*tclient{v1, v2} {
		waitFor(t, flowTimeout, c.userID+"'s track removed", func() bool { return c.liveFrom(host.peerID) == 0 })
	}
	if st := s.Stats(); st.Participants != 2 || st.Tracks != 0 || st.Subscriptions != 0 {
		t.Errorf("stats after the host left %+v", st)
	}
	if _, err := host.part.HandlePublishOffer("x", nil); codeOf(err) != protocol.CodeMediaFailed {
		t.Errorf("offer after leaving: %v, want 4041", err)
	}
	s.Leave("m5", "v1")
	s.Leave("m5", "v2")
	if st := s.Stats(); st.Meetings != 0 || st.Participants != 0 {
		t.Errorf("stats after everyone left %+v", st)
	}
	for _, c := range []*tclient{v1, v2, host} {
		c.close()
	}
	// Everything the SFU started ends without Close.
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("SFU goroutines still running 10s after everyone left")
	}
	s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", base, n, buf[:runtime.Stack(buf, true)])
	}
	if _, err := s.Join("m5", "again", "p", &chanSignaler{ch: make(chan sigMsg, 1)}); err == nil {
		t.Error("Join after Close succeeded")
	}
}

// A reconnect (Join again) replaces the participant and keeps the right to
// publish.
func TestRejoinKeepsPublishing(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "m6", "viewer")
	host := joinClient(t, s, api, "m6", "host")
	s.SetPublishing("m6", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving", func() bool { return viewer.packetsFrom(host.peerID) >= 20 })
	host.close()
	again := joinClient(t, s, api, "m6", "host")
	waitFor(t, flowTimeout, "old track removed", func() bool { return viewer.liveFrom(host.peerID) == 0 })
	if _, err := host.part.HandlePublishOffer("x", nil); codeOf(err) != protocol.CodeMediaFailed {
		t.Errorf("the replaced participant: %v, want 4041", err)
	}
	if err := again.publish(); err != nil {
		t.Fatalf("republish after rejoin: %v", err)
	}
	waitFor(t, flowTimeout, "viewer receiving the rejoined host", func() bool { return viewer.liveFrom(host.peerID) == 1 })
}

// A subscribe PC that fails (here: closed by the client) is replaced by a
// new one, offered with new ICE credentials; media flows again.
func TestSubscribePCRestart(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "m7", "viewer")
	host := joinClient(t, s, api, "m7", "host")
	s.SetPublishing("m7", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving", func() bool { return viewer.packetsFrom(host.peerID) >= 20 })
	viewer.closeSubscribePC()
	waitFor(t, flowTimeout, "a new subscribe PC receiving", func() bool {
		viewer.mu.Lock()
		restarts := viewer.restarts
		viewer.mu.Unlock()
		live := viewer.tracksFrom(host.peerID)
		return restarts == 1 && len(live) == 2 && live[1].packets.Load() >= 20
	})
	if st := s.Stats(); st.Subscriptions != 1 {
		t.Errorf("subscriptions %d, want 1 (the old copy dropped)", st.Subscriptions)
	}
	if err := viewer.errs(); err != nil {
		t.Error(err)
	}
}

// Publishing toggled on and off quickly while the client keeps offering and
// sending ends, when it ends off, with nothing forwarded.
func TestPublishingTogglesConverge(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "m8", "viewer")
	host := joinClient(t, s, api, "m8", "host")
	for i := range 8 {
		s.SetPublishing("m8", "host", true)
		done := make(chan error, 1)
		go func() { done <- host.publish() }()
		time.Sleep(time.Duration(i*15) * time.Millisecond)
		s.SetPublishing("m8", "host", false)
		if err := <-done; err != nil && codeOf(err) != protocol.CodeMediaRefused {
			t.Fatalf("round %d: publish: %v", i, err)
		}
	}
	seq := host.lastSeq.Load()
	time.Sleep(500 * time.Millisecond)
	in := s.Stats().PacketsIn
	time.Sleep(500 * time.Millisecond)
	st := s.Stats()
	if st.PacketsIn != in || st.Tracks != 0 || st.Subscriptions != 0 {
		t.Errorf("still forwarding after the last kick: %+v (packets in then %d)", st, in)
	}
	if got := viewer.maxSeqFrom(host.peerID); got > seq {
		t.Errorf("viewer received sequence number %d, sent after the last kick (%d)", got, seq)
	}
	waitFor(t, 5*time.Second, "the publish PC closed", func() bool { return !host.part.hasPublishPC() })
	waitFor(t, flowTimeout, "no live track at the viewer", func() bool { return viewer.liveFrom(host.peerID) == 0 })
	// And on again: it works.
	s.SetPublishing("m8", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving", func() bool {
		return viewer.liveFrom(host.peerID) == 1 && viewer.maxSeqFrom(host.peerID) > seq+20
	})
}

func TestTooManyTracksAndStreamIDs(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	host := joinClient(t, s, api, "m9", "host")
	s.SetPublishing("m9", "host", true)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for range defaultMaxPublishTracks + 1 {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.part.HandlePublishOffer(offer.SDP, nil); codeOf(err) != protocol.CodeMediaFailed {
		t.Errorf("offer with %d videos: %v, want 4041", defaultMaxPublishTracks+1, err)
	}
	for id, ok := range map[string]bool{"peer-1": true, "a.b_c": true, "": false, "has space": false, "{braces}": false, strings.Repeat("x", 65): false} {
		if got := streamID(id, s); (got == id) != ok || got == "" {
			t.Errorf("streamID(%q) = %q", id, got)
		}
	}
}

func TestWantsKeyframe(t *testing.T) {
	marshal := func(pkts ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rr := &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2}}}
	nack := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 5}}}
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"rr", marshal(rr), false},
		{"rr+nack", marshal(rr, nack), false},
		{"rr+pli", marshal(rr, &rtcp.PictureLossIndication{MediaSSRC: 2}), true},
		{"fir", marshal(&rtcp.FullIntraRequest{MediaSSRC: 2, FIR: []rtcp.FIREntry{{SSRC: 2}}}), true},
		{"remb", marshal(&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 1e6, SSRCs: []uint32{2}}), false},
		{"truncated", marshal(rr, &rtcp.PictureLossIndication{MediaSSRC: 2})[:10], false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		if got := wantsKeyframe(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestMessageSignaler(t *testing.T) {
	var got []protocol.ServerMessage
	sig := MessageSignaler(func(m protocol.ServerMessage) { got = append(got, m) })
	idx := uint16(0)
	sig.SendTracks(nil)
	sig.SendOffer("sdp", false)
	sig.SendCandidate(protocol.PCPublish, protocol.ICECandidate{Candidate: "c", SDPMLineIndex: &idx})
	if len(got) != 3 {
		t.Fatal(got)
	}
	if m := got[0]; m.Type != protocol.TypeMedia || m.Event != protocol.MediaTracks || m.Tracks == nil {
		t.Errorf("tracks %+v", m)
	}
	if m := got[1]; m.Event != protocol.MediaOffer || m.PC != protocol.PCSubscribe || m.SDP != "sdp" {
		t.Errorf("offer %+v", m)
	}
	if m := got[2]; m.Event != protocol.MediaCandidate || m.PC != protocol.PCPublish || m.Candidate.Candidate != "c" || *m.Candidate.SDPMLineIndex != 0 {
		t.Errorf("candidate %+v", m)
	}
}

func TestConfigValidation(t *testing.T) {
	s, err := New(Config{UDPPortMin: 40000, UDPPortMax: 40100, NAT1To1IPs: []string{"203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Join("m", "u", "p", nil); err == nil {
		t.Error("Join without a Signaler succeeded")
	}
}

// validOffer is a real publish offer (one VP8 track) from a throwaway PC.
func validOffer(t testing.TB, api *webrtc.API) string {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// tracksOf lists the forwarded sources of a user.
func (s *SFU) tracksOf(meetingID, userID string) []*source {
	m := s.meeting(meetingID)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*source
	for _, src := range m.sources {
		if src.owner.userID == userID {
			out = append(out, src)
		}
	}
	return out
}

func (p *Participant) hasPublishPC() bool {
	p.pub.mu.Lock()
	defer p.pub.mu.Unlock()
	return p.pub.sess != nil
}

// When one presenter leaves the stage and another comes on, the viewer's
// slot is rebound: the same SSRC carries the new presenter from its first
// keyframe on, the sequence numbers run on without a gap, the viewer is
// told whose track it is, and nothing is renegotiated.
func TestSlotSwitchIsContinuous(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "sw", "viewer")
	a := joinClient(t, s, api, "sw", "a")
	b := joinClient(t, s, api, "sw", "b")
	b.keyEvery.Store(20) // mostly interframes: a switch must wait for a keyframe
	s.SetPublishing("sw", "a", true)
	if err := a.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving a", func() bool { return viewer.packetsFrom(a.peerID) >= 50 })
	ssrcA := viewer.tracksFrom(a.peerID)[0].remote.SSRC()

	// b publishes while a is still on: a second slot.
	s.SetPublishing("sw", "b", true)
	if err := b.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving b", func() bool { return viewer.packetsFrom(b.peerID) >= 50 })
	// a leaves; b stays on its slot. Then a comes back: a's new track takes
	// the free slot (a's old one) again.
	s.SetPublishing("sw", "a", false)
	waitFor(t, flowTimeout, "a's slot freed", func() bool { return viewer.liveFrom(a.peerID) == 0 })
	a.keyEvery.Store(20)
	s.SetPublishing("sw", "a", true)
	if err := a.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving a again", func() bool {
		tr := viewer.tracksFrom(a.peerID)
		return len(tr) == 2 && tr[1].packets.Load() >= 50
	})
	tr := viewer.tracksFrom(a.peerID)
	if tr[1].remote.SSRC() != ssrcA {
		t.Errorf("a came back on SSRC %d, want its old slot's %d", tr[1].remote.SSRC(), ssrcA)
	}
	for _, rt := range append(tr, viewer.tracksFrom(b.peerID)...) {
		if !rt.firstKey.Load() {
			t.Errorf("%s's first packet on slot %s was not a keyframe", rt.owner, rt.remote.ID())
		}
	}
	viewer.mu.Lock()
	for id, sl := range viewer.slots {
		if g := sl.gaps.Load(); g != 0 {
			t.Errorf("slot %s: %d gaps in its sequence numbers", id, g)
		}
	}
	viewer.mu.Unlock()
	if got := viewer.offerCount(); got != 1 {
		t.Errorf("viewer offers %d, want 1", got)
	}
	if err := viewer.errs(); err != nil {
		t.Error(err)
	}
}

// A viewer that closes its subscribe PC and leaves (a tab closing) gets no
// new offer; one that closes it and stays gets a new PC.
func TestClosedSubscribePC(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	leaving := joinClient(t, s, api, "cl", "leaving")
	staying := joinClient(t, s, api, "cl", "staying")
	host := joinClient(t, s, api, "cl", "host")
	s.SetPublishing("cl", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*tclient{leaving, staying} {
		waitFor(t, flowTimeout, c.userID+" receiving", func() bool { return c.packetsFrom(host.peerID) >= 20 })
	}
	leaving.closeSubscribePC()
	staying.closeSubscribePC()
	time.Sleep(100 * time.Millisecond)
	s.Leave("cl", "leaving")
	waitFor(t, closedGrace+flowTimeout, "staying gets a new subscribe PC", func() bool {
		return staying.offerCount() == 2 && staying.liveFrom(host.peerID) == 1 && staying.packetsFrom(host.peerID) >= 40
	})
	time.Sleep(200 * time.Millisecond)
	if n := leaving.offerCount(); n != 1 {
		t.Errorf("the viewer who left got %d offers, want 1", n)
	}
}

// A source that falls behind sheds: nothing late reaches the viewer, the
// publisher is asked for a keyframe, the shed packets are counted, and
// forwarding resumes (at a keyframe) with no gap in the viewer's sequence.
func TestOverloadSheds(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "shed", "viewer")
	host := joinClient(t, s, api, "shed", "host")
	host.keyEvery.Store(20)
	s.SetPublishing("shed", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "viewer receiving", func() bool { return viewer.packetsFrom(host.peerID) >= 50 })
	src := s.tracksOf("shed", "host")[0]

	// Every packet now counts as having waited too long.
	shed0, in0, plis := s.Stats().PacketsShed, s.Stats().PacketsIn, host.pliCount.Load()
	src.maxDelay.Store(-1)
	time.Sleep(100 * time.Millisecond) // packets in flight arrive
	during := viewer.packetsFrom(host.peerID)
	time.Sleep(300 * time.Millisecond)
	if got := viewer.packetsFrom(host.peerID) - during; got > 0 {
		t.Errorf("the viewer got %d packets while the source shed everything", got)
	}
	// Counted against what came in (the host's pace falls on a loaded
	// machine): all but those queued before the change.
	if shed, in := s.Stats().PacketsShed-shed0, s.Stats().PacketsIn-in0; shed == 0 || shed < in/2 {
		t.Errorf("%d packets counted as shed of %d received in 400ms", shed, in)
	}
	waitFor(t, 2*time.Second, "a keyframe request after the shedding", func() bool { return host.pliCount.Load() > plis })

	src.maxDelay.Store(int64(maxVideoDelay))
	waitFor(t, flowTimeout, "forwarding resumed", func() bool { return viewer.packetsFrom(host.peerID) >= during+50 })
	// No number skipped: a packet the loopback lost on a loaded machine is
	// asked for again (NACK) and fills its gap, a number the server skipped
	// never comes.
	gaps := func() (n int64) {
		viewer.mu.Lock()
		defer viewer.mu.Unlock()
		for _, sl := range viewer.slots {
			n += sl.gaps.Load()
		}
		return n
	}
	for end := time.Now().Add(2 * time.Second); gaps() != 0 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	if g := gaps(); g != 0 {
		t.Errorf("%d gaps in the viewer's sequence numbers after shedding", g)
	}
}
