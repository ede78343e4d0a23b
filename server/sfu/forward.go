package sfu

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// forwardTrack is one published track being forwarded: its reader, its
// subscribers and its keyframe requests.
type forwardTrack struct {
	s      *SFU
	owner  *Participant
	token  uint64         // the owner's publishing token it was accepted under
	allow  *atomic.Uint64 // the owner's current token (user.allow)
	remote *webrtc.TrackRemote
	recv   *webrtc.RTPReceiver
	pc     *webrtc.PeerConnection // the publish PC, for PLIs
	codec  webrtc.RTPCodecCapability
	info   protocol.TrackInfo

	mu     sync.Mutex // serializes changes of subs
	closed bool
	// subs is the fan-out list: copy-on-write, read with one atomic load
	// per packet.
	subs atomic.Pointer[[]*downTrack]

	pli       chan struct{} // keyframe requests (capacity 1: coalesced)
	done      chan struct{}
	closeOnce sync.Once

	forwarded atomic.Uint64 // packets fanned out (tests and benchmarks)
}

var noSubs = []*downTrack{}

func newForwardTrack(p *Participant, sess *pubSession, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *forwardTrack {
	kind := remote.Kind().String()
	ft := &forwardTrack{
		s:      p.s,
		owner:  p,
		token:  sess.token,
		allow:  &p.u.allow,
		remote: remote,
		recv:   recv,
		pc:     sess.pc,
		codec:  remote.Codec().RTPCodecCapability,
		info: protocol.TrackInfo{
			PeerID:   p.peerID,
			UserID:   p.userID,
			Kind:     kind,
			TrackID:  "t" + strconv.FormatUint(p.s.seq.Add(1), 10) + "-" + kind,
			StreamID: p.streamID,
		},
		pli:  make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	ft.subs.Store(&noSubs)
	return ft
}

func (ft *forwardTrack) isVideo() bool { return ft.remote.Kind() == webrtc.RTPCodecTypeVideo }

// addDown adds a subscriber copy to the fan-out; false if the track closed.
func (ft *forwardTrack) addDown(d *downTrack) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.closed {
		return false
	}
	old := *ft.subs.Load()
	subs := make([]*downTrack, len(old), len(old)+1)
	copy(subs, old)
	subs = append(subs, d)
	ft.subs.Store(&subs)
	return true
}

// removeDown takes a subscriber copy out of the fan-out.
func (ft *forwardTrack) removeDown(d *downTrack) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	old := *ft.subs.Load()
	subs := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			subs = append(subs, x)
		}
	}
	ft.subs.Store(&subs)
}

// close stops the fan-out for good and ends the keyframe loop. The reader
// ends when the publish PC or its transceiver closes.
func (ft *forwardTrack) close() {
	ft.closeOnce.Do(func() {
		ft.mu.Lock()
		ft.closed = true
		ft.subs.Store(&noSubs)
		ft.mu.Unlock()
		close(ft.done)
	})
}

// readLoop reads the published track and forwards each packet while its
// owner may publish. It ends with the track (publish PC closed, track
// removed by a new offer) and then stops forwarding it.
func (ft *forwardTrack) readLoop() {
	defer ft.owner.m.removeTrack(ft)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := ft.remote.Read(buf)
		if err != nil {
			return
		}
		if ft.allow.Load() != ft.token {
			ft.s.stats.packetsDropped.Add(1)
			continue
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		ft.forward(&pkt, n)
	}
}

// forward writes one packet to every subscriber copy of the track. It is
// the per-packet hot path: one atomic load for the subscriber list, then
// one TrackLocalStaticRTP.WriteRTP per subscriber (which rewrites SSRC and
// payload type for that connection, runs its interceptors, encrypts and
// sends). pkt's header extensions are dropped: their ids belong to the
// publisher's connection. Padding-only packets (bandwidth probes) are not
// forwarded.
func (ft *forwardTrack) forward(pkt *rtp.Packet, size int) {
	if len(pkt.Payload) == 0 {
		return
	}
	pkt.Header.Extension = false
	pkt.Header.Extensions = pkt.Header.Extensions[:0]
	subs := *ft.subs.Load()
	for _, d := range subs {
		_ = d.rtp.WriteRTP(pkt)
	}
	ft.forwarded.Add(1)
	st := &ft.s.stats
	st.packetsIn.Add(1)
	if n := uint64(len(subs)); n > 0 {
		st.packetsOut.Add(n)
		st.bytesOut.Add(n * uint64(size))
	}
}

// requestKeyframe asks for a PLI to the publisher; requests are coalesced.
func (ft *forwardTrack) requestKeyframe() {
	if !ft.isVideo() {
		return
	}
	select {
	case ft.pli <- struct{}{}:
	default:
	}
}

// pliLoop sends the requested PLIs, at most one per minKeyframeInterval.
func (ft *forwardTrack) pliLoop() {
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-ft.done:
			return
		case <-ft.pli:
		}
		err := ft.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ft.remote.SSRC())}})
		if err == nil {
			ft.s.stats.keyframeRequests.Add(1)
		}
		t.Reset(minKeyframeInterval)
		select {
		case <-ft.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// drainReceiverRTCP reads the publisher's RTCP (sender reports), which the
// receiver-side interceptors need, until the receiver stops.
func (ft *forwardTrack) drainReceiverRTCP() {
	buf := make([]byte, 1500)
	for {
		if _, _, err := ft.recv.Read(buf); err != nil {
			return
		}
	}
}

// downTrack is one subscriber's copy of a forwarded track.
type downTrack struct {
	p      *Participant
	ft     *forwardTrack
	rtp    *webrtc.TrackLocalStaticRTP
	local  *boundTrack
	sender *webrtc.RTPSender
	bound  atomic.Bool
}

// boundTrack is the TrackLocal given to pion: a TrackLocalStaticRTP that
// also notes when pion binds it to the subscriber's connection, the moment
// a keyframe becomes useful.
type boundTrack struct {
	*webrtc.TrackLocalStaticRTP
	d *downTrack
}

// Bind implements webrtc.TrackLocal.
func (b *boundTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	params, err := b.TrackLocalStaticRTP.Bind(ctx)
	if err == nil {
		b.d.bound.Store(true)
		if b.d.p.subConnected.Load() {
			b.d.ft.requestKeyframe()
		}
	}
	return params, err
}

// Unbind implements webrtc.TrackLocal.
func (b *boundTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	b.d.bound.Store(false)
	return b.TrackLocalStaticRTP.Unbind(ctx)
}

// readRTCP reads the subscriber's RTCP for this track (the interceptors
// handle NACKs and reports) and turns PLI and FIR into keyframe requests,
// until the sender stops.
func (d *downTrack) readRTCP() {
	buf := make([]byte, 1500)
	for {
		n, _, err := d.sender.Read(buf)
		if err != nil {
			return
		}
		if wantsKeyframe(buf[:n]) {
			d.ft.requestKeyframe()
		}
	}
}

// wantsKeyframe reports whether a compound RTCP packet holds a PLI or a FIR
// (payload-specific feedback, PT 206, FMT 1 or 4), without parsing it.
func wantsKeyframe(b []byte) bool {
	for len(b) >= 4 {
		fmtCount := b[0] & 0x1f
		pt := b[1]
		size := (int(b[2])<<8 | int(b[3]) + 1) * 4
		if rtcp.PacketType(pt) == rtcp.TypePayloadSpecificFeedback && (fmtCount == rtcp.FormatPLI || fmtCount == rtcp.FormatFIR) {
			return true
		}
		if size > len(b) {
			return false
		}
		b = b[size:]
	}
	return false
}
