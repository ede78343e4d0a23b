package sfu

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// slot is one receive slot of a viewer's subscribe connection: a send
// transceiver with a fixed SSRC and track id that carries one source at a
// time. Binding it to another source (someone else on stage, later another
// simulcast layer) needs no renegotiation: the slot switches at the new
// source's next keyframe and rewrites sequence numbers and timestamps so
// that the viewer sees one continuous stream, and the viewer is told over
// signaling whose media the slot now carries.
//
// A slot is a webrtc.TrackLocal: pion binds it to the connection and hands
// it the stream to write to.
type slot struct {
	p       *Participant
	kind    webrtc.RTPCodecType
	trackID string
	pc      *webrtc.PeerConnection
	sender  *webrtc.RTPSender

	mu     sync.Mutex // the write path and the binding
	ws     webrtc.TrackLocalWriter
	ssrc   uint32
	pt     uint8
	clock  uint32
	next   *source // the source to switch to at its next keyframe
	rw     rewriter
	hdr    rtp.Header // reused for every write
	closed bool
	// The slot's own SRTP sender on its PC's path (sendpath.go), chosen at
	// the first write after Bind; nil: pion's stream (ws) carries it.
	out      *slotSender
	outFixed bool
	sr       senderReport
	// After a catch-up from the history, the fan-out's copies up to
	// caughtUp (the source's numbers) were sent already.
	caughtUp    uint16
	caughtUpSet bool

	bound atomic.Bool // pion bound it: writes reach the viewer

	// Owned by the participant's negotiation loop: the source the slot is
	// assigned to (nil: idle).
	assigned *source
}

func newSlot(p *Participant, kind webrtc.RTPCodecType, n int) *slot {
	return &slot{p: p, kind: kind, trackID: kind.String() + strconv.Itoa(n)}
}

// write sends p of src if the slot carries src, or switches to src at a
// keyframe if it waits for it. It is called by src's fan-out.
func (sl *slot) write(src *source, p *packet, now int64) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.ws == nil || sl.closed || !sl.p.sub.connected.Load() {
		return // nothing sent before the viewer can receive it
	}
	if sl.caughtUpSet && sl.rw.current() == src {
		if !seqBefore(sl.caughtUp, p.seq) {
			return // sent by the catch-up
		}
		sl.caughtUpSet = false
	}
	if cur := sl.rw.current(); cur != src {
		if src != sl.next || (src.video && !p.keyframe) {
			return
		}
		sl.rw.switchTo(src, p.seq, p.ts, now, sl.clock)
		sl.next = nil
		if old, ok := cur.(*source); ok && old != nil {
			old.removeSlot(sl)
		}
	}
	seq, ts, ok := sl.rw.rewrite(p.seq, p.ts, now)
	if !ok {
		return
	}
	sl.send(seq, ts, p.marker, p.payload, now)
}

// send writes one packet under sl.mu: encrypted and sent by the slot itself
// where the SFU has the socket, else through pion's stream. A slot keeps
// the path it started with (each path has its own rollover counter); on its
// own path, a packet that finds no ICE pair is lost, as it would be in
// pion's.
func (sl *slot) send(seq uint16, ts uint32, marker bool, payload []byte, now int64) {
	if !sl.outFixed {
		sl.outFixed = true
		if pp := sl.p.sub.path.Load(); pp != nil && pp.pc == sl.pc {
			sl.out = newSlotSender(pp)
		}
	}
	sl.hdr = rtp.Header{Version: 2, Marker: marker, PayloadType: sl.pt, SequenceNumber: seq, Timestamp: ts, SSRC: sl.ssrc}
	if sl.out != nil {
		if !sl.out.send(&sl.hdr, payload) {
			return
		}
	} else if _, err := sl.ws.WriteRTP(&sl.hdr, payload); err != nil {
		return
	}
	if sr := sl.sr.count(sl.ssrc, ts, len(payload), now); sr != nil {
		_ = sl.pc.WriteRTCP([]rtcp.Packet{sr})
	}
}

// bind makes src the slot's source from its next keyframe on (its next
// packet for audio), and asks src for a keyframe. Only the participant's
// negotiation loop calls it.
func (sl *slot) bind(src *source) {
	sl.assigned = src
	sl.mu.Lock()
	sl.next = src
	sl.mu.Unlock()
	if src.addSlot(sl) {
		sl.start()
	}
}

// start gets the slot's pending source to the viewer as soon as it can
// decode it, once the viewer can receive: from the source's last keyframe,
// if it is recent and still held, replayed from the history (a viewer
// joining, or a presenter's first keyframe that went by before the viewers'
// slots were bound, need not wait for the next); else by asking for a
// keyframe.
func (sl *slot) start() {
	if !sl.bound.Load() || !sl.p.sub.connected.Load() {
		return // Bind and the connection call it again
	}
	sl.mu.Lock()
	src := sl.next
	caught := src != nil && sl.catchUp(src, time.Now().UnixNano())
	if src == nil {
		src, _ = sl.rw.current().(*source)
	}
	sl.mu.Unlock()
	if src != nil && !caught {
		src.requestKeyframe()
	}
}

// maxCatchUp bounds a catch-up: the age of the keyframe it starts from and
// the packets it sends.
const (
	maxCatchUpAge     = time.Second
	maxCatchUpPackets = 256
)

