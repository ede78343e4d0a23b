//go:build js && wasm

package main

// RealtimeKit's members of meeting.self that need Go's state: roomState and
// the payloads of roomJoined/roomLeft. The pure-shape members (setupTracks,
// the permissions emitter, config, …) are added by web/shape.js.

import (
	"syscall/js"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// RealtimeKit's self.roomState values that this SDK reaches.
const (
	roomInit   = "init"
	roomJoined = "joined"
	roomLeft   = "left"   // meeting.leave()
	roomKicked = "kicked" // the participant was removed by an admin
	roomFailed = "failed" // the session ended for good otherwise: init again
)

// defineSelfRTK adds peerId and roomState to meeting.self.
func (mt *meeting) defineSelfRTK(o js.Value) {
	jsbridge.DefineGetter(o, "peerId", func() (any, error) { return mt.m.Self().PeerID, nil })
	// RealtimeKit's setName: before join; synchronous, as RealtimeKit's.
	jsbridge.DefineMethod(o, "setName", func(_ js.Value, args []js.Value) (any, error) {
		if len(args) == 0 || args[0].Type() != js.TypeString {
			return nil, protocol.NewError(protocol.CodeBadArgs, "setName needs a string")
		}
		return nil, mt.m.SetName(args[0].String())
	})
	jsbridge.DefineGetter(o, "roomState", func() (any, error) {
		mt.mu.Lock()
		defer mt.mu.Unlock()
		return mt.roomState, nil
	})
}

// selfRoomEvent turns the client's room events into RealtimeKit's
// roomJoined {reconnected} / roomLeft {state} on meeting.self. A reconnect
// within the grace period keeps the user in the room (no roomLeft); the
// resynced session announces itself with roomJoined {reconnected: true}.
func (mt *meeting) selfRoomEvent(ev client.Event) {
	set := func(state string, onlyIfJoined bool) bool {
		mt.mu.Lock()
		defer mt.mu.Unlock()
		if onlyIfJoined && mt.roomState != roomJoined {
			return false
		}
		mt.roomState = state
		return true
	}
	switch ev.Name {
	case client.EventRoomJoined:
		set(roomJoined, false)
		mt.self.Emit(ev.Name, map[string]any{"reconnected": false})
	case client.EventReconnected:
		if set(roomJoined, true) {
			mt.self.Emit(client.EventRoomJoined, map[string]any{"reconnected": true})
		}
	case client.EventRoomLeft:
		set(roomLeft, false)
		mt.self.Emit(ev.Name, map[string]any{"state": roomLeft})
	case client.EventDisconnected:
		state := roomFailed
		if client.CodeOf(ev.Err) == protocol.CodeRemoved {
			state = roomKicked
		}
		if set(state, true) {
			mt.self.Emit(client.EventRoomLeft, map[string]any{"state": state})
		}
	}
}

var jsDate = js.Global().Get("Date")

// permissionsOf is self.permissions as the Go side knows it: the preset's
// permissions and RealtimeKit's stage-aware canProduceAudio/Video/
// Screenshare for the current status (stage.ProduceAccess; a kind the
// preset forbids is NOT_ALLOWED). web/shape.js reads it through the stable
// permissions emitter, and meta.viewType from it.
func permissionsOf(s client.Self) map[string]any {
	p := s.Permissions
	sp := selfScreenPermissions(p)
	produce := func(a, kind stage.Access) string {
		if kind == stage.NotAllowed {
			return string(stage.NotAllowed)
		}
		return string(stage.ProduceAccess(a, p.StageEnabled, s.StageStatus))
	}
	return map[string]any{
		"stageEnabled":          p.StageEnabled,
		"stageAccess":           string(p.StageAccess),
		"acceptStageRequests":   p.AcceptStageRequests,
		"seeAllParticipants":    p.SeeAllParticipants,
		"hiddenParticipant":     p.HiddenParticipant,
		"viewType":              string(p.ViewType),
		"canProduceAudio":       produce(sp.MediaAccess(), p.CanProduceAudio),
		"canProduceVideo":       produce(sp.MediaAccess(), p.CanProduceVideo),
		"canProduceScreenshare": produce(sp.ScreenshareAccess(), p.CanProduceScreenshare),
		"maxScreenshareCount":   sp.ScreenshareLimit(),
		"screenshareAccess":     string(sp.ScreenshareAccess()),
	}
}

// defineMetaRTK builds meeting.meta, RealtimeKit's meeting metadata emitter;
// web/shape.js adds viewType and the connection state.
func (mt *meeting) defineMetaRTK() {
	meta := jsbridge.NewEmitter().Value()
	jsbridge.DefineGetter(meta, "meetingId", func() (any, error) { return mt.m.Self().MeetingID, nil })
	jsbridge.DefineGetter(meta, "meetingTitle", func() (any, error) { return mt.m.Self().MeetingTitle, nil })
	// A Date, as RealtimeKit's; undefined before the room is joined.
	jsbridge.DefineGetter(meta, "meetingStartedTimestamp", func() (any, error) {
		if at := mt.m.Self().StartedAt; at != 0 {
			return jsDate.New(at), nil
		}
		return js.Undefined(), nil
	})
	mt.obj.Set("meta", meta)
}
