package sfu

import (
	"github.com/stagekit/stagekit/protocol"
)

// Signaler is how the SFU talks to one participant's client. The hub
// implements it by sending protocol "media" messages (see MessageSignaler).
//
// The SFU calls one participant's Signaler from its own goroutines, one call
// at a time, in order: for the subscribe PC, SendTracks then SendOffer, and
// a candidate never before the description it belongs to. Implementations
// must not block (queue the message) and must not call back into the SFU.
type Signaler interface {
	// SendOffer carries the server's offer for the subscribe PC; the client
	// answers it with a media.answer (HandleSubscribeAnswer). iceRestart
	// marks an ICE restart of the current subscribe PC (new credentials,
	// same connection); without it, new credentials mean a new connection.
	SendOffer(sdp string, iceRestart bool)
	// SendCandidate trickles one of the server's ICE candidates for the
	// named peer connection (protocol.PCPublish or protocol.PCSubscribe).
	SendCandidate(pc string, c protocol.ICECandidate)
	// SendTracks carries the whole list of tracks forwarded to this
	// participant, with their owners. It is sent before the offer that adds
	// or removes them, so a client knows whose a track is when it arrives:
	// StreamID is the owner's peer id (the stream id of the track in the
	// subscribe PC), TrackID the track's id there.
	SendTracks(tracks []protocol.TrackInfo)
	// SendLayers tells a publisher which of its simulcast layers nobody
	// watches (the whole list; empty: send every layer).
	SendLayers(paused []protocol.LayerID)
}

// MessageSignaler adapts a function that sends one server message to a
// Signaler, building the protocol "media" messages: Event MediaOffer with PC
// "subscribe" and SDP; MediaCandidate with PC and Candidate; MediaTracks
// with Tracks (a nil list is sent as an empty one, which omitempty then
// drops from the JSON: a "tracks" message without tracks means none).
//
// The hub's MediaSender fits: sfu.MessageSignaler(out.SendMedia).
type MessageSignaler func(protocol.ServerMessage)

// SendOffer implements Signaler.
func (f MessageSignaler) SendOffer(sdp string, iceRestart bool) {
	f(protocol.ServerMessage{Type: protocol.TypeMedia, Event: protocol.MediaOffer, PC: protocol.PCSubscribe, SDP: sdp, ICERestart: iceRestart})
}

// SendCandidate implements Signaler.
func (f MessageSignaler) SendCandidate(pc string, c protocol.ICECandidate) {
	f(protocol.ServerMessage{Type: protocol.TypeMedia, Event: protocol.MediaCandidate, PC: pc, Candidate: &c})
}

// SendTracks implements Signaler.
func (f MessageSignaler) SendTracks(tracks []protocol.TrackInfo) {
	if tracks == nil {
		tracks = []protocol.TrackInfo{}
	}
	f(protocol.ServerMessage{Type: protocol.TypeMedia, Event: protocol.MediaTracks, Tracks: tracks})
}

// SendLayers implements Signaler.
func (f MessageSignaler) SendLayers(paused []protocol.LayerID) {
	f(protocol.ServerMessage{Type: protocol.TypeMedia, Event: protocol.MediaLayers, PC: protocol.PCPublish, Paused: paused})
}
