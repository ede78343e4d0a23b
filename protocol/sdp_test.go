package protocol

import (
	"strings"
	"testing"
)

func TestICEUfrag(t *testing.T) {
	cases := []struct{ sdp, want string }{
		{"v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\n", "abcd"},
		{"v=0\nm=audio 9 x 0\na=ice-ufrag:AbC \na=ice-ufrag:second\n", "AbC"}, // the first, trimmed
		{"v=0\r\n", ""},
		{"a=ice-ufrag:last-line-no-newline", "last-line-no-newline"},
		{"", ""},
		{" a=ice-ufrag:indented\n", ""}, // not an attribute line
		{"a=ice-ufrag:0\r0\n", "0"},     // a stray CR ends the value
	}
	for _, c := range cases {
		if got := ICEUfrag(c.sdp); got != c.want {
			t.Errorf("ICEUfrag(%q) = %q, want %q", c.sdp, got, c.want)
		}
	}
}

func FuzzICEUfrag(f *testing.F) {
	f.Add("v=0\r\na=ice-ufrag:abcd\r\n")
	f.Add("a=ice-ufrag:\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		got := ICEUfrag(sdp)
		if strings.IndexFunc(got, func(r rune) bool { return r <= ' ' }) >= 0 {
			t.Fatalf("ICEUfrag(%q) = %q: space or control characters in the value", sdp, got)
		}
		if got != "" && !strings.Contains(sdp, "a=ice-ufrag:") {
			t.Fatalf("ICEUfrag(%q) = %q without an ice-ufrag line", sdp, got)
		}
	})
}
