package sfu

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/internal/pionlog"
	"github.com/stagekit/stagekit/protocol"
)

// loopback keeps pion on 127.0.0.1, UDP4, without mDNS.
func loopback(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICETimeouts(5*time.Second, 10*time.Second, 500*time.Millisecond)
}

func newTestSFU(t testing.TB) *SFU {
	t.Helper()
	s, err := New(Config{SettingEngine: loopback, GatherTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// clientAPI is the pion API of the test clients: default codecs and
// interceptors, loopback only.
func clientAPI(t testing.TB) *webrtc.API {
	t.Helper()
	return clientAPIWith(t, loopback)
}

// clientAPIWith is clientAPI with settings of its own (set, then quiet logs).
func clientAPIWith(t testing.TB, set func(*webrtc.SettingEngine)) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	set(&se)
	se.LoggerFactory = pionlog.Factory{Log: slog.New(slog.DiscardHandler)} // closing sockets makes pion log errors
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// sigMsg is one message the SFU sent a test client.
type sigMsg struct {
	kind       string // "offer", "candidate", "tracks", "layers"
	sdp        string
	iceRestart bool
	pc         string
	candidate  protocol.ICECandidate
	tracks     []protocol.TrackInfo
	paused     []protocol.LayerID
}

// chanSignaler is the in-test hub: it queues the SFU's messages for the
// client's goroutine, never blocking.
type chanSignaler struct {
	ch       chan sigMsg
	overflow atomic.Bool
	restarts atomic.Int32 // offers marked iceRestart
}

func (c *chanSignaler) put(m sigMsg) {
	select {
	case c.ch <- m:
	default:
		c.overflow.Store(true)
	}
}
func (c *chanSignaler) SendOffer(sdp string, iceRestart bool) {
	if iceRestart {
		c.restarts.Add(1)
	}
	c.put(sigMsg{kind: "offer", sdp: sdp, iceRestart: iceRestart})
}
func (c *chanSignaler) SendCandidate(pc string, cand protocol.ICECandidate) {
	c.put(sigMsg{kind: "candidate", pc: pc, candidate: cand})
}
func (c *chanSignaler) SendTracks(tr []protocol.TrackInfo) { c.put(sigMsg{kind: "tracks", tracks: tr}) }
func (c *chanSignaler) SendLayers(paused []protocol.LayerID) {
	c.put(sigMsg{kind: "layers", paused: paused})
}

// recvSlot is a receive slot of a test client's subscribe PC; its current
// binding (per the server's tracks message) counts what arrives.
type recvSlot struct {
	remote *webrtc.TrackRemote
	cur    atomic.Pointer[recvTrack]
	// The RTP sequence numbers seen on the slot: the last one, and how
	// many numbers before the highest never came (gaps: a late packet, a
	// retransmission, fills its own; a number the server skipped stays).
	lastSeq atomic.Int64
	gaps    atomic.Int64
	seqMu   sync.Mutex
	nextSeq uint16
	seqSeen bool
	missing map[uint16]bool
	// For VP8 payloads with picture ids (publishSimulcast's): the last
	// picture id and TL0PICIDX, those skipped that never came (jumps;
	// under seqMu), the simulcast layer of the last packet (payload byte
	// 6), and the layer changes that did not start at a keyframe.
	lastPID, lastTL0          atomic.Int64
	pidJumps, tl0Jumps        atomic.Int64
	missingPID                map[uint16]bool
	missingTL0                map[uint8]bool
	layer                     atomic.Int64
	layerChanges, badSwitches atomic.Int64
	// For a tclient's synthetic payloads (sendLoop: packet index in bytes
	// 2-5, sender tag in 6-9): the current run of packets (one sender's,
	// without a jump in its index: the slot was given to it anew), its
	// last index and whether the run began with a keyframe. Used by the
	// slot's reader goroutine only.
	runTag  uint32
	runLast uint32
	runKey  bool
	// Probe trains seen (runs of padding-only packets; under seqMu), and
	// whether the last other packet ended a frame.
	trains     []seenTrain
	inTrain    bool
	lastMarker bool
	// The last RTCP sender report for the slot's SSRC, and how many came.
	srMu    sync.Mutex
	lastSR  rtcp.SenderReport
	srCount int
}

// checkPictures follows the picture ids, TL0PICIDX and simulcast layer of
// a payload of publishSimulcast's (a picture per packet): a picture id or
// TL0PICIDX skipped that never comes is counted as a jump (a late packet,
// a retransmission, fills its own, as for sequence numbers).
func (sl *recvSlot) checkPictures(b []byte) {
	pid := uint16(binary.BigEndian.Uint16(b[2:]) & 0x7fff)
	tl0 := b[4]
	sl.seqMu.Lock()
	defer sl.seqMu.Unlock()
	if sl.lastPID.Load() >= 0 {
		last, lastTL0 := uint16(sl.lastPID.Load()), uint8(sl.lastTL0.Load())
		d := (pid - last) & 0x7fff
		if d == 0 || d >= 0x8000-64 {
			delete(sl.missingPID, pid)
			delete(sl.missingTL0, tl0)
			sl.pidJumps.Store(int64(len(sl.missingPID)))
			sl.tl0Jumps.Store(int64(len(sl.missingTL0)))
			return
		}
		for p := (last + 1) & 0x7fff; p != pid && len(sl.missingPID) < 10000; p = (p + 1) & 0x7fff {
			sl.missingPID[p] = true
		}
		for t := lastTL0 + 1; t != tl0 && len(sl.missingTL0) < 256; t++ {
			sl.missingTL0[t] = true
		}
		sl.pidJumps.Store(int64(len(sl.missingPID)))
		sl.tl0Jumps.Store(int64(len(sl.missingTL0)))
	} else {
		sl.missingPID, sl.missingTL0 = map[uint16]bool{}, map[uint8]bool{}
	}
	sl.lastPID.Store(int64(pid))
	sl.lastTL0.Store(int64(tl0))
	if layer := int64(b[6]); sl.layer.Swap(layer) != layer {
		sl.layerChanges.Add(1)
		if !vp8Keyframe(b) {
			sl.badSwitches.Add(1)
		}
	}
}

// seenTrain is a probe train as a viewer got it: each packet's padding,
// and whether the packet before it ended a frame.
type seenTrain struct {
	padding     []int
	afterMarker bool
}

// noteTrain follows the probe trains: payload is a packet's, padOnly
// whether it is all padding.
func (sl *recvSlot) noteTrain(payload []byte, padOnly, marker bool) {
	sl.seqMu.Lock()
	defer sl.seqMu.Unlock()
	if !padOnly {
		sl.inTrain, sl.lastMarker = false, marker
		return
	}
	if !sl.inTrain {
		sl.inTrain = true
		sl.trains = append(sl.trains, seenTrain{afterMarker: sl.lastMarker})
	}
	t := &sl.trains[len(sl.trains)-1]
	t.padding = append(t.padding, len(payload))
}

// seenTrains returns the probe trains seen so far that ended.
func (sl *recvSlot) seenTrains() []seenTrain {
	sl.seqMu.Lock()
	defer sl.seqMu.Unlock()
	n := len(sl.trains)
	if sl.inTrain {
		n--
	}
	return slices.Clone(sl.trains[:n])
}

// noteSeq records a sequence number that arrived on the slot.
func (sl *recvSlot) noteSeq(seq uint16) {
	sl.seqMu.Lock()
	defer sl.seqMu.Unlock()
	if !sl.seqSeen {
		sl.seqSeen, sl.nextSeq, sl.missing = true, seq+1, map[uint16]bool{}
		return
	}
	if d := int16(seq - sl.nextSeq); d >= 0 {
		for s := sl.nextSeq; s != seq && len(sl.missing) < 10000; s++ {
			sl.missing[s] = true
		}
		sl.nextSeq = seq + 1
	} else {
		delete(sl.missing, seq)
	}
	sl.gaps.Store(int64(len(sl.missing)))
}

// recvTrack is one binding of a slot to a publisher: a track a test client
// receives.
type recvTrack struct {
	remote  *webrtc.TrackRemote
	owner   string // the publisher's peer id
	packets atomic.Int64
	ended   atomic.Bool
	last    atomic.Int64 // unix nanos of the last packet
	maxSeq  atomic.Int64 // highest packet index received (payload bytes 2-5: the SFU rewrites RTP sequence numbers)
	// firstKey: the binding's first packet started a VP8 keyframe. For a
	// tclient's synthetic video, the first packet of the publisher's run
	// on the slot (the tracks message that makes the binding may come
	// before or after the slot's first packets of the new publisher).
	firstKey atomic.Bool
	tagSeen  atomic.Bool // a packet of the publisher's run was counted
}

// runJump is how far a sender's packet index may skip on a slot within one
// run: more (100 ms of video) is the slot given to it anew, not a loss.
const runJump = 20

// senderTag is what sendLoop writes in payload bytes 6-9: the sending
// peer's id, hashed, never 0.
func senderTag(peerID string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(peerID))
	return h.Sum32() | 1
}

// tclient is a test participant: a pion client wired to the SFU through a
// chanSignaler. It answers subscribe offers, trickles its candidates, and
// counts what it receives; it can publish a VP8 track of synthetic RTP.
type tclient struct {
	t      testing.TB
	s      *SFU
	api    *webrtc.API
	meet   string
	userID string
	peerID string
	part   *Participant
	sig    *chanSignaler
	stop   chan struct{}
	wg     sync.WaitGroup

	mu         sync.Mutex
	sub        *webrtc.PeerConnection
	pub        *webrtc.PeerConnection
	pubCands   []webrtc.ICECandidateInit // server candidates waiting for the answer
	tracksMsg  []protocol.TrackInfo
	tracksMsgs int
	paused     []protocol.LayerID   // the last "layers" message's
	slots      map[string]*recvSlot // by track id
	offers     int
	restarts   int // subscribe PCs replaced at the server's request
	received   []*recvTrack
	subErrs    []error
	pliCount   atomic.Int64 // PLIs received by the publisher
	sentPkts   atomic.Int64
	lastSeq    atomic.Int64 // sequence number of the packet being or last written
	sending    chan struct{}
	sendTrack  *webrtc.TrackLocalStaticRTP
	sendSender *webrtc.RTPSender
	withAudio  bool            // publish also sends an Opus track
	keyEvery   atomic.Int64    // packets between keyframe-looking ones (0, 1: all)
	layersOff  atomic.Uint32   // publishSimulcast does not send the layers of these bits (1<<rank)
	layerPLIs  [3]atomic.Int64 // PLIs publishSimulcast got for each layer, by rank
	muted      atomic.Bool     // publish's packets are numbered but not sent (the network is gone)
	audioTrack *webrtc.TrackLocalStaticRTP
	// onVideo, if set, sees each video packet received: its publisher, its
	// index (the publisher's packet number) and when it arrived.
	onVideo atomic.Pointer[func(owner string, index int64, at int64)]
}

func joinClient(t testing.TB, s *SFU, api *webrtc.API, meet, userID string) *tclient {
	t.Helper()
	c := &tclient{t: t, s: s, api: api, meet: meet, userID: userID, peerID: "peer-" + userID,
		sig: &chanSignaler{ch: make(chan sigMsg, 1024)}, stop: make(chan struct{})}
	p, err := s.Join(meet, userID, c.peerID, c.sig)
	if err != nil {
		t.Fatal(err)
	}
	c.part = p
	c.wg.Add(1)
	go c.run()
	t.Cleanup(c.close)
	return c
}

func (c *tclient) run() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case m := <-c.sig.ch:
			switch m.kind {
			case "tracks":
				c.mu.Lock()
				c.tracksMsg = m.tracks
				c.tracksMsgs++
				for _, sl := range c.slots {
					c.rebindLocked(sl)
				}
				c.mu.Unlock()
			case "offer":
				if err := c.answer(m.sdp); err != nil {
					c.mu.Lock()
					c.subErrs = append(c.subErrs, err)
					c.mu.Unlock()
				}
			case "candidate":
				c.addServerCandidate(m.pc, webrtc.ICECandidateInit(m.candidate))
			case "layers":
				c.mu.Lock()
				c.paused = m.paused
				c.mu.Unlock()
			}
		}
	}
}

