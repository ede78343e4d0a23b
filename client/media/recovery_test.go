//go:build !js

package media

// Recovery without rejoining: ICE restarts keep both peer connections,
// their tracks and the server's slots; a publisher whose media goes silent
// is shown to hosts as reconnecting and keeps its place.

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/netproxy"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// remoteUfrag is the ICE username fragment of pc's remote description.
func remoteUfrag(pc *webrtc.PeerConnection) string {
	if rd := pc.RemoteDescription(); rd != nil {
		return protocol.ICEUfrag(rd.SDP)
	}
	return ""
}

func (s *Session) subPC() *webrtc.PeerConnection {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub == nil {
		return nil
	}
	return s.sub.pc
}

// RestartICE on the viewer (its subscribe connection) and on the presenter
// (its publish connection): new ICE credentials on the same connections,
// and the viewer goes on receiving the presenter on the track it had.
func TestRestartICEKeepsTracks(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	presenter := r.join("presenter", presetHost)
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	publishAV(t, ctx, presenter)
	pp := presenter.peerID()
	viewer.waitMedia("the presenter's tracks", func() bool {
		live := viewer.s.LiveTracksFrom(pp)
		return len(live) == 2 && live[0].Packets() >= 20 && live[1].Packets() >= 20
	})
	first := viewer.s.LiveTracksFrom(pp)
	subPC, pubPC := viewer.s.subPC(), presenter.s.pubPC()
	subUfrag, pubUfrag := remoteUfrag(subPC), remoteUfrag(pubPC)
	offers := viewer.s.Offers()

	flowing := func(what string) {
		t.Helper()
		at := make([]uint64, len(first))
		for i, tr := range first {
			at[i] = tr.Packets()
		}
		viewer.waitMedia(what, func() bool {
			live := viewer.s.LiveTracksFrom(pp)
			if len(live) != len(first) {
				return false
			}
			for i, tr := range first {
				if live[i] != tr || tr.Packets() < at[i]+20 {
					return false
				}
			}
			return true
		})
	}

	viewer.s.RestartICE()
	viewer.waitMedia("the subscribe ICE restart", func() bool {
		return viewer.s.Offers() > offers && remoteUfrag(subPC) != subUfrag
	})
	flowing("the presenter's tracks after the viewer's restart")
	if viewer.s.subPC() != subPC {
		t.Fatal("the viewer's subscribe connection was replaced, not restarted")
	}

	presenter.s.RestartICE()
	poll(t, "the publish ICE restart", func() bool { return remoteUfrag(pubPC) != pubUfrag })
	flowing("the presenter's tracks after its restart")
	if presenter.s.pubPC() != pubPC {
		t.Fatal("the presenter's publish connection was replaced, not restarted")
	}
	if n := len(viewer.s.TracksFrom(pp)); n != 2 {
		t.Fatalf("the viewer got %d tracks of the presenter, want the 2 it had", n)
	}
}

// poll waits for cond, looking every 10 ms (for state no event announces).
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(deadline); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A presenter whose media goes silent (its UDP black-holed; its WebSocket
// stays up) is shown to hosts as reconnecting, on stage all along, and as
// back once its media is heard again; the host goes on receiving it on the
// same track.
func TestSilentPresenterIsReconnecting(t *testing.T) {
	r := newRoom(t, 20*time.Second)
	host := r.join("host", presetHost)
	presenter, hc := r.darkablePresenter(t, host, nil)
	pp := presenter.peerID()
	first := host.s.LiveTracksFrom(pp)

	var reconnecting, back atomic.Int64 // ns since start
	start := time.Now()
	host.m.On(func(e client.Event) {
		if e.Name == client.EventParticipantConnection && e.Participant.UserID == presenter.id {
			if e.Participant.Reconnecting {
				reconnecting.CompareAndSwap(0, int64(time.Since(start)))
			} else if reconnecting.Load() != 0 {
				back.CompareAndSwap(0, int64(time.Since(start)))
			}
			// host.until woke on this event by the handler registered at
			// join, before this one ran: wake it again, or it waits for
			// an event that may never come.
			poke(host.sig)
		}
	})
	hc.BlackHole(true)
	host.until("the presenter reconnecting", func() bool { return reconnecting.Load() != 0 })
	if st := host.statusOf(presenter.id); st != stage.OnStage {
		t.Fatalf("the presenter is %s at the host while reconnecting", st)
	}
	lifted := time.Now()
	hc.BlackHole(false)
	host.until("the presenter back", func() bool { return back.Load() != 0 })
	at := first[0].Packets()
	host.waitMedia("the presenter's video again, on the same track", func() bool {
		live := host.s.LiveTracksFrom(pp)
		return len(live) == 2 && (live[0] == first[0] || live[1] == first[0]) && first[0].Packets() >= at+20
	})
	if st := host.statusOf(presenter.id); st != stage.OnStage {
		t.Fatalf("the presenter is %s at the host after coming back", st)
	}
	t.Logf("black hole: the host saw the presenter reconnecting after %v, back %v after the lift",
		time.Duration(reconnecting.Load()).Round(time.Millisecond), (time.Duration(back.Load()) - lifted.Sub(start)).Round(time.Millisecond))
}

// A restart the server cannot do is refused with a code and changes
// nothing: no subscribe connection yet (4041), or a restart of the publish
// connection asked as media.restart (4005).
func TestRestartRefusals(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	_, err := viewer.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaRestart, PC: protocol.PCSubscribe})
	if !codeIs(err, protocol.CodeMediaFailed) {
		t.Errorf("restart with no subscribe connection: %v, want 4041", err)
	}
	_, err = viewer.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaRestart, PC: protocol.PCPublish})
	if !codeIs(err, protocol.CodeBadArgs) {
		t.Errorf("media.restart of the publish connection: %v, want 4005", err)
	}
	// An ICE restart offer for a publish connection the server does not have.
	_, err = viewer.m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaOffer, PC: protocol.PCPublish, SDP: "v=0\r\n", ICERestart: true})
	if !codeIs(err, protocol.CodeMediaRefused) {
		t.Errorf("restart offer off stage: %v, want 4040", err)
	}
	if viewer.s.Offers() != 0 || viewer.m.Stage().Status() != stage.OffStage {
		t.Errorf("refusals changed something: %d offers, status %s", viewer.s.Offers(), viewer.m.Stage().Status())
	}
}

