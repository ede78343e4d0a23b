package sfu

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// What hosts are told of a participant's media, from its connections' ICE
// states: silent on disconnected or failed, and on a restart that has not
// connected within iceRestartGrace; back only once connected.
func TestICELiveness(t *testing.T) {
	var mu sync.Mutex
	var told []bool
	s := &SFU{cfg: Config{OnLiveness: func(_, _ string, live bool) {
		mu.Lock()
		told = append(told, live)
		mu.Unlock()
	}}}
	p := &Participant{s: s, m: &meeting{s: s, id: "m"}, userID: "u", log: slog.New(slog.DiscardHandler)}
	var stale atomic.Bool
	l := &iceLiveness{p: p, pc: livePublish, stale: stale.Load}
	seen := func(want ...bool) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(told, want) {
			t.Fatalf("told %v, want %v", told, want)
		}
	}
	const (
		checking     = webrtc.ICEConnectionStateChecking
		connected    = webrtc.ICEConnectionStateConnected
		disconnected = webrtc.ICEConnectionStateDisconnected
	)
	l.state(checking) // the first connection: not a restart
	l.state(connected)
	seen()
	l.state(checking) // a restart that connects in time: nothing to tell
	l.state(connected)
	time.Sleep(iceRestartGrace + 200*time.Millisecond)
	seen()
	l.state(checking) // a restart that does not connect: silent after the grace
	time.Sleep(iceRestartGrace + 200*time.Millisecond)
	seen(false)
	l.state(connected)
	seen(false, true)
	l.state(disconnected) // silent at once; the client's restart is not back
	l.state(checking)
	seen(false, true, false)
	l.state(connected)
	seen(false, true, false, true)
	l.state(checking) // a replaced connection's restart tells nothing
	stale.Store(true)
	time.Sleep(iceRestartGrace + 200*time.Millisecond)
	seen(false, true, false, true)
}
