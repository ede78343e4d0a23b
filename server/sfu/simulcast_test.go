package sfu

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// simulcastRIDs are the layers publishSimulcast sends, lowest first (as the
// browser SDK does), with the payload size of each layer's packets.
var simulcastRIDs = []struct {
	rid  string
	size int
}{{"q", 100}, {"h", 300}, {"f", 900}}

// publishSimulcast offers a publish PC with one VP8 track in three
// simulcast layers and sends each as a browser would: its own SSRC,
// sequence numbers, picture ids and TL0PICIDX, a frame per packet every
// 5 ms, a keyframe every keyEvery packets (each layer at its own moment).
// Payload byte 6 is the layer's rank.
func (c *tclient) publishSimulcast(keyEvery int) error {
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, l := range simulcastRIDs {
		tr, err := webrtc.NewTrackLocalStaticRTP(vp8, "cam", "stream-"+c.userID, webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			return err
		}
		tracks = append(tracks, tr)
	}
	sender, err := pc.AddTrack(tracks[0])
	if err != nil {
		return err
	}
	for _, tr := range tracks[1:] {
		if err := sender.AddEncoding(tr); err != nil {
			return err
		}
	}
	// Each layer's RTCP comes on its own stream: its PLIs are counted.
	for rank, l := range simulcastRIDs {
		go func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						c.layerPLIs[rank].Add(1)
					}
				}
			}
		}()
	}
	if err := c.offerPublish(pc); err != nil {
		return err
	}
	// pion's native sender does not add the mid and rid header extensions
	// itself: a browser does.
	midID, ridID := extmapID(pc.LocalDescription().SDP, sdp.SDESMidURI), extmapID(pc.LocalDescription().SDP, sdp.SDESRTPStreamIDURI)
	if midID == 0 || ridID == 0 {
		return fmt.Errorf("no mid or rid header extension in the offer")
	}
	var mid []byte
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == sender {
			mid = []byte(tr.Mid())
		}
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 60000; i++ {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			for rank, l := range simulcastRIDs {
				if c.layersOff.Load()&(1<<rank) != 0 {
					continue
				}
				payload := make([]byte, l.size)
				// Each layer numbers its pictures from its own start.
				pid := uint16(i+rank*10000) & 0x7fff
				payload[0], payload[1] = 0x90, 0xc0 // X, S; I, L
				payload[2], payload[3] = 0x80|byte(pid>>8), byte(pid)
				payload[4] = byte(i + rank*77) // TL0PICIDX
				payload[5] = 1                 // VP8 frame tag: an interframe
				if (i+rank*keyEvery/3)%keyEvery == 0 {
					payload[5] = 0
				}
				payload[6] = byte(rank)
				binary.BigEndian.PutUint32(payload[7:], uint32(i))
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Marker: true,
					SequenceNumber: uint16(i + rank*20000), Timestamp: uint32(i*450 + rank*1000000)}, Payload: payload}
				_ = pkt.Header.SetExtension(midID, mid)
				_ = pkt.Header.SetExtension(ridID, []byte(l.rid))
				if tracks[rank].WriteRTP(pkt) == nil {
					c.sentPkts.Add(1)
				}
			}
		}
	}()
	return nil
}

