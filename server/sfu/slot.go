package sfu

import (
	"encoding/binary"
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
	index   int // among the slots of its kind; audio N and video N share a stream
	pc      *webrtc.PeerConnection
	sender  *webrtc.RTPSender

	mu   sync.Mutex // the write path and the binding
	ws   webrtc.TrackLocalWriter
	ssrc uint32
	// boundSSRC is ssrc, for the RTCP readers (feedbackTo), which do not
	// take mu.
	boundSSRC atomic.Uint32
	pt        uint8
	clock     uint32
	next      *source // the source to switch to at its next keyframe
	rw        rewriter
	hdr       rtp.Header // reused for every write
	// scratch holds a payload whose picture ids the slot rewrites (made
	// at the first).
	scratch *[maxPacket]byte
	// group is the simulcast track the slot carries a layer of (nil: a
	// track of one layer).
	group    *layerGroup
	twcc     [2]byte // the transport-wide sequence number being sent
	probing  bool    // a probe train is being sent (probe)
	probeDue bool    // a probe train goes after the frame being sent (probeAfterFrame)
	closed   bool
	// The slot's own SRTP sender on its PC's path (sendpath.go), chosen at
	// the first write after Bind; nil: pion's stream (ws) carries it.
	out      *slotSender
	outFixed bool
	sr       senderReport
	// The source and its RTP time of the packet being sent (write and
	// catch-up set them; a retransmission has none): for its report.
	srFrom   *source
	srFromTS uint32
	// When the slot last switched to a source, at a keyframe (unix ns),
	// when it began to wait for next, and when it last asked next for the
	// keyframe it waits for.
	switchedAt int64
	nextSince  int64
	nextAsked  int64
	// keyOnly: a relay's slot put back (resume) starts at a new keyframe,
	// never with a catch-up.
	keyOnly bool
	// A switch down for congestion (setLayer's cut) stops the layer the
	// slot carries at its next frame (cutting), and from then on sends
	// none of it (cut) until the lower layer's keyframe: on a link that
	// no longer fits the layer its frames only fill the link's queue, and
	// arrive broken, while the keyframe waits behind them and loses
	// packets to the drops they cause. frameEnded: the last packet sent
	// ended a frame.
	cutting, cut, frameEnded bool
	// After a catch-up from the history, the fan-out's copies up to
	// caughtUp (the source's numbers) were sent already.
	caughtUp    uint16
	caughtUpSet bool
	// What the slot sent again lately (resend.go), made at the first NACK.
	resent *resendLog

	bound atomic.Bool // pion bound it: writes reach the viewer
	// readingPion: the slot reads the viewer's RTCP that pion hands over
	// (readPionRTCP).
	readingPion atomic.Bool

	// Owned by the participant's negotiation loop: the source the slot is
	// assigned to (nil: idle), and the allocator's memory of its layers.
	assigned *source
	spent    bool // a relay's slot whose source ended: never bound again
	held     bool // a relay's slot of a layer the edge does not want now (hold)
	choice   *layerChoice
}