// rebindLocked makes sl's binding the one the last tracks message gives.
func (c *tclient) rebindLocked(sl *recvSlot) {
	owner := ""
	for _, ti := range c.tracksMsg {
		if ti.TrackID == sl.remote.ID() {
			owner = ti.PeerID
		}
	}
	cur := sl.cur.Load()
	if cur != nil && cur.owner == owner {
		return
	}
	var next *recvTrack
	if owner != "" {
		next = &recvTrack{remote: sl.remote, owner: owner}
		c.received = append(c.received, next)
	}
	sl.cur.Store(next)
	if cur != nil {
		cur.ended.Store(true)
	}
}

// endSlotsLocked ends every binding of the subscribe PC's slots.
func (c *tclient) endSlotsLocked() {
	for _, sl := range c.slots {
		if cur := sl.cur.Swap(nil); cur != nil {
			cur.ended.Store(true)
		}
	}
	c.slots = nil
}

func (c *tclient) addServerCandidate(pc string, init webrtc.ICECandidateInit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch pc {
	case protocol.PCSubscribe:
		if c.sub != nil {
			_ = c.sub.AddICECandidate(init)
		}
	case protocol.PCPublish:
		if c.pub == nil || c.pub.RemoteDescription() == nil {
			c.pubCands = append(c.pubCands, init)
			return
		}
		_ = c.pub.AddICECandidate(init)
	}
}

