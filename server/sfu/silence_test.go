package sfu

import (
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/internal/pionlog"
)

// A path's silence, sweep by sweep: silent once unheard for longer than
// the disconnected timeout, heard again at the next packet, failed once
// per silence after the failed timeout more.
func TestSilenceStep(t *testing.T) {
	to := silenceTimeouts{disconnected: 5 * time.Second, failed: 25 * time.Second}
	t0 := time.Unix(1000, 0)
	type step struct {
		at    time.Duration // since t0
		heard bool
		want  silenceChange
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"heard throughout", []step{{1 * time.Second, true, 0}, {4 * time.Second, false, 0}, {6 * time.Second, true, 0}, {10 * time.Second, false, 0}}},
		{"exactly the timeout is not silent", []step{{5 * time.Second, false, 0}, {5*time.Second + 1, false, toldSilent}}},
		{"silent once, then heard", []step{{6 * time.Second, false, toldSilent}, {7 * time.Second, false, 0}, {8 * time.Second, true, toldHeard}, {9 * time.Second, true, 0}}},
		{"silent, then failed once", []step{{6 * time.Second, false, toldSilent}, {31 * time.Second, false, toldFailed}, {40 * time.Second, false, 0}}},
		{"a long gap between sweeps tells both", []step{{31 * time.Second, false, toldSilent | toldFailed}, {32 * time.Second, false, 0}}},
		{"failed, heard, silent again: failed again", []step{
			{31 * time.Second, false, toldSilent | toldFailed}, {32 * time.Second, true, toldHeard},
			{38 * time.Second, false, toldSilent}, {63 * time.Second, false, toldFailed}}},
		{"heard resets the clock", []step{{4 * time.Second, true, 0}, {9 * time.Second, false, 0}, {9*time.Second + 1, false, toldSilent}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := silenceState{last: t0}
			for i, s := range tc.steps {
				if got := st.step(s.heard, t0.Add(s.at), to); got != s.want {
					t.Fatalf("step %d (at %v, heard %v): %03b, want %03b", i, s.at, s.heard, got, s.want)
				}
			}
		})
	}
}

// stunCountConn counts the STUN binding requests a client's socket
// receives, and can drop everything both ways (a black-holed link).
type stunCountConn struct {
	net.PacketConn
	hole     atomic.Bool
	requests atomic.Int64
}

func (c *stunCountConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		if c.hole.Load() {
			continue
		}
		if stun.IsMessage(b[:n]) {
			m := stun.Message{Raw: append([]byte(nil), b[:n]...)}
			if m.Decode() == nil && m.Type == stun.BindingRequest {
				c.requests.Add(1)
			}
		}
		return n, addr, err
	}
}

func (c *stunCountConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.hole.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// TestViewerSilenceOnTap: the tap keeps a subscribe PC's liveness. While
// idle, the viewer's own checks keep it heard and the server's agent sends
// it no check; a viewer whose link goes dark is told silent, heard again
// when its link is back, and, dark past the failed timeout, offered an ICE
// restart. The tap's timeouts are shortened so that this takes seconds;
// the viewer checks every 500 ms (the test clients' keepalive).
func TestViewerSilenceOnTap(t *testing.T) {
	var mu sync.Mutex
	var told []bool
	s, err := New(Config{SettingEngine: loopback, GatherTimeout: time.Second, OnLiveness: func(_, user string, live bool) {
		if user == "viewer" {
			mu.Lock()
			told = append(told, live)
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if !s.tapLiveness {
		t.Fatal("the tap does not keep the subscribe PCs' liveness")
	}
	s.tap.timeouts = silenceTimeouts{disconnected: 1500 * time.Millisecond, failed: 1500 * time.Millisecond}
	seen := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(told)
	}

	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	conn := &stunCountConn{PacketConn: udp}
	viewer := joinClient(t, s, clientAPIWith(t, func(se *webrtc.SettingEngine) {
		loopback(se)
		se.SetICEUDPMux(webrtc.NewICEUDPMux(pionlog.Factory{Log: slog.New(slog.DiscardHandler)}.NewLogger("udpmux"), conn))
	}), "m", "viewer")
	host := joinClient(t, s, clientAPI(t), "m", "host")
	s.SetPublishing("m", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "packets", func() bool { return viewer.packetsFrom(host.peerID) >= 10 })
	host.stopSending()

	// Idle for twice the tap's disconnected timeout: heard all along, and
	// no check from the server.
	checks := conn.requests.Load()
	time.Sleep(2 * s.tap.timeouts.disconnected)
	if got := seen(); len(got) > 0 {
		t.Fatalf("told %v while idle", got)
	}
	if n := conn.requests.Load() - checks; n > 0 {
		t.Errorf("the server sent %d checks on a connected subscribe PC", n)
	}
	viewer.part.sub.candMu.Lock()
	serverPC := viewer.part.sub.pc
	viewer.part.sub.candMu.Unlock()
	if st := serverPC.ICEConnectionState(); st != webrtc.ICEConnectionStateConnected {
		t.Errorf("the server's subscribe PC is %v", st)
	}

	// Dark: silent. Back: heard.
	conn.hole.Store(true)
	waitFor(t, flowTimeout, "the viewer told silent", func() bool { return slices.Equal(seen(), []bool{false}) })
	conn.hole.Store(false)
	waitFor(t, flowTimeout, "the viewer told heard again", func() bool { return slices.Equal(seen(), []bool{false, true}) })

	// Dark past the failed timeout: an ICE restart is offered.
	restarts := viewer.sig.restarts.Load()
	conn.hole.Store(true)
	waitFor(t, flowTimeout, "an ICE restart offered", func() bool { return viewer.sig.restarts.Load() > restarts })
	if got := seen(); !slices.Equal(got, []bool{false, true, false}) {
		t.Errorf("told %v, want [false true false]", got)
	}
	conn.hole.Store(false)
}