func newSlot(p *Participant, kind webrtc.RTPCodecType, n int) *slot {
	return &slot{p: p, kind: kind, index: n, trackID: kind.String() + strconv.Itoa(n)}
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
	cur := sl.rw.current()
	if cur == src && (sl.cut || sl.cutting && sl.frameEnded && sl.next != nil) {
		sl.cut = true // from the end of the last frame sent (setLayer's cut)
		return
	}
	if cur != src {
		if src != sl.next {
			return
		}
		if src.video && !p.keyframe {
			// Not a keyframe: start from the last one in the history, up to
			// the packet before this one, if start has not (the fan-out
			// may reach the slot first). Not between layers of one track:
			// a layer switch waits for its keyframe, paced, not a burst.
			old, _ := cur.(*source)
			if old != nil && src.group != nil && old.group == src.group || sl.keyOnly || !sl.catchUp(src, now) {
				return
			}
		} else {
			sl.rw.switchTo(src, p.seq, p.ts, p.pic, now, sl.clock)
			// A catch-up's mark is in the numbers of the source it was for.
			sl.next, sl.switchedAt, sl.caughtUpSet, sl.keyOnly = nil, now, false, false
			sl.cutting, sl.cut = false, false
			if old, ok := cur.(*source); ok && old != nil {
				old.removeSlot(sl)
			}
		}
	}
	seq, ts, pic, changed, ok := sl.rw.rewrite(p.seq, p.ts, p.pic, now)
	if !ok {
		return
	}
	sl.srFrom, sl.srFromTS = src, p.ts
	sl.send(seq, ts, p.marker, p.payload, pic, changed, now)
	sl.frameEnded = p.marker
	if p.marker && sl.probeDue {
		sl.probeDue = false
		sl.probe(now)
		sl.p.log().Debug("probe train sent", "track", sl.trackID)
	}
}

// send writes one packet under sl.mu: encrypted and sent by the slot itself
// where the SFU has the socket, else through pion's stream. A slot keeps
// the path it started with (each path has its own rollover counter); on its
// own path, a packet that finds no ICE pair is lost, as it would be in
// pion's. patch says the payload's VP8 picture ids must be replaced by
// pic's (in a copy: the payload is shared by every viewer); while the
// viewer answered with the TWCC header extension, the packet carries its
// transport-wide sequence number (bwe.go).
func (sl *slot) send(seq uint16, ts uint32, marker bool, payload []byte, pic vp8Pic, patch bool, now int64) {
	from := sl.srFrom // this packet's source, if write or catch-up sends it
	sl.srFrom = nil
	if !sl.outFixed {
		sl.outFixed = true
		if pp := sl.p.sub.path.Load(); pp != nil && pp.pc == sl.pc {
			sl.out = newSlotSender(pp, sl.p.sub.pace)
		}
	}
	if patch {
		if sl.scratch == nil {
			sl.scratch = new([maxPacket]byte)
		}
		n := copy(sl.scratch[:], payload)
		payload = sl.scratch[:n]
		patchVP8Pic(payload, pic)
	}
	h := &sl.hdr // reused: its extension too, so that stamping allocates nothing
	h.Version, h.Marker, h.PayloadType, h.SequenceNumber, h.Timestamp, h.SSRC = 2, marker, sl.pt, seq, ts, sl.ssrc
	h.Padding = sl.probing // a probe's packets are padding only
	sb := sl.p.sub
	var tw twccStamp
	if id := uint8(sb.twccID.Load()); id != 0 && sb.estimating.Load() {
		if log := sb.sent.Load(); log != nil {
			// Departure is the fan-out's time (no clock read per copy): a
			// viewer's place in the fan-out is about the same every packet,
			// a constant the estimator's least delay takes out. (A packet
			// the pacer holds back is logged again when it goes.)
			tw = twccStamp{log: log, seq: log.next(len(payload)+rtpWireOverhead, sl.probing, now)}
			binary.BigEndian.PutUint16(sl.twcc[:], tw.seq)
			_ = h.SetExtension(id, sl.twcc[:])
		}
	} else if h.Extension {
		h.Extension, h.Extensions = false, nil
	}
	if sl.out != nil {
		kind := pacedVideo
		if sl.probing {
			kind = pacedProbe
		} else if sl.kind == webrtc.RTPCodecTypeAudio {
			kind = pacedAudio
		}
		if !sl.out.send(h, payload, kind, tw, now) {
			return
		}
	} else if _, err := sl.ws.WriteRTP(h, payload); err != nil {
		return
	}
	if sl.probing {
		return
	}
	if sl.sr.count(len(payload), now) && from != nil {
		if sr := sl.sr.report(sl.ssrc, ts, from, sl.srFromTS, now); sr != nil {
			_ = sl.pc.WriteRTCP([]rtcp.Packet{sr})
		}
	}
}