// answer handles a subscribe offer, creating the subscribe PC the first
// time; the client's candidates trickle to the SFU as they come.
func (c *tclient) answer(sdp string) error {
	c.mu.Lock()
	if c.sub != nil && c.sub.RemoteDescription() != nil && protocol.ICEUfrag(c.sub.RemoteDescription().SDP) != protocol.ICEUfrag(sdp) {
		// The server replaced our subscribe PC: answer with a new one.
		old := c.sub
		c.sub = nil
		c.restarts++
		c.endSlotsLocked()
		go old.Close()
	}
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			c.mu.Unlock()
			return err
		}
		pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
			if cand != nil {
				_ = c.part.HandleCandidate(protocol.PCSubscribe, protocol.ICECandidate(cand.ToJSON()))
			}
		})
		pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
			sl := &recvSlot{remote: tr}
			sl.lastSeq.Store(-1)
			sl.lastPID.Store(-1)
			sl.layer.Store(-1)
			c.mu.Lock()
			if c.slots == nil {
				c.slots = map[string]*recvSlot{}
			}
			c.slots[tr.ID()] = sl
			c.rebindLocked(sl)
			c.mu.Unlock()
			go func() {
				for {
					pkts, _, err := recv.ReadRTCP()
					if err != nil {
						return
					}
					for _, pk := range pkts {
						if sr, ok := pk.(*rtcp.SenderReport); ok {
							sl.srMu.Lock()
							sl.lastSR, sl.srCount = *sr, sl.srCount+1
							sl.srMu.Unlock()
						}
					}
				}
			}()
			go func() {
				buf := make([]byte, 1500)
				for {
					n, _, err := tr.Read(buf)
					if err != nil {
						return
					}
					var h rtp.Header
					off, err := h.Unmarshal(buf[:n])
					if err != nil {
						continue
					}
					sl.lastSeq.Store(int64(h.SequenceNumber))
					sl.noteSeq(h.SequenceNumber)
					payload := buf[off:n]
					sl.noteTrain(payload, h.Padding && len(payload) > 0 && int(payload[len(payload)-1]) == len(payload), h.Marker)
					if len(payload) >= 7 && payload[0] == 0x90 && payload[1] == 0xc0 {
						sl.checkPictures(payload)
					}
					tag := uint32(0)
					if !h.Padding && len(payload) >= 10 && payload[0] == 0x10 {
						tag = binary.BigEndian.Uint32(payload[6:])
						idx := binary.BigEndian.Uint32(payload[2:])
						if tag != sl.runTag || idx < sl.runLast || idx > sl.runLast+runJump {
							sl.runTag, sl.runKey = tag, vp8Keyframe(payload)
						}
						sl.runLast = idx
					}
					rt := sl.cur.Load()
					if rt == nil {
						continue
					}
					if rt.packets.Add(1) == 1 && len(payload) > 0 && tag == 0 {
						rt.firstKey.Store(vp8Keyframe(payload))
					}
					if tag != 0 && tag == senderTag(rt.owner) && rt.tagSeen.CompareAndSwap(false, true) {
						rt.firstKey.Store(sl.runKey)
					}
					now := time.Now().UnixNano()
					rt.last.Store(now)
					if len(payload) >= 6 {
						seq := int64(binary.BigEndian.Uint32(payload[2:]))
						if seq > rt.maxSeq.Load() {
							rt.maxSeq.Store(seq)
						}
						if f := c.onVideo.Load(); f != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
							(*f)(rt.owner, seq, now)
						}
					}
				}
			}()
		})
		c.sub = pc
	}
	pc := c.sub
	c.offers++
	c.mu.Unlock()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	return c.part.HandleSubscribeAnswer(ans.SDP)
}

