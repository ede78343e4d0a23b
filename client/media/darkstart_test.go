//go:build !js

package media

// A native client whose network is dark for its first seconds: both ICE
// agents (pion, the client's and the server's) send their first checks
// into the dark and give up on every pair. pion now checks a failed pair
// again a second after it failed while nothing is selected (the pion-ice
// patch, third_party/README.md); before, nobody sent a check again and the
// connection stayed checking until ICE failed it at 30 s, beyond these
// tests' 20 s waits.

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/internal/netproxy"
)

// darkUntilPairsFailed waits until pc (once pcOf returns one) has had
// every ICE candidate pair failed at least once, then a second more (for
// the server's agent, which started checking about when the client did and
// gives up about as soon), and lifts the black hole.
func darkUntilPairsFailed(t *testing.T, pcOf func() *webrtc.PeerConnection, lift func()) time.Time {
	t.Helper()
	seen, pairs := map[string]bool{}, 0
	poll(t, "every ICE pair failed in the dark", func() bool {
		pc := pcOf()
		if pc == nil {
			return false
		}
		pairs = 0
		for _, st := range pc.GetStats() {
			if p, ok := st.(webrtc.ICECandidatePairStats); ok {
				pairs++
				if p.State == webrtc.StatsICECandidatePairStateFailed {
					seen[p.ID] = true
				}
			}
		}
		return pairs > 0 && len(seen) == pairs
	})
	time.Sleep(time.Second)
	lift()
	return time.Now()
}

// A viewer whose network is dark from its start until its subscribe
// connection's checks have all failed gets the presenter's media once the
// network is back.
func TestViewerDarkStartGetsMedia(t *testing.T) {
	r := newRoom(t, 20*time.Second)
	viewer, hc, pp := r.holedViewer(t, func(hc *netproxy.HoleConn) { hc.BlackHole(true) })
	lifted := darkUntilPairsFailed(t, viewer.s.subPC, func() { hc.BlackHole(false) })
	viewer.waitMedia("the presenter's media after the dark start", func() bool {
		live := viewer.s.LiveTracksFrom(pp)
		return len(live) == 2 && live[0].Packets() >= 20 && live[1].Packets() >= 20
	})
	t.Logf("media %v after the network came back", time.Since(lifted).Round(time.Millisecond))
}

// A presenter whose network is dark from its start until its publish
// connection's checks have all failed publishes once the network is back.
func TestPresenterDarkStartPublishes(t *testing.T) {
	r := newRoom(t, 20*time.Second)
	host, presenter, hc, video := r.holedPresenter(t, func(hc *netproxy.HoleConn) { hc.BlackHole(true) })
	ctx, cancel := ctxDeadline()
	defer cancel()
	published := make(chan error, 1)
	go func() { published <- presenter.s.Publish(ctx, video) }()
	lifted := darkUntilPairsFailed(t, presenter.s.pubPC, func() { hc.BlackHole(false) })
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	pp := presenter.peerID()
	host.waitMedia("the presenter's video after the dark start", func() bool {
		live := host.s.LiveTracksFrom(pp)
		return len(live) == 1 && live[0].Packets() >= 20
	})
	t.Logf("media %v after the network came back", time.Since(lifted).Round(time.Millisecond))
}
