//go:build !js

package media

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/pionlog"
)

// Options configure a Session. The zero value is usable.
type Options struct {
	// Loopback keeps ICE on 127.0.0.1, UDP4, without mDNS (see Loopback).
	Loopback bool
	// ICEServers are given to every peer connection (STUN/TURN).
	ICEServers []webrtc.ICEServer
	// SettingEngine, if set, is applied last to the session's pion
	// SettingEngine (after Loopback).
	SettingEngine func(*webrtc.SettingEngine)
	// API, if set, is used instead of building one from Loopback and
	// SettingEngine (e.g. one API shared by many sessions; see NewAPI).
	API *webrtc.API

	// GatherTimeout bounds the wait for local ICE candidates before a
	// description is sent (those found later are trickled). Default 500ms;
	// negative: no wait, every candidate is trickled.
	GatherTimeout time.Duration
	// RequestTimeout bounds the signaling calls the session makes by itself
	// (answers, candidates, republishing). Default 10s.
	RequestTimeout time.Duration

	// OnTrack is called once for each track received, before its first
	// packet is counted, on a pion goroutine; it must not block.
	OnTrack func(*Track)
	// OnTrackEnded is called once when a received track ends; it must not
	// block.
	OnTrackEnded func(*Track)
	// OnConnectionState is told when a connection's state changes:
	// transport TransportRecv (subscribe) or TransportSend (publish); state "connected", "disconnected" (its ICE went silent)
	// or "reconnecting" (an ICE restart is under way), RealtimeKit's
	// mediaConnectionUpdate. It must not block.
	OnConnectionState func(transport, state string)
	// OnPacket, if set, is called for every RTP packet received, on the
	// track's reading goroutine, after the counters were updated. The packet
	// and its payload are only valid during the call.
	OnPacket func(*Track, *rtp.Packet)

	// Logger receives the session's logs and pion's (at debug level and
	// above); nil discards them.
	Logger *slog.Logger
}

// defaultGatherTimeout: natively gathering (host candidates) is quick, and
// candidates in the description save the trickle round trips.
const defaultGatherTimeout = 500 * time.Millisecond

// LocalTrack is what a Session publishes: natively any pion TrackLocal
// (Synthetic, a TrackLocalStaticSample, …).
type LocalTrack = webrtc.TrackLocal

// Loopback configures a SettingEngine for loopback-only ICE: host
// candidates on 127.0.0.1 over UDP4, no mDNS. It suits both the session
// (Options.Loopback) and a test server's SFU (sfu.Config.SettingEngine).
func Loopback(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
}

// NewAPI builds the pion API a Session uses when Options.API is nil: the
// default codecs (VP8, VP9, H264, AV1, Opus, …) and interceptors (NACK,
// RTCP reports, TWCC; the receiver reports of one tick in one packet:
// rrbatch.go), Loopback if o.Loopback, then o.SettingEngine. One
// API may be shared by any number of sessions.
func NewAPI(o Options) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("media: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	ir.Add(rrBatchFactory{}) // first: pion's receiver reports pass through it
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("media: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// pion logs errors when sockets close; they go where the session's go.
	se.LoggerFactory = pionlog.Factory{Log: log}
	if o.Loopback {
		Loopback(&se)
	}
	if o.SettingEngine != nil {
		o.SettingEngine(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func sessionAPI(o Options) (*webrtc.API, error) {
	if o.API != nil {
		return o.API, nil
	}
	return NewAPI(o)
}

func sessionLogger(o Options) client.Logger {
	if o.Logger == nil {
		return client.Discard
	}
	return o.Logger
}
