package media

import "strings"

// msid is an m-section's "a=msid:<stream> <track>".
type msid struct{ stream, track string }

// parseMsids maps each m-section's mid to its msid. The browser's ontrack
// gives the transceiver's mid, not the server's track id, so the session
// reads the id from the offer.
func parseMsids(sdp string) map[string]msid {
	out := map[string]msid{}
	mid, ms := "", msid{}
	flush := func() {
		if mid != "" {
			out[mid] = ms
		}
		mid, ms = "", msid{}
	}
	for len(sdp) > 0 {
		line, rest, _ := strings.Cut(sdp, "\n")
		sdp = rest
		line = strings.TrimSuffix(line, "\r")
		if strings.HasPrefix(line, "m=") {
			flush()
		} else if v, ok := strings.CutPrefix(line, "a=mid:"); ok {
			mid = v
		} else if v, ok := strings.CutPrefix(line, "a=msid:"); ok {
			if stream, track, ok := strings.Cut(v, " "); ok {
				ms = msid{stream: stream, track: track}
			}
		}
	}
	flush()
	return out
}
