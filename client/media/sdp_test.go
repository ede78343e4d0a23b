package media

import "testing"

func TestParseMsids(t *testing.T) {
	sdp := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\na=group:BUNDLE 0 1 2\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:AbC\r\na=mid:0\r\na=msid:peerA t1-audio\r\na=sendonly\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\na=mid:1\na=msid:peerA t2-video\n" +
		"m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=inactive\r\n" +
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=msid:orphan\r\n"
	got := parseMsids(sdp)
	want := map[string]msid{"0": {"peerA", "t1-audio"}, "1": {"peerA", "t2-video"}, "2": {}}
	if len(got) != len(want) {
		t.Fatalf("parseMsids = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mid %s: %v, want %v", k, got[k], v)
		}
	}
}

func FuzzParseMsids(f *testing.F) {
	f.Add("m=audio 9 X 0\r\na=mid:0\r\na=msid:s t\r\n")
	f.Add("a=mid:\na=msid: \nm=")
	f.Fuzz(func(t *testing.T, sdp string) {
		for mid := range parseMsids(sdp) {
			if mid == "" {
				t.Fatalf("empty mid in %q", sdp)
			}
		}
	})
}
