package sfu

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// source is one published track: its reader, a bounded queue, its
// forwarder (which sheds what waited too long and fans the rest out to the
// slots bound to it), the retransmission history all its viewers share, and
// its keyframe requests. It is forwarded only while its owner may publish
// under the token it was accepted with (the stage gate).
type source struct {
	s      *SFU
	owner  *Participant
	token  uint64         // the owner's publishing token it was accepted under
	allow  *atomic.Uint64 // the owner's current token (user.allow)
	remote *webrtc.TrackRemote
	recv   *webrtc.RTPReceiver
	pc     *webrtc.PeerConnection // the publish PC, for PLIs
	codec  webrtc.RTPCodecCapability
	mime   string // lower case
	video  bool
	info   protocol.TrackInfo
	// A simulcast layer: the track's layers, and this one's rank in them
	// (0 the lowest). nil for a track of one layer.
	group *layerGroup
	layer int

	fan      *fanPool     // from start until the forwarder ends
	queue    chan *packet // read, not yet forwarded
	free     chan *packet // buffers to read into
	hist     *history
	maxDelay atomic.Int64 // nanoseconds: a packet queued longer is shed

	mu     sync.Mutex // serializes changes of slots
	closed bool
	// slots is the fan-out list: copy-on-write, read with one atomic load
	// per packet.
	slots atomic.Pointer[[]*slot]

	pli       chan struct{} // keyframe requests (capacity 1: coalesced)
	done      chan struct{}
	closeOnce sync.Once

	forwarded atomic.Uint64 // packets fanned out (tests and benchmarks)
	fwdBytes  atomic.Uint64 // their bytes on the wire to a viewer, for rate

	rateMu    sync.Mutex
	rateBPS   float64 // bit/s while it last sent (see rate)
	rateAt    int64
	rateBytes uint64

	// For catch-ups (slot.catchUp): the forwarding number and arrival of
	// the last keyframe's first packet, and the last number forwarded.
	keySeq, lastSeq atomic.Uint32 // a seq, plus 1<<16 once set
	keyAt           atomic.Int64

	clock atomic.Pointer[clockRef] // the publisher's last sender report
}

const (
	// Queue and history sizes, in packets. The history is longer than the
	// queue (see history): 512 packets is 2.5 s of 200 packets/s video.
	videoQueue, videoHistory = 128, 512
	audioQueue, audioHistory = 32, 64
	// How long a packet may wait between the server reading it and its
	// fan-out before it is shed: video first, audio last.
	maxVideoDelay = 100 * time.Millisecond
	maxAudioDelay = 250 * time.Millisecond
	// sourceGapLog: a video layer whose packets stop for longer is logged
	// (debug): a viewer freezes at about this gap between frames.
	sourceGapLog = 150 * time.Millisecond
)

var noSlots = []*slot{}