// offerPublish makes pc the client's publish PC: offer, the SFU's answer,
// candidates.
func (c *tclient) offerPublish(pc *webrtc.PeerConnection) error {
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			_ = c.part.HandleCandidate(protocol.PCPublish, protocol.ICECandidate(cand.ToJSON()))
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	c.mu.Lock()
	c.pub, c.pubCands = pc, nil
	c.mu.Unlock()
	answer, err := c.part.HandlePublishOffer(offer.SDP, nil)
	if err != nil {
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
	c.mu.Unlock()
	return nil
}

// videoSlot is the viewer's slot that carries the peer's video.
func (c *tclient) videoSlot(peerID string) *recvSlot {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sl := range c.slots {
		if rt := sl.cur.Load(); rt != nil && rt.owner == peerID && sl.remote.Kind() == webrtc.RTPCodecTypeVideo {
			return sl
		}
	}
	return nil
}

// A simulcast track reaches a viewer as one track; moved between its
// layers, the viewer sees one stream: each change at a keyframe, no gap in
// the sequence numbers, the picture ids or TL0PICIDX.
func TestSimulcastLayerSwitch(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "sim", "viewer")
	pub := joinClient(t, s, api, "sim", "pub")
	s.SetPublishing("sim", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "three layers forwarded", func() bool { return len(s.tracksOf("sim", "pub")) == 3 })
	var sl *recvSlot
	onLayer := func(want int64) {
		t.Helper()
		waitFor(t, flowTimeout, "the viewer on layer "+simulcastRIDs[want].rid, func() bool {
			if sl == nil {
				sl = viewer.videoSlot(pub.peerID)
			}
			return sl != nil && sl.layer.Load() == want
		})
		// Some packets of the layer.
		n := viewer.packetsFrom(pub.peerID)
		waitFor(t, flowTimeout, "packets on the layer", func() bool { return viewer.packetsFrom(pub.peerID) >= n+50 })
		if got := sl.layer.Load(); got != want {
			t.Fatalf("layer %d, want %d", got, want)
		}
	}
	onLayer(2) // the top layer while nothing limits the viewer
	for _, l := range []int32{0, 1, 2, 0, 2} {
		viewer.part.sub.capLayers(l)
		onLayer(int64(l))
	}
	if got := len(viewer.tracksFrom(pub.peerID)); got != 1 {
		t.Errorf("the viewer got the simulcast track as %d tracks, want 1", got)
	}
	if g := sl.gaps.Load(); g != 0 {
		t.Errorf("%d gaps in the sequence numbers", g)
	}
	if j := sl.pidJumps.Load(); j != 0 {
		t.Errorf("%d jumps in the picture ids", j)
	}
	if j := sl.tl0Jumps.Load(); j != 0 {
		t.Errorf("%d jumps in TL0PICIDX", j)
	}
	// The six asked for; on a loaded machine the viewer's estimate may
	// move it once more (a dip seen as congestion), which must be as clean.
	if c := sl.layerChanges.Load(); c < 6 {
		t.Errorf("%d layer changes seen, want at least 6", c)
	}
	if b := sl.badSwitches.Load(); b != 0 {
		t.Errorf("%d layer changes did not start at a keyframe", b)
	}
	sb := viewer.part.sub
	sb.bweMu.Lock()
	reports, acked := sb.est.lastReport, sb.est.acked
	sb.bweMu.Unlock()
	if reports == 0 || acked <= 0 {
		t.Errorf("no TWCC report applied to the viewer's estimate (received rate %g)", acked)
	}
	if err := viewer.errs(); err != nil {
		t.Error(err)
	}
}

// pausedRIDs is the last "layers" message the client got: its paused rids
// (of the publish PC's section mid).
// publishedMid is the mid of the client's last publish transceiver (its
// simulcast video, after publishSimulcast).
func (c *tclient) publishedMid() (mid string) {
	for _, tr := range c.pub.GetTransceivers() {
		mid = tr.Mid()
	}
	return mid
}

func (c *tclient) pausedRIDs(mid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rids []string
	for _, l := range c.paused {
		if l.Mid == mid {
			rids = append(rids, l.RID)
		}
	}
	sort.Strings(rids)
	return strings.Join(rids, ",")
}

// Layers nobody watches are paused at the publisher, and resumed as soon as
// a viewer needs one; the viewer then switches to it at its keyframe.
func TestSimulcastPausesUnwatchedLayers(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "pause", "viewer")
	pub := joinClient(t, s, api, "pause", "pub")
	s.SetPublishing("pause", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	mid := pub.publishedMid()
	waitFor(t, flowTimeout, "q and h paused while the viewer watches f", func() bool { return pub.pausedRIDs(mid) == "h,q" })
	var sl *recvSlot
	waitFor(t, flowTimeout, "the viewer on f", func() bool {
		sl = viewer.videoSlot(pub.peerID)
		return sl != nil && sl.layer.Load() == 2
	})
	viewer.part.sub.capLayers(0)
	waitFor(t, flowTimeout, "q resumed, then f paused", func() bool { return pub.pausedRIDs(mid) == "f,h" })
	waitFor(t, flowTimeout, "the viewer on q", func() bool { return sl.layer.Load() == 0 })
	viewer.part.sub.capLayers(maxLayer)
	waitFor(t, flowTimeout, "f resumed, q paused", func() bool { return pub.pausedRIDs(mid) == "h,q" })
	waitFor(t, flowTimeout, "the viewer back on f", func() bool { return sl.layer.Load() == 2 })
	if g := sl.gaps.Load(); g != 0 {
		t.Errorf("%d gaps in the sequence numbers", g)
	}
	if j := sl.pidJumps.Load(); j != 0 {
		t.Errorf("%d jumps in the picture ids", j)
	}
	// The viewer leaves: every layer is paused.
	viewer.closePCs()
	s.Leave("pause", "viewer")
	waitFor(t, flowTimeout, "every layer paused", func() bool { return pub.pausedRIDs(mid) == "f,h,q" })
}

