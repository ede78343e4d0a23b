package sfu

import (
	"slices"

	"github.com/stagekit/stagekit/protocol"
)

// The layer a viewer gets of each simulcast track it watches: the highest
// that fits its downlink estimate once audio is served (audio is never
// cut: it is small and what an audience needs most). Pure: the
// subscriber's negotiation loop calls chooseLayers with what it measured.
//
// Hysteresis, so that a viewer does not flap between layers:
//   - a track stays on its layer while the layer fits the estimate; it
//     goes down as soon as it does not (the estimate fell: congestion),
//     to a layer that fits with allocHeadroom to spare (the link's queue
//     must drain);
//   - it goes up only when the next layer fits with allocHeadroom to
//     spare, and not before upAfter: allocHold after any switch down,
//     or, when a switch up had to be undone within allocProbeFail (the
//     higher layer did not fit after all), a backoff that doubles each
//     time (allocBackoffMin to allocBackoffMax) and resets after
//     allocStable on a layer.
const (
	allocHeadroom   = 1.25
	allocHold       = 2e9 // ns
	allocProbeFail  = 5e9
	allocBackoffMin = 4e9
	allocBackoffMax = 8e9
	allocStable     = 20e9
)

// layerChoice is what the allocator remembers of one slot.
type layerChoice struct {
	upAfter int64 // no switch up before (unix ns)
	backoff int64 // the next backoff after a failed switch up
	changed int64 // when the layer last changed
	wentUp  bool  // the last change was up
}

// allocTrack is one simulcast track a viewer watches.
type allocTrack struct {
	rates  []float64 // bit/s of each layer, lowest first; < 0: not there (not arrived, or stalled)
	cur    int       // the layer it carries or switches to; -1: none yet
	choice *layerChoice
	// stuck: cur is a layer it switched up to that did not come (not
	// there now): given up as a switch up that failed.
	stuck bool
	// By layer (nil: none): paused, and whether its rate is known (it
	// once flowed for rateSettle). A paused layer whose rate is not known
	// costs at least guessRate: its rate is the one it had as it started.
	paused, known []bool
}

// guessRate is what layer i of t costs at least when its rate is not known:
// the nearest layer whose rate is known (below first), scaled by the
// SDK's layer table (protocol.CameraLayers, its top len(t.rates) layers);
// the table's own rate if no layer's rate is known. A paused layer kept
// the rate it had just after it started (a fraction of what it sends
// once it flows), and a viewer whose link was cut took it for cheap,
// resumed it, and went down again.
func guessRate(t allocTrack, i int) float64 {
	table := func(l int) float64 {
		k := len(protocol.CameraLayers) - len(t.rates) + l
		if k < 0 {
			return 0
		}
		return float64(protocol.CameraLayers[k].MaxBitrate)
	}
	ref := func(j int) bool { return t.rates[j] > 0 && j < len(t.known) && t.known[j] }
	for j := i - 1; j >= 0; j-- {
		if ref(j) && table(j) > 0 {
			return t.rates[j] * table(i) / table(j)
		}
	}
	for j := i + 1; j < len(t.rates); j++ {
		if ref(j) && table(j) > 0 {
			return t.rates[j] * table(i) / table(j)
		}
	}
	return table(i)
}

// unknown reports whether layer i's rate is not to be trusted as
// measured: paused before it flowed for rateSettle, or flowing for less
// than that and not the layer the viewer plays. A layer that has just
// started sends less than it will (its encoder ramps up): a viewer cut
// to 300 kbit/s 0.6 s after the full layer came took the half layer,
// then flowing for a second at 208 kbit/s, and had to go down again.
// (The layer it plays is what it measures: the viewer takes it in.)
func (t allocTrack) unknown(i int) bool {
	paused := i < len(t.paused) && t.paused[i]
	switch {
	case paused:
		return i >= len(t.known) || !t.known[i]
	case i < len(t.known):
		return !t.known[i] && i != t.cur
	}
	return false
}

// chooseLayers returns the layer of each track for a budget in bit/s
// (the estimate less audio) at now, and updates each track's choice.
func chooseLayers(budget float64, tracks []allocTrack, now int64) []int {
	tracks = slices.Clone(tracks) // rates guessed here are not the caller's
	for ti, t := range tracks {
		var guessed []float64
		for i, r := range t.rates {
			if r >= 0 && t.unknown(i) {
				if guessed == nil {
					guessed = slices.Clone(t.rates)
				}
				guessed[i] = max(r, guessRate(t, i))
			}
		}
		if guessed != nil {
			tracks[ti].rates = guessed
		}
	}
	pick := make([]int, len(tracks))
	// Everyone gets its lowest layer first.
	for i, t := range tracks {
		pick[i] = -1
		for l, r := range t.rates {
			if r >= 0 {
				pick[i] = l
				budget -= r
				break
			}
		}
	}
	// Then one layer up at a time, round the tracks, while it fits.
	for moved := true; moved; {
		moved = false
		for i, t := range tracks {
			if pick[i] < 0 {
				continue
			}
			next := pick[i] + 1
			for next < len(t.rates) && t.rates[next] < 0 {
				next++
			}
			if next >= len(t.rates) {
				continue
			}
			cost := t.rates[next] - t.rates[pick[i]]
			need := cost
			switch {
			case next > t.cur:
				// Going above what it carries: with headroom, and not
				// while held back.
				need = t.rates[next]*allocHeadroom - t.rates[pick[i]]
				if t.choice != nil && now < t.choice.upAfter {
					continue
				}
			case next < t.cur && t.rates[t.cur] >= 0 && t.rates[t.cur]-t.rates[pick[i]] > budget:
				// Going down (its layer no longer fits): to a layer with
				// headroom too, or the queue the congestion left on the
				// link does not drain (at 300 kbit/s, a half layer that
				// fit at 92% of the estimate kept the queue full until a
				// second switch down).
				need = t.rates[next]*allocHeadroom - t.rates[pick[i]]
			}
			if need <= budget {
				budget -= cost
				pick[i] = next
				moved = true
			}
		}
	}
	for i, t := range tracks {
		c := t.choice
		if c == nil || t.cur < 0 || pick[i] == t.cur {
			if c != nil && c.backoff > allocBackoffMin && now-c.changed > allocStable {
				c.backoff = allocBackoffMin
			}
			continue
		}
		if c.backoff == 0 {
			c.backoff = allocBackoffMin
		}
		if pick[i] < t.cur {
			c.upAfter = now + allocHold
			// A switch up undone, unless the layer is no longer there
			// (the publisher stopped it: not the viewer's link), or one
			// that never came.
			if t.stuck || c.wentUp && now-c.changed < allocProbeFail && t.rates[t.cur] >= 0 {
				c.upAfter = now + c.backoff
				c.backoff = min(2*c.backoff, allocBackoffMax)
			}
			c.wentUp = false
		} else {
			c.wentUp = true
		}
		c.changed = now
	}
	return pick
}