// publish offers a publish PC with one VP8 track and starts sending 200
// packets a second until stopSending or close.
func (c *tclient) publish() error {
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "stream-"+c.userID)
	if err != nil {
		return err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return err
	}
	var audio *webrtc.TrackLocalStaticRTP
	if c.withAudio {
		if audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "stream-"+c.userID); err != nil {
			return err
		}
		if _, err := pc.AddTrack(audio); err != nil {
			return err
		}
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			_ = c.part.HandleCandidate(protocol.PCPublish, protocol.ICECandidate(cand.ToJSON()))
		}
	})
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					c.pliCount.Add(1)
				}
			}
		}
	}()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	c.mu.Lock()
	old := c.pub
	c.pub = pc
	c.pubCands = nil
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	answer, err := c.part.HandlePublishOffer(offer.SDP, nil)
	if err != nil {
		_ = pc.Close()
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return err
	}
	c.mu.Lock()
	for _, cand := range c.pubCands {
		_ = pc.AddICECandidate(cand)
	}
	c.pubCands = nil
	c.sendTrack, c.sendSender, c.audioTrack = track, sender, audio
	if c.sending == nil {
		c.sending = make(chan struct{})
		c.wg.Add(1)
		go c.sendLoop(c.sending)
	}
	c.mu.Unlock()
	return nil
}

