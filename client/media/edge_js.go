//go:build js && wasm

package media

import (
	"context"
	"sync/atomic"
	"syscall/js"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
)

// The browser's part of the session. pion's js/wasm PeerConnection has no
// tracks (no AddTrack, OnTrack, RTPSender.ReplaceTrack), so those steps go
// through its JSValue(): addTransceiver with a MediaStreamTrack,
// replaceTrack and the direction on the sender's transceiver, ontrack.

var (
	jsObject      = js.Global().Get("Object")
	jsMediaStream = js.Global().Get("MediaStream")
)

// sender is a slot's RTCRtpTransceiver.
type sender struct{ tx js.Value }

// pubEdge is the MediaStream the published tracks belong to (the "streams"
// of their transceivers, so the server sees one stream per user).
type pubEdge struct{ stream js.Value }

func sameTrack(a, b LocalTrack) bool { return a.v.Equal(b.v) && a.source == b.source }

func sourceOf(t LocalTrack) string { return t.source }

// slotMid is the mid of sl's transceiver (set once negotiated).
func (s *Session) slotMid(_ *pubConn, sl *slot) string {
	if m := sl.snd.tx.Get("mid"); m.Type() == js.TypeString {
		return m.String()
	}
	return ""
}

// step runs a pion call that waits on a browser promise, giving up when
// ctx ends: a promise that never settles must not stall the session. The
// abandoned call ends when its promise settles (or never, if the page's
// browser is stuck; its connection is dropped by the caller either way).
func (s *Session) step(ctx context.Context, _ *webrtc.PeerConnection, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return protocol.NewError(protocol.CodeTimeout, "the browser did not answer: %v", ctx.Err())
	}
}

// addSender adds a send-only transceiver carrying t: camera video in the
// simulcast layers of cameraLayers when the preset says so (one layer if
// the browser refuses them).
func (s *Session) addSender(_ context.Context, p *pubConn, sl *slot, t LocalTrack) error {
	add := func(layers bool) error {
		return jsbridge.Try(func() {
			if p.edge.stream.IsUndefined() {
				p.edge.stream = jsMediaStream.New()
			}
			init := jsObject.New()
			init.Set("direction", "sendonly")
			init.Set("streams", []any{p.edge.stream})
			var fit layerFit
			if layers {
				w, h := trackSize(t.v)
				if use := layersFor(w, h); len(use) > 1 {
					encs := make([]any, len(use))
					for i, l := range use {
						e := jsObject.New()
						e.Set("rid", l.RID)
						e.Set("scaleResolutionDownBy", l.ScaleDown)
						e.Set("maxBitrate", l.MaxBitrate)
						encs[i] = e
					}
					init.Set("sendEncodings", encs)
					fit = layerFit{rids: len(use), w: w, h: h}
				}
			}
			sl.snd = sender{p.pc.JSValue().Call("addTransceiver", t.v, init)}
			sl.fit = fit
		})
	}
	if s.simulcast(t) {
		if err := add(true); err == nil {
			return nil
		} else {
			s.log.Warn("simulcast refused by the browser; one layer", "err", err)
		}
	}
	return add(false)
}

// setLayers sets the slot's simulcast encodings as fitLayers says for the
// track it sends, those whose rid is in paused stopped (getParameters,
// setParameters on its RTCRtpSender).
func (s *Session) setLayers(ctx context.Context, sl *slot, paused map[string]bool) error {
	if sl.snd.tx.IsUndefined() {
		return nil
	}
	var promise js.Value
	var fit layerFit
	if err := jsbridge.Try(func() {
		snd := sl.snd.tx.Get("sender")
		params := snd.Call("getParameters")
		encs := params.Get("encodings")
		rids := make([]string, encs.Length())
		for i := range rids {
			rid := encs.Index(i).Get("rid")
			if rid.Type() != js.TypeString {
				return // one layer
			}
			rids[i] = rid.String()
		}
		w, h := trackSize(snd.Get("track"))
		fit = layerFit{rids: len(rids), w: w, h: h}
		num := func(v js.Value) float64 {
			if v.Type() != js.TypeNumber {
				return -1
			}
			return v.Float()
		}
		changed := false
		for i, f := range fitLayers(rids, w, h, paused) {
			e := encs.Index(i)
			if e.Get("active").Bool() != f.Active || num(e.Get("scaleResolutionDownBy")) != f.ScaleDown ||
				num(e.Get("maxBitrate")) != float64(f.MaxBitrate) {
				e.Set("active", f.Active)
				e.Set("scaleResolutionDownBy", f.ScaleDown)
				e.Set("maxBitrate", f.MaxBitrate)
				changed = true
			}
		}
		if changed {
			promise = snd.Call("setParameters", params)
		}
	}); err != nil {
		return err
	}
	if !promise.IsUndefined() {
		if _, err := jsbridge.AwaitContext(ctx, promise); err != nil {
			return err
		}
	}
	sl.fit = fit
	return nil
}

