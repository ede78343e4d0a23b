package sfu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// extmapIDEveryLine is extmapID as it was: every line scanned. The
// scan of extmap lines only must agree with it.
func extmapIDEveryLine(sdpText, uri string) uint8 {
	for _, line := range strings.Split(sdpText, "\n") {
		var id int
		var u string
		if n, _ := fmt.Sscanf(strings.TrimSpace(line), "a=extmap:%d %s", &id, &u); n == 2 && u == uri {
			return uint8(id)
		}
	}
	return 0
}

const chromeAnswer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n" +
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
	"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n"

func TestExtmapID(t *testing.T) {
	for _, tc := range []struct {
		sdp, uri string
		want     uint8
	}{
		{chromeAnswer, sdp.TransportCCURI, 3},
		{chromeAnswer, sdp.SDESMidURI, 4},
		{chromeAnswer, sdp.SDESRTPStreamIDURI, 10},
		{chromeAnswer, sdp.SDESRepairRTPStreamIDURI, 0},
		{"a=extmap:7/sendonly " + sdp.SDESMidURI, sdp.SDESMidURI, 0}, // a direction: not read (as before)
		{"  a=extmap:5 " + sdp.SDESMidURI + "  \n", sdp.SDESMidURI, 5},
		{"a=extmap:x " + sdp.SDESMidURI, sdp.SDESMidURI, 0},
		{"", sdp.SDESMidURI, 0},
	} {
		if got := extmapID(tc.sdp, tc.uri); got != tc.want || got != extmapIDEveryLine(tc.sdp, tc.uri) {
			t.Errorf("extmapID(%q, %s) = %d, want %d (every line: %d)", tc.sdp, tc.uri, got, tc.want, extmapIDEveryLine(tc.sdp, tc.uri))
		}
	}
}

func FuzzExtmapID(f *testing.F) {
	f.Add(chromeAnswer, sdp.TransportCCURI)
	f.Add("a=extmap:2 x\na=extmap:300 y\r\n", "y")
	f.Add("xa=extmap:1 u\n\ta=extmap:2 u", "u")
	f.Fuzz(func(t *testing.T, text, uri string) {
		if got, want := extmapID(text, uri), extmapIDEveryLine(text, uri); got != want {
			t.Fatalf("extmapID(%q, %q) = %d, scanning every line %d", text, uri, got, want)
		}
	})
}
