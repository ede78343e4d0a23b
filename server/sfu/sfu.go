package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/internal/pionlog"
	"github.com/stagekit/stagekit/protocol"
)

// Config configures an SFU. The zero value is usable: any UDP port, no ICE
// servers, no logging.
type Config struct {
	// ICEServers are given to every peer connection (STUN/TURN). An SFU
	// with a public address usually needs none.
	ICEServers []webrtc.ICEServer
	// UDPListen is the one UDP address (e.g. ":50000") that every peer
	// connection shares (pion's ICE UDP mux): one port to open in a
	// firewall, one socket for all media, on which the slots send their
	// packets themselves (sendpath.go). Empty, with no UDPPortMin and
	// UDPPortMax: one socket on any free port.
	UDPListen string
	// UDPPortMin and UDPPortMax, set instead of UDPListen, give each peer
	// connection a socket of its own from that range; slots then write
	// through pion, at more CPU per copy.
	UDPPortMin, UDPPortMax uint16
	// NAT1To1IPs are the public IPs of a server behind 1:1 NAT (e.g. a cloud
	// VM's elastic IP): they replace the private addresses in host
	// candidates.
	NAT1To1IPs []string
	// Logger receives the SFU's logs and pion's (pion's at debug level and
	// above). Nil discards them.
	Logger *slog.Logger

	// GatherTimeout bounds how long the server waits for its own ICE
	// candidates before it sends an offer or returns an answer; candidates
	// found later are trickled. Default 500ms.
	GatherTimeout time.Duration
	// AnswerTimeout is how long the server waits for a subscribe answer
	// before it sends the same offer again (at most maxOfferResends times).
	// Default 10s.
	AnswerTimeout time.Duration
	// SlotsPerKind is how many audio and how many video receive slots a
	// subscribe PC starts with (more are added, one renegotiation each, when
	// more people are on stage). Default 3.
	SlotsPerKind int
	// MaxPublishTracks is how many audio/video sections one publish offer
	// may carry. Default 4.
	MaxPublishTracks int
	// Unpaced sends every copy to a viewer at once, as the publisher sent
	// it. By default what goes to each viewer with an estimate is spread
	// over time at its estimate (pacer.go), so that a keyframe or a layer
	// switch does not leave as one burst (README, Pacing).
	Unpaced bool
	// SettingEngine, if set, is applied last to pion's SettingEngine: tests
	// use it to stay on loopback, deployments for anything Config lacks.
	// Subscribe PCs on the shared socket keep no ICE timeouts or
	// keepalives of pion's whatever it sets (the tap keeps their
	// liveness: silence.go).
	SettingEngine func(*webrtc.SettingEngine)
	// OnLiveness, if set, is told when a participant's media goes silent
	// (live false: the ICE of one of its peer connections is disconnected
	// or failed, which pion's agent sees ~5 s after the last packet or
	// consent response; for a subscribe PC on the shared socket, nothing
	// authenticated read from the viewer for 5 s: silence.go) and when it
	// is heard again (every connection connected and heard). Called from
	// pion's goroutines and the tap's sweep;
	// it must not block nor call back into the SFU under a lock the SFU's
	// callers hold.
	OnLiveness func(meetingID, userID string, live bool)
	// Screenshares admits screen shares where the room's stage is decided
	// (screenshare.go); nil refuses every screen share.
	Screenshares Screenshares
}