// sendLoop writes synthetic VP8 RTP (a keyframe-looking payload every 30
// packets) to whatever publish track is current, every 5ms.
func (c *tclient) sendLoop(stop chan struct{}) {
	defer c.wg.Done()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 200)
	tag := senderTag(c.peerID)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}}
	for i := 0; i < 60000; i++ { // 5 minutes: sequence numbers never wrap
		select {
		case <-c.stop:
			return
		case <-stop:
			return
		case <-tick.C:
		}
		c.mu.Lock()
		tr, audio := c.sendTrack, c.audioTrack
		c.mu.Unlock()
		if tr == nil || c.muted.Load() {
			continue
		}
		payload[0] = 0x10 // VP8 descriptor: start of partition
		payload[1] = 1    // VP8 frame tag: an interframe, a keyframe every keyEvery packets
		if k := int(c.keyEvery.Load()); k <= 1 || i%k == 0 {
			payload[1] = 0
		}
		binary.BigEndian.PutUint32(payload[2:], uint32(i))
		binary.BigEndian.PutUint32(payload[6:], tag)
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i/3) * 3000
		pkt.Marker = i%3 == 2
		pkt.Payload = payload
		// Stored before the write: a packet numbered above what a test
		// reads at some instant was written after that instant.
		c.lastSeq.Store(int64(pkt.SequenceNumber))
		if tr.WriteRTP(pkt) == nil {
			c.sentPkts.Add(1)
		}
		if audio != nil && i%4 == 0 {
			pkt.Marker = false
			_ = audio.WriteRTP(pkt)
		}
	}
}

