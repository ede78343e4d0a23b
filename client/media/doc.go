// Package media is the media side of a client.Meeting: it
// receives the tracks the server forwards and publishes local tracks while
// the user is ON_STAGE. The same Session runs natively (pion) and in the
// browser (pion's js/wasm backend, whose peer connections are the browser's
// RTCPeerConnection); what differs is in build-tagged files: natively
// LocalTrack is a pion TrackLocal and a received Track is read and counted
// here (Remote, Packets, …); in the browser LocalTrack is a BrowserTrack (a
// MediaStreamTrack) and a Track carries its MediaStreamTrack (JS). The
// browser SDK's devices and JS objects are in wasm/.
//
// # Use
//
//	m, _ := client.Init(ctx, client.Options{BaseURI: url, AuthToken: token})
//	s, _ := media.Attach(m, media.Options{OnTrack: func(t *media.Track) { ... }})
//	_ = m.Join(ctx)                     // Attach before Join: see below
//	_ = m.Stage().Join(ctx)             // ON_STAGE
//	v, _ := media.NewSyntheticVideo()   // or any webrtc.TrackLocal
//	v.Start()
//	_ = s.Publish(ctx, v)               // returns once the publish PC is connected
//	...
//	s.Close()
//
// Attach registers a listener on the meeting; call it before Meeting.Join.
// The server offers the subscribe peer connection as soon as the user joins
// and there is something to forward, and that offer is a one-time event: a
// Session attached later only sees the server's resend of it, after the
// server's answer timeout (10 s by default), and without the track map.
//
// # Subscribing
//
// Subscribing is automatic. The session answers every subscribe offer of
// the server ("media" event "offer"), creating the subscribe peer connection
// at the first one and a new one whenever an offer comes with new ICE
// credentials without being marked as an ICE restart (the server replaced
// the connection: after it restarted, say). Candidates trickle both ways;
// remote candidates that arrive before their description are queued.
//
// # Recovery
//
// Both connections outlive a reconnect within the grace period (the rejoin
// asks the server to keep its media session) and restart ICE instead:
// after the reconnect, when a connection's ICE goes disconnected or failed,
// and on RestartICE. A receiving connection with a live track that hears
// nothing for 500 ms, or a publishing one that gets no RTCP for 500 ms,
// probes the signaling (Meeting.Probe), so that a network that changed
// under the WebSocket too is noticed in a second or two. Options.OnConnectionState reports the connections' states
// (RealtimeKit's mediaConnectionUpdate).
//
// The server's track map ("media" event "tracks", sent before the offer that
// adds or removes tracks) is kept as RemoteTracks, keyed by the owner's peer
// id. Each track actually received is a *Track: its TrackInfo (owner peer id
// and user id, kind, track id), its pion TrackRemote, and packet and byte
// counters, kept by a goroutine of the session that reads the track (so the
// application does not read TrackRemote itself; Options.OnPacket sees every
// packet). A Track ends when the server removes it from the subscribe
// connection (renegotiation) or the connection closes.
//
// RemoteTracks, Tracks, TracksFrom, LiveTracksFrom and ReceivedFrom read
// that state; Wait blocks until a condition on it holds, re-checking it on
// every change (track map, track added or ended, packet, publish state).
//
// The server does not yet recycle the m-lines of removed tracks: each one
// stays in the subscribe connection as an inactive section until the user
// reconnects, and every renegotiation parses all of them again (pion's
// codec matching), so its cost grows with the stage changes seen.
//
// # Publishing
//
// Publish makes the publish peer connection carry exactly the given tracks
// (each in a send-only transceiver), applies the server's answer from the
// offer's result and waits until the connection is up. The server refuses
// an offer from a user who is not ON_STAGE with 4040. There is one publish
// connection per stage visit: publishing again renegotiates it (a track
// keeps its transceiver, a new one takes a free transceiver of its kind,
// the others go inactive and the server removes them from every
// subscriber; replacing a track on a sending transceiver needs no
// renegotiation). Unpublish closes it, and the server then removes the
// tracks from every subscriber.
//
// The session follows the local stage status: when it leaves ON_STAGE
// (leave, kick) the session unpublishes and forgets the tracks (publish them
// again after joining the stage again), and after "reconnected" while
// ON_STAGE it publishes the same tracks on a new connection (the server
// replaced the user's media session when it re-joined), as it does when the
// publish connection fails. The server does not
// rely on any of this: it stops forwarding a user's media itself the moment
// the user leaves ON_STAGE, whatever the client keeps sending.
//
// Tracks that implement RequestKeyframe() (Synthetic does) are told when the
// server asks for a keyframe (PLI or FIR on the publish connection).
//
// # Loopback
//
// Natively, Options.Loopback keeps ICE on 127.0.0.1 over UDP4 without mDNS, for tests
// and benchmarks; Loopback is the same as a SettingEngine function, for a
// server's SFU. Options.SettingEngine and Options.API give full control.
//
// # Errors
//
// Failures are *client.Error (protocol.ErrorBody): the server's codes pass
// through (4040 refused, 4041 negotiation failed, 5002 disconnected, …);
// the session adds 4005 (no track to publish), 4041 (a local negotiation
// step failed or the connection did not come up) and 5004 (session closed).
package media