// rtpWireOverhead is what a packet takes on the link beyond its payload:
// the RTP header with the TWCC extension (12 + 4 + 4 bytes), the SRTP tag
// (10), UDP and IPv4 (28). The estimate is of the link, which carries all
// of it (a probe's 255-byte padding is 313 bytes there).
const rtpWireOverhead = 58

// bind makes src the slot's source from its next keyframe on (its next
// packet for audio), and asks src for a keyframe; for a simulcast track,
// the layer at most layer (see layerGroup.pick), but a relay's slot
// carries the layer it is given, for life. Only the participant's
// negotiation loop calls it.
func (sl *slot) bind(src *source, layer int) {
	sl.assigned = src
	target, group := src, src.group
	if sl.p.relay {
		group = nil
	} else if group != nil {
		if l := group.pick(layer); l != nil {
			target = l
		}
	}
	sl.mu.Lock()
	now := time.Now().UnixNano()
	sl.next, sl.group, sl.nextSince, sl.nextAsked = target, group, now, now
	sl.mu.Unlock()
	if target.addSlot(sl) {
		sl.start()
	}
}

// hold takes a relay's slot out of its layer's fan-out: the edge has no
// viewer for the layer, until resume. Only the negotiation loop calls it.
func (sl *slot) hold() {
	src := sl.assigned
	if src == nil {
		return
	}
	src.removeSlot(sl)
	sl.mu.Lock()
	sl.next = nil
	sl.rw.pause()
	sl.mu.Unlock()
}

// resume puts a held relay slot back in its layer's fan-out: it starts
// again at the layer's next keyframe, which it asks for, its numbers going
// on from where they stopped. Not with a catch-up from the history: an
// edge viewer switching to the layer would get a picture up to a second
// old and a burst. Only the negotiation loop calls it.
func (sl *slot) resume() {
	src := sl.assigned
	if src == nil {
		return
	}
	sl.mu.Lock()
	sl.next, sl.keyOnly = src, true
	sl.mu.Unlock()
	if src.addSlot(sl) {
		src.requestKeyframe()
	}
}

// setLayer moves the slot to the simulcast layer at most layer (see
// layerGroup.pick) at that layer's next keyframe, which it requests (again
// every switchRetry while it waits: a keyframe whose first packet was lost
// on the way in, or a request the publisher let pass, would leave the
// slot waiting for good); the current layer goes on until then, unless
// cut: a switch down because the viewer's link no longer fits the
// current layer stops it at its next frame (see slot.cutting). A no-op
// for a track of one layer.
func (sl *slot) setLayer(layer int, cut bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	defer func() {
		// Cutting while it waits for a layer below the one it carries,
		// from a switch down for congestion (now or before) on.
		c, _ := sl.rw.current().(*source)
		below := c != nil && sl.next != nil && sl.next.group == c.group && sl.next.layer < c.layer
		sl.cutting = below && (cut || sl.cutting)
	}()
	if sl.group == nil || sl.closed || sl.next != nil && sl.next.layer == layer && sl.next.group == sl.group {
		// Already waiting for it (stalled or not: see allocate).
		if now := time.Now().UnixNano(); !sl.closed && sl.next != nil && now-sl.nextAsked >= int64(switchRetry) {
			sl.nextAsked = now
			sl.next.requestKeyframe()
		}
		return
	}
	target := sl.group.pick(layer)
	cur, _ := sl.rw.current().(*source)
	if target == nil || target == sl.next || sl.next == nil && target == cur {
		return
	}
	if sl.next != nil && sl.next != cur {
		sl.next.removeSlot(sl)
	}
	now := time.Now().UnixNano()
	if target == cur {
		sl.next = nil // back to the layer it still carries
		if sl.cut {
			// Some of its frames were not sent: it starts again at its
			// next keyframe, its numbers going on from the last sent.
			sl.rw.pause()
			sl.next, sl.keyOnly, sl.nextSince, sl.nextAsked = cur, true, now, now
			cur.requestKeyframe()
		}
		return
	}
	if !target.addSlot(sl) {
		return
	}
	sl.next, sl.nextSince, sl.nextAsked = target, now, now
	target.requestKeyframe()
}