const (
	defaultGatherTimeout    = 500 * time.Millisecond
	defaultAnswerTimeout    = 10 * time.Second
	defaultSlotsPerKind     = 3
	defaultMaxPublishTracks = 4
	maxOfferResends         = 3
	// coalesceDelay is how long a subscriber waits after a change of the
	// meeting's tracks before it renegotiates, so that changes arriving
	// together (a publisher's audio and video) make one offer.
	coalesceDelay = 20 * time.Millisecond
	// minKeyframeInterval is the least time between two PLIs sent for one
	// track; requests inside the window are coalesced into one at its end.
	// Chromium's encoder drops keyframe requests that follow the previous one
	// closely (~300 ms): at 250 ms a new subscriber's request could be lost
	// and its first frame wait for the next one (join → first frame p90 fell
	// from ~650 to ~500 ms with 350 ms, 40 runs each).
	minKeyframeInterval = 350 * time.Millisecond
	// maxNacksPerPacket is how often the SFU asks a publisher for one lost
	// packet (every 100 ms: half a second of trying, after which a packet
	// is too late for the viewers anyway).
	maxNacksPerPacket = 5
	// maxPendingCandidates bounds the remote candidates queued before their
	// peer connection can take them.
	maxPendingCandidates = 64
	// certRenewBefore: the shared DTLS certificate is replaced when it has
	// less than this left (pion's generated certificates last a month).
	certRenewBefore = 7 * 24 * time.Hour
	closeTimeout    = 10 * time.Second
	// dtlsStallTimeout is how long a subscribe PC may be ICE-connected
	// without its DTLS handshake done before it is replaced by a new one
	// (twice as long for the next one when it stalls too). On a working
	// path the handshake takes one or two round trips after ICE connects.
	dtlsStallTimeout = 2 * time.Second
	// minRestartInterval spaces the replacements of a failed subscribe PC.
	minRestartInterval = 2 * time.Second
	// senderReportInterval spaces the RTCP sender reports of each slot (an
	// idle viewer's main cost; one report is all a browser needs to sync).
	senderReportInterval = 2 * time.Second
	// closedGrace is how long a subscribe PC the client closed waits for
	// the participant to leave before it is replaced.
	closedGrace = 2 * time.Second
)

// SFU forwards the media of ON_STAGE users to everyone in their meeting. It
// is safe for concurrent use.
type SFU struct {
	cfg    Config
	log    *slog.Logger
	api    *webrtc.API // publish PCs: pion's default interceptors
	subAPI *webrtc.API // subscribe PCs: sender reports only
	// relayAPI: an edge's relay PCs, received like publish PCs, on sockets
	// of their own.
	relayAPI *webrtc.API
	fan      fanout
	// The shared socket (Config.UDPListen) as pion reads it, subscribe
	// PCs' RTCP taken out (rtcptap.go); nil with a socket per PC.
	tap *rtcpTap
	// tapLiveness: the tap keeps the subscribe PCs' liveness (silence.go).
	tapLiveness bool
	mux         ice.UDPMux // pion's mux on tap, closed with the SFU

	mu       sync.Mutex
	meetings map[string]*meeting
	closed   bool
	cert     *webrtc.Certificate

	produce produceRules // media kinds each user may publish (produce.go)

	wg    sync.WaitGroup // every goroutine the SFU starts
	seq   atomic.Uint64  // track ids and publish tokens
	stats counters
	// relaysIn counts live RelayIns.
	relaysIn atomic.Int64
}

type counters struct {
	packetsIn, packetsDropped, packetsShed, packetsOut, bytesOut, keyframeRequests, retransmits, retransmitsRefused, catchUps atomic.Uint64
	paced, pacedOverflow                                                                                                      atomic.Uint64
}

// Stats is a snapshot of the SFU's activity. Counters are totals since New.
type Stats struct {
	Meetings     int
	Participants int
	// Tracks is the number of tracks being forwarded (published by a user
	// allowed to publish; a simulcast layer counts as one); Subscriptions
	// the number of (track, subscriber) pairs they are fanned out to.
	Tracks        int
	Subscriptions int
	// PacketsIn counts RTP packets received from allowed publishers and
	// fanned out; PacketsDropped those received from users not allowed to
	// publish (or after they lost the right), which were not forwarded;
	// PacketsShed those not forwarded because the server was behind (they
	// waited too long, or followed a shed video packet up to the next
	// keyframe).
	PacketsIn      uint64
	PacketsDropped uint64
	PacketsShed    uint64
	// PacketsOut counts packet copies handed to subscribers' tracks, BytesOut
	// their size as received.
	PacketsOut uint64
	BytesOut   uint64
	// KeyframeRequests counts PLIs sent to publishers; Retransmits the
	// packets sent again to viewers that reported them lost, and
	// RetransmitsRefused the NACKed packets not sent again (resend.go: too
	// often, too soon, too old, or beyond the viewer's pace); CatchUps the
	// slots started from a source's last keyframe in its history instead
	// of waiting for a new one.
	KeyframeRequests   uint64
	Retransmits        uint64
	RetransmitsRefused uint64
	CatchUps           uint64
	// RelaysOut counts the relays this node sends (JoinRelay participants),
	// RelaysIn those it receives (live RelayIns), over every meeting.
	RelaysOut int
	RelaysIn  int
	// PacketsPaced counts video copies that waited in a viewer's pacer
	// (pacer.go) before they went; PacketsPaceOverflow those its full
	// queue sent ahead of the pace (it never drops one).
	PacketsPaced        uint64
	PacketsPaceOverflow uint64
}

