//go:build js && wasm

package main

// Media as the page sees it: meeting.self's camera and microphone (the
// page's own tracks, or the SDK's from getUserMedia), the participants'
// audioTrack/videoTrack, and their events. The peer connections, the
// negotiation with the server and the track map are client/media's
// Session, the same code native clients run, on pion's js/wasm backend;
// this file decides only what to publish when: the enabled tracks while
// ON_STAGE, nothing otherwise, and the devices the SDK opened are released
// when the user leaves the stage.

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/stagekit/stagekit/client"
	cmedia "github.com/stagekit/stagekit/client/media"
	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// codeMediaDevice (4042) is this SDK's code for a camera or microphone that
// cannot be used: getUserMedia refused or failed (the browser's error name
// is in the message), or no mediaDevices (not a secure context). Media
// negotiation failures use the server's 4041 (protocol.CodeMediaFailed).
const codeMediaDevice = 4042

const (
	// publishTimeout bounds one publish (offer, answer, connection up).
	publishTimeout = 15 * time.Second
	// deviceTimeout bounds getUserMedia, which waits for the user to answer
	// the browser's permission prompt.
	deviceTimeout = 60 * time.Second
)

const (
	kindAudio = 0
	kindVideo = 1
)

var kindNames = [2]string{"audio", "video"}

var (
	jsObject     = js.Global().Get("Object")
	jsTrackClass = js.Global().Get("MediaStreamTrack")
)

func kindOf(name string) int {
	if name == "video" {
		return kindVideo
	}
	return kindAudio
}

// updateOf is an audioUpdate/videoUpdate payload: {audioEnabled, audioTrack}
// or {videoEnabled, videoTrack}.
func updateOf(kind int, track js.Value) js.Value {
	o := jsObject.New()
	o.Set(kindNames[kind]+"Enabled", !track.IsNull())
	o.Set(kindNames[kind]+"Track", track)
	return o
}

func setTrackProps(obj js.Value, kind int, track js.Value) {
	obj.Set(kindNames[kind]+"Track", track)
	obj.Set(kindNames[kind]+"Enabled", !track.IsNull())
}

// localTrack is one of meeting.self's tracks.
type localTrack struct {
	track *cmedia.BrowserTrack // nil when disabled
	owned bool                 // acquired by the SDK (stopped when released)
	ended *jsbridge.Func
}

func (l localTrack) value() js.Value {
	if l.track == nil {
		return js.Null()
	}
	return l.track.Value()
}

// acquisition is a getUserMedia in flight; concurrent enables of the same
// kind wait for it instead of opening the device again.
type acquisition struct {
	done chan struct{}
	err  error
}

type media struct {
	mt      *meeting
	session *cmedia.Session
	q       serial // publish decisions, in order

	ctx    context.Context // ends when the meeting is left or done
	cancel context.CancelFunc

	// Owned by q's tasks.
	wasOnStage bool

	mu        sync.Mutex
	left      bool
	local     [2]localTrack
	acquiring [2]*acquisition
	screen    [2]localTrack // the screen share's audio and video (screenshare.go)
	sharing   bool          // a getDisplayMedia or a screen publish is in progress
}

func newMedia(mt *meeting) (*media, error) {
	md := &media{mt: mt}
	md.ctx, md.cancel = context.WithCancel(context.Background())
	s, err := cmedia.Attach(mt.m, cmedia.Options{
		RequestTimeout: publishTimeout,
		Logger:         pageLog,
		OnTrack: func(t *cmedia.Track) {
			mt.showRemote(t.Info.PeerID, slotOf(t.Info), t.JS, js.Undefined())
		},
		OnTrackEnded: func(t *cmedia.Track) {
			mt.showRemote(t.Info.PeerID, slotOf(t.Info), js.Null(), t.JS)
		},
		// RealtimeKit's meeting.meta mediaConnectionUpdate (web/shape.js
		// keeps meta.mediaState from it).
		OnConnectionState: func(transport, state string) {
			if meta := mt.obj.Get("meta"); meta.Type() == js.TypeObject {
				meta.Call("emit", "mediaConnectionUpdate", map[string]any{"transport": transport, "state": state})
			}
		},
	})
	if err != nil {
		return nil, err
	}
	md.session = s
	return md, nil
}