func (c *tclient) stopSending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sending != nil {
		close(c.sending)
		c.sending = nil
	}
}

// sendPLI sends a PLI for a received track, as a browser's decoder would.
func (c *tclient) sendPLI(rt *recvTrack) error {
	c.mu.Lock()
	pc := c.sub
	c.mu.Unlock()
	return pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(rt.remote.SSRC())}})
}

// tracksFrom returns the received tracks (slot bindings) of the peer.
func (c *tclient) tracksFrom(peerID string) []*recvTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*recvTrack
	for _, rt := range c.received {
		if rt.owner == peerID {
			out = append(out, rt)
		}
	}
	return out
}

// maxSeqFrom is the highest packet index (the sender's sequence number,
// carried in the payload) received from the peer.
func (c *tclient) maxSeqFrom(peerID string) int64 {
	var m int64 = -1
	for _, rt := range c.tracksFrom(peerID) {
		m = max(m, rt.maxSeq.Load())
	}
	return m
}

// packetsFrom sums the packets received on the peer's tracks.
func (c *tclient) packetsFrom(peerID string) int64 {
	var n int64
	for _, rt := range c.tracksFrom(peerID) {
		n += rt.packets.Load()
	}
	return n
}

// liveFrom counts the peer's received tracks that have not ended.
func (c *tclient) liveFrom(peerID string) int {
	n := 0
	for _, rt := range c.tracksFrom(peerID) {
		if !rt.ended.Load() {
			n++
		}
	}
	return n
}

func (c *tclient) lastTracks() []protocol.TrackInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]protocol.TrackInfo(nil), c.tracksMsg...)
}

func (c *tclient) offerCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offers
}

func (c *tclient) errs() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sig.overflow.Load() {
		return errors.New("signaler queue overflowed")
	}
	return errors.Join(c.subErrs...)
}

// closeSubscribePC closes the client's subscribe PC only, as a client
// whose connection broke would.
func (c *tclient) closeSubscribePC() {
	c.mu.Lock()
	sub := c.sub
	c.mu.Unlock()
	_ = sub.Close()
}

// closePCs closes the client's peer connections (as a browser tab would).
func (c *tclient) closePCs() {
	c.mu.Lock()
	sub, pub := c.sub, c.pub
	c.sub, c.pub, c.sendTrack, c.audioTrack = nil, nil, nil, nil
	c.endSlotsLocked()
	c.mu.Unlock()
	if sub != nil {
		_ = sub.Close()
	}
	if pub != nil {
		_ = pub.Close()
	}
}

func (c *tclient) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.wg.Wait()
	c.closePCs()
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func codeOf(err error) int {
	var eb *protocol.ErrorBody
	if errors.As(err, &eb) {
		return eb.Code
	}
	return 0
}
