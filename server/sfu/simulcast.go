package sfu

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// layerGroup is one simulcast track: a source per layer (per RTP stream
// id), ranked lowest first in the order the publisher's offer lists its
// rids (the SDK lists them quarter, half, full). Viewers see the track
// once, as its lead (the first layer to arrive); each viewer's slot
// carries one layer of it and switches between them with the one
// source-switch mechanism (slot.setLayer).
//
// Layers nobody watches are paused at the publisher: a layer whose fan-out
// has been empty for layerPauseDelay is listed in a "layers" message to
// its owner, which stops sending it; a slot that binds to a paused layer
// has it resumed at once (the browser starts it with a keyframe, which the
// slot waits for).
//
// A layer the publisher stops sending by itself (its browser's own
// estimate fell, as after a network change, when the browser starts again
// from a low rate with the lowest layer only) is stalled: no packet for
// layerStall while another layer of the track came. Stalled layers are
// left out (pick, and so the allocator), and viewers on one are moved to
// a layer that flows (a layer we resumed gets layerResumeGrace); the
// group looks every layerCheck (a timer per
// track, nothing per packet) and wakes those viewers' allocation when a
// layer stalls or flows again.
type layerGroup struct {
	owner *Participant
	// tell passes the paused layers on: to the publisher ("layers"), or,
	// for a track relayed in from another node, to that node (relay.go).
	// Called without mu.
	tell func()
	id   string // names the track to the nodes it is relayed to
	// relayed: a track relayed in from another node (relay.go).
	relayed bool
	mid     string // the publish PC's section
	mu      sync.Mutex
	rids    []string  // every layer's rid, lowest first
	layers  []*source // by rank; nil until the layer's first packet
	lead    *source
	closed  bool
	paused  []bool      // as last told the publisher
	timer   *time.Timer // pauses idle layers
	// watched: a layer had a viewer once. Until then the publisher's
	// lowest layer is not paused (see pauseIdle).
	watched bool
	// Stalls, by rank: the forwarded count at the last look, when it
	// last grew (or the layer was resumed), and whether the layer is
	// stalled.
	seen      []uint64
	heardAt   []int64
	resumedAt []int64
	stalled   []bool
	check     *time.Timer
	// Whether a layer's rate is known (see rateSettle): when it last
	// started to flow (0: it does not), and whether it once flowed for
	// rateSettle.
	flowSince []int64
	settled   []bool
}

// layerPauseDelay is how long a layer nobody watches is sent on before it
// is paused: a viewer moving between layers joins the new one before it
// leaves the old, and one leaving for a moment should not cost a restart.
const layerPauseDelay = time.Second

// A layer is stalled after layerStall without a packet while another
// layer came (a browser sends a layer it keeps at 30, at least a few,
// frames a second; when it restarts its encoders, for a new track, the
// layers come back within a second of each other); layers are looked at
// every layerCheck.
const (
	layerStall = time.Second
	layerCheck = 100 * time.Millisecond
	// layerResumeGrace is how long a layer we resumed has to start before
	// it counts as stalled (for a viewer with nothing else to play; one
	// that plays another layer goes on waiting for it up to switchGiveUp:
	// see allocate).
	layerResumeGrace = time.Second
	// rateSettle is how long a layer flows before its measured rate
	// (source.rate) counts as known: a browser starts a layer low and
	// ramps it up over a second or two, and a layer paused before that
	// (one nobody watched from its arrival) would keep the rate of its
	// start, a fraction of what it sends once resumed (see allocTrack).
	rateSettle = 3 * time.Second
)

func newLayerGroup(sess *pubSession, owner *Participant, recv *webrtc.RTPReceiver) *layerGroup {
	var rids []string
	for _, tr := range recv.Tracks() {
		rids = append(rids, tr.RID())
	}
	g := newGroup(owner, rids, func() { sess.sendLayers(owner) })
	for _, tr := range sess.pc.GetTransceivers() {
		if tr.Receiver() == recv {
			g.mid = tr.Mid()
		}
	}
	return g
}

