// Package sfu is stagekit's selective forwarding unit: it receives the audio
// and video of users who are ON_STAGE and forwards it, packet by packet and
// without transcoding, to everyone else in their meeting. It is built on
// pion/webrtc (native) and knows nothing about WebSockets: the signaling hub
// drives it through a narrow API and it answers through a Signaler.
//
// # The media path
//
//	publisher ── publish PC ── source ─┬─ slot ── viewer 1's subscribe PC
//	                (one per track)    ├─ slot ── viewer 2's subscribe PC
//	                                   └─ …
//
// Its parts:
//
//   - A source (source.go) is one published track. Its reader takes packets
//     from pion as they come, stamps them and puts them in a bounded queue
//     (never waiting: a full queue sheds). Its forwarder takes them in order
//     and sheds what waited longer than a bound (100 ms for video, 250 ms
//     for audio); a video source then sheds up to its next keyframe, which
//     it requests, since the frames between could not be decoded. What it
//     forwards it numbers anew (the publisher's numbers less what was shed:
//     shed.go), so viewers see no gap they would ask to be resent. The stage
//     gate is the source's publishing token, checked per packet with one
//     atomic load.
//   - Each forwarded packet goes to every slot bound to the source (a
//     copy-on-write list read with one atomic load), spread over every core
//     (fanout.go: the forwarder writes one chunk, workers the others, and it
//     waits for them before the packet's buffer moves to the history). Audio
//     chunks go before video ones. Then the packet goes into the source's
//     retransmission history (packet.go): one copy per packet, shared by all
//     viewers; the buffer it evicts is read into next.
//   - A slot (slot.go) is one send transceiver of a viewer's subscribe PC,
//     with a fixed SSRC and track id, carrying one source at a time. Binding
//     it to another source needs no renegotiation: it switches at the new
//     source's next keyframe (audio at once) and its rewriter (rewrite.go)
//     rewrites sequence numbers and timestamps so the viewer's decoder sees
//     one continuous stream, VP8 picture ids and TL0PICIDX included. This is
//     the one source-switch mechanism: stage changes and simulcast layers
//     use it (see Simulcast), and so do an edge's viewers among the sources
//     relayed in (see Relays between nodes; a relay's own slots never
//     switch).
//     A slot starting on a video source replays the source's last keyframe
//     and what followed from the history when it came within the last second
//     (slot.catchUp), else asks for a keyframe; it sends nothing before the
//     viewer's connection is up.
//     A slot encrypts and sends its packets itself (sendpath.go): with its
//     own SRTP context, keyed from its PC's DTLS transport, on the SFU's one
//     UDP socket, to the PC's selected ICE pair (followed when it changes).
//     A copy costs its encryption and its send; pion's per-packet layers
//     (SRTP session, mux, ICE conn) are skipped. With a port per PC
//     (Config.UDPPortMin/Max) it writes to pion's SRTP stream instead
//     (unpaced). The send goes through the viewer's pacer (pacer.go; see
//     Pacing): at once while it has tokens, the rest of the video held
//     back in a bounded queue. It
//     sends its own RTCP sender reports, with a packet at most every 2 s
//     (none while idle), which map its RTP time to the publisher's clock
//     (from the publisher's reports): audio slot N and video slot N are one
//     stream, a user's microphone and camera take slots of one number where
//     they can, and the browser plays them in sync.
//     The viewer's RTCP comes back the short way too (rtcptap.go): the
//     goroutine of pion's mux that reads the shared socket decrypts
//     SRTCP from the address of a connected subscribe PC itself (a
//     context keyed from the PC's DTLS transport) and acts on it there,
//     where pion would hand each packet over four more goroutines; so a
//     slot reads pion's RTCP (a goroutine and an SRTCP stream each) only
//     once the tap cannot take it: a port per PC, a pair off the shared
//     socket (a TURN relay, TCP), or no keys for the PC. The
//     viewer's ICE consent checks (a STUN binding request on the selected
//     pair every few seconds) are answered there too (consent.go), as
//     pion's agent would answer them, when they are plainly that: from the
//     pair's address, with the PC's current credentials (USERNAME,
//     MESSAGE-INTEGRITY) and FINGERPRINT, the viewer's role, no
//     USE-CANDIDATE; the credentials are re-read when an answer is applied
//     and dropped while an ICE restart is under way. What the tap reads
//     there is also the PC's liveness (silence.go): pion's agent, which no
//     longer hears the viewer, sends no keepalives on a connected
//     subscribe PC and has no timeouts, and its check loop
//     (third_party/pion-ice) does not wake until the PC's ICE state
//     changes. Other packets (DTLS,
//     other STUN, publishers' media) go to pion as before. The socket is
//     read with a raw recvfrom (internal/udpread): Go's read wakes the
//     runtime's monitor thread for each datagram while the process idles,
//     which doubled what an idle audience's trickle costs.
//     No per-viewer copy, no per-viewer NACK buffer:
//     NACKs are mapped back through the rewriter
//     and answered from the source's history, with restraint (resend.go:
//     a packet at most 3 times, not within 150 ms of its last resend, not
//     once older than 1 s, not beyond the viewer's pace: answered every
//     time, a slow link's NACKs fed a resend loop that held it full);
//     PLI and FIR become keyframe
//     requests, sent to publishers at most one per track every 350 ms
//     (a request inside the window is sent at its end, never lost).
//
// A viewer's media join (its subscribe PC's ICE and DTLS) is work pion does
// per connection; what need not be is not: every ICE agent shares one list
// of the machine's interfaces (ifaces.go, read again after 5 s, not a
// netlink dump per PC); as a DTLS server the SFU sends no HelloVerifyRequest
// (ICE proved the address already; a flight each way less); pion/dtls gets
// the certificate's parsed leaf, and the peer's fingerprint is checked on
// the DER dtls parsed (third_party/pion-webrtc).
//
// Every queue on the path is bounded: the source's queue (128 video, 32
// audio packets), its free list and history (512 and 64 packets), the
// fan-out's task queues, each viewer's pacer (250 ms at its pace, 64
// packets), the Signaler's queue (the hub's).
//
// # Relays between nodes
//
// A relay (relay.go) carries a meeting's media from the node that receives
// it (the origin) to a node serving part of its audience (an edge), once
// per track whatever that audience. At the origin the edge is a
// participant (JoinRelay) that receives every source on slots, each slot
// carrying one source for life; at the edge a RelayIn answers the origin's
// offers and makes each relayed track a source of its meeting, owned by a
// stand-in of the publisher, which the edge's viewers get as if the
// publisher were there. Keyframe requests go back over the relay PC to the
// publisher; the edge's viewers' NACKs are answered from the edge's
// history, the hop's from the origin's. If the relay PC fails the origin
// makes a new one and the edge follows. The edge's relay PCs have sockets
// of their own (pion's mux on the shared socket tells connections apart by
// remote address, and two nodes relaying both ways would otherwise have two
// PCs between the same two sockets).
//
// A relay gets every source of the meeting but those relayed in from its
// own node: nothing goes back where it came from. A cluster with edges
// (server/app relays.go) runs relays in a star around each room's owner,
// both ways between the owner and each edge serving the room, so a track
// published at the owner crosses once to each edge, and one published at an
// edge crosses once to the owner and from there once to each other edge
// (two hops, one copy per hop). How the nodes carry the relay's signaling
// (RelayLink, RelayIn.Signaler) is the cluster's business: there, one
// WebSocket per room and edge, /v1/cluster/relay. Stats counts the relays
// (RelaysOut, RelaysIn).
//
// A simulcast track crosses as its layers, a relay slot each (the tracks
// message names each slot's layer: TrackLayer), and at the edge the
// layers are one layerGroup again, so each viewer there gets the layer
// that fits its own estimate, with the same allocator and source switch
// as on the origin. Only the layers the edge's viewers watch cross, one
// copy each: the edge's group pauses a layer nobody there watches as the
// origin's does, and instead of a "layers" message to a publisher it
// tells the origin (RelayLink.SendPaused, Participant.HandleRelayPaused),
// which takes the relay's slot of that layer out of the layer's fan-out
// (slot.hold); so the origin's group pauses a layer at its publisher only
// when no viewer on any node watches it. A layer an edge viewer needs
// again is put back at once: the slot starts at the layer's next keyframe
// (or catches up from the last one), its numbers going on from where they
// stopped, and the origin resumes the layer at its publisher if it was
// paused. Keyframe requests for a layer reach the origin's slot of that
// layer, so the publisher is asked for that layer. A relay's slots have
// no estimate (the link between nodes is not the viewer's bottleneck) and
// are not paced. Relayed through the owner (a track published at an
// edge), each hop does the same.
//
// # Peer connections
//
// Every participant has two peer connections, so that offers never cross
// (no glare):
//
//   - the publish PC ("publish"): the client offers, the server answers
//     (HandlePublishOffer). Media flows client → server only. It exists only
//     while the user may publish. pion's default interceptors run on it
//     (NACKs to the publisher, receiver reports, TWCC).
//   - the subscribe PC ("subscribe"): the server offers, the client answers
//     (Signaler.SendOffer, HandleSubscribeAnswer). Media flows server →
//     client only, on slots. It is made with the first source to forward
//     (a viewer of a room with nobody on stage costs no peer connection),
//     with Config.SlotsPerKind audio and video slots (3 each), and
//     renegotiated only when more sources of a kind are on stage than it
//     has slots (one slot added per renegotiation, never removed). No pion
//     interceptor runs on it (the slots send their own reports). If it fails
//     the server restarts ICE on it (an offer with new credentials, sent
//     with iceRestart); a client that sees an offer whose a=ice-ufrag
//     differs from its current remote description's and is not so marked
//     answers it with a new peer connection. A subscribe PC the client
//     closed is replaced only if the participant is still there 2 s later
//     (a client closing it is usually leaving). So is one whose ICE
//     connected but whose DTLS handshake is not done 2 s later (4 s for
//     the next one if it stalls too): the client's lost flights go again
//     only after a timer that doubles each time, and an ICE restart keeps
//     the stalled handshake.
//
// # ICE restarts and liveness
//
// A client whose network changed restarts ICE on both PCs, keeping them:
// on the publish PC it offers with new credentials and ICERestart (the
// server applies it to the PC it has, or refuses with 4041 when it has
// none), on the subscribe PC it sends media.restart and the loop answers
// with an offer marked iceRestart (4041 without a subscribe PC). Local
// candidates are held again (CandidateGate.Close) until the description
// with the new credentials was handed over.
//
// A publisher's outage (its network changed or went dark: packets
// numbered and lost for a second or more) is not congestion, and is not
// treated as such: the publish PC's receiver reports leave the numbers
// lost to it out of their loss (outage.go; otherwise the browser's
// estimator, which reads loss from them, falls to its 30 kbit/s floor and
// its top layers stay off for tens of seconds), a lost packet is asked for
// at most 5 times (pion's default asks for as long as it is in its
// window), and the source sheds what follows the outage up to a keyframe
// it asks for at once, with the outage's numbers taken out (shed.go), so
// viewers ask for nothing that will never come. Its viewers move to the
// layer the browser starts again with (stalled layers, below).
//
// A participant outlives its signaling connection: Resume gives it a new
// Signaler (the hub calls it for a rejoin within the grace period that
// says keepMedia) and resends the track map and any outstanding offer, so
// its PCs, sources and slots stay and nobody sees its tracks end.
//
// Config.OnLiveness is told when a participant's media goes silent (the
// publish PC's ICE disconnected or failed: pion's agent sees that ~5 s
// after the last packet or consent response it read; a subscribe PC on
// the shared socket unheard for 5 s by the tap, which reads the viewer's
// RTCP and consent checks before pion, and fails it, offering an ICE
// restart, 25 s later, with pion's keepalives and timeouts off on it:
// silence.go; or an ICE restart not connected within 2 s: the client may
// restart first) and when it is heard again (connected, and heard);
// the hub shows the participant as reconnecting meanwhile and probes its
// WebSocket.
//
// Two codecs are negotiated, Opus and VP8, so that every slot can carry
// every source of its kind (a slot's codec is fixed at negotiation).
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
// Every participant of a meeting receives every source of the others. A
// source is forwarded only while its owner may publish
// (SetPublishing(..., true), which the hub calls for ON_STAGE). The flag is
// checked on every packet, so SetPublishing(false) stops forwarding at once,
// whatever the client keeps sending; it then frees the user's slots at
// every viewer (a "tracks" message each, no renegotiation) and closes the
// user's publish PC, the strongest guarantee: no packet of that connection
// can be forwarded again, and a user who comes back on stage must offer a
// new publish PC. Offers from users who may not publish are refused with
// protocol.CodeMediaRefused (4040); malformed offers, answers or candidates
// with protocol.CodeMediaFailed (4041).
//
// # Threading
//
// Join, Leave and SetPublishing never wait on the network (closing a peer
// connection happens in the background), so the hub may call them under its
// room lock. HandlePublishOffer may wait up to Config.GatherTimeout and
// HandleSubscribeAnswer for the participant's negotiation loop; call them
// outside room locks. Each participant's negotiation loop owns its slots'
// assignment; a slot's write path and binding are under the slot's mutex.
// Signaler methods are called from the SFU's goroutines, one participant's
// calls one at a time and in order; they must not block and must not call
// back into the SFU.
//
// # Hub integration
//
// server/app's mediaBridge maps the hub's MediaHandler onto the SFU one to
// one: Attach → Join with sfu.MessageSignaler(out.SendMedia) (Resume when
// the rejoin keeps the media session), Detach → Leave, Handle →
// HandleMessage, SetPublishing → SetPublishing; Config.OnLiveness →
// Hub.MediaLiveness, Config.Screenshares → Hub.ClaimScreenshare and
// Hub.ReleaseScreenshare.
// An edge's hub attaches its users to its own SFU the same way, and calls
// SetPublishing as the room's owner marks it (the owner decides who is on
// stage); the SFUs of the owner and its edges are joined by relays.
//
// The SFU remembers who may publish across re-joins but not across its own
// restarts: a hub that restores a room calls SetPublishing for its
// ON_STAGE users (idempotent).
//
// # What clients do
//
//   - After joining (and after a reconnect whose rejoin did not say
//     keepMedia, since Join replaces the media session) start with no peer
//     connection and follow the server's "media" messages.
//   - "tracks": the whole list of slots that carry someone, each with its
//     owner (PeerID, UserID), Kind and TrackID, the slot's msid track id. A
//     slot not listed is idle. When a slot's owner changes, the track the
//     client showed for the old owner ends and the same receiver now shows
//     the new owner; the server sends "tracks" before the new owner's first
//     packet.
//   - "offer" (subscribe): create the subscribe PC if there is none, or a
//     new one if the offer's a=ice-ufrag differs from the current remote
//     description's and the offer is not marked iceRestart (then it is
//     applied to the current PC); setRemoteDescription, createAnswer,
//     setLocalDescription, then send media.answer. Offers come one at a
//     time.
//   - A network change or a connection whose ICE goes silent: restart ICE
//     (see "ICE restarts and liveness"). After a reconnect, rejoin with
//     keepMedia and restart both.
//   - "candidate": add it to the named PC, queued until that PC has its
//     remote description. Send the client's own candidates (media.candidate)
//     after the offer or answer they belong to.
//   - Publishing: once ON_STAGE, create a publish PC with sendonly audio
//     and video (at most Config.MaxPublishTracks sections; camera video in
//     simulcast layers with rids, lowest first, while the preset's
//     media.video.simulcast is not false: see Simulcast), send
//     media.offer, and set the result's SDP as the answer. Later
//     offers on the same PC renegotiate it; 4040 means not ON_STAGE (yet).
//   - Leaving ON_STAGE (leave, kick): close the publish PC; the server has
//     closed its side. Back on stage, offer a new one.
//   - "layers" (publish): the whole list of the publish PC's simulcast
//     layers nobody watches (Paused: mid and rid). Set those encodings'
//     active to false (RTCRtpSender.setParameters) and the others' to true.
//
// # Screen share
//
// A publish offer may label sections as a screen share (media.offer's
// Sources, mid → "screenshare"); their tracks are forwarded like any other,
// labelled in the track map (TrackInfo.Source). The room's stage decides
// whether the user may share and how many shares the room may have
// (Config.Screenshares, stage.Room.ClaimScreenshare; screenshare.go), on
// the node that owns the room whichever node the sharer publishes through:
// an offer beyond that is refused with the stage's code (2001, 2006, 2106)
// and changes nothing, and the slot goes back when the share ends.
//
// # Simulcast
//
// A publish offer's video section may carry simulcast layers (a=rid and
// a=simulcast, one RTP stream per rid). Each layer is a source of its own
// (its reader, queue, history and keyframe requests), and the layers of
// one track are a layerGroup (simulcast.go), ranked lowest first in the
// offer's rid order. Viewers see the track once (its first layer's
// TrackInfo); a viewer's slot carries one layer at a time and moves
// between them with the source switch above: at the new layer's keyframe,
// which it requests (again every second while it waits: a lost keyframe
// would otherwise keep it waiting for good), the old layer going on until
// then; but a switch down because the viewer's link no longer fits the
// old layer stops it at the end of its frame (slot.cutting): its frames
// would only fill the link's queue, arrive broken, and have the new
// layer's keyframe wait behind them and lose packets to the drops.
//
// Which layer a viewer gets (allocate.go, bwe.go):
//
//   - The viewer's browser reports when each packet arrived (TWCC: the
//     subscribe PC offers the transport-wide sequence number extension and
//     the slots stamp it as they send; pion's TWCC and GCC interceptors are
//     not used). bwe turns the reports into a downlink estimate: down to
//     0.85 of what the viewer received when the queuing delay stays above
//     60 ms or more than 10% is lost over the last second; up 25%/s
//     otherwise, but not past 1.5 times what the viewer received (GCC's
//     bound) nor, for 10 s, past what the last probe measured; a probe
//     that measured more is taken whenever no congestion is seen.
//   - A probe train is 26 padding-only packets sent back to back on the
//     slot (numbers of their own: the rewriter's pad) right after a frame
//     (so that it queues between frames): 14 full-size to empty a token
//     bucket, then 12 small ones, which hold the video behind them less
//     on a slow link; the median over the second half of a packet's size
//     over the gap before it is the link's rate (the first half may pass a
//     token bucket at line rate;
//     the median, because a loaded receiver reads a few packets late and
//     then a batch, and one stall is not the link), but at most the rate
//     the half came at over all (a batch after a stall read a 300 kbit/s
//     link as 1.4 and 50 Mbit/s); a train whose first packet was held
//     over 60 ms measures nothing; and one that reads more than twice
//     the estimate counts only once the next train, sent at once, reads
//     it too (the lesser of the two). A viewer below the
//     top layer is probed every 2 s, doubling to 6 s while the answer
//     stays no, and not within 1 s of a switch down (the link's queue is
//     full then).
//   - chooseLayers gives every track its lowest layer, then raises them one
//     layer at a time, round the tracks, while the estimate less audio and
//     single-layer video allows; a layer must fit with 25% to spare to be
//     switched up to, and not within 2 s of a switch down (4 to 8 s after
//     a switch up that had to be undone). Layer rates are measured at the
//     sources (a decaying peak, kept while a layer is paused), watched or
//     not. A paused layer that never flowed for 3 s (rateSettle: a browser
//     ramps a layer up as it starts) costs at least the nearest layer whose
//     rate is known, scaled by the SDK's table (protocol.CameraLayers), or
//     the table's rate (guessRate): its own rate is the one it had as it
//     started. So does a layer flowing for less than 3 s that the viewer
//     does not play (allocTrack.unknown): it is still ramping up.
//
// Layers nobody watches (no slot in their fan-out for 1 s, from their
// arrival or since their last viewer left) are paused at
// the publisher, but the lowest of a track nobody watched yet (its browser
// grows its uplink estimate only while it sends: see pauseIdle): the
// server sends it a "layers" message and the SDK sets
// the encodings inactive; a slot that needs one resumes it at once, and
// Chromium starts it again with a keyframe. Viewers on other nodes count
// (see Relays between nodes).
//
// A layer the publisher stops by itself is stalled (simulcast.go): no
// packet for 1 s while another layer of the track came, and not paused
// by us (one we resumed gets 1 s to start). The browser does that
// when its own estimate falls, and after its network changed, when it
// starts again from a low rate with its lowest layer only. Stalled layers
// count as not there (layerGroup.pick, the allocator's rates), so a
// viewer on one moves to a layer that flows now (not to a paused one),
// and back when it flows again (a switch off a stalled layer is not a
// failed switch up). A viewer that plays a layer that flows and waits to
// switch to one that stalled goes on waiting for 5 s (a browser may take
// seconds to start a layer we resumed: its own estimate decides), then
// gives it up as a failed switch up (backed off): Chromium may never send
// it (a small track's top encoding only while those below are paused;
// the SDK's fitLayers avoids that case), and the switch and its keyframe
// requests must not wait forever. The track
// looks every 100 ms (a timer per track, nothing per packet) and wakes
// its viewers' allocation when a layer stalls or comes back.
//
// # Pacing
//
// What the server sends a viewer is paced to its estimate (pacer.go): a
// token bucket per viewer at 1.5 times the estimate, refilled as time
// passes, of at most 5 ms of it (two full packets at least; up to 20 ms
// while packets wait, so that a late drain timer does not lower the pace).
// A copy goes at once while the bucket has tokens, the common case, at the
// cost of a lock the viewer's other slots rarely contend for; video beyond
// that waits in order in a bounded queue (250 ms at the pace, 64 packets)
// drained by a timer, so a keyframe or a layer switch leaves at the pace,
// not as one burst at line rate that a shallow queue on the way drops.
// Audio never waits: it takes its tokens on credit. Nor do probe trains
// (their spread is the measurement), which take none: the video behind a
// train waits in the link's queue, not again in the pacer. A full queue sends its
// oldest ahead of the pace (Stats.PacketsPaceOverflow): the pacer never
// drops a packet (a retransmission that would not fit is not sent at all,
// resend.go). A packet that waited is logged as sent when it goes
// (the estimator would take the wait for the link's queue), and one still
// waiting, or sent after the last that arrived, is not counted lost when
// a report says it has not arrived (audio passed it). Viewers without an
// estimate (no simulcast track, so no transport-wide numbers) are not
// paced: one atomic load per copy. On by default; Config.Unpaced
// (stageserver -pacing=false) turns it off. A copy sent as pacing stops
// (the viewer's last simulcast track left) goes at once, after what
// waited: never into a queue no timer drains.
//
// Not supported (yet): SVC layer selection.
package sfu
