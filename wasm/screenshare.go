//go:build js && wasm

package main

// Screen share as the page sees it (RealtimeKit's): self.enableScreenShare()
// and disableScreenShare(), screenShareEnabled and screenShareTracks
// {audio, video} on self and on every participant, and their
// screenShareUpdate events. The screen's tracks are published through the
// same media session as the camera and microphone, labelled for the server
// (client/media's NewScreenShareTrack); the server decides whether the user
// may share (stage.AdmitScreenshare).

import (
	"context"

	"syscall/js"

	cmedia "github.com/stagekit/stagekit/client/media"
	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// The slots of a participant's received tracks: its microphone and camera
// (kindAudio, kindVideo), then its screen share's audio and video.
const (
	slotScreenAudio = 2
	slotScreenVideo = 3
	slotCount       = 4
)

const eventScreenShareUpdate = "screenShareUpdate"

// slotOf is the slot a received track shows in.
func slotOf(info protocol.TrackInfo) int {
	k := kindOf(info.Kind)
	if info.Source == protocol.SourceScreenshare {
		return slotScreenAudio + k
	}
	return k
}

func nullIfUndefined(v js.Value) js.Value {
	if v.IsUndefined() {
		return js.Null()
	}
	return v
}

// setScreenProps sets obj's screenShareEnabled (a screen video is there)
// and screenShareTracks {audio, video} (null when absent).
func setScreenProps(obj, audio, video js.Value) {
	tracks := jsObject.New()
	tracks.Set("audio", audio)
	tracks.Set("video", video)
	obj.Set("screenShareTracks", tracks)
	obj.Set("screenShareEnabled", !video.IsNull())
}

// screenUpdateOf is a screenShareUpdate payload, RealtimeKit's
// {screenShareEnabled, screenShareTracks: {audio, video}}.
func screenUpdateOf(audio, video js.Value) js.Value {
	o := jsObject.New()
	setScreenProps(o, audio, video)
	return o
}

// screenSettled reports whether a participant's received screen tracks
// match what the server's track map lists for its share: the share's audio
// and video arrive, and end, one after the other, and the UI kit restarts
// its screen view's playback on every screenShareUpdate, so the update is
// sent once for the pair.
func (mt *meeting) screenSettled(peer string, audio, video js.Value) bool {
	var listed [2]bool
	for _, ti := range mt.media.session.RemoteTracks()[peer] {
		if ti.Source == protocol.SourceScreenshare {
			listed[kindOf(ti.Kind)] = true
		}
	}
	return listed[kindAudio] == !audio.IsNull() && listed[kindVideo] == !video.IsNull()
}

// defineScreenShare adds self's screen-share members.
func (md *media) defineScreenShare(o js.Value) {
	setScreenProps(o, js.Null(), js.Null())
	jsbridge.DefineAsyncMethod(o, "enableScreenShare", func(js.Value, []js.Value) (any, error) {
		return nil, md.enableScreen()
	})
	jsbridge.DefineAsyncMethod(o, "disableScreenShare", func(js.Value, []js.Value) (any, error) {
		return nil, md.q.wait(func() error {
			md.setScreen(localTrack{}, localTrack{})
			return md.syncPublish()
		})
	})
}

// selfScreenPermissions is the stage's view of self's permissions: for the
// stage-aware canProduce values and the local check before the browser's
// picker opens (the server checks again, with the room's count).
func selfScreenPermissions(p protocol.Permissions) stage.Permissions {
	return stage.Permissions{StageEnabled: p.StageEnabled, StageAccess: p.StageAccess,
		Media: stage.Media{Screenshare: stage.MediaKind{CanProduce: p.ScreenshareAccess}}, MaxScreenshareCount: p.MaxScreenshareCount}
}

// enableScreen is self.enableScreenShare: the browser's screen picker
// (getDisplayMedia), then the screen published beside the camera and
// microphone. Refused before the picker (2001, 2006) when the preset or the
// status do not allow it; the server's refusal (2106: the room has as many
// shares as max_screenshare_count) stops the screen and rejects, and the
// camera and microphone are published again.
func (md *media) enableScreen() error {
	s := md.mt.m.Self()
	if !s.RoomJoined {
		return protocol.NewError(int(stage.CodeNotInRoom), "join the room first")
	}
	if err := stage.AdmitScreenshare(selfScreenPermissions(s.Permissions), s.StageStatus, 0); err != nil {
		return protocol.ErrorOf(err)
	}
	md.mu.Lock()
	if md.screen[kindVideo].track != nil || md.sharing {
		md.mu.Unlock()
		return nil // sharing already, or about to
	}
	md.sharing = true
	md.mu.Unlock()
	defer func() {
		md.mu.Lock()
		md.sharing = false
		md.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(md.ctx, deviceTimeout)
	defer cancel()
	stream, err := getDisplayMedia(ctx)
	if err != nil {
		return err
	}
	var picked [2]localTrack
	tracks := stream.Call("getTracks")
	for i := 0; i < tracks.Length(); i++ {
		v := tracks.Index(i)
		k := kindOf(v.Get("kind").String())
		t, err := cmedia.NewScreenShareTrack(v)
		if err != nil || picked[k].track != nil {
			v.Call("stop")
			continue
		}
		picked[k] = localTrack{track: t, owned: true}
	}
	if picked[kindVideo].track == nil {
		stopTracks(stream)
		return protocol.NewError(codeMediaDevice, "screen unavailable: getDisplayMedia gave no video")
	}
	return md.q.wait(func() error {
		md.mu.Lock()
		left := md.left
		md.mu.Unlock()
		if left {
			stopTracks(stream)
			return errLeft()
		}
		md.setScreen(picked[kindAudio], picked[kindVideo])
		err := md.syncPublish()
		if err == nil {
			return nil
		}
		md.setScreen(localTrack{}, localTrack{})
		md.logErr("publish", md.syncPublish()) // the camera and microphone, without the screen
		return wrapMedia(protocol.CodeMediaFailed, "screen share refused", err)
	})
}

// getDisplayMedia asks the browser for a screen (with its audio where the
// browser offers it). If ctx ends first, the stream that comes later is
// stopped.
func getDisplayMedia(ctx context.Context) (js.Value, error) {
	devices := js.Global().Get("navigator").Get("mediaDevices")
	if devices.IsUndefined() || devices.Get("getDisplayMedia").Type() != js.TypeFunction {
		return js.Null(), protocol.NewError(codeMediaDevice, "no navigator.mediaDevices.getDisplayMedia (is the page a secure context?)")
	}
	c := jsObject.New()
	c.Set("video", true)
	c.Set("audio", true)
	var p js.Value
	if err := jsbridge.Try(func() { p = devices.Call("getDisplayMedia", c) }); err != nil {
		return js.Null(), wrapMedia(codeMediaDevice, "screen unavailable", err)
	}
	stream, err := jsbridge.AwaitContext(ctx, p)
	if ctx.Err() != nil && err != nil {
		go func() {
			if late, err := jsbridge.Await(p); err == nil {
				stopTracks(late)
			}
		}()
		return js.Null(), protocol.NewError(codeMediaDevice, "screen unavailable: %v", ctx.Err())
	}
	if err != nil {
		return js.Null(), wrapMedia(codeMediaDevice, "screen unavailable", err)
	}
	return stream, nil
}

// setScreen makes audio and video self's screen share (nil tracks: none),
// stopping the tracks it replaces, and emits screenShareUpdate. The screen
// video's end (the browser's "Stop sharing") stops the share. q only.
func (md *media) setScreen(audio, video localTrack) {
	md.mu.Lock()
	old := md.screen
	if old[kindAudio].value().Equal(audio.value()) && old[kindVideo].value().Equal(video.value()) {
		md.mu.Unlock()
		return
	}
	md.screen = [2]localTrack{audio, video}
	md.mu.Unlock()
	for _, l := range old {
		if l.track == nil {
			continue
		}
		if l.ended != nil {
			l.track.Value().Call("removeEventListener", "ended", l.ended.Value)
			l.ended.Release()
		}
		if l.owned {
			l.track.Value().Call("stop")
		}
	}
	if video.track != nil {
		track := video.track
		ended := jsbridge.FuncOf(func(js.Value, []js.Value) any {
			md.q.do(func() {
				md.mu.Lock()
				same := md.screen[kindVideo].track == track
				md.mu.Unlock()
				if same {
					md.setScreen(localTrack{}, localTrack{})
					md.logErr("publish", md.syncPublish())
				}
			})
			return nil
		})
		md.mu.Lock()
		md.screen[kindVideo].ended = ended
		md.mu.Unlock()
		track.Value().Call("addEventListener", "ended", ended.Value)
	}
	self := md.mt.self
	setScreenProps(self.Value(), audio.value(), video.value())
	self.Emit(eventScreenShareUpdate, screenUpdateOf(audio.value(), video.value()))
}
