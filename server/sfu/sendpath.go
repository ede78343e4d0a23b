package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// peerPath is where a subscribe PC's packets go when the SFU sends them
// itself: the SFU's one UDP socket (Config.UDPListen) and the remote
// address of the PC's selected ICE pair, kept current when the pair
// changes. Sending itself, the SFU skips pion's per-packet layers (SRTP
// session, mux endpoint, ICE conn, candidate pair): a copy costs its
// encryption and its send. The viewer's RTCP from that address comes back
// the short way too (rtcptap.go). Without Config.UDPListen, every PC has a
// socket of pion's own, and slots write and read through pion.
type peerPath struct {
	pc     *webrtc.PeerConnection
	dtls   *webrtc.DTLSTransport
	tap    *rtcpTap
	conn   *net.UDPConn
	remote atomic.Pointer[netip.AddrPort] // nil: no usable pair

	recv    *srtp.Context               // the viewer's SRTCP (nil: pion reads it)
	onRTCP  func(b []byte)              // on the tap's goroutine
	toPion  func()                      // the viewer's RTCP goes to pion (no keys, or a pair off the socket)
	consent atomic.Pointer[consentKeys] // nil: pion answers the viewer's checks

	// Liveness kept by the tap (silence.go); live nil: pion's agent keeps it.
	live    *pathLiveness
	heard   atomic.Bool  // an authenticated packet came since the last sweep
	silence silenceState // the sweep's own

	mu     sync.Mutex // setPair and close
	closed bool
}

// newPeerPath returns the path for pc, whose ICE just connected, or nil if
// the SFU does not send itself. onRTCP gets the viewer's decrypted RTCP;
// toPion is called when the viewer's RTCP goes to pion instead (the keys
// could not be had, or a pair is not on the shared socket); live, if the
// tap keeps the PC's liveness, is told its silences.
func newPeerPath(pc *webrtc.PeerConnection, tap *rtcpTap, onRTCP func(b []byte), toPion func(), live *pathLiveness) *peerPath {
	if tap == nil {
		return nil
	}
	dtls := pc.SCTP().Transport() // bundled: the PC's one DTLS transport
	ice := dtls.ICETransport()
	pp := &peerPath{pc: pc, dtls: dtls, tap: tap, conn: tap.UDPConn, onRTCP: onRTCP, toPion: toPion, live: live}
	pp.silence.last = time.Now()
	pp.recv = newRecvContext(pp)
	if pp.recv == nil && toPion != nil {
		toPion()
	}
	pp.readConsentKeys()
	ice.OnSelectedCandidatePairChange(pp.setPair)
	if pair, err := ice.GetSelectedCandidatePair(); err == nil {
		pp.setPair(pair)
	}
	return pp
}