// New builds an SFU. It starts no goroutine and opens no socket until
// participants join.
func New(cfg Config) (*SFU, error) {
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = defaultGatherTimeout
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = defaultAnswerTimeout
	}
	if cfg.SlotsPerKind <= 0 {
		cfg.SlotsPerKind = defaultSlotsPerKind
	}
	if cfg.MaxPublishTracks <= 0 {
		cfg.MaxPublishTracks = defaultMaxPublishTracks
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "sfu")

	pubME, err := mediaEngine()
	if err != nil {
		return nil, err
	}
	pubIR := &interceptor.Registry{}
	// Before pion's receiver reports, which it corrects (outage.go).
	pubIR.Add(outageMaskFactory{})
	// A lost packet is asked for a few times, not for as long as it is in
	// the NACK window: pion's default asks every 100 ms without end, and
	// a layer the browser stopped after an outage keeps its missing
	// numbers in the window for good (the browser resent hundreds of
	// stale packets on an estimate of 30 kbit/s).
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(pubME, pubIR,
		webrtc.WithNackGeneratorOptions(nack.GeneratorMaxNacksPerPacket(maxNacksPerPacket))); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	subME, err := mediaEngine()
	if err != nil {
		return nil, err
	}
	// Viewers report when each packet arrived (TWCC): their downlink
	// estimate (bwe.go). The slots stamp the sequence numbers themselves.
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if err := subME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k); err != nil {
			return nil, fmt.Errorf("sfu: header extensions: %w", err)
		}
	}
	// Subscribe PCs send and receive no media pion must see: the slots
	// encrypt and send their packets themselves (sendpath.go), answer NACKs
	// and send their own sender reports.
	subIR := &interceptor.Registry{}
	se := webrtc.SettingEngine{}
	se.LoggerFactory = pionlog.Factory{Log: log}
	var tap *rtcpTap
	var mux ice.UDPMux
	if listen := cfg.UDPListen; listen != "" || cfg.UDPPortMin == 0 && cfg.UDPPortMax == 0 {
		if listen == "" {
			listen = ":0"
		}
		addr, err := net.ResolveUDPAddr("udp4", listen)
		if err != nil {
			return nil, fmt.Errorf("sfu: UDP listen: %w", err)
		}
		udp, err := net.ListenUDP("udp4", addr)
		if err != nil {
			return nil, fmt.Errorf("sfu: UDP listen: %w", err)
		}
		tap = newRTCPTap(udp)
		muxLog := unspecifiedOK{se.LoggerFactory.NewLogger("udpmux")}
		mux = webrtc.NewICEUDPMux(muxLog, tap)
		se.SetICEUDPMux(mux)
	} else if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("sfu: UDP port range: %w", err)
		}
	}
	// Relay PCs at an edge (relay.go) have sockets of their own: the shared
	// socket's mux tells connections apart by the remote address, and two
	// nodes relaying to each other have a relay PC each way between the same
	// two shared sockets otherwise.
	rse := webrtc.SettingEngine{}
	rse.LoggerFactory = se.LoggerFactory
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := rse.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("sfu: UDP port range: %w", err)
		}
	}
	// One interface list for every agent (ifaces.go).
	nets, err := newInterfaceCache()
	if err != nil {
		return nil, fmt.Errorf("sfu: network interfaces: %w", err)
	}
	for _, e := range []*webrtc.SettingEngine{&se, &rse} {
		e.SetNet(nets)
		// As a DTLS server, no HelloVerifyRequest round: its cookie proves
		// that the client owns its address, which ICE did already (an
		// agent takes packets only from the peer's candidates, signaled or
		// learned by an authenticated check), and it
		// costs a flight each way and a second ClientHello per join
		// (RFC 6347 4.2.1 leaves it to the server).
		e.SetDTLSInsecureSkipHelloVerify(true)
		// As a DTLS client (a publisher's connection: the server answers
		// its offer, active; a relay's), a lost flight goes again every
		// second, not after 1, 2, 4, 8 s: a presenter whose handshake was
		// dropped for 10 s (a middlebox that passes ICE's checks) waited
		// 5 s more for it. A handshake is a few packets.
		e.SetDTLSDisableRetransmitBackoff(true)
		// A viewer's mDNS names (xxx.local: a browser that has not asked
		// for a camera) are not resolved: only the server's own LAN could,
		// the viewer's checks reach the server anyway, and a pair whose
		// remote was resolved from a name carries the name, not an
		// address, which left the send path (sendpath.go) nowhere to send:
		// such a viewer got no media at all (TestViewerWithMDNSCandidatesGetsMedia).
		e.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		if len(cfg.NAT1To1IPs) > 0 {
			if err := e.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
				External:        cfg.NAT1To1IPs,
				AsCandidateType: webrtc.ICECandidateTypeHost,
				Mode:            webrtc.ICEAddressRewriteReplace,
			}); err != nil {
				return nil, fmt.Errorf("sfu: NAT 1:1 IPs: %w", err)
			}
		}
		if cfg.SettingEngine != nil {
			cfg.SettingEngine(e)
		}
	}
	// Subscribe PCs on the shared socket are kept alive by the tap
	// (silence.go): pion's agent sends no keepalives on them and has no
	// timeouts. Not with a TURN server of the server's own: a pair relayed
	// there is not on the shared socket.
	sse := se
	tapLiveness := tap != nil && !hasTURN(cfg.ICEServers)
	if tapLiveness {
		sse.SetICETimeouts(0, 0, 0)
	}
	s := &SFU{
		tap:         tap,
		tapLiveness: tapLiveness,
		mux:         mux,
		cfg:         cfg,
		log:         log,
		api:         webrtc.NewAPI(webrtc.WithMediaEngine(pubME), webrtc.WithInterceptorRegistry(pubIR), webrtc.WithSettingEngine(se)),
		subAPI:      webrtc.NewAPI(webrtc.WithMediaEngine(subME), webrtc.WithInterceptorRegistry(subIR), webrtc.WithSettingEngine(sse)),
		relayAPI:    webrtc.NewAPI(webrtc.WithMediaEngine(pubME), webrtc.WithInterceptorRegistry(pubIR), webrtc.WithSettingEngine(rse)),
		meetings:    map[string]*meeting{},
	}
	if _, err := s.certificate(); err != nil {
		return nil, err
	}
	return s, nil
}

