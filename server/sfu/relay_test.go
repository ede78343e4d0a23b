package sfu

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
)

// relayLink wires an edge's RelayIn to the origin's relay participant in
// one process, as a link between nodes would.
type relayLink struct{ origin atomic.Pointer[Participant] }

func (l *relayLink) SendAnswer(sdp string) {
	go func() { _ = l.origin.Load().HandleSubscribeAnswer(sdp) }()
}

func (l *relayLink) SendCandidate(c protocol.ICECandidate) {
	go func() { _ = l.origin.Load().HandleCandidate(protocol.PCSubscribe, c) }()
}

// startRelay relays meeting m from origin to edge.
func startRelay(t *testing.T, origin, edge *SFU, m string) *RelayIn {
	t.Helper()
	link := &relayLink{}
	in, err := edge.NewRelayIn(m, "origin", link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	p, err := origin.JoinRelay(m, "edge", in.Signaler())
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