// A presenter nobody watches yet sends only its lowest layer: the others
// are paused once they arrive (before, only a change in who watches paused
// layers, so a presenter alone, or a layer its browser added after the
// viewers chose theirs, went on unwatched); the lowest goes on so that its
// browser's estimate of its uplink grows (pauseIdle). Its first viewer
// gets it, and climbs to the full layer on a free link (a layer paused
// before its rate was known costs what guessRate says); the layer it
// plays, once it has flowed for rateSettle, has a known rate. Once the
// track was watched, its last viewer leaving pauses every layer.
func TestSimulcastUnwatchedFromTheStart(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	pub := joinClient(t, s, api, "alone", "pub")
	s.SetPublishing("alone", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	mid := pub.publishedMid()
	waitFor(t, flowTimeout, "every layer of a presenter nobody watches paused but the lowest", func() bool { return pub.pausedRIDs(mid) == "f,h" })
	viewer := joinClient(t, s, api, "alone", "viewer")
	waitFor(t, flowTimeout, "the viewer receiving", func() bool { return viewer.packetsFrom(pub.peerID) >= 20 })
	var sl *recvSlot
	waitFor(t, flowTimeout, "the viewer on f", func() bool {
		sl = viewer.videoSlot(pub.peerID)
		return sl != nil && sl.layer.Load() == 2
	})
	waitFor(t, flowTimeout, "q and h paused again", func() bool { return pub.pausedRIDs(mid) == "h,q" })
	var full *source
	for _, src := range s.tracksOf("alone", "pub") {
		if src.group != nil && src.layer == 2 {
			full = src
		}
	}
	if full == nil {
		t.Fatal("no full layer")
	}
	waitFor(t, flowTimeout, "the full layer's rate known", func() bool {
		_, _, _, settled := full.group.layerState(2)
		return settled
	})
	viewer.closePCs()
	s.Leave("alone", "viewer")
	waitFor(t, flowTimeout, "every layer paused once its viewer left", func() bool { return pub.pausedRIDs(mid) == "f,h,q" })
}

// A layer the publisher stops by itself (a browser whose estimate fell, or
// one that starts again from its lowest layer after a network change) is
// left: its viewers move to a layer that flows, without a gap, and back
// when it flows again.
func TestSimulcastStalledLayer(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "stall", "viewer")
	pub := joinClient(t, s, api, "stall", "pub")
	s.SetPublishing("stall", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	var sl *recvSlot
	onLayer := func(what string, want int64) {
		t.Helper()
		waitFor(t, flowTimeout, what, func() bool {
			if sl == nil {
				sl = viewer.videoSlot(pub.peerID)
			}
			return sl != nil && sl.layer.Load() == want
		})
		n := viewer.packetsFrom(pub.peerID)
		waitFor(t, flowTimeout, what+": packets", func() bool { return viewer.packetsFrom(pub.peerID) >= n+50 })
	}
	onLayer("the viewer on f", 2)
	pub.layersOff.Store(1 << 2)
	onLayer("f stopped: the viewer on h", 1)
	pub.layersOff.Store(0)
	onLayer("f again: the viewer back on f", 2)
	// The publisher's network changed: nothing for a while, then its
	// lowest layer only, then all.
	pub.layersOff.Store(7)
	time.Sleep(time.Second)
	pub.layersOff.Store(6)
	onLayer("q only: the viewer on q", 0)
	pub.layersOff.Store(0)
	onLayer("all again: the viewer on f", 2)
	if g := sl.gaps.Load(); g != 0 {
		t.Errorf("%d gaps in the sequence numbers", g)
	}
	if j := sl.pidJumps.Load(); j != 0 {
		t.Errorf("%d jumps in the picture ids", j)
	}
	if b := sl.badSwitches.Load(); b != 0 {
		t.Errorf("%d layer changes did not start at a keyframe", b)
	}
	if err := viewer.errs(); err != nil {
		t.Error(err)
	}
}

// A layer a viewer moves up to that does not come while the one it plays
// flows is given up after switchGiveUp: the viewer stays where it is, and
// the layer is paused again, not asked for every second forever. (In
// e2e/media a 320×240 canvas put on the camera's sender came as the half
// layer only, its full one never, and the viewer waited for that.)
func TestSimulcastLayerThatDoesNotCome(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "nocome", "viewer")
	pub := joinClient(t, s, api, "nocome", "pub")
	s.SetPublishing("nocome", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	mid := pub.publishedMid()
	var sl *recvSlot
	waitFor(t, flowTimeout, "the viewer on f", func() bool {
		sl = viewer.videoSlot(pub.peerID)
		return sl != nil && sl.layer.Load() == 2
	})
	// The publisher stops f for good: the viewer goes to h, f is paused
	// (nobody watches it), then resumed when the viewer tries it again.
	pub.layersOff.Store(1 << 2)
	waitFor(t, flowTimeout, "the viewer on h", func() bool { return sl.layer.Load() == 1 })
	waitFor(t, flowTimeout, "f paused", func() bool { return pub.pausedRIDs(mid) == "f,q" })
	waitFor(t, flowTimeout, "f resumed: the viewer tries it", func() bool { return pub.pausedRIDs(mid) == "q" })
	waitFor(t, flowTimeout, "f given up: paused again", func() bool { return pub.pausedRIDs(mid) == "f,q" })
	n := viewer.packetsFrom(pub.peerID)
	waitFor(t, flowTimeout, "h still flows", func() bool { return viewer.packetsFrom(pub.peerID) >= n+50 })
	if l := sl.layer.Load(); l != 1 {
		t.Errorf("the viewer on layer %d, want h", l)
	}
	if g := sl.gaps.Load(); g != 0 {
		t.Errorf("%d gaps in the sequence numbers", g)
	}
	if err := viewer.errs(); err != nil {
		t.Error(err)
	}
}

// A slot waiting to switch layers asks for the layer's keyframe again every
// switchRetry until it comes: the first request's keyframe may have lost its
// first packet on the way in, or the publisher let the request pass.
func TestLayerSwitchAsksAgain(t *testing.T) {
	g := &layerGroup{}
	full := &source{video: true, pli: make(chan struct{}, 1), group: g, layer: 2}
	sl := &slot{group: g, next: full, nextAsked: time.Now().UnixNano()}
	asked := func() bool {
		select {
		case <-full.pli:
			return true
		default:
			return false
		}
	}
	sl.setLayer(2, false)
	if asked() {
		t.Fatal("asked again at once")
	}
	sl.mu.Lock()
	sl.nextAsked -= int64(switchRetry)
	sl.mu.Unlock()
	sl.setLayer(2, false)
	if !asked() {
		t.Fatal("not asked again after switchRetry")
	}
	sl.setLayer(2, false)
	if asked() {
		t.Fatal("asked twice within switchRetry")
	}
}

// A probe train goes out right after a frame ends (so that on a slow link
// it queues between two frames, not on top of one), as probeDrain
// full-size packets to empty a token bucket, then probeMeasure small ones,
// which hold the video behind them less.
func TestProbeTrain(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "probe", "viewer")
	pub := joinClient(t, s, api, "probe", "pub")
	s.SetPublishing("probe", "pub", true)
	if err := pub.publishSimulcast(30); err != nil {
		t.Fatal(err)
	}
	var sl *recvSlot
	waitFor(t, flowTimeout, "the viewer gets video", func() bool {
		sl = viewer.videoSlot(pub.peerID)
		return sl != nil && sl.layer.Load() >= 0 && viewer.packetsFrom(pub.peerID) > 50
	})
	var out *slot
	for _, x := range *viewer.part.sub.rtcpSlots.Load() {
		if x.kind == webrtc.RTPCodecTypeVideo && x.boundSSRC.Load() == uint32(sl.remote.SSRC()) {
			out = x
		}
	}
	if out == nil || !out.probeAfterFrame() {
		t.Fatal("no video slot to probe on")
	}
	waitFor(t, flowTimeout, "a probe train", func() bool { return len(sl.seenTrains()) > 0 })
	// A loaded machine's viewer may be below its top and probed by the
	// server too: every train is checked.
	for _, tr := range sl.seenTrains() {
		want := slices.Repeat([]int{probeDrainPadding}, probeDrain)
		want = append(want, slices.Repeat([]int{probeMeasurePadding}, probeMeasure)...)
		if !slices.Equal(tr.padding, want) {
			t.Errorf("a train of paddings %v, want %v", tr.padding, want)
		}
		if !tr.afterMarker {
			t.Error("a train went in the middle of a frame")
		}
	}
	if err := viewer.errs(); err != nil {
		t.Error(err)
	}
}