// switchRetry is how long a slot waits for the keyframe of the layer it
// switches to before it asks again.
const switchRetry = time.Second

// layer is the rank of the simulcast layer the slot carries, and of the
// one it waits to switch to (-1: none) with when it began to wait.
func (sl *slot) layer() (cur, next int, since int64) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	cur, next = -1, -1
	if c, _ := sl.rw.current().(*source); c != nil && c.group != nil && c.group == sl.group {
		cur = c.layer
	}
	if sl.next != nil && sl.next.group != nil {
		next, since = sl.next.layer, sl.nextSince
	}
	return cur, next, since
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
	now := time.Now().UnixNano()
	src := sl.next
	caught := src != nil && !sl.keyOnly && sl.catchUp(src, now)
	if src == nil && now-sl.switchedAt > int64(maxCatchUpAge) {
		// The slot carries its source, since a keyframe that is not
		// recent: the viewer may have lost what followed (its connection
		// came back).
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
				sl.rw.switchTo(src, p.seq, p.ts, p.pic, now, sl.clock)
				sl.next, sl.switchedAt, sl.cutting, sl.cut = nil, now, false, false
				if cur != nil && cur != src {
					cur.removeSlot(sl)
				}
			}
			if out, ts, pic, changed, ok := sl.rw.rewrite(p.seq, p.ts, p.pic, now); ok {
				sl.srFrom, sl.srFromTS = src, p.ts
				sl.send(out, ts, p.marker, p.payload, pic, changed, now)
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
	if sameTrack(sl.next, src) {
		sl.next.removeSlot(sl)
		sl.next = nil
	}
	if cur, _ := sl.rw.current().(*source); cur != nil && cur != sl.next {
		cur.removeSlot(sl)
	}
	sl.group = nil
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
	if sl.next != nil {
		sl.next.removeSlot(sl)
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
	sl.boundSSRC.Store(sl.ssrc)
	sl.hdr = rtp.Header{} // a new connection: no extension id of the last
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

// StreamID implements webrtc.TrackLocal: audio slot N and video slot N are
// one stream, which a browser plays in sync (lip sync is per stream), so
// the subscriber binds one presenter's microphone and camera to slots of
// the same number where it can (freeSlotFor).
func (sl *slot) StreamID() string { return "slot-" + strconv.Itoa(sl.index) }

// Kind implements webrtc.TrackLocal.
func (sl *slot) Kind() webrtc.RTPCodecType { return sl.kind }

// readPionRTCP starts the slot's reader of the viewer's RTCP that pion
// hands over, once: only where the tap does not take it (subscriber.rtcpToPion).
func (sl *slot) readPionRTCP() {
	if sl.readingPion.CompareAndSwap(false, true) {
		sl.p.s.goroutine(sl.readRTCP)
	}
}

// readRTCP reads the viewer's RTCP for this slot, as pion hands it over
// (with a socket per PC, or a relayed pair), until the sender stops. On
// the shared socket the tap takes it first (rtcptap.go).
func (sl *slot) readRTCP() {
	buf := make([]byte, 1500)
	self := func(ssrc uint32) *slot {
		if sl.boundSSRC.Load() == ssrc {
			return sl
		}
		return nil
	}
	for {
		n, _, err := sl.sender.Read(buf)
		if err != nil {
			return
		}
		sl.p.sub.feedbackTo(buf[:n], self)
	}
}

// retransmit sends the slot's packet seq again, if its source still holds
// it and resend.go's limits allow.
func (sl *slot) retransmit(seq uint16, buf *packet) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.ws == nil || sl.closed {
		return
	}
	srcAny, srcSeq, off, ok := sl.rw.reverse(seq)
	src, _ := srcAny.(*source)
	if !ok || src == nil || !src.hist.get(srcSeq, buf) {
		return
	}
	now := time.Now().UnixNano()
	if sl.resent == nil {
		sl.resent = new(resendLog)
	}
	gap := resendGap
	if sl.p.relay {
		gap = 0
	}
	if (sl.out != nil && !sl.out.pace.fits(buf.size+rtpWireOverhead)) || !sl.resent.allow(seq, buf.arrived, now, gap) {
		sl.p.s.stats.retransmitsRefused.Add(1)
		return
	}
	pic := off.pic(buf.pic)
	sl.send(seq, buf.ts+off.ts, buf.marker, buf.payload, pic, pic != buf.pic, now)
	sl.p.s.stats.retransmits.Add(1)
}

// probeAfterFrame has the slot send a probe train (probe) right after
// the last packet of the next frame it sends: the train then queues on a
// slow link in the gap before the next frame, not on top of one (at
// 300 kbit/s a train sent mid-frame held that frame 150-200 ms: a
// freeze). False if the slot sends nothing yet.
func (sl *slot) probeAfterFrame() bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.ws == nil || sl.closed || sl.rw.current() == nil {
		return false
	}
	sl.probeDue = true
	return true
}

