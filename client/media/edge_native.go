//go:build !js

package media

import (
	"context"
	"github.com/stagekit/stagekit/protocol"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// KeyframeRequester is a local track that can be asked for a keyframe; the
// session calls RequestKeyframe when the server sends a PLI or FIR for it.
type KeyframeRequester interface {
	RequestKeyframe()
}

// sender is a slot's pion sender (nil while the slot is inactive).
type sender struct{ s *webrtc.RTPSender }

// pubEdge: natively a publish connection needs nothing more.
type pubEdge struct{}

func sameTrack(a, b LocalTrack) bool { return a == b }

// ScreenShare labels a track as a screen share (its video, or its audio)
// for Publish: it gets a slot of its own and the server forwards it as
// TrackInfo.Source "screenshare", under the preset's screen-share rules.
func ScreenShare(t webrtc.TrackLocal) LocalTrack { return screenTrack{t} }

type screenTrack struct{ webrtc.TrackLocal }

func (screenTrack) source() string { return protocol.SourceScreenshare }

// RequestKeyframe passes the server's keyframe requests on to the track.
func (t screenTrack) RequestKeyframe() {
	if kr, ok := t.TrackLocal.(KeyframeRequester); ok {
		kr.RequestKeyframe()
	}
}

// sourceOf is the source a track is published as ("" for camera and
// microphone).
func sourceOf(t LocalTrack) string {
	if s, ok := t.(interface{ source() string }); ok {
		return s.source()
	}
	return ""
}

// slotMid is the mid of the transceiver that sends sl's track (pion may
// reuse any inactive transceiver of its kind for AddTrack).
func (s *Session) slotMid(p *pubConn, sl *slot) string {
	if sl.snd.s == nil {
		return ""
	}
	for _, tx := range p.pc.GetTransceivers() {
		if tx.Sender() == sl.snd.s {
			return tx.Mid()
		}
	}
	return ""
}

// step runs one pion call: natively they do not wait on anything that can
// stall, so it is a plain call.
func (s *Session) step(_ context.Context, _ *webrtc.PeerConnection, fn func() error) error {
	return fn()
}

// addSender adds a send-only transceiver carrying t.
func (s *Session) addSender(_ context.Context, p *pubConn, sl *slot, t LocalTrack) error {
	tx, err := p.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	sl.snd = sender{tx.Sender()}
	return s.readRTCP(p, sl)
}

// setSender puts t (nil: nothing) on an existing slot. A sending slot takes
// a new track with ReplaceTrack, no renegotiation; stopping a slot is
// RemoveTrack (its transceiver goes inactive) and starting it again
// AddTrack, which reuses it: both renegotiate.
func (s *Session) setSender(_ context.Context, p *pubConn, sl *slot, t LocalTrack) (renegotiate bool, err error) {
	switch {
	case t == nil:
		if sl.snd.s == nil {
			return false, nil
		}
		err := p.pc.RemoveTrack(sl.snd.s)
		sl.snd = sender{}
		return true, err
	case sl.snd.s != nil:
		return false, sl.snd.s.ReplaceTrack(t)
	default:
		snd, err := p.pc.AddTrack(t)
		if err != nil {
			return false, err
		}
		sl.snd = sender{snd}
		return true, s.readRTCP(p, sl)
	}
}

// setLayers: natively a track is published as one layer.
func (s *Session) setLayers(context.Context, *slot, map[string]bool) error { return nil }

// senderSize: natively a track has no size (one layer).
func (s *Session) senderSize(*slot) (w, h int) { return 0, 0 }

// readRTCP reads the slot's sender's RTCP until the sender stops, passing
// keyframe requests on to the track the slot sends, and counting it (p.rx:
// the publish connection is heard).
func (s *Session) readRTCP(p *pubConn, sl *slot) error {
	snd := sl.snd.s
	if !s.goroutine(func() {
		for {
			pkts, _, err := snd.ReadRTCP()
			if err != nil {
				return
			}
			p.rx.Add(uint64(len(pkts)))
			kr, _ := s.slotTrack(sl).(KeyframeRequester)
			if kr == nil {
				continue
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					kr.RequestKeyframe()
				}
			}
		}
	}) {
		return errClosed()
	}
	return nil
}