// A restart made while the network is still dark runs dry (its checks go
// unanswered and pion stops sending them); the session restarts again
// while the connection stays checking, so media is back soon after the
// network is, not at ICE's failed timeout. That timeout is an hour here:
// without the repeated restarts the presenter would never come back.
func TestRestartInTheDarkIsRepeated(t *testing.T) {
	r := newRoom(t, 20*time.Second)
	host := r.join("host", presetHost)
	restarting := make(chan struct{}, 1)
	presenter, hc := r.darkablePresenter(t, host, func(o *Options) {
		se := o.SettingEngine
		o.SettingEngine = func(e *webrtc.SettingEngine) {
			se(e)
			e.SetICETimeouts(5*time.Second, time.Hour, 2*time.Second)
		}
		o.OnConnectionState = func(transport, state string) {
			if transport == TransportSend && state == "reconnecting" {
				poke(restarting)
			}
		}
	})
	first := host.s.LiveTracksFrom(presenter.peerID())
	pubPC := presenter.s.pubPC()
	ctx, cancel := ctxDeadline()
	defer cancel()

	hc.BlackHole(true)
	select {
	case <-restarting:
	case <-ctx.Done():
		t.Fatal("the presenter never restarted its publish connection in the dark")
	}
	// Long enough for the restart's checks to run out (seven, 200 ms
	// apart, in pion).
	time.Sleep(3 * time.Second)
	hc.BlackHole(false)
	at := first[0].Packets()
	host.waitMedia("the presenter's video again, on the same track", func() bool {
		return first[0].Packets() >= at+20
	})
	if presenter.s.pubPC() != pubPC {
		t.Fatal("the presenter's publish connection was replaced, not restarted")
	}
}

// holeConn is a loopback UDP socket the test can black-hole (all of it,
// or DTLS only), closed with the test.
func holeConn(t *testing.T) *netproxy.HoleConn {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	return &netproxy.HoleConn{PacketConn: udp}
}

// onHoleConn has the client o is for send its media through hc: the
// default API (not the test's shared one), over loopback.
func onHoleConn(o *Options, hc *netproxy.HoleConn) {
	o.API, o.Loopback = nil, true
	o.SettingEngine = func(se *webrtc.SettingEngine) {
		se.SetICEUDPMux(webrtc.NewICEUDPMux(se.LoggerFactory.NewLogger("udpmux"), hc))
	}
}

// holedViewer has a presenter publish video and audio, then joins a viewer
// whose media socket is hc, set by block before the viewer joins (what it
// drops from the start); it returns the viewer, hc and the presenter's
// peer id.
func (r *room) holedViewer(t *testing.T, block func(*netproxy.HoleConn)) (*user, *netproxy.HoleConn, string) {
	t.Helper()
	presenter := r.join("presenter", presetHost)
	ctx, cancel := ctxDeadline()
	t.Cleanup(cancel)
	publishAV(t, ctx, presenter)
	hc := holeConn(t)
	block(hc)
	r.opts = func(o *Options) { onHoleConn(o, hc) }
	viewer := r.join("viewer", presetViewer)
	r.opts = nil
	return viewer, hc, presenter.peerID()
}

