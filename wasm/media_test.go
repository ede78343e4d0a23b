//go:build js && wasm

package main

import (
	"syscall/js"
	"testing"
	"time"
)

// eventually polls cond (the page keeps running between polls) for up to
// 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countGetUserMedia wraps navigator.mediaDevices.getUserMedia (the fake
// camera of scripts/chromium-wrapper) and returns how many calls it saw.
func countGetUserMedia(t *testing.T) func() int {
	devices := js.Global().Get("navigator").Get("mediaDevices")
	orig := devices.Get("getUserMedia")
	calls := 0
	wrap := js.FuncOf(func(_ js.Value, args []js.Value) any {
		calls++
		anyArgs := make([]any, len(args))
		for i, a := range args {
			anyArgs[i] = a
		}
		return orig.Call("apply", devices, js.ValueOf(anyArgs))
	})
	devices.Set("getUserMedia", wrap)
	t.Cleanup(func() {
		devices.Set("getUserMedia", orig)
		wrap.Release()
	})
	return func() int { return calls }
}

// decodedFrames plays track in a muted <video> and returns a counter of
// its decoded frames.
func decodedFrames(t *testing.T, track js.Value) func() int {
	doc := js.Global().Get("document")
	v := doc.Call("createElement", "video")
	v.Set("muted", true)
	v.Set("autoplay", true)
	v.Set("srcObject", js.Global().Get("MediaStream").New([]any{track}))
	doc.Get("body").Call("append", v)
	v.Call("play").Call("catch", js.FuncOf(func(js.Value, []js.Value) any { return nil }))
	t.Cleanup(func() { v.Call("remove") })
	return func() int { return v.Call("getVideoPlaybackQuality").Get("totalVideoFrames").Int() }
}

// The media path through the SDK's JS surface, on the shared media session
// (pion's js/wasm backend): two concurrent enableVideo() calls open the
// camera once; join publishes it and the host's page decodes it; the kick
// removes the host's track and releases the viewer's camera.
func TestMediaFromWasm(t *testing.T) {
	s := loadSeed(t, "STAGEKIT_SEED3")
	api := newAPI()
	host := open(t, api, s.People["Host"].Token)
	viewer := open(t, api, s.People["Viewer"].Token)
	viewerID := s.People["Viewer"].ID
	calls := countGetUserMedia(t)

	self := viewer.obj.Get("self")
	p1, p2 := self.Call("enableVideo"), self.Call("enableVideo")
	await(t, p1)
	await(t, p2)
	if n := calls(); n != 1 {
		t.Fatalf("two concurrent enableVideo() opened the camera %d times, want once", n)
	}
	camera := self.Get("videoTrack")
	if camera.IsNull() || camera.Get("readyState").String() != "live" || !self.Get("videoEnabled").Bool() {
		t.Fatalf("after enableVideo: videoTrack %v, videoEnabled %v", camera, self.Get("videoEnabled"))
	}

	await(t, viewer.stage().Call("requestAccess"))
	host.want("newStageRequest:1")
	await(t, host.stage().Call("grantAccess", []any{viewerID}))
	viewer.want("stageRequestApproved")
	await(t, viewer.stage().Call("join"))

	var remote js.Value
	eventually(t, "the viewer's video on the host's participant object", func() bool {
		arr := host.obj.Get("participants").Call("toArray")
		for i := 0; i < arr.Length(); i++ {
			if p := arr.Index(i); p.Get("userId").String() == viewerID && !p.Get("videoTrack").IsNull() {
				remote = p
				return true
			}
		}
		return false
	})
	if !remote.Get("videoEnabled").Bool() || remote.Get("videoTrack").Get("kind").String() != "video" {
		t.Fatalf("host sees videoEnabled %v, track kind %v", remote.Get("videoEnabled"), remote.Get("videoTrack").Get("kind"))
	}
	frames := decodedFrames(t, remote.Get("videoTrack"))
	eventually(t, "the host decoding the viewer's camera", func() bool { return frames() > 3 })

	await(t, host.stage().Call("kick", []any{viewerID}))
	eventually(t, "the viewer's track gone from the host's object", func() bool { return remote.Get("videoTrack").IsNull() })
	eventually(t, "the viewer's camera released", func() bool {
		return self.Get("videoTrack").IsNull() && camera.Get("readyState").String() == "ended"
	})
	if viewer.status() != "OFF_STAGE" {
		t.Fatalf("viewer after the kick: %s", viewer.status())
	}
}