// senderSize is the size of the track sl's sender sends (0×0 if unknown).
func (s *Session) senderSize(sl *slot) (w, h int) {
	if sl.snd.tx.IsUndefined() {
		return 0, 0
	}
	_ = jsbridge.Try(func() { w, h = trackSize(sl.snd.tx.Get("sender").Get("track")) })
	return w, h
}

// trackSize is a video MediaStreamTrack's size as its settings say (0×0 if
// they do not, or t is no track).
func trackSize(t js.Value) (w, h int) {
	if !t.Truthy() {
		return 0, 0
	}
	st := t.Call("getSettings")
	if st.Get("width").Type() != js.TypeNumber || st.Get("height").Type() != js.TypeNumber {
		return 0, 0
	}
	return st.Get("width").Int(), st.Get("height").Int()
}

// setSender puts t (nil: nothing) on a slot with replaceTrack; a slot that
// stops sending goes inactive, one that starts again sendonly, and only
// those direction changes renegotiate.
func (s *Session) setSender(ctx context.Context, _ *pubConn, sl *slot, t LocalTrack) (renegotiate bool, err error) {
	tx := sl.snd.tx
	want, dir := js.Null(), "inactive"
	if t != nil {
		want, dir = t.v, "sendonly"
	}
	var promise js.Value
	if err := jsbridge.Try(func() {
		if snd := tx.Get("sender"); !snd.Get("track").Equal(want) {
			promise = snd.Call("replaceTrack", want)
		}
	}); err != nil {
		return false, err
	}
	if !promise.IsUndefined() {
		if _, err := jsbridge.AwaitContext(ctx, promise); err != nil {
			return false, err
		}
	}
	if tx.Get("direction").String() == dir {
		return false, nil
	}
	return true, jsbridge.Try(func() { tx.Set("direction", dir) })
}

// watchTracks records the receive slots sc announces (ontrack); the
// server's track map says whose track each carries.
func (s *Session) watchTracks(sc *subConn) (release func()) {
	f := jsbridge.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) == 0 {
			return nil
		}
		ev := args[0]
		track := ev.Get("track")
		mid := ""
		if m := ev.Get("transceiver").Get("mid"); m.Type() == js.TypeString {
			mid = m.String()
		}
		s.addSlot(sc, mid, track.Get("id").String(), track.Get("kind").String(), slotEdge{js: track})
		return nil
	})
	pc := sc.pc.JSValue()
	pc.Set("ontrack", f.Value)
	return func() {
		pc.Set("ontrack", js.Null())
		f.Release()
	}
}

// heard is how much pc has received (bytes, from the browser's
// transport stats); false if the browser did not say.
func (s *Session) heard(ctx context.Context, pc *webrtc.PeerConnection, _ *atomic.Uint64) (uint64, bool) {
	promise := pc.JSValue().Call("getStats")
	report, err := jsbridge.AwaitContext(ctx, promise)
	if err != nil {
		return 0, false
	}
	var total uint64
	found := false
	each := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 && args[0].Get("type").String() == "transport" {
			if b := args[0].Get("bytesReceived"); b.Type() == js.TypeNumber {
				total += uint64(b.Float())
				found = true
			}
		}
		return nil
	})
	defer each.Release()
	report.Call("forEach", each)
	return total, found
}
