package sfu

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"
)

// layerGroup is one simulcast track: a source per layer (per RTP stream
// id), ranked lowest first in the order the publisher's offer lists its
// rids (the SDK lists them quarter, half, full). Viewers see the track
// once, as its lead (the first layer to arrive); each viewer's slot
// carries one layer of it and switches between them with the one
// source-switch mechanism (slot.setLayer).
type layerGroup struct {
	mu     sync.Mutex
	rids   []string  // every layer's rid, lowest first
	layers []*source // by rank; nil until the layer's first packet
	lead   *source
	closed bool
}

func newLayerGroup(recv *webrtc.RTPReceiver) *layerGroup {
	g := &layerGroup{}
	for _, tr := range recv.Tracks() {
		g.rids = append(g.rids, tr.RID())
	}
	g.layers = make([]*source, len(g.rids))
	return g
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
			if g.lead == nil {
				g.lead = src
			}
			return true
		}
	}
	return false
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
	g.mu.Unlock()
}

// pick returns the highest layer that arrived with a rank at most want,
// else the lowest that arrived; nil if none did.
func (g *layerGroup) pick(want int) *source {
	g.mu.Lock()
	defer g.mu.Unlock()
	var low *source
	for i := len(g.layers) - 1; i >= 0; i-- {
		l := g.layers[i]
		if l == nil {
			continue
		}
		if i <= want {
			return l
		}
		low = l
	}
	return low
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
	for _, line := range strings.Split(sdpText, "\n") {
		var id int
		var u string
		if n, _ := fmt.Sscanf(strings.TrimSpace(line), "a=extmap:%d %s", &id, &u); n == 2 && u == uri {
			return uint8(id)
		}
	}
	return 0
}
