// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js
// +build !js

package webrtc

import (
	"strings"
	"testing"

	"github.com/pion/ice/v4"
)

// The browser build's candidate lines (icecandidate_sdp.go) must read and
// write what pion/ice does.

var candidateLines = []string{
	"candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXcb network-cost 999",
	"candidate:3459112342 1 udp 2113937151 5f9f3d41-1a2b-4c5d-8e9f-0a1b2c3d4e5f.local 50322 typ host generation 0 ufrag sXcb network-cost 999",
	"candidate:1 1 UDP 2122252543 192.168.1.20 61012 typ host",
	"candidate:2 1 TCP 2105524479 192.168.1.20 9 typ host tcptype active",
	"candidate:3 1 udp 1686052607 198.51.100.4 61012 typ srflx raddr 192.168.1.20 rport 61012",
	"candidate:4 1 udp 41885439 192.0.2.9 50000 typ relay raddr 198.51.100.4 rport 61012 generation 0",
	"candidate:5 2 udp 2130706431 fe80::1 40000 typ host",
	"6 1 udp 1 10.0.0.1 1 typ prflx raddr 10.0.0.2 rport 2",
}

func TestCandidateLinesMatchICE(t *testing.T) {
	for _, line := range candidateLines {
		want, err := ice.UnmarshalCandidate(line)
		if err != nil {
			t.Fatalf("ice: %q: %v", line, err)
		}
		wantC, err := newICECandidateFromICE(want, "", 0)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got, err := unmarshalCandidate(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		wantC.statsID = ""
		if got != wantC {
			t.Errorf("%q:\n read   %#v\n ice    %#v", line, got, wantC)
		}
		if m, w := got.marshal(), want.Marshal(); m != w {
			t.Errorf("%q:\n writes %q\n ice    %q", line, m, w)
		}
	}
}

func TestCandidateLinesRefuseWhatICERefuses(t *testing.T) {
	for _, line := range []string{
		"", "candidate:", "candidate:1 1 udp 1 10.0.0.1", "candidate:1 1 udp 1 10.0.0.1 1 host",
		"candidate:1 x udp 1 10.0.0.1 1 typ host", "candidate:1 1 sctp 1 10.0.0.1 1 typ host",
		"candidate:1 1 udp 1 10.0.0.1 99999 typ host", "candidate:1 1 udp 1 10.0.0.1 1 typ bogus",
		"candidate:1 1 udp 1 10.0.0.1 1 typ srflx raddr 10.0.0.2 rport x",
	} {
		if _, err := ice.UnmarshalCandidate(line); err == nil {
			t.Fatalf("ice accepts %q: not a refusal case", line)
		}
		if c, err := unmarshalCandidate(line); err == nil {
			t.Errorf("%q: read as %#v, want an error as ice gives", line, c)
		}
	}
}

// FuzzCandidateLines: what is read and written reads and writes the same
// again (writing drops what pion/ice drops: an unset raddr, say);
// a line in pion/ice's own canonical form (as browsers write them) is read
// and written as pion/ice does.
func FuzzCandidateLines(f *testing.F) {
	for _, line := range candidateLines {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got, err := unmarshalCandidate(line)
		if err != nil {
			return
		}
		// (an address that is all zone, "%x", writes as "": pion/ice does so too)
		if again, err := unmarshalCandidate(got.marshal()); err == nil && again.marshal() != got.marshal() {
			t.Fatalf("%q: wrote %q, read back and wrote %q", line, got.marshal(), again.marshal())
		}
		want, err := ice.UnmarshalCandidate(line)
		body := strings.TrimPrefix(line, "candidate:")
		if err != nil || want.Marshal() != body || strings.Join(strings.Fields(body), " ") != body {
			return // not canonical: browsers write single spaces, no empty values
		}
		wantC, err := newICECandidateFromICE(want, "", 0)
		if err != nil {
			return
		}
		wantC.statsID = ""
		if got != wantC {
			t.Errorf("%q:\n read %#v\n ice  %#v", line, got, wantC)
		}
		if m, w := got.marshal(), want.Marshal(); m != w {
			t.Errorf("%q:\n writes %q\n ice    %q", line, m, w)
		}
	})
}
