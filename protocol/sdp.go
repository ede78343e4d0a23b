package protocol

import "strings"

// ICEUfrag returns the first a=ice-ufrag of an SDP: its value up to the
// first space or control character (a ufrag has neither), "" if none.
// The SFU and both clients compare it with the current remote
// description's: an offer whose ufrag differs is for a new connection (ICE
// restarts are not supported, so a renegotiation keeps it).
func ICEUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			if i := strings.IndexFunc(v, func(r rune) bool { return r <= ' ' }); i >= 0 {
				v = v[:i]
			}
			return v
		}
	}
	return ""
}
