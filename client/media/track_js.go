//go:build js && wasm

package media

import "syscall/js"

// platformTrack is a received track's browser part.
type platformTrack struct {
	// JS is the MediaStreamTrack.
	JS js.Value
}

// slotEdge is a receive slot's browser part: its MediaStreamTrack, which
// every track the slot carries shares.
type slotEdge struct{ js js.Value }

func (e slotEdge) track() platformTrack { return platformTrack{JS: e.js} }