// hasTURN reports whether servers include a TURN server.
func hasTURN(servers []webrtc.ICEServer) bool {
	for _, srv := range servers {
		for _, u := range srv.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				return true
			}
		}
	}
	return false
}

// certificate returns the DTLS certificate shared by all peer connections
// (one key pair instead of one per connection), renewed before it expires.
func (s *SFU) certificate() (webrtc.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert == nil || time.Until(s.cert.Expires()) < certRenewBefore {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("sfu: certificate key: %w", err)
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("sfu: certificate: %w", err)
		}
		s.cert = cert
	}
	return *s.cert, nil
}

// mediaEngine registers the codecs the SFU forwards: one per kind, Opus
// and VP8, so that every slot can carry every source of its kind (a slot's
// codec is fixed when it is negotiated). Every browser sends both.
func mediaEngine() (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: webrtc.TypeRTCPFBTransportCC}}
	for _, c := range []struct {
		params webrtc.RTPCodecParameters
		kind   webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
	} {
		if err := me.RegisterCodec(c.params, c.kind); err != nil {
			return nil, fmt.Errorf("sfu: codecs: %w", err)
		}
	}
	return me, nil
}

func (s *SFU) newPeerConnection(api *webrtc.API) (*webrtc.PeerConnection, error) {
	cert, err := s.certificate()
	if err != nil {
		return nil, err
	}
	return api.NewPeerConnection(webrtc.Configuration{
		ICEServers:   s.cfg.ICEServers,
		Certificates: []webrtc.Certificate{cert},
		BundlePolicy: webrtc.BundlePolicyMaxBundle,
	})
}