func newSource(p *Participant, sess *pubSession, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *source {
	kind := remote.Kind().String()
	src := &source{
		s:      p.s,
		owner:  p,
		token:  sess.token,
		allow:  &p.u.allow,
		remote: remote,
		recv:   recv,
		pc:     sess.pc,
		codec:  remote.Codec().RTPCodecCapability,
		video:  remote.Kind() == webrtc.RTPCodecTypeVideo,
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
	src.mime = strings.ToLower(src.codec.MimeType)
	queue, hist := audioQueue, audioHistory
	src.maxDelay.Store(int64(maxAudioDelay))
	if src.video {
		queue, hist = videoQueue, videoHistory
		src.maxDelay.Store(int64(maxVideoDelay))
	}
	src.queue = make(chan *packet, queue)
	// Every buffer is in the free list, the queue, the forwarder's hands,
	// the history or a reader's hands.
	src.free = make(chan *packet, queue+hist+2)
	for range queue + 2 {
		src.free <- &packet{}
	}
	src.hist = newHistory(uint16(hist))
	src.slots.Store(&noSlots)
	return src
}

func (src *source) kind() webrtc.RTPCodecType {
	if src.video {
		return webrtc.RTPCodecTypeVideo
	}
	return webrtc.RTPCodecTypeAudio
}

// start runs the source's goroutines.
func (src *source) start() {
	s := src.s
	src.fan = s.fan.acquire(&s.wg)
	s.goroutine(src.readLoop)
	s.goroutine(func() {
		defer s.fan.release()
		src.forwardLoop()
	})
	s.goroutine(src.drainReceiverRTCP)
	if src.video {
		// No keyframe request yet: nobody is bound, and each slot asks for
		// one when it binds. An early request would open the PLI window and
		// hold the first viewer's back by up to minKeyframeInterval.
		s.goroutine(src.pliLoop)
	}
}

// addSlot adds a slot to the fan-out; false if the source closed.
func (src *source) addSlot(sl *slot) bool {
	src.mu.Lock()
	if src.closed {
		src.mu.Unlock()
		return false
	}
	old := *src.slots.Load()
	for _, x := range old {
		if x == sl {
			src.mu.Unlock()
			return true
		}
	}
	slots := make([]*slot, len(old), len(old)+1)
	copy(slots, old)
	slots = append(slots, sl)
	src.slots.Store(&slots)
	src.mu.Unlock()
	if src.group != nil && len(old) == 0 {
		src.group.watchChanged()
	}
	return true
}

// removeSlot takes a slot out of the fan-out.
func (src *source) removeSlot(sl *slot) {
	src.mu.Lock()
	old := *src.slots.Load()
	slots := make([]*slot, 0, len(old))
	for _, x := range old {
		if x != sl {
			slots = append(slots, x)
		}
	}
	src.slots.Store(&slots)
	src.mu.Unlock()
	if src.group != nil && len(slots) == 0 && len(old) > 0 {
		src.group.watchChanged()
	}
}

// close stops the fan-out for good and ends the forwarder and the keyframe
// loop. The reader ends when the publish PC or its transceiver closes.
func (src *source) close() {
	src.closeOnce.Do(func() {
		src.mu.Lock()
		src.closed = true
		src.slots.Store(&noSlots)
		src.mu.Unlock()
		close(src.done)
	})
}

// readLoop reads the published track into the queue, stamping each packet
// with the time it was read. It never waits for the forwarder: when the
// queue is full the packet is shed. It ends with the track (publish PC
// closed, track removed by a new offer) and then stops forwarding it.
func (src *source) readLoop() {
	defer src.owner.m.removeSource(src)
	var scratch [maxPacket]byte
	for {
		var p *packet
		select {
		case p = <-src.free:
		default:
		}
		buf := scratch[:]
		if p != nil {
			buf = p.buf[:]
		}
		n, _, err := src.remote.Read(buf)
		if err != nil {
			return
		}
		if src.allow.Load() != src.token {
			src.s.stats.packetsDropped.Add(1)
			src.recycle(p)
			continue
		}
		h, ok := parseRTP(buf[:n])
		if !ok || p == nil {
			// Not RTP with a payload (padding-only packets are bandwidth
			// probes), or every buffer is taken: the forwarder is behind.
			if ok {
				src.s.stats.packetsShed.Add(1)
			}
			src.recycle(p)
			continue
		}
		p.size = copy(p.buf[:], buf[h.payload:h.end])
		p.payload = p.buf[:p.size]
		p.seq, p.ts, p.pt, p.marker = h.seq, h.ts, h.pt, h.marker
		p.keyframe = src.video && isKeyframe(src.mime, p.payload)
		p.pic = vp8Pic{}
		if src.mime == mimeVP8 {
			p.pic = parseVP8Pic(p.payload)
		}
		p.arrived = time.Now().UnixNano()
		select {
		case src.queue <- p:
		default:
			src.s.stats.packetsShed.Add(1)
			src.recycle(p)
		}
	}
}

func (src *source) recycle(p *packet) {
	if p == nil {
		return
	}
	select {
	case src.free <- p:
	default:
	}
}

// forwardLoop takes packets from the queue in order, sheds those that
// waited too long (see shedder) and fans the rest out in the source's
// forwarding sequence.
func (src *source) forwardLoop() {
	sh := shedder{video: src.video}
	var lastArrived int64 // the last video packet's
	for {
		var p *packet
		select {
		case <-src.done:
			return
		case p = <-src.queue:
		}
		now := time.Now().UnixNano()
		late := now-p.arrived > src.maxDelay.Load()
		fwd, verdict := sh.next(p.seq, p.keyframe, late, p.arrived, src.hist.has)
		switch verdict {
		case shed, shedAndRequest:
			src.s.stats.packetsShed.Add(1)
			if verdict == shedAndRequest {
				src.requestKeyframe()
			}
			fallthrough
		case drop:
			src.recycle(p)
			continue
		}
		p.seq = fwd
		if src.video {
			if gap := p.arrived - lastArrived; lastArrived != 0 && gap > int64(sourceGapLog) {
				// Every viewer of the layer freezes as long, whatever its
				// link: the publisher (its browser, its uplink) or this
				// server's reading stalled. (A paused layer that resumes
				// says so too.)
				src.owner.log().Debug("source gap", "track", src.info.TrackID, "layer", src.layer, "ms", gap/1e6)
			}
			lastArrived = p.arrived
		}
		src.forward(p, now)
		keyframe, arrived := p.keyframe, p.arrived
		src.keep(p)
		// A catch-up starts from a keyframe in the history: it is marked
		// once kept.
		if keyframe {
			src.keySeq.Store(uint32(fwd) | 1<<16)
			src.keyAt.Store(arrived)
		}
		if seqBefore(uint16(src.lastSeq.Load()), fwd) || src.lastSeq.Load() == 0 {
			src.lastSeq.Store(uint32(fwd) | 1<<16)
		}
	}
}

// catchUpRange is where a catch-up starts (the last keyframe, if it came
// within maxCatchUpAge) and ends (the last packet forwarded), at most
// maxCatchUpPackets apart.
func (src *source) catchUpRange(now int64) (from, last uint16, ok bool) {
	k, l := src.keySeq.Load(), src.lastSeq.Load()
	if k == 0 || l == 0 || now-src.keyAt.Load() > int64(maxCatchUpAge) {
		return 0, 0, false
	}
	from, last = uint16(k), uint16(l)
	if seqBefore(last, from) || last-from >= maxCatchUpPackets {
		return 0, 0, false
	}
	return from, last, true
}

// keep puts a forwarded packet in the history; the buffer it evicts, or a
// new one while the history fills, goes to the free list.
func (src *source) keep(p *packet) {
	ev := src.hist.put(p)
	if ev == nil {
		ev = &packet{}
	}
	src.recycle(ev)
}

// forward writes one packet to every slot bound to the source, spread over
// the SFU's fan-out workers when there are many.
func (src *source) forward(p *packet, now int64) {
	slots := *src.slots.Load()
	src.fan.run(src, slots, p, now)
	src.forwarded.Add(1)
	src.fwdBytes.Add(uint64(p.size + rtpWireOverhead)) // as the estimate counts
	st := &src.s.stats
	st.packetsIn.Add(1)
	if n := uint64(len(slots)); n > 0 {
		st.packetsOut.Add(n)
		st.bytesOut.Add(n * uint64(p.size+12))
	}
}

// rateWindow is the least time a rate is measured over; ratePeakDecay
// (per window) lets a peak go in about 10 s.
const (
	rateWindow    = 500 * time.Millisecond
	ratePeakDecay = 0.93
)

// rate is the source's bit rate on the wire (with each packet's headers,
// as the viewer's estimate counts them), measured over rateWindow or
// more, as the highest it was lately (a peak that decays by ratePeakDecay a window): an
// encoder starting a layer again ramps it up, and a viewer moved to a
// layer should be able to take what the layer will send. A source that
// stopped sending (a paused layer) keeps the rate it had. 0 until
// measured.
func (src *source) rate(now int64) float64 {
	src.rateMu.Lock()
	defer src.rateMu.Unlock()
	b := src.fwdBytes.Load()
	if src.rateAt == 0 {
		src.rateAt, src.rateBytes = now, b
		return 0
	}
	if el := now - src.rateAt; el >= int64(rateWindow) {
		if b > src.rateBytes {
			sample := float64(b-src.rateBytes) * 8 / (float64(el) / 1e9)
			src.rateBPS = max(sample, ratePeakDecay*src.rateBPS)
		}
		src.rateAt, src.rateBytes = now, b
	}
	return src.rateBPS
}

// requestKeyframe asks for a PLI to the publisher; requests are coalesced.
func (src *source) requestKeyframe() {
	if !src.video {
		return
	}
	select {
	case src.pli <- struct{}{}:
	default:
	}
}

// pliLoop sends the requested PLIs, at most one per minKeyframeInterval.
func (src *source) pliLoop() {
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-src.done:
			return
		case <-src.pli:
		}
		err := src.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(src.remote.SSRC())}})
		if err == nil {
			src.s.stats.keyframeRequests.Add(1)
		}
		t.Reset(minKeyframeInterval)
		select {
		case <-src.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// drainReceiverRTCP reads the publisher's RTCP (sender reports), which the
// receiver-side interceptors need, until the receiver stops.
func (src *source) drainReceiverRTCP() {
	buf := make([]byte, 1500)
	read := src.recv.Read
	if rid := src.remote.RID(); rid != "" {
		read = func(b []byte) (int, interceptor.Attributes, error) { return src.recv.ReadSimulcast(b, rid) }
	}
	for {
		n, _, err := read(buf)
		if err != nil {
			return
		}
		if ref, ok := senderClock(buf[:n], uint32(src.remote.SSRC())); ok {
			src.clock.Store(&ref)
		}
	}
}

// ntpAt is the publisher's wall clock at RTP time ts of the source, from
// its last sender report; false before the first.
func (src *source) ntpAt(ts uint32) (uint64, bool) {
	ref := src.clock.Load()
	if ref == nil || src.codec.ClockRate == 0 {
		return 0, false
	}
	ticks := int64(int32(ts - ref.rtp))
	return ntpAdd(ref.ntp, ticks*int64(time.Second)/int64(src.codec.ClockRate)), true
}

// senderClock finds the sender report of ssrc in a compound RTCP packet.
func senderClock(b []byte, ssrc uint32) (clockRef, bool) {
	for len(b) >= 4 {
		size := (int(b[2])<<8 | int(b[3]) + 1) * 4
		if size > len(b) {
			break
		}
		if rtcp.PacketType(b[1]) == rtcp.TypeSenderReport && size >= 28 && binary.BigEndian.Uint32(b[4:]) == ssrc {
			return clockRef{ntp: binary.BigEndian.Uint64(b[8:]), rtp: binary.BigEndian.Uint32(b[16:])}, true
		}
		b = b[size:]
	}
	return clockRef{}, false
}
