//go:build js && wasm

package media

import "syscall/js"

// platformTrack is a received track's browser part.
type platformTrack struct {
	// JS is the MediaStreamTrack.
	JS js.Value
}
