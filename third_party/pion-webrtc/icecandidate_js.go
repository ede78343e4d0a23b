// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build js && wasm
// +build js,wasm

package webrtc

// The browser build reads and writes candidate lines with
// icecandidate_sdp.go: pion/ice would link its whole transport stack (dtls,
// turn, crypto/tls) into every wasm binary, where the browser does ICE.

// String returns the candidate in its SDP form, without "candidate:".
func (c ICECandidate) String() string {
	return c.marshal()
}

// ToJSON returns an ICECandidateInit
// as indicated by the spec https://w3c.github.io/webrtc-pc/#dom-rtcicecandidate-tojson
func (c ICECandidate) ToJSON() ICECandidateInit {
	return ICECandidateInit{
		Candidate:     "candidate:" + c.marshal(),
		SDPMid:        &c.SDPMid,
		SDPMLineIndex: &c.SDPMLineIndex,
	}
}