func (s *SFU) goroutine(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// Close closes every participant and waits (up to 10s) for the SFU's
// goroutines to end. Join fails afterwards.
func (s *SFU) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	meetings := s.meetings
	s.meetings = map[string]*meeting{}
	s.mu.Unlock()
	for _, m := range meetings {
		m.mu.Lock()
		users := m.users
		m.users = map[string]*user{}
		m.mu.Unlock()
		for _, u := range users {
			u.allow.Store(0)
			if u.part != nil {
				m.detach(u.part)
			}
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		s.log.Error("close: goroutines still running after timeout", "timeout", closeTimeout)
	}
	if s.tap != nil {
		s.tap.close()
		_ = s.mux.Close() // and its socket; first, so that its reader ends quietly
	}
}

// unspecifiedOK logs as its logger does, but pion's warning that a mux on
// an unspecified address (0.0.0.0, the default) should be a socket per
// interface: the slots send on this one socket (sendpath.go) and the
// kernel picks each packet's source address by its route, so it is a
// debug line here, not one every server start shows.
type unspecifiedOK struct{ logging.LeveledLogger }

func (l unspecifiedOK) Warn(msg string) {
	if strings.HasPrefix(msg, "UDPMuxDefault should not") {
		l.Debug(msg)
		return
	}
	l.LeveledLogger.Warn(msg)
}

// UDPAddr is the address of the shared socket (Config.UDPListen), or nil.
func (s *SFU) UDPAddr() net.Addr {
	if s.tap == nil {
		return nil
	}
	return s.tap.LocalAddr()
}

// Join attaches a participant to a meeting; its subscribe PC is created and
// offered when there is first something to forward to it. sig carries the
// server's offers, candidates and track lists to the client.
//
// Joining again with the same user id (a reconnect) replaces the previous
// participant: its peer connections are closed and the client starts afresh
// with the returned one. The user's publishing flag is kept: a user who was
// ON_STAGE may offer its publish PC again at once.
func (s *SFU) Join(meetingID, userID, peerID string, sig Signaler) (*Participant, error) {
	return s.join(meetingID, userID, peerID, sig, "")
}

// join makes the participant; relayTo names the node of a relay (JoinRelay).
func (s *SFU) join(meetingID, userID, peerID string, sig Signaler, relayTo string) (*Participant, error) {
	if meetingID == "" || userID == "" || sig == nil {
		return nil, errors.New("sfu: Join needs a meeting id, a user id and a Signaler")
	}
	m, u, err := s.meetingUser(meetingID, userID)
	if err != nil {
		return nil, err
	}
	p, err := newParticipant(s, m, u, peerID, sig)
	if p != nil {
		p.relay, p.node = relayTo != "", relayTo // before it starts: its loop reads them
	}
	if err != nil {
		m.mu.Lock()
		if u.part == nil && u.allow.Load() == 0 && m.users[userID] == u {
			delete(m.users, userID)
		}
		m.mu.Unlock()
		s.dropIfEmpty(m)
		return nil, err
	}
	m.mu.Lock()
	if m.users[userID] != u {
		// Left while the participant was being made.
		m.mu.Unlock()
		p.close() // not started: it has no peer connection yet
		return nil, errors.New("sfu: the user left while joining")
	}
	old := u.part
	u.part = p
	m.mu.Unlock()
	if old != nil {
		m.detach(old)
	}
	p.start()
	if old != nil {
		// A line for every join was a twentieth of an edge's CPU for a join
		// wave at debug level; a replaced session is the one worth a line.
		s.log.Debug("join replaced a media session", "meeting", meetingID, "user", userID, "peer", peerID)
	}
	return p, nil
}

// Resume moves a user's current media session to a new Signaler (its
// signaling connection was replaced within the grace period): its peer
// connections, slots and tracks stay, and the client restarts ICE on them
// (media.restart, publish offers with ICERestart). It returns nil, changing
// nothing, when the user has no live participant with that peer id; the
// caller then Joins.
func (s *SFU) Resume(meetingID, userID, peerID string, sig Signaler) *Participant {
	if sig == nil {
		return nil
	}
	m := s.meeting(meetingID)
	if m == nil {
		return nil
	}
	m.mu.Lock()
	var p *Participant
	if u := m.users[userID]; u != nil && u.part != nil && !u.part.closed.Load() && u.part.peerID == peerID {
		p = u.part
	}
	m.mu.Unlock()
	if p != nil {
		p.resume(sig)
		s.log.Debug("resume", "meeting", meetingID, "user", userID, "peer", peerID)
	}
	return p
}

// Participant returns the current participant of a user, or nil.
func (s *SFU) Participant(meetingID, userID string) *Participant {
	m := s.meeting(meetingID)
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.users[userID]; u != nil {
		return u.part
	}
	return nil
}

// Leave removes a user from the meeting: its tracks stop being forwarded at
// once and are removed from every subscriber, and both its peer connections
// are closed (in the background). Leaving twice is harmless.
func (s *SFU) Leave(meetingID, userID string) {
	m := s.meeting(meetingID)
	if m == nil {
		return
	}
	m.mu.Lock()
	u := m.users[userID]
	if u == nil {
		m.mu.Unlock()
		return
	}
	delete(m.users, userID)
	u.allow.Store(0)
	p := u.part
	u.part = nil
	m.mu.Unlock()
	if p != nil {
		m.detach(p)
	}
	s.dropIfEmpty(m)
	s.log.Debug("leave", "meeting", meetingID, "user", userID)
}

// SetPublishing says whether a user may publish; the hub calls it for every
// committed stage change, in room order: true for ON_STAGE, false for any
// other status. It may be called before the user joins.
//
// false takes effect on the next packet (an atomic flag checked per
// packet): the user's sources are no longer forwarded even if its client
// keeps sending; their slots are freed at every viewer (a tracks message
// each, no renegotiation), and the user's publish PC is closed in the
// background. After true the user must offer a new publish PC.
func (s *SFU) SetPublishing(meetingID, userID string, onStage bool) {
	m := s.liveMeeting(meetingID)
	if m == nil {
		return
	}
	m.mu.Lock()
	u := m.users[userID]
	if u == nil && !onStage {
		m.mu.Unlock()
		s.dropIfEmpty(m)
		return
	}
	if u == nil {
		u = m.userLocked(userID)
	}
	if onStage {
		if u.allow.Load() == 0 {
			u.allow.Store(s.seq.Add(1))
		}
		m.mu.Unlock()
		return
	}
	u.screen.pending = false
	u.screen.held = false // leaving ON_STAGE ended the slot in the stage
	if u.allow.Swap(0) == 0 {
		m.mu.Unlock()
		s.dropIfEmpty(m)
		return
	}
	removed := m.removeSourcesLocked(func(src *source) bool { return src.owner.u == u })
	p := u.part
	m.wakeLocked(nil)
	m.mu.Unlock()
	for _, src := range removed {
		src.close()
	}
	if p != nil {
		p.pub.drop()
	}
	s.log.Debug("publishing stopped", "meeting", meetingID, "user", userID, "tracks", len(removed))
}

// HandleMessage answers one client media message (media.offer,
// media.answer, media.candidate) of a joined user: the result carries the
// answer SDP for an offer and nothing otherwise. Errors are
// *protocol.ErrorBody: 4040 for an offer from a user who may not publish,
// 4041 for bad SDP, a failed negotiation or a user who has not joined.
func (s *SFU) HandleMessage(meetingID, userID string, msg protocol.ClientMessage) (protocol.ServerMessage, error) {
	p := s.Participant(meetingID, userID)
	if p == nil {
		return protocol.ServerMessage{}, protocol.NewError(protocol.CodeMediaFailed, "no media session for this user")
	}
	switch msg.Type {
	case protocol.TypeMediaOffer:
		if msg.PC != protocol.PCPublish {
			return protocol.ServerMessage{}, protocol.NewError(protocol.CodeBadArgs, "media.offer needs pc %q", protocol.PCPublish)
		}
		answer, err := p.pub.handleOffer(msg.SDP, msg.Sources, msg.ICERestart)
		if err != nil {
			return protocol.ServerMessage{}, err
		}
		return protocol.ServerMessage{PC: protocol.PCPublish, SDP: answer}, nil
	case protocol.TypeMediaAnswer:
		if msg.PC != protocol.PCSubscribe {
			return protocol.ServerMessage{}, protocol.NewError(protocol.CodeBadArgs, "media.answer needs pc %q", protocol.PCSubscribe)
		}
		return protocol.ServerMessage{}, p.HandleSubscribeAnswer(msg.SDP)
	case protocol.TypeMediaCandidate:
		if msg.Candidate == nil {
			return protocol.ServerMessage{}, protocol.NewError(protocol.CodeBadArgs, "media.candidate needs a candidate")
		}
		return protocol.ServerMessage{}, p.HandleCandidate(msg.PC, *msg.Candidate)
	case protocol.TypeMediaRestart:
		if msg.PC != protocol.PCSubscribe {
			return protocol.ServerMessage{}, protocol.NewError(protocol.CodeBadArgs, "media.restart needs pc %q", protocol.PCSubscribe)
		}
		return protocol.ServerMessage{}, p.sub.restartICE()
	}
	return protocol.ServerMessage{}, protocol.NewError(protocol.CodeUnknownType, "not a media message: %q", msg.Type)
}

// Stats returns the SFU's counters and current sizes.
func (s *SFU) Stats() Stats {
	st := Stats{
		PacketsIn:           s.stats.packetsIn.Load(),
		PacketsDropped:      s.stats.packetsDropped.Load(),
		PacketsShed:         s.stats.packetsShed.Load(),
		Retransmits:         s.stats.retransmits.Load(),
		RetransmitsRefused:  s.stats.retransmitsRefused.Load(),
		CatchUps:            s.stats.catchUps.Load(),
		PacketsPaced:        s.stats.paced.Load(),
		PacketsPaceOverflow: s.stats.pacedOverflow.Load(),
		PacketsOut:          s.stats.packetsOut.Load(),
		BytesOut:            s.stats.bytesOut.Load(),
		KeyframeRequests:    s.stats.keyframeRequests.Load(),
	}
	s.mu.Lock()
	ms := make([]*meeting, 0, len(s.meetings))
	for _, m := range s.meetings {
		ms = append(ms, m)
	}
	s.mu.Unlock()
	st.Meetings = len(ms)
	st.RelaysIn = int(s.relaysIn.Load())
	for _, m := range ms {
		m.mu.Lock()
		for _, u := range m.users {
			if u.part != nil {
				st.Participants++
				if u.part.relay {
					st.RelaysOut++
				}
			}
		}
		st.Tracks += len(m.sources)
		for _, src := range m.sources {
			st.Subscriptions += len(*src.slots.Load())
		}
		m.mu.Unlock()
	}
	return st
}

func (s *SFU) meeting(id string) *meeting {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meetings[id]
}

// liveMeeting returns the meeting, made if need be; nil once the SFU is
// closed.
func (s *SFU) liveMeeting(id string) *meeting {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.meetingLocked(id)
}

// meetingUser returns the meeting and its record of userID, both made if
// new. The record is made under both locks so that the meeting cannot be
// dropped as empty meanwhile.
func (s *SFU) meetingUser(meetingID, userID string) (*meeting, *user, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, errors.New("sfu: closed")
	}
	m := s.meetingLocked(meetingID)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m, m.userLocked(userID), nil
}