// defineSelf adds meeting.self's media members.
func (md *media) defineSelf(o js.Value) {
	for k := range kindNames {
		setTrackProps(o, k, js.Null())
	}
	md.defineScreenShare(o)
	for k, name := range [2]string{"Audio", "Video"} {
		jsbridge.DefineAsyncMethod(o, "enable"+name, func(_ js.Value, args []js.Value) (any, error) {
			return nil, md.enable(k, args)
		})
		jsbridge.DefineAsyncMethod(o, "disable"+name, func(js.Value, []js.Value) (any, error) {
			return nil, md.q.wait(func() error {
				md.setLocal(k, localTrack{})
				return md.syncPublish()
			})
		})
	}
}

// afterStageAction runs after a stage method the server committed: it waits
// until publishing has caught up with the new status (published when
// ON_STAGE, released when it left), so that the promise resolves with media
// in the state the status says. For join, a failure to publish rejects
// (the status is ON_STAGE all the same).
func (md *media) afterStageAction(report bool) error {
	err := md.q.wait(md.syncPublish)
	if err != nil && report {
		return wrapMedia(protocol.CodeMediaFailed, "on stage, but publishing failed", err)
	}
	return nil
}

// onEvent follows the client's events; it runs on the client's reader
// goroutine and must not block. Reconnects need nothing here: the session
// publishes the same tracks again by itself.
func (md *media) onEvent(ev client.Event) {
	switch ev.Name {
	case client.EventStageStatusUpdate, client.EventRoomJoined:
		md.q.do(func() { md.logErr("publish", md.syncPublish()) })
	case client.EventRoomLeft, client.EventDisconnected:
		md.mu.Lock()
		md.left = true
		md.mu.Unlock()
		md.cancel()
		md.q.do(func() {
			md.session.Unpublish()
			md.wasOnStage = false
			md.releaseLocal()
		})
	}
}

// syncPublish makes publishing match the local status: the enabled tracks
// while ON_STAGE, nothing otherwise (and the devices the SDK opened are
// released when the user leaves ON_STAGE). q only.
func (md *media) syncPublish() error {
	s := md.mt.m.Self()
	md.mu.Lock()
	left := md.left
	var tracks []*cmedia.BrowserTrack
	for _, l := range append(md.local[:], md.screen[:]...) {
		if l.track != nil {
			tracks = append(tracks, l.track)
		}
	}
	md.mu.Unlock()
	if left || !s.RoomJoined || s.StageStatus != stage.OnStage {
		md.session.Unpublish()
		if md.wasOnStage {
			md.wasOnStage = false
			md.releaseLocal()
		}
		return nil
	}
	md.wasOnStage = true
	if len(tracks) == 0 {
		md.session.Unpublish() // nothing to send; enabling a track publishes it
		return nil
	}
	ctx, cancel := context.WithTimeout(md.ctx, publishTimeout)
	defer cancel()
	return md.session.Publish(ctx, tracks...)
}

// --- local tracks -----------------------------------------------------------

// enable is self.enableAudio/enableVideo: the page's track, or the SDK's
// own from getUserMedia (opened once, however many calls wait for it);
// then published if ON_STAGE.
func (md *media) enable(kind int, args []js.Value) error {
	if len(args) > 0 && !args[0].IsUndefined() && !args[0].IsNull() {
		t, err := pageTrack(kind, args[0])
		if err != nil {
			return err
		}
		return md.q.wait(func() error { return md.useTrack(kind, localTrack{track: t}) })
	}
	md.mu.Lock()
	if md.local[kind].track != nil {
		md.mu.Unlock()
		return nil
	}
	if a := md.acquiring[kind]; a != nil {
		md.mu.Unlock()
		select {
		case <-a.done:
			return a.err
		case <-md.ctx.Done():
			return errLeft()
		}
	}
	a := &acquisition{done: make(chan struct{})}
	md.acquiring[kind] = a
	md.mu.Unlock()

	a.err = md.acquire(kind)
	md.mu.Lock()
	md.acquiring[kind] = nil
	md.mu.Unlock()
	close(a.done)
	return a.err
}