// rtpRecorder is a slot's stream to the viewer: it keeps what is written.
type rtpRecorder struct{ sent []rtp.Header }

func (w *rtpRecorder) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	w.sent = append(w.sent, *h)
	return 0, nil
}
func (w *rtpRecorder) Write(b []byte) (int, error) { return len(b), nil }

// A switch down for congestion stops the layer the slot carries at the
// end of its frame, not at the lower layer's keyframe; a switch down that
// is not (the viewer's cap) keeps it until then. A cut layer the viewer
// goes back to starts again at its own keyframe. Whatever is cut, the
// viewer's sequence numbers have no gap and each layer starts at a
// keyframe.
func TestSwitchDownCut(t *testing.T) {
	// step: a packet of layer ("q", "f"; "F"/"Q": a keyframe's first
	// packet), ending a frame or not ("." does), or a call of setLayer
	// ("down", "cut" to q; "back" to f); want: the layer of each packet
	// the viewer got.
	cases := []struct {
		name  string
		steps []string
		want  string
	}{
		{"cut at the end of the frame", []string{"F.", "f", "cut", "f.", "f", "f.", "q.", "Q", "q.", "f."}, "FffQq"},
		{"down, not cut: on until the keyframe", []string{"F.", "f", "down", "f.", "f", "f.", "q.", "Q", "q.", "f."}, "FffffQq"},
		{"cut between frames", []string{"F.", "cut", "f", "f.", "Q", "q."}, "FQq"},
		{"cut, then back: the layer's keyframe", []string{"F.", "cut", "f.", "back", "f.", "q.", "F", "f.", "Q"}, "FFf"},
		{"down, then back: on as before", []string{"F.", "down", "f.", "back", "f.", "Q", "f."}, "Ffff"},
		{"a cut that finds it at a keyframe's end", []string{"F.", "f.", "cut", "f.", "Q."}, "FfQ"},
		// On the half layer: a cut to q, then up to f before a frame ended:
		// nothing is cut (h goes on until f's keyframe).
		{"up before the cut came", []string{"H.", "h", "cut", "back", "h.", "h.", "F", "h."}, "HhhhF"},
		{"up after the cut came: h stays cut", []string{"H.", "cut", "h.", "back", "h.", "F", "f."}, "HFf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &layerGroup{tell: func() {}, rids: []string{"q", "h", "f"}}
			n := len(g.rids)
			g.paused, g.seen, g.heardAt, g.resumedAt = make([]bool, n), make([]uint64, n), make([]int64, n), make([]int64, n)
			g.stalled, g.flowSince, g.settled = make([]bool, n), make([]int64, n), make([]bool, n)
			layer := map[byte]*source{}
			for i, rid := range []byte{'q', 'h', 'f'} {
				src := &source{video: true, pli: make(chan struct{}, 1), group: g, layer: i}
				src.slots.Store(&noSlots)
				g.layers = append(g.layers, src)
				layer[rid] = src
			}
			defer func() {
				if g.timer != nil {
					g.timer.Stop()
				}
			}()
			p := &Participant{sub: &subscriber{}}
			p.sub.connected.Store(true)
			rec := &rtpRecorder{}
			sl := &slot{p: p, kind: webrtc.RTPCodecTypeVideo, ws: rec, group: g, clock: 90000}
			first := layer[c.steps[0][0]|0x20] // the layer of the first packet
			sl.next = first
			first.addSlot(sl)
			seq := map[*source]uint16{}
			var got []byte
			for _, st := range c.steps {
				switch st {
				case "cut", "down":
					sl.setLayer(0, st == "cut")
					continue
				case "back":
					sl.setLayer(2, false)
					continue
				}
				rid := st[0] | 0x20 // lower case
				src := layer[rid]
				seq[src]++
				before := len(rec.sent)
				sl.write(src, &packet{seq: seq[src] + uint16(src.layer)*1000, ts: uint32(seq[src]) * 3000,
					marker: strings.HasSuffix(st, "."), keyframe: st[0] != rid}, time.Now().UnixNano())
				if len(rec.sent) > before {
					got = append(got, st[0])
				}
			}
			if string(got) != c.want {
				t.Errorf("the viewer got %q, want %q", got, c.want)
			}
			for i := 1; i < len(rec.sent); i++ {
				if d := rec.sent[i].SequenceNumber - rec.sent[i-1].SequenceNumber; d != 1 {
					t.Errorf("sequence number %d after %d", rec.sent[i].SequenceNumber, rec.sent[i-1].SequenceNumber)
				}
			}
		})
	}
}
