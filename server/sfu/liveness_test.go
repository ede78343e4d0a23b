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
	s := &SFU{log: slog.New(slog.DiscardHandler), cfg: Config{OnLiveness: func(_, _ string, live bool) {
		mu.Lock()
		told = append(told, live)
		mu.Unlock()
	}}}
	p := &Participant{s: s, m: &meeting{s: s, id: "m"}, userID: "u"}
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

// A connection whose agent has no failed timeout of its own (a subscribe
// PC the tap keeps alive) is failed when checking lasts failAfter: once,
// and not when it connects in time or was replaced.
func TestICELivenessFailsStuckChecking(t *testing.T) {
	s := &SFU{log: slog.New(slog.DiscardHandler)}
	p := &Participant{s: s, m: &meeting{s: s, id: "m"}, userID: "u"}
	var stale atomic.Bool
	var failed atomic.Int32
	const after = 300 * time.Millisecond
	l := &iceLiveness{p: p, pc: liveSubscribe, stale: stale.Load, failAfter: after, failed: func() { failed.Add(1) }}
	l.state(webrtc.ICEConnectionStateChecking) // connects in time
	l.state(webrtc.ICEConnectionStateConnected)
	time.Sleep(after + 200*time.Millisecond)
	if n := failed.Load(); n != 0 {
		t.Fatalf("failed %d times after connecting in time", n)
	}
	l.state(webrtc.ICEConnectionStateChecking) // a restart that never connects
	time.Sleep(after + 200*time.Millisecond)
	if n := failed.Load(); n != 1 {
		t.Fatalf("failed %d times, want once", n)
	}
	stale.Store(true) // replaced: its checking fails nothing
	l.state(webrtc.ICEConnectionStateChecking)
	time.Sleep(after + 200*time.Millisecond)
	if n := failed.Load(); n != 1 {
		t.Fatalf("a replaced connection failed: %d", n)
	}
}