// probe sends a train of padding-only packets back to back on the slot
// (numbers of their own: rewriter.pad), under sl.mu: arrival times (TWCC)
// measure the viewer's downlink above what the slot sends (bwe.go),
// without a real switch up that might not fit. (Sending media packets
// again would not do: SRTP replay protection drops them before they are
// counted.) The first probeDrain packets are full-size: they pass a
// shaper's token bucket (4 KB is usual) at line rate and empty it; the
// probeMeasure small ones after them are spaced by the link's rate, which
// trainRate reads. Small, they hold the video behind them less: what a
// train holds on a slow link is what it sends beyond the bucket.
func (sl *slot) probe(now int64) {
	first, ts, ok := sl.rw.pad(probeDrain + probeMeasure)
	if !ok {
		return
	}
	var pad [probeDrainPadding]byte
	sl.probing = true
	defer func() { sl.probing = false }()
	for i := range probeDrain + probeMeasure {
		b := pad[:probeDrainPadding]
		if i >= probeDrain {
			b = pad[:probeMeasurePadding]
		}
		b[len(b)-1] = byte(len(b)) // RTP padding: its last byte is its length
		sl.send(first+uint16(i), ts, false, b, vp8Pic{}, false, now)
	}
}

// A probe train: probeDrain packets of probeDrainPadding bytes (RTP
// allows 255), then probeMeasure of probeMeasurePadding. On the wire
// (rtpWireOverhead more each) 4.4 kB to empty a bucket, and 1.4 kB that
// queue behind it: about 40 ms at 300 kbit/s, where a train of 24 full
// packets queued 100-130 ms.
const (
	probeDrain          = 14
	probeMeasure        = 12
	probeDrainPadding   = 255
	probeMeasurePadding = 60
)

// transportFeedback reports whether a compound RTCP packet holds a generic
// NACK or a TWCC report (transport-layer feedback, PT 205, FMT 1 or 15),
// without parsing it.
func transportFeedback(b []byte) (nack, twcc bool) {
	for len(b) >= 4 {
		if rtcp.PacketType(b[1]) == rtcp.TypeTransportSpecificFeedback {
			switch b[0] & 0x1f {
			case rtcp.FormatTLN:
				nack = true
			case rtcp.FormatTCC:
				twcc = true
			}
		}
		size := (int(b[2])<<8 | int(b[3]) + 1) * 4
		if size > len(b) {
			return nack, twcc
		}
		b = b[size:]
	}
	return nack, twcc
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