// holedPresenter joins a host, then a presenter whose media socket is hc
// (set by block first) and brings it on stage with a synthetic video,
// started; publishing it is the test's.
func (r *room) holedPresenter(t *testing.T, block func(*netproxy.HoleConn)) (host, presenter *user, hc *netproxy.HoleConn, video *Synthetic) {
	t.Helper()
	host = r.join("host", presetHost)
	hc = holeConn(t)
	block(hc)
	r.opts = func(o *Options) {
		onHoleConn(o, hc)
		o.RequestTimeout = deadline
	}
	presenter = r.join("presenter", presetHost)
	r.opts = nil
	ctx, cancel := ctxDeadline()
	defer cancel()
	if err := presenter.m.Stage().Join(ctx); err != nil {
		t.Fatal(err)
	}
	video, err := NewSyntheticVideo()
	if err != nil {
		t.Fatal(err)
	}
	video.Start()
	t.Cleanup(video.Stop)
	return host, presenter, hc, video
}

// darkablePresenter joins a presenter whose media socket the test can
// black-hole (its WebSocket stays up), with its Options adjusted by opts
// if set, and waits until host receives its video and audio.
func (r *room) darkablePresenter(t *testing.T, host *user, opts func(*Options)) (*user, *netproxy.HoleConn) {
	t.Helper()
	hc := holeConn(t)
	r.opts = func(o *Options) {
		onHoleConn(o, hc)
		if opts != nil {
			opts(o)
		}
	}
	presenter := r.join("presenter", presetHost)
	r.opts = nil
	ctx, cancel := ctxDeadline()
	defer cancel()
	publishAV(t, ctx, presenter)
	pp := presenter.peerID()
	host.waitMedia("the presenter's tracks", func() bool {
		live := host.s.LiveTracksFrom(pp)
		return len(live) == 2 && live[0].Packets() >= 20
	})
	return presenter, hc
}

// A viewer whose first subscribe connection connects ICE but never gets
// its DTLS handshake through (a middlebox passes the checks and drops the
// handshake's first packets for a while) gets its media on a new
// connection the server offers. DTLS sends its lost flights again after a
// timer that doubles each time (from 1 s in pion, from 50 ms in Chromium):
// before, nobody noticed, and a viewer whose handshake was dropped for
// 10 s waited 3-5 s more; this one's is dropped until the server offers
// the new connection, so without it the test never sees media.
func TestStalledDTLSGetsANewConnection(t *testing.T) {
	r := newRoom(t, 20*time.Second)
	viewer, hc, pp := r.holedViewer(t, func(hc *netproxy.HoleConn) { hc.DropDTLS(true) })
	var first *webrtc.PeerConnection
	poll(t, "the viewer's subscribe connection ICE-connected", func() bool {
		first = viewer.s.subPC()
		return first != nil && iceUp(first)
	})
	if st := first.ConnectionState(); st != webrtc.PeerConnectionStateConnecting {
		t.Fatalf("the first subscribe connection is %s with its DTLS dropped, want connecting", st)
	}
	poll(t, "a new subscribe connection", func() bool {
		pc := viewer.s.subPC()
		return pc != nil && pc != first
	})
	hc.DropDTLS(false)
	viewer.waitMedia("the presenter's media on the new connection", func() bool {
		live := viewer.s.LiveTracksFrom(pp)
		return len(live) == 2 && live[0].Packets() >= 20 && live[1].Packets() >= 20
	})
	if st := first.ConnectionState(); st != webrtc.PeerConnectionStateClosed {
		t.Errorf("the stalled subscribe connection is %s, want closed", st)
	}
}

// A presenter whose publish connection's DTLS handshake is dropped for a
// while (ICE's checks pass): the server, the DTLS client there, sends its
// lost flight again every second, so the handshake is done within a second
// of the drop's end. pion's default doubles the interval each time (1, 2,
// 4, 8 s...): its sixth flight came 31 s after the first, and a presenter
// whose handshake was dropped for 10 s waited 5 s more. Here the drop
// lasts until six flights were dropped.
func TestPublishDTLSFlightsEverySecond(t *testing.T) {
	r := newRoom(t, 20*time.Second)
	host, presenter, hc, video := r.holedPresenter(t, func(*netproxy.HoleConn) {})
	ctx, cancel := ctxDeadline()
	defer cancel()
	hc.DropDTLS(true)
	published := make(chan error, 1)
	go func() { published <- presenter.s.Publish(ctx, video) }()
	poll(t, "six DTLS flights from the server", func() bool { return hc.DTLSDropped() >= 6 })
	hc.DropDTLS(false)
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	pp := presenter.peerID()
	host.waitMedia("the presenter's video", func() bool {
		live := host.s.LiveTracksFrom(pp)
		return len(live) == 1 && live[0].Packets() >= 20
	})
}