func (md *media) acquire(kind int) error {
	ctx, cancel := context.WithTimeout(md.ctx, deviceTimeout)
	defer cancel()
	v, err := getUserMedia(ctx, kind)
	if err != nil {
		return err
	}
	t, err := cmedia.NewBrowserTrack(v)
	if err != nil {
		v.Call("stop")
		return wrapMedia(codeMediaDevice, kindNames[kind]+" unavailable", err)
	}
	return md.q.wait(func() error { return md.useTrack(kind, localTrack{track: t, owned: true}) })
}

// useTrack makes l self's track of kind and publishes it if ON_STAGE. q only.
func (md *media) useTrack(kind int, l localTrack) error {
	md.mu.Lock()
	left := md.left
	md.mu.Unlock()
	if left {
		if l.owned {
			l.track.Value().Call("stop")
		}
		return errLeft()
	}
	md.setLocal(kind, l)
	return md.syncPublish()
}

func errLeft() error {
	return protocol.NewError(protocol.CodeClosed, "the meeting was left or closed")
}

// pageTrack checks a track the page hands to enableAudio/enableVideo.
func pageTrack(kind int, v js.Value) (*cmedia.BrowserTrack, error) {
	name := kindNames[kind]
	if jsTrackClass.Type() != js.TypeFunction || !v.InstanceOf(jsTrackClass) || v.Get("kind").String() != name {
		return nil, protocol.NewError(protocol.CodeBadArgs, "enable%s needs an %s MediaStreamTrack", title(name), name)
	}
	if v.Get("readyState").String() == "ended" {
		return nil, protocol.NewError(protocol.CodeBadArgs, "the %s track has ended", name)
	}
	return cmedia.NewBrowserTrack(v)
}

// getUserMedia asks the browser for a camera or microphone track. If ctx
// ends first, the track that comes later is stopped.
func getUserMedia(ctx context.Context, kind int) (js.Value, error) {
	devices := js.Global().Get("navigator").Get("mediaDevices")
	if devices.IsUndefined() || devices.Get("getUserMedia").Type() != js.TypeFunction {
		return js.Null(), protocol.NewError(codeMediaDevice, "no navigator.mediaDevices.getUserMedia (is the page a secure context?)")
	}
	c := jsObject.New()
	c.Set(kindNames[kind], true)
	if kind == kindVideo {
		// 720p where the camera has it: Chromium sends as many simulcast
		// layers as the resolution allows (two at 640×480, three from
		// 960×540), and the full layer is meant for 720p (see
		// client/media's cameraLayers).
		v := jsObject.New()
		for k, ideal := range map[string]int{"width": 1280, "height": 720} {
			o := jsObject.New()
			o.Set("ideal", ideal)
			v.Set(k, o)
		}
		c.Set("video", v)
	}
	var p js.Value
	if err := jsbridge.Try(func() { p = devices.Call("getUserMedia", c) }); err != nil {
		return js.Null(), wrapMedia(codeMediaDevice, kindNames[kind]+" unavailable", err)
	}
	stream, err := jsbridge.AwaitContext(ctx, p)
	if ctx.Err() != nil && err != nil {
		go func() {
			if late, err := jsbridge.Await(p); err == nil {
				stopTracks(late)
			}
		}()
		return js.Null(), protocol.NewError(codeMediaDevice, "%s unavailable: %v", kindNames[kind], ctx.Err())
	}
	if err != nil {
		return js.Null(), wrapMedia(codeMediaDevice, kindNames[kind]+" unavailable", err)
	}
	tracks := stream.Call("getTracks")
	if tracks.Length() == 0 {
		return js.Null(), protocol.NewError(codeMediaDevice, "%s unavailable: getUserMedia gave no track", kindNames[kind])
	}
	return tracks.Index(0), nil
}

