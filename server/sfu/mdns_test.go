package sfu

import (
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// quietChecksConn holds back the connectivity checks its agent starts
// (STUN binding requests) until open: the SFU's own checks, to whatever
// it learned of the viewer's address, decide the pair then. It answers
// the SFU's checks as usual.
type quietChecksConn struct {
	net.PacketConn
	open time.Time
}

func (c *quietChecksConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if len(b) >= 20 && b[0] == 0x00 && b[1] == 0x01 && time.Now().Before(c.open) {
		return len(b), nil // a binding request, dropped
	}
	return c.PacketConn.WriteTo(b, addr)
}

// A browser that has not asked for a camera hides its addresses behind
// mDNS names (xxx.local); the SFU must not resolve them. It did (pion's
// default) when its own check to the resolved address came first, and the
// selected pair's remote then carried the name: the SFU's send path
// (sendpath.go) found no address in it and dropped every packet, so the
// viewer got nothing at all, for good, its connection "connected"
// (seen at load in e2e/adapt.test.mjs: ICE and DTLS done, then only
// consent checks for a minute). The viewer's checks must make the pair.
func TestViewerWithMDNSCandidatesGetsMedia(t *testing.T) {
	ip := firstNonLoopbackIPv4(t)
	onIP := func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIPFilter(func(a net.IP) bool { return a.Equal(ip) })
		se.SetICETimeouts(5*time.Second, 10*time.Second, 500*time.Millisecond)
	}
	// The SFU as deployed: no mDNS setting of the test's.
	s, err := New(Config{SettingEngine: onIP, GatherTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	host := joinClient(t, s, clientAPIWith(t, onIP), "md", "host")

	udp, err := net.ListenPacket("udp4", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = udp.Close() })
	quiet := &quietChecksConn{PacketConn: udp, open: time.Now().Add(700 * time.Millisecond)}
	viewerAPI := clientAPIWith(t, func(se *webrtc.SettingEngine) {
		onIP(se)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryAndGather) // candidates named xxx.local
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, quiet))
	})
	viewer := joinClient(t, s, viewerAPI, "md", "viewer")
	s.SetPublishing("md", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "the viewer with mDNS candidates receiving", func() bool { return viewer.packetsFrom(host.peerID) >= 20 })
}

// firstNonLoopbackIPv4 is an address of this machine that is not
// loopback (mDNS is multicast, which loopback does not carry). A machine
// without one cannot resolve mDNS names either: the test is skipped.
func firstNonLoopbackIPv4(t *testing.T) net.IP {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.To4()
			}
		}
	}
	t.Skip("no non-loopback IPv4 interface with multicast: no mDNS here")
	return nil
}