// setPair follows the selected pair. A pair whose local side is not the
// shared socket (a relay) is not ours to send on: the slot falls back to
// pion's path until the pair changes again.
func (pp *peerPath) setPair(pair *webrtc.ICECandidatePair) {
	var to *netip.AddrPort
	if pair != nil && pair.Local != nil && pair.Remote != nil &&
		pair.Local.Protocol == webrtc.ICEProtocolUDP && pair.Local.Typ != webrtc.ICECandidateTypeRelay {
		if addr, err := netip.ParseAddr(pair.Remote.Address); err == nil {
			ap := netip.AddrPortFrom(addr.Unmap(), pair.Remote.Port)
			to = &ap
		}
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.closed {
		return
	}
	old := pp.remote.Swap(to)
	pp.tap.register(pp, old, to)
	if to == nil && pair != nil && pp.toPion != nil {
		pp.toPion()
	}
	if to != nil {
		pp.heard.Store(true) // pion's agent chose it: it heard from there
	}
}

// wasHeard notes an authenticated packet from the viewer (the tap's
// reader, and pion's agent connecting again after a restart).
func (pp *peerPath) wasHeard() {
	if pp != nil && !pp.heard.Load() {
		pp.heard.Store(true)
	}
}

// readConsentKeys takes the PC's current ICE credentials for the viewer's
// consent checks (consent.go): when it connects and when an answer was
// applied (which may change them).
func (pp *peerPath) readConsentKeys() {
	if pp == nil {
		return
	}
	pp.consent.Store(readConsentKeys(pp.dtls.ICETransport()))
}

// forgetConsentKeys leaves the viewer's checks to pion: the PC's ICE
// restarts, and its credentials change.
func (pp *peerPath) forgetConsentKeys() {
	if pp == nil {
		return
	}
	pp.consent.Store(nil)
}

// close stops the path's reading: the PC is gone or replaced.
func (pp *peerPath) close() {
	if pp == nil {
		return
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.closed = true
	pp.tap.register(pp, pp.remote.Load(), nil)
}

// slotSender is one slot's own SRTP context on its PC's path: encrypting
// only the slot's SSRC, it keeps that SSRC's rollover counter, so a slot
// never mixes this path with pion's.
type slotSender struct {
	path  *peerPath
	pace  *pacer // the viewer's
	ctx   *srtp.Context
	plain []byte // the packet in the clear
	enc   []byte // encrypted
}

func newSlotSender(path *peerPath, pace *pacer) *slotSender {
	ctx, err := path.dtls.NewSRTPSendContext()
	if err != nil {
		return nil
	}
	return &slotSender{path: path, pace: pace, ctx: ctx, plain: make([]byte, 0, 1500), enc: make([]byte, 0, pacedMax)}
}

// send encrypts one packet and has the viewer's pacer send it; false if it
// could not (the pair is gone: ICE will fail or change it).
func (ss *slotSender) send(h *rtp.Header, payload []byte, kind pacedKind, tw twccStamp, now int64) bool {
	to := ss.path.remote.Load()
	if to == nil {
		return false
	}
	n := h.MarshalSize()
	buf := ss.plain[:n+len(payload)]
	if _, err := h.MarshalTo(buf); err != nil {
		return false
	}
	copy(buf[n:], payload)
	out, err := ss.ctx.EncryptRTP(ss.enc[:0], buf, h)
	if err != nil {
		return false
	}
	ss.enc = out[:0]
	return ss.pace.send(out, *to, kind, tw, now)
}

// senderReport is a slot's RTCP sender report state: what it sent, for the
// report it sends with a packet at most every senderReportInterval (a slot
// that sends nothing sends no report). A report maps the packet's RTP time
// to the wall clock of its publisher's reports (source.ntpAt): a browser
// plays a stream's audio and video in sync by those, so the slots of one
// publisher must map to one clock, the publisher's.
type senderReport struct {
	packets, octets uint32
	last            int64 // when the last report went, unix ns
}

// count adds a sent packet; true if a report is due with it.
func (r *senderReport) count(payload int, now int64) bool {
	r.packets++
	r.octets += uint32(payload)
	return now-r.last >= int64(senderReportInterval)
}

// report is the report for a packet the slot sent with RTP time ts, whose
// source sent it at srcTS, or nil while the source knows no wall clock.
func (r *senderReport) report(ssrc, ts uint32, src *source, srcTS uint32, now int64) *rtcp.SenderReport {
	ntp, ok := src.ntpAt(srcTS)
	if !ok {
		return nil
	}
	r.last = now
	return &rtcp.SenderReport{SSRC: ssrc, NTPTime: ntp, RTPTime: ts, PacketCount: r.packets, OctetCount: r.octets}
}

// clockRef is a publisher's sender report: the wall clock (NTP) of an RTP
// time of its stream.
type clockRef struct {
	ntp uint64
	rtp uint32
}

// ntpAdd adds ns nanoseconds to an NTP time.
func ntpAdd(ntp uint64, ns int64) uint64 {
	sec, rem := ns/int64(time.Second), ns%int64(time.Second)
	if rem < 0 {
		sec, rem = sec-1, rem+int64(time.Second)
	}
	return ntp + uint64(sec)<<32 + uint64(rem<<32/int64(time.Second))
}

// ntpTime converts unix nanoseconds to the 64-bit NTP format.
func ntpTime(unixNano int64) uint64 {
	const ntpEpochOffset = 2208988800 // 1900 to 1970, in seconds
	sec := uint64(unixNano/int64(time.Second)) + ntpEpochOffset
	frac := uint64(unixNano%int64(time.Second)) << 32 / uint64(time.Second)
	return sec<<32 | frac
}
