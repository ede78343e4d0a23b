//go:build js && wasm

package media

import (
	"syscall/js"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/protocol"
)

// Options configure a Session in the browser. The zero value is usable.
type Options struct {
	// ICEServers are given to every peer connection (STUN/TURN).
	ICEServers []webrtc.ICEServer
	// GatherTimeout bounds the wait for local ICE candidates before a
	// description is sent (those found later are trickled). Default: no
	// wait (negative too): the browser's gathering takes ~100 ms to
	// complete, and trickled candidates reach the server as fast.
	GatherTimeout time.Duration
	// RequestTimeout bounds every signaling call and every browser promise
	// the session waits on. Default 10s.
	RequestTimeout time.Duration
	// OnTrack is called once for each track received, from the browser's
	// ontrack event; it must not block.
	OnTrack func(*Track)
	// OnTrackEnded is called once when a received track ends; it must not
	// block.
	OnTrackEnded func(*Track)
	// OnConnectionState is told when a connection's state changes:
	// transport TransportRecv (subscribe) or TransportSend (publish); state "connected", "disconnected" (its ICE went silent)
	// or "reconnecting" (an ICE restart is under way), RealtimeKit's
	// mediaConnectionUpdate. It must not block.
	OnConnectionState func(transport, state string)
	// Logger receives the session's logs; nil discards them.
	Logger client.Logger
}

// sessionAPI is pion's js/wasm API: its peer connections are the browser's
// RTCPeerConnection.
func sessionAPI(Options) (*webrtc.API, error) { return webrtc.NewAPI(), nil }

// defaultGatherTimeout: in the browser every candidate is trickled.
const defaultGatherTimeout = -1

// LocalTrack is what a Session publishes: in the browser, a
// MediaStreamTrack.
type LocalTrack = *BrowserTrack

// BrowserTrack is a MediaStreamTrack the session can publish.
type BrowserTrack struct {
	v      js.Value
	kind   webrtc.RTPCodecType
	source string // protocol.SourceScreenshare, or "" (camera, microphone)
}

// NewScreenShareTrack wraps a MediaStreamTrack of a screen share
// (getDisplayMedia's video, or its audio): it is published on a slot of
// its own and labelled for the server.
func NewScreenShareTrack(v js.Value) (*BrowserTrack, error) {
	t, err := NewBrowserTrack(v)
	if err == nil {
		t.source = protocol.SourceScreenshare
	}
	return t, err
}

// NewBrowserTrack wraps a MediaStreamTrack (audio or video).
func NewBrowserTrack(v js.Value) (*BrowserTrack, error) {
	if v.Type() != js.TypeObject || v.Get("kind").Type() != js.TypeString {
		return nil, protocol.NewError(protocol.CodeBadArgs, "not a MediaStreamTrack")
	}
	kind := webrtc.NewRTPCodecType(v.Get("kind").String())
	if kind == 0 {
		return nil, protocol.NewError(protocol.CodeBadArgs, "a MediaStreamTrack of kind %q", v.Get("kind").String())
	}
	return &BrowserTrack{v: v, kind: kind}, nil
}

// Kind is the track's kind (audio or video).
func (t *BrowserTrack) Kind() webrtc.RTPCodecType { return t.kind }

// ID is the MediaStreamTrack's id.
func (t *BrowserTrack) ID() string { return t.v.Get("id").String() }

// Value is the MediaStreamTrack.
func (t *BrowserTrack) Value() js.Value { return t.v }

func sessionLogger(o Options) client.Logger {
	if o.Logger == nil {
		return client.Discard
	}
	return o.Logger
}
