package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"

	"github.com/stagekit/stagekit/internal/udpread"
)

// rtcpTap is the shared socket as pion's ICE mux reads it, with the
// subscribe PCs' RTCP taken out on the way: decrypted and acted on by the
// mux's one reading goroutine, where pion would hand each packet through
// four more (candidate, mux endpoint, SRTP session, the slot's reader),
// a wakeup each. A viewer's reports and keepalives are most of what an
// idle audience costs, and its NACKs and TWCC reports much of what a
// watching one does. The viewer's consent checks are answered here too
// (consent.go), and what is read here keeps the PC's liveness
// (silence.go). Anything else (DTLS, other STUN, a publisher's media,
// RTCP from an address no path claims or that does not decrypt) goes to
// pion as before.
type rtcpTap struct {
	*net.UDPConn // writes, deadlines, Close: the socket's own

	mu       sync.RWMutex
	paths    map[netip.AddrPort]*peerPath
	taken    atomic.Uint64 // RTCP packets handled here
	answered atomic.Uint64 // consent checks answered here

	// The subscribe PCs' liveness (silence.go).
	timeouts silenceTimeouts
	watch    silenceWatch
	swept    []*peerPath // the sweep's

	// Used by the reading goroutine only.
	reader  *udpread.Reader
	plain   []byte
	hdr     rtcp.Header
	consent consentResponder
}

func newRTCPTap(conn *net.UDPConn) *rtcpTap {
	return &rtcpTap{UDPConn: conn, paths: map[netip.AddrPort]*peerPath{}, reader: udpread.New(conn), plain: make([]byte, 0, receiveMTU),
		timeouts: defaultSilenceTimeouts}
}

// receiveMTU bounds what a read takes (pion's ICE reads as much).
const receiveMTU = 8192

// ReadFromAddrPort is what pion's mux reads with (ice.AddrPortReaderWriter).
func (t *rtcpTap) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := t.reader.ReadFromUDPAddrPort(b)
		switch {
		case err != nil:
			return n, from, err
		case isRTCP(b[:n]):
			if t.take(b[:n], from) {
				continue
			}
		case stun.IsMessage(b[:n]):
			if t.answerConsent(b[:n], from) {
				continue
			}
		}
		return n, from, err
	}
}

// WriteToAddrPort completes ice.AddrPortReaderWriter.
func (t *rtcpTap) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return t.UDPConn.WriteToUDPAddrPort(b, to)
}

// ReadFrom is net.PacketConn's read, for callers that do not read by
// AddrPort.
func (t *rtcpTap) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := t.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// pathOf is the registered path of address from, or nil.
func (t *rtcpTap) pathOf(from netip.AddrPort) *peerPath {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.paths[from]
}

// take handles an SRTCP packet from a registered path; false leaves it to
// pion.
func (t *rtcpTap) take(b []byte, from netip.AddrPort) bool {
	pp := t.pathOf(from)
	if pp == nil || pp.recv == nil || pp.onRTCP == nil {
		return false
	}
	plain, err := pp.recv.DecryptRTCP(t.plain[:0], b, &t.hdr)
	if err != nil {
		return false // another peer's keys (a reused address), or garbage: pion decides
	}
	t.plain = plain[:0]
	t.taken.Add(1)
	pp.wasHeard()
	pp.onRTCP(plain)
	return true
}

// answerConsent answers a consent check from a registered path (see
// consent.go); false leaves the packet to pion.
func (t *rtcpTap) answerConsent(b []byte, from netip.AddrPort) bool {
	pp := t.pathOf(from)
	if pp == nil {
		return false
	}
	keys := pp.consent.Load()
	if keys == nil || !t.consent.isConsentCheck(b, keys) || t.consent.answer(from, keys) != nil {
		return false
	}
	t.answered.Add(1)
	pp.wasHeard()
	// A response lost on the way is as one lost on the network: the
	// viewer checks again.
	_, _ = t.UDPConn.WriteToUDPAddrPort(t.consent.resp.Raw, from)
	return true
}

// register makes packets from addr pp's, and forgets old if it was pp's.
func (t *rtcpTap) register(pp *peerPath, old, addr *netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old != nil && t.paths[*old] == pp {
		delete(t.paths, *old)
	}
	if addr != nil {
		t.paths[*addr] = pp
		if pp.live != nil {
			t.watch.start(t.sweep)
		}
	}
}

// sweep tells each path's silence, or its return, to its subscriber
// (silence.go).
func (t *rtcpTap) sweep(now time.Time) {
	t.mu.RLock()
	paths := t.swept[:0]
	for _, pp := range t.paths {
		if pp.live != nil {
			paths = append(paths, pp)
		}
	}
	t.mu.RUnlock()
	for _, pp := range paths {
		ch := pp.silence.step(pp.heard.Swap(false), now, t.timeouts)
		if ch&toldSilent != 0 {
			pp.live.live(false)
		}
		if ch&toldHeard != 0 {
			pp.live.live(true)
		}
		if ch&toldFailed != 0 {
			pp.live.failed()
		}
	}
	clear(paths)
	t.swept = paths[:0]
}

// close ends the sweeps.
func (t *rtcpTap) close() { t.watch.close() }

// registered counts the addresses the tap claims (tests).
func (t *rtcpTap) registered() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.paths)
}

// isRTCP: RFC 7983 puts RTP and RTCP at first bytes 128-191, and RTCP's
// packet types are 192-223.
func isRTCP(b []byte) bool {
	return len(b) >= 8 && b[0] >= 128 && b[0] <= 191 && b[1] >= 192 && b[1] <= 223
}

// newRecvContext is the path's SRTCP decryption, or nil (its packets stay
// pion's).
func newRecvContext(pp *peerPath) *srtp.Context {
	ctx, err := pp.dtls.NewSRTPReceiveContext()
	if err != nil {
		return nil
	}
	return ctx
}