// catchUp switches the slot to src at src's last keyframe and sends what
// src forwarded since, from its history; false if there is no such
// keyframe (video), or one too old or no longer held. Under sl.mu.
func (sl *slot) catchUp(src *source, now int64) bool {
	if sl.ws == nil || sl.closed || !src.video {
		return false
	}
	from, last, ok := src.catchUpRange(now)
	if !ok {
		return false
	}
	var p packet
	for seq := from; ; seq++ {
		if src.hist.get(seq, &p) {
			if seq == from {
				cur, _ := sl.rw.current().(*source)
				sl.rw.switchTo(src, p.seq, p.ts, now, sl.clock)
				sl.next = nil
				if cur != nil && cur != src {
					cur.removeSlot(sl)
				}
			}
			if out, ts, ok := sl.rw.rewrite(p.seq, p.ts, now); ok {
				sl.send(out, ts, p.marker, p.payload, now)
			}
		} else if seq == from {
			return false
		}
		if seq == last {
			break
		}
	}
	sl.caughtUp, sl.caughtUpSet = last, true
	src.s.stats.catchUps.Add(1)
	return true
}

// unbind stops the slot's current source at once (its owner left the
// stage) and cancels any pending switch. Only the negotiation loop calls
// it.
func (sl *slot) unbind() {
	src := sl.assigned
	sl.assigned = nil
	if src == nil {
		return
	}
	src.removeSlot(sl)
	sl.mu.Lock()
	if sl.next == src {
		sl.next = nil
	}
	if cur, _ := sl.rw.current().(*source); cur != nil && cur != sl.next {
		cur.removeSlot(sl)
	}
	sl.mu.Unlock()
}

// requestKeyframe asks the source the slot carries or waits for for a
// keyframe (the viewer lost one).
func (sl *slot) requestKeyframe() {
	sl.mu.Lock()
	src := sl.next
	if src == nil {
		src, _ = sl.rw.current().(*source)
	}
	sl.mu.Unlock()
	if src != nil {
		src.requestKeyframe()
	}
}

// close ends the slot: nothing is written to it again.
func (sl *slot) close() {
	if src := sl.assigned; src != nil {
		src.removeSlot(sl)
	}
	sl.mu.Lock()
	sl.closed = true
	if cur, _ := sl.rw.current().(*source); cur != nil {
		cur.removeSlot(sl)
	}
	sl.next = nil
	sl.mu.Unlock()
}

// Bind implements webrtc.TrackLocal: the slot's stream on the viewer's
// connection, from the negotiated codec and SSRC.
func (sl *slot) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	if len(codecs) == 0 {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	c := codecs[0]
	sl.mu.Lock()
	sl.ws, sl.ssrc, sl.pt, sl.clock = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType), c.ClockRate
	sl.out, sl.outFixed, sl.sr = nil, false, senderReport{}
	sl.mu.Unlock()
	sl.bound.Store(true)
	sl.start()
	return c, nil
}

// Unbind implements webrtc.TrackLocal.
func (sl *slot) Unbind(webrtc.TrackLocalContext) error {
	sl.bound.Store(false)
	sl.mu.Lock()
	sl.ws = nil
	sl.mu.Unlock()
	return nil
}

// ID implements webrtc.TrackLocal: the slot's msid track id.
func (sl *slot) ID() string { return sl.trackID }

// RID implements webrtc.TrackLocal.
func (sl *slot) RID() string { return "" }

// StreamID implements webrtc.TrackLocal: every slot is its own stream.
func (sl *slot) StreamID() string { return "slot-" + sl.trackID }

// Kind implements webrtc.TrackLocal.
func (sl *slot) Kind() webrtc.RTPCodecType { return sl.kind }

// readRTCP reads the viewer's RTCP for this slot until the sender stops:
// NACKs are answered from the history of the source that sent the packet,
// PLI and FIR become keyframe requests to the current source.
func (sl *slot) readRTCP() {
	buf := make([]byte, 1500)
	var re *packet // retransmission buffer, made at the first NACK
	for {
		n, _, err := sl.sender.Read(buf)
		if err != nil {
			return
		}
		if wantsKeyframe(buf[:n]) {
			sl.requestKeyframe()
		}
		if !hasNACK(buf[:n]) {
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pk := range pkts {
			if nack, ok := pk.(*rtcp.TransportLayerNack); ok {
				if re == nil {
					re = &packet{}
				}
				for _, pair := range nack.Nacks {
					for _, seq := range pair.PacketList() {
						sl.retransmit(seq, re)
					}
				}
			}
		}
	}
}

// retransmit sends the slot's packet seq again, if its source still holds
// it.
func (sl *slot) retransmit(seq uint16, buf *packet) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.ws == nil || sl.closed {
		return
	}
	srcAny, srcSeq, tsOff, ok := sl.rw.reverse(seq)
	src, _ := srcAny.(*source)
	if !ok || src == nil || !src.hist.get(srcSeq, buf) {
		return
	}
	sl.send(seq, buf.ts+tsOff, buf.marker, buf.payload, time.Now().UnixNano())
	sl.p.s.stats.retransmits.Add(1)
}

// hasNACK reports whether a compound RTCP packet holds a generic NACK
// (transport-layer feedback, PT 205, FMT 1), without parsing it.
func hasNACK(b []byte) bool {
	for len(b) >= 4 {
		if rtcp.PacketType(b[1]) == rtcp.TypeTransportSpecificFeedback && b[0]&0x1f == rtcp.FormatTLN {
			return true
		}
		size := (int(b[2])<<8 | int(b[3]) + 1) * 4
		if size > len(b) {
			return false
		}
		b = b[size:]
	}
	return false
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
