package sfu

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// consentCheck is a viewer's consent check as a browser (or pion) sends
// it: USERNAME, PRIORITY, the controlled role's tiebreaker,
// MESSAGE-INTEGRITY with the server's password, FINGERPRINT; extra
// setters go before the integrity.
func consentCheck(t testing.TB, username, pwd string, extra ...stun.Setter) *stun.Message {
	t.Helper()
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest, stun.NewUsername(username),
		stun.RawAttribute{Type: stun.AttrPriority, Value: []byte{0x6e, 0, 0x1e, 0xff}}}
	setters = append(setters, extra...)
	if len(extra) == 0 {
		setters = append(setters, controlled)
	}
	setters = append(setters, stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	controlled  = stun.RawAttribute{Type: stun.AttrICEControlled, Value: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	controlling = stun.RawAttribute{Type: stun.AttrICEControlling, Value: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	nominating  = stun.RawAttribute{Type: stun.AttrUseCandidate}
)

// TestConsentChecks: the tap answers a registered path's consent checks
// itself, as pion's agent would, and hands everything else to pion
// unchanged, without an answer.
func TestConsentChecks(t *testing.T) {
	server, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tap := newRTCPTap(server)
	t.Cleanup(func() { server.Close() })
	type datagram struct {
		b    []byte
		from netip.AddrPort
	}
	toPion := make(chan datagram, 16)
	go func() {
		b := make([]byte, receiveMTU)
		for {
			n, from, err := tap.ReadFromAddrPort(b)
			if err != nil {
				close(toPion)
				return
			}
			toPion <- datagram{append([]byte(nil), b[:n]...), from}
		}
	}()
	viewer, err := net.DialUDP("udp4", nil, server.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	stranger, err := net.DialUDP("udp4", nil, server.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	viewerAddr := viewer.LocalAddr().(*net.UDPAddr).AddrPort()

	const user, pwd = "srvU:viewerU", "the server's ICE password!"
	pp := &peerPath{tap: tap}
	pp.consent.Store(&consentKeys{username: user, key: stun.NewShortTermIntegrity(pwd), peerRole: stun.AttrICEControlled})
	pp.remote.Store(&viewerAddr)
	tap.register(pp, nil, &viewerAddr)

	send := func(c *net.UDPConn, m *stun.Message) {
		t.Helper()
		if _, err := c.Write(m.Raw); err != nil {
			t.Fatal(err)
		}
	}
	// answered: the next datagram the viewer gets answers req.
	answered := func(req *stun.Message) {
		t.Helper()
		if err := viewer.SetReadDeadline(time.Now().Add(flowTimeout)); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1500)
		n, err := viewer.Read(b)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		resp := &stun.Message{Raw: b[:n]}
		if err := resp.Decode(); err != nil {
			t.Fatal(err)
		}
		if resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
			t.Fatalf("answer %v %x, want a binding success to %x", resp.Type, resp.TransactionID, req.TransactionID)
		}
		if err := stun.NewShortTermIntegrity(pwd).Check(resp); err != nil {
			t.Errorf("answer's MESSAGE-INTEGRITY: %v", err)
		}
		if err := stun.Fingerprint.Check(resp); err != nil {
			t.Errorf("answer's FINGERPRINT: %v", err)
		}
		var mapped stun.XORMappedAddress
		if err := mapped.GetFrom(resp); err != nil {
			t.Fatal(err)
		}
		if got := (&net.UDPAddr{IP: mapped.IP, Port: mapped.Port}).AddrPort(); netip.AddrPortFrom(got.Addr().Unmap(), got.Port()) != viewerAddr {
			t.Errorf("XOR-MAPPED-ADDRESS %v, want the viewer's %v", got, viewerAddr)
		}
	}
	// toPionUnchanged: the next datagram pion gets is m, as sent from c.
	toPionUnchanged := func(c *net.UDPConn, m *stun.Message) {
		t.Helper()
		select {
		case d := <-toPion:
			if !bytes.Equal(d.b, m.Raw) {
				t.Fatalf("pion got %x, want %x", d.b, m.Raw)
			}
			if want := c.LocalAddr().(*net.UDPAddr).AddrPort(); d.from != want {
				t.Errorf("pion got it from %v, want %v", d.from, want)
			}
		case <-time.After(flowTimeout):
			t.Fatalf("pion got nothing (answered %d)", tap.answered.Load())
		}
	}

	good := consentCheck(t, user, pwd)
	send(viewer, good)
	answered(good)
	if n := tap.answered.Load(); n != 1 {
		t.Errorf("answered %d, want 1", n)
	}

	for _, tc := range []struct {
		name string
		from *net.UDPConn
		m    *stun.Message
	}{
		{"bad MESSAGE-INTEGRITY", viewer, consentCheck(t, user, "another password")},
		{"unknown username", viewer, consentCheck(t, "srvU:someoneElse", pwd)},
		{"our own role (a role conflict)", viewer, consentCheck(t, user, pwd, controlling)},
		{"no role", viewer, consentCheck(t, user, pwd, stun.RawAttribute{Type: stun.AttrPriority, Value: []byte{0, 0, 0, 1}})},
		{"a nomination", viewer, consentCheck(t, user, pwd, controlled, nominating)},
		{"not from the path's address", stranger, consentCheck(t, user, pwd)},
		{"a response", viewer, func() *stun.Message {
			m, err := stun.Build(stun.TransactionID, stun.BindingSuccess, stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}()},
		{"no FINGERPRINT", viewer, func() *stun.Message {
			m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(user), controlled, stun.NewShortTermIntegrity(pwd))
			if err != nil {
				t.Fatal(err)
			}
			return m
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tap.answered.Load()
			send(tc.from, tc.m)
			toPionUnchanged(tc.from, tc.m)
			if n := tap.answered.Load(); n != before {
				t.Errorf("answered %d, want %d", n, before)
			}
			// Nothing answered it: the viewer's next datagram answers the
			// next good check.
			next := consentCheck(t, user, pwd)
			send(viewer, next)
			answered(next)
		})
	}

	// A path whose ICE restarts leaves the checks to pion until its new
	// credentials are known; a viewer who left is not answered.
	pp.forgetConsentKeys()
	send(viewer, good)
	toPionUnchanged(viewer, good)
	pp.consent.Store(&consentKeys{username: user, key: stun.NewShortTermIntegrity(pwd), peerRole: stun.AttrICEControlled})
	pp.close()
	send(viewer, good)
	toPionUnchanged(viewer, good)
}

// FuzzConsentCheck: whatever arrives, the check neither panics nor changes
// the packet, and what it takes for a check gets a valid answer.
func FuzzConsentCheck(f *testing.F) {
	const user, pwd = "srvU:viewerU", "the server's ICE password!"
	keys := &consentKeys{username: user, key: stun.NewShortTermIntegrity(pwd), peerRole: stun.AttrICEControlled}
	f.Add(consentCheck(f, user, pwd).Raw)
	f.Add(consentCheck(f, user, "x").Raw)
	f.Add(consentCheck(f, user, pwd, controlled, nominating).Raw)
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	from := netip.MustParseAddrPort("192.0.2.7:40000")
	var c consentResponder
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := append([]byte(nil), b...)
		ok := c.isConsentCheck(b, keys)
		if !bytes.Equal(b, orig) {
			t.Fatal("the check changed the packet")
		}
		if !ok {
			return
		}
		if err := c.answer(from, keys); err != nil {
			t.Fatalf("answer: %v", err)
		}
		resp := &stun.Message{Raw: append([]byte(nil), c.resp.Raw...)}
		if err := resp.Decode(); err != nil || resp.Type != stun.BindingSuccess {
			t.Fatalf("answer %v, %v", resp.Type, err)
		}
		if err := keys.key.Check(resp); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConsentOnTap: a real viewer's consent checks are answered by the
// tap, its subscribe PC stays connected past pion's disconnected and
// failed timeouts at both ends (pion's agent, which no longer sees those
// checks, lives on its own keepalives' answers), and a viewer who left is
// forgotten. pion's timeouts are shortened in proportion (keepalive
// 0.4 of the disconnected timeout, as pion's 2 s to 5 s) so that the test
// outlives them in seconds.
func TestConsentOnTap(t *testing.T) {
	quick := func(se *webrtc.SettingEngine) {
		loopback(se)
		se.SetICETimeouts(time.Second, time.Second, 400*time.Millisecond)
	}
	var liveMu sync.Mutex
	var silent []string
	s, err := New(Config{SettingEngine: quick, GatherTimeout: time.Second, OnLiveness: func(_, user string, live bool) {
		if !live {
			liveMu.Lock()
			silent = append(silent, user)
			liveMu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	api := clientAPIWith(t, quick)

	viewer := joinClient(t, s, api, "m", "viewer")
	host := joinClient(t, s, api, "m", "host")
	s.SetPublishing("m", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "packets", func() bool { return viewer.packetsFrom(host.peerID) >= 10 })
	waitFor(t, flowTimeout, "a consent check answered on the tap", func() bool { return s.tap.answered.Load() > 0 })
	// Idle, past both timeouts twice over: no packet but the checks and
	// the server's keepalives keeps the pair alive now.
	host.stopSending()
	viewer.mu.Lock()
	sub := viewer.sub
	viewer.mu.Unlock()
	viewerICE := make(chan webrtc.ICEConnectionState, 16)
	sub.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) { viewerICE <- st })
	before := s.tap.answered.Load()
	time.Sleep(4 * time.Second)
	if s.tap.answered.Load() <= before {
		t.Error("no consent check answered on the tap while idle")
	}
	select {
	case st := <-viewerICE:
		t.Errorf("the viewer's ICE went %v", st)
	default:
	}
	viewer.part.sub.candMu.Lock()
	serverPC := viewer.part.sub.pc
	viewer.part.sub.candMu.Unlock()
	if st := serverPC.ICEConnectionState(); st != webrtc.ICEConnectionStateConnected {
		t.Errorf("the server's subscribe PC is %v", st)
	}
	liveMu.Lock()
	if len(silent) > 0 {
		t.Errorf("went silent: %v", silent)
	}
	liveMu.Unlock()

	// An ICE restart (the test client answers it with a new PC): the
	// checks go to pion until the answer is applied, and then the tap
	// answers those with the new credentials.
	path := viewer.part.sub.path.Load()
	oldKeys := path.consent.Load()
	if err := viewer.part.sub.restartICE(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "the new credentials", func() bool {
		k := path.consent.Load()
		return k != nil && k.username != oldKeys.username
	})
	restarted := s.tap.answered.Load()
	waitFor(t, flowTimeout, "a check with the new credentials answered on the tap", func() bool { return s.tap.answered.Load() > restarted })

	// A viewer who leaves takes its address with it: checks from there go
	// to pion (TestConsentChecks), which has closed the PC.
	s.Leave("m", "viewer")
	waitFor(t, flowTimeout, "the viewer's address forgotten", func() bool { return s.tap.registered() == 0 })
}