// newGroup makes a track of the layers rids, lowest first; tell passes
// its paused layers on.
func newGroup(owner *Participant, rids []string, tell func()) *layerGroup {
	g := &layerGroup{owner: owner, tell: tell, rids: rids, id: "g" + strconv.FormatUint(owner.s.seq.Add(1), 10)}
	g.layers = make([]*source, len(g.rids))
	g.paused = make([]bool, len(g.rids))
	g.seen = make([]uint64, len(g.rids))
	g.heardAt = make([]int64, len(g.rids))
	g.resumedAt = make([]int64, len(g.rids))
	g.stalled = make([]bool, len(g.rids))
	g.flowSince = make([]int64, len(g.rids))
	g.settled = make([]bool, len(g.rids))
	return g
}

// watchChanged is called when a layer's fan-out changed: a layer that is
// watched again is resumed now, one nobody watches paused after
// layerPauseDelay.
func (g *layerGroup) watchChanged() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	resumed, idle := false, false
	for i, l := range g.layers {
		if l == nil {
			continue
		}
		watched := len(*l.slots.Load()) > 0
		g.watched = g.watched || watched
		if watched && g.paused[i] {
			g.paused[i], resumed = false, true
			g.resumedAt[i] = time.Now().UnixNano()
		}
		idle = idle || !watched && !g.paused[i]
	}
	if idle && g.timer == nil {
		g.timer = time.AfterFunc(layerPauseDelay, g.pauseIdle)
	}
	g.mu.Unlock()
	if resumed {
		g.tell()
	}
}

// pauseIdle pauses the layers nobody watches now; of a publisher's track
// nobody watched yet, all but its lowest layer: the browser grows its
// estimate of its uplink only while it sends, and adds its higher layers
// as it grows, so a presenter alone on stage whose every layer was paused
// a second after it started kept the estimate of its start, and its first
// viewer waited for the full layer as long as the ramp took (29 s once,
// on a loaded machine, against 2 s). The lowest layer is the least of the
// three (150 kbit/s of 2,150).
func (g *layerGroup) pauseIdle() {
	g.mu.Lock()
	g.timer = nil
	changed := false
	lowest := true
	for i, l := range g.layers {
		if l == nil {
			continue
		}
		keep := lowest && !g.watched && !g.relayed
		lowest = false
		if !keep && !g.closed && !g.paused[i] && len(*l.slots.Load()) == 0 {
			g.paused[i], changed = true, true
		}
	}
	g.mu.Unlock()
	if changed {
		g.tell()
	}
}

// pausedIDs lists the layers told paused.
func (g *layerGroup) pausedIDs(out []protocol.LayerID) []protocol.LayerID {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, p := range g.paused {
		if p && !g.closed {
			out = append(out, protocol.LayerID{Mid: g.mid, RID: g.rids[i]})
		}
	}
	return out
}

// isPaused reports whether layer i is paused (tests).
func (g *layerGroup) isPaused(i int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused[i]
}

// add makes src the layer of its rid; false for a rid the offer did not
// list.
func (g *layerGroup) add(src *source, rid string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, r := range g.rids {
		if r == rid && !g.closed {
			src.group, src.layer = g, i
			g.layers[i] = src
			g.heardAt[i] = time.Now().UnixNano()
			if g.lead == nil {
				g.lead = src
			}
			if g.check == nil {
				g.check = time.AfterFunc(layerCheck, g.checkStalls)
			}
			if g.timer == nil {
				// A layer may arrive before anyone watches the track (a
				// presenter alone on stage) or after the viewers chose
				// theirs (a browser adds its top layer as its estimate
				// grows; a relayed one comes when the origin's slot first
				// sends): unwatched, it is let go like any other.
				g.timer = time.AfterFunc(layerPauseDelay, g.pauseIdle)
			}
			return true
		}
	}
	return false
}

// trackLayer describes layer src to a node it is relayed to.
func (g *layerGroup) trackLayer(src *source) *protocol.TrackLayer {
	g.mu.Lock()
	defer g.mu.Unlock()
	return &protocol.TrackLayer{Group: g.id, RID: g.rids[src.layer], RIDs: slices.Clone(g.rids)}
}

// isLead reports whether src is the layer viewers see the track as.
func (g *layerGroup) isLead(src *source) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lead == src
}

// close ends the track: every layer leaves the meeting together.
func (g *layerGroup) close() {
	g.mu.Lock()
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.check != nil {
		g.check.Stop()
	}
	g.mu.Unlock()
}

