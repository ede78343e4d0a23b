// Package sfu is stagekit's selective forwarding unit: it receives the audio
// and video of users who are ON_STAGE and forwards it, packet by packet and
// without transcoding, to everyone else in their meeting. It is built on
// pion/webrtc (native) and knows nothing about WebSockets: the signaling hub
// drives it through a narrow API and it answers through a Signaler.
//
// # Peer connections
//
// Every participant has two peer connections, so that offers never cross
// (no glare):
//
//   - the publish PC ("publish"): the client offers, the server answers
//     (HandlePublishOffer). Media flows client → server only. It exists only
//     while the user may publish.
//   - the subscribe PC ("subscribe"): the server offers, the client answers
//     (Signaler.SendOffer, HandleSubscribeAnswer). Media flows server →
//     client only. The server renegotiates it whenever the set of tracks it
//     forwards to that participant changes, one negotiation at a time:
//     changes within 20ms of each other, or while an offer is outstanding,
//     are folded into the next offer. If it fails (or the client closes it)
//     the server makes a new one and offers it with new ICE credentials; a
//     client that sees an offer whose a=ice-ufrag differs from its current
//     remote description's answers it with a new peer connection.
//
// ICE candidates trickle both ways (HandleCandidate, Signaler.SendCandidate).
// The server waits up to Config.GatherTimeout for its own candidates before it
// sends a description, so on a server with host or NAT 1:1 candidates they all
// travel inside the SDP and no server candidate is trickled at all; those
// gathered later are trickled, never before the description they belong to
// was handed over. Clients must still queue remote candidates that arrive
// before the matching remote description is set (the usual WebRTC rule).
//
// # Who is forwarded
//
// Every participant of a meeting subscribes to every forwarded track of the
// others. A track is forwarded only while its owner may publish
// (SetPublishing(..., true), which the hub calls for ON_STAGE). The flag is
// checked on every packet with one atomic load, so SetPublishing(false) stops
// forwarding at once, whatever the client keeps sending; it then removes the
// user's tracks from every subscriber (renegotiating their subscribe PCs) and
// closes the user's publish PC, the strongest guarantee: no packet of that
// connection can be forwarded again, and a user who comes back on stage must
// offer a new publish PC. Offers from users who may not publish are refused
// with protocol.CodeMediaRefused (4040); malformed offers, answers or
// candidates with protocol.CodeMediaFailed (4041).
//
// # RTP and RTCP
//
// Packets are read once per published track, parsed into one reused
// rtp.Packet, stripped of header extensions (their ids are negotiated per
// connection) and written to one TrackLocalStaticRTP per subscriber, which
// rewrites SSRC and payload type for that subscriber's connection. The list
// of subscribers of a track is a copy-on-write slice behind an atomic
// pointer: the per-packet path takes no lock of ours.
//
// pion's default interceptors run on every connection: NACK generation and
// retransmission (the retransmission buffer is Config.NACKBufferPackets per
// subscribed video track), RTCP sender and receiver reports, TWCC feedback
// to publishers and pion's stats. The RTCP of every sender and receiver is
// read, as the interceptors need.
//
// Keyframes: when a subscriber's copy of a video track becomes able to send
// (bound after negotiation, its connection up), and whenever a subscriber
// sends a PLI or FIR, the SFU sends a PLI to the publisher. Requests are
// coalesced to at most one PLI per track every 250ms; a request
// inside the window is sent at its end, never lost.
//
// # Threading
//
// Join, Leave and SetPublishing never wait on the network (closing a peer
// connection happens in the background), so the hub may call them under its
// room lock. HandlePublishOffer may wait up to Config.GatherTimeout and
// HandleSubscribeAnswer for the participant's negotiation loop; call them
// outside room locks. Signaler methods are called from the SFU's goroutines,
// one participant's calls one at a time and in order; they must not block
// and must not call back into the SFU.
//
// # Hub integration
//
// The hub's MediaHandler maps onto the SFU one to one:
//
//	type media struct{ *sfu.SFU }
//
//	func (m media) Attach(meetingID, userID, peerID string, preset stage.Preset, out signal.MediaSender) error {
//		_, err := m.Join(meetingID, userID, peerID, sfu.MessageSignaler(out.SendMedia))
//		m.SetPermissions(meetingID, userID, preset.Permissions) // screen-share policy
//		return err
//	}
//	func (m media) Detach(meetingID, userID string) { m.Leave(meetingID, userID) }
//	func (m media) Handle(meetingID, userID string, msg protocol.ClientMessage) (protocol.ServerMessage, error) {
//		return m.HandleMessage(meetingID, userID, msg)
//	}
//	// StageChanged is *sfu.SFU's own.
//
// The SFU remembers who may publish across re-joins but not across its own
// restarts: after Join, a hub that knows the user's status may call
// SetPublishing(meetingID, userID, status == stage.OnStage), which is
// idempotent.
//
// # What clients do
//
//   - After joining (and after every reconnect, since Join replaces the
//     media session) start with no peer connection and follow the server's
//     "media" messages.
//   - "tracks": the whole list of forwarded tracks. Match an incoming track
//     to its owner by its stream id (TrackInfo.StreamID, the owner's peer
//     id) and kind; TrackID is its msid track id.
//   - "offer" (subscribe): create the subscribe PC if there is none, or a
//     new one if the offer's a=ice-ufrag differs from the current remote
//     description's; setRemoteDescription, createAnswer, setLocalDescription,
//     then send media.answer. Offers come one at a time.
//   - "candidate": add it to the named PC, queued until that PC has its
//     remote description. Send the client's own candidates (media.candidate)
//     after the offer or answer they belong to.
//   - Publishing: once ON_STAGE, create a publish PC with sendonly audio
//     and video (at most Config.MaxPublishTracks sections, no simulcast),
//     send media.offer, and set the result's SDP as the answer. Later
//     offers on the same PC renegotiate it; 4040 means not ON_STAGE (yet).
//   - Leaving ON_STAGE (leave, kick): close the publish PC; the server has
//     closed its side. Back on stage, offer a new one.
//
// # Screen share
//
// A publish offer may label sections as a screen share (media.offer's
// Sources, mid → "screenshare"); their tracks are forwarded like any other,
// labelled in the track map (TrackInfo.Source). The preset decides whether
// the user may share and how many shares the room may have
// (SetPermissions, stage.AdmitScreenshare; screenshare.go): an offer beyond
// that is refused with the stage's code (2001, 2006, 2106) and changes
// nothing.
//
// Not supported (yet): simulcast and SVC layer selection, ICE restarts,
// recycling inactive m-lines of the subscribe PC (each removed track leaves
// an inactive m-line until the participant reconnects), a retransmission
// buffer shared by all subscribers of a track.
package sfu