func (s *SFU) meetingLocked(id string) *meeting {
	m := s.meetings[id]
	if m == nil {
		m = &meeting{s: s, id: id, users: map[string]*user{}}
		s.meetings[id] = m
	}
	return m
}

// dropIfEmpty forgets a meeting with no users.
func (s *SFU) dropIfEmpty(m *meeting) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.users) == 0 && s.meetings[m.id] == m {
		delete(s.meetings, m.id)
	}
}

// meeting is one meeting's users and forwarded sources.
type meeting struct {
	s  *SFU
	id string

	mu      sync.Mutex
	users   map[string]*user
	sources []*source // forwarded, in the order they appeared
}

// user is what the SFU keeps about a user across reconnects.
type user struct {
	id string
	// allow is 0 when the user may not publish, otherwise the token of the
	// current publishing period: sources carry the token they were
	// accepted under and are forwarded only while it is still current, so a
	// quick off-then-on cannot revive an old connection's tracks.
	allow  atomic.Uint64
	part   *Participant // current participant, nil if not joined
	screen screenState  // screen-share policy state (screenshare.go), under meeting.mu
}

func (m *meeting) userLocked(id string) *user {
	u := m.users[id]
	if u == nil {
		u = &user{id: id}
		m.users[id] = u
	}
	return u
}