// checkStalls marks the layers that stalled or flow again (see layerGroup)
// and has the allocation of every viewer of the track run when one did.
func (g *layerGroup) checkStalls() {
	now := time.Now().UnixNano()
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	var newest int64
	for i, l := range g.layers {
		if l == nil {
			continue
		}
		if n := l.forwarded.Load(); n != g.seen[i] {
			g.seen[i], g.heardAt[i] = n, now
		}
		newest = max(newest, g.heardAt[i])
		// Measured whether or not anyone watches (source.rate measures
		// only when asked), so that a layer paused before its first
		// viewer has the rate it flowed at.
		l.rate(now)
	}
	var changed []string
	for i, l := range g.layers {
		if l == nil {
			continue
		}
		// Silent while another layer came. A paused layer is not sent by
		// our request, and one we resumed is given layerResumeGrace.
		st := !g.paused[i] && now-g.heardAt[i] >= int64(layerStall) && now-g.resumedAt[i] >= int64(layerResumeGrace) &&
			now-newest < int64(layerStall)
		if st != g.stalled[i] {
			g.stalled[i] = st
			changed = append(changed, g.rids[i])
		}
		// Flowing: not paused, not stalled, and heard since resumed.
		switch {
		case g.paused[i] || st || g.heardAt[i] <= g.resumedAt[i]:
			g.flowSince[i] = 0
		case g.flowSince[i] == 0:
			g.flowSince[i] = now
		case now-g.flowSince[i] >= int64(rateSettle):
			g.settled[i] = true
		}
	}
	var subs []*subscriber
	if len(changed) > 0 {
		for _, l := range g.layers {
			if l == nil {
				continue
			}
			for _, sl := range *l.slots.Load() {
				subs = append(subs, sl.p.sub)
			}
		}
		g.owner.log().Debug("simulcast layers stalled", "changed", changed, "stalled", fmt.Sprint(g.stalled))
	}
	g.check.Reset(layerCheck)
	g.mu.Unlock()
	for _, sb := range subs {
		poke(sb.allocCh)
	}
}

// pick returns the highest layer that arrived and is not stalled with a
// rank at most want, else the lowest such; if every layer that arrived is
// stalled, the same among them; nil if none arrived.
func (g *layerGroup) pick(want int) *source {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.pickLocked(want, true); l != nil {
		return l
	}
	return g.pickLocked(want, false)
}

func (g *layerGroup) pickLocked(want int, flowing bool) *source {
	var low *source
	for i := len(g.layers) - 1; i >= 0; i-- {
		l := g.layers[i]
		if l == nil || flowing && g.stalled[i] {
			continue
		}
		if i <= want {
			return l
		}
		low = l
	}
	return low
}

// state is layer i as the allocator sees it: nil if it never arrived,
// and whether it is stalled or paused.
func (g *layerGroup) state(i int) (l *source, stalled, paused bool) {
	l, stalled, paused, _ = g.layerState(i)
	return l, stalled, paused
}

// layerState is state, and whether the layer's rate is known (it once
// flowed for rateSettle).
func (g *layerGroup) layerState(i int) (l *source, stalled, paused, settled bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i < 0 || i >= len(g.layers) {
		return nil, false, false, false
	}
	return g.layers[i], g.stalled[i], g.paused[i], g.settled[i]
}

// count is the number of layers the offer listed.
func (g *layerGroup) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.rids)
}

// sameTrack reports whether a and b are the same track: one source, or two
// layers of one simulcast track.
func sameTrack(a, b *source) bool {
	return a == b || a != nil && b != nil && a.group != nil && a.group == b.group
}

// extmapID is the id an SDP gives a header extension, 0 if none.
func extmapID(sdpText, uri string) uint8 {
	for line := range strings.Lines(sdpText) {
		// Only extmap lines are scanned: Sscanf on every line of an answer
		// was 1% of a viewer's join.
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "a=extmap:")
		if !ok {
			continue
		}
		var id int
		var u string
		if n, _ := fmt.Sscanf(rest, "%d %s", &id, &u); n == 2 && u == uri {
			return uint8(id)
		}
	}
	return 0
}