func stopTracks(stream js.Value) {
	tracks := stream.Call("getTracks")
	for i := 0; i < tracks.Length(); i++ {
		tracks.Index(i).Call("stop")
	}
}

// setLocal makes l self's track of kind (l.track nil: disabled), stopping
// the one it replaces if the SDK acquired it, and emits the update. q only.
func (md *media) setLocal(kind int, l localTrack) {
	md.mu.Lock()
	old := md.local[kind]
	if old.value().Equal(l.value()) {
		md.mu.Unlock()
		return
	}
	md.local[kind] = l
	md.mu.Unlock()
	if old.track != nil {
		if old.ended != nil {
			old.track.Value().Call("removeEventListener", "ended", old.ended.Value)
			old.ended.Release()
		}
		if old.owned {
			old.track.Value().Call("stop")
		}
	}
	if l.track != nil {
		// A track that ends by itself (device unplugged, the page stopped
		// it) disables the medium.
		track := l.track
		ended := jsbridge.FuncOf(func(js.Value, []js.Value) any {
			md.q.do(func() {
				md.mu.Lock()
				same := md.local[kind].track == track
				md.mu.Unlock()
				if same {
					md.setLocal(kind, localTrack{})
					md.logErr("publish", md.syncPublish())
				}
			})
			return nil
		})
		md.mu.Lock()
		md.local[kind].ended = ended
		md.mu.Unlock()
		track.Value().Call("addEventListener", "ended", ended.Value)
	}
	md.mt.showLocal(kind, l.value())
}

// releaseLocal disables both media and the screen share (the camera,
// microphone and screen the SDK acquired are stopped). q only.
func (md *media) releaseLocal() {
	md.setLocal(kindAudio, localTrack{})
	md.setLocal(kindVideo, localTrack{})
	md.setScreen(localTrack{}, localTrack{})
}

// --- helpers ------------------------------------------------------------------------

// wrapMedia gives err the code the SDK reports it with: errors that carry a
// stage/protocol code keep it; browser errors get code.
func wrapMedia(code int, what string, err error) error {
	if _, ok := err.(*jsbridge.JSError); !ok {
		if c, ok := jsbridge.CodeOf(err); ok && c >= 1000 {
			msg := err.Error()
			if i := strings.Index(msg, "] "); strings.HasPrefix(msg, "[ERR") && i > 0 {
				msg = msg[i+2:]
			}
			return protocol.NewError(c, "%s: %s", what, msg)
		}
	}
	return protocol.NewError(code, "%s: %v", what, err)
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func warn(msg string) { js.Global().Get("console").Call("warn", msg) }

func (md *media) logErr(what string, err error) {
	if err != nil {
		warn("stagekit: " + what + ": " + err.Error())
	}
}

// serial runs tasks one at a time, in order, on a goroutine that lives while
// tasks are pending. do never blocks.
type serial struct {
	mu      sync.Mutex
	q       []func()
	running bool
}

func (s *serial) do(fn func()) {
	s.mu.Lock()
	s.q = append(s.q, fn)
	if !s.running {
		s.running = true
		go s.run()
	}
	s.mu.Unlock()
}

func (s *serial) run() {
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		fn := s.q[0]
		s.q[0] = nil
		s.q = s.q[1:]
		s.mu.Unlock()
		runTask(fn)
	}
}

func runTask(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			js.Global().Get("console").Call("error", fmt.Sprintf("stagekit: recovered panic in a media task: %v\n%s", r, debug.Stack()))
		}
	}()
	fn()
}

// wait runs fn as a task and returns its error; call it from a goroutine.
func (s *serial) wait(fn func() error) error {
	ch := make(chan error, 1)
	s.do(func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- protocol.NewError(protocol.CodeInternal, "internal error: panic: %v", r)
				panic(r)
			}
		}()
		ch <- fn()
	})
	return <-ch
}