// wakeLocked asks every participant but except to reconcile its slots.
func (m *meeting) wakeLocked(except *Participant) {
	for _, u := range m.users {
		if p := u.part; p != nil && p != except {
			p.wake()
		}
	}
}

// removeSourcesLocked takes the sources matching drop out of the meeting.
func (m *meeting) removeSourcesLocked(drop func(*source) bool) []*source {
	var removed []*source
	kept := m.sources[:0]
	for _, src := range m.sources {
		if drop(src) {
			removed = append(removed, src)
		} else {
			kept = append(kept, src)
		}
	}
	clear(m.sources[len(kept):])
	m.sources = kept
	return removed
}

// addSource starts forwarding src unless its owner left or lost the right
// to publish since src's connection was set up.
func (m *meeting) addSource(src *source) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := src.owner
	if p.closed.Load() || p.u.allow.Load() != src.token {
		return false
	}
	m.sources = append(m.sources, src)
	m.wakeLocked(p)
	return true
}

// removeSource stops forwarding src (a no-op if it is gone already), and
// the other layers of its track with it.
func (m *meeting) removeSource(src *source) {
	if src.group != nil {
		src.group.close()
	}
	m.mu.Lock()
	removed := m.removeSourcesLocked(func(x *source) bool { return sameTrack(x, src) })
	screen := len(removed) > 0 && src.info.Source == protocol.SourceScreenshare && !src.owner.standIn
	if len(removed) > 0 && !screen {
		m.wakeLocked(nil)
	}
	m.mu.Unlock()
	if screen {
		// The slot goes back before the viewers hear that the track is
		// gone: one of them sharing next is not refused for it.
		m.releaseScreenshare(src.owner.u)
		m.mu.Lock()
		m.wakeLocked(nil)
		m.mu.Unlock()
	}
	src.close()
	for _, x := range removed {
		x.close()
	}
}

// sourcesFor lists the tracks p should receive: everyone's but its own,
// each simulcast track once (as its lead layer). A relay gets every source
// (every layer of a simulcast track, a slot each) but those relayed in
// from its own node: nothing goes back where it came from. With relays in a star (a room's edges to its owner, both ways), a
// track published at an edge goes edge → owner → other edges, once per hop.
func (m *meeting) sourcesFor(p *Participant) []*source {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*source, 0, len(m.sources))
	for _, src := range m.sources {
		if src.owner.u != p.u && (src.group == nil || p.relay || src.group.isLead(src)) && !(p.relay && src.owner.standIn && src.owner.node == p.node) {
			out = append(out, src)
		}
	}
	return out
}

// detach closes a participant that was removed from the meeting's users:
// its sources leave every viewer's slots, its connections close in the
// background.
func (m *meeting) detach(p *Participant) {
	m.mu.Lock()
	p.closed.Store(true)
	removed := m.removeSourcesLocked(func(src *source) bool { return src.owner == p })
	if len(removed) > 0 {
		m.wakeLocked(p)
	}
	m.mu.Unlock()
	screen := false
	for _, src := range removed {
		src.close()
		screen = screen || (src.info.Source == protocol.SourceScreenshare && !p.standIn)
	}
	if screen {
		// Maybe under the hub's lock (Join, Leave): the slot goes back
		// from a goroutine of its own.
		m.s.goroutine(func() { m.releaseScreenshare(p.u) })
	}
	p.close()
}
