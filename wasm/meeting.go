//go:build js && wasm

package main

import (
	"context"
	"sync"
	"syscall/js"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
)

// meeting is one client.Meeting as the page sees it: meeting, meeting.stage,
// meeting.self and meeting.participants, each an emitter.
type meeting struct {
	m      *client.Meeting
	obj    js.Value
	stage  *jsbridge.Emitter
	self   *jsbridge.Emitter
	parts  *jsbridge.Emitter // meeting.participants
	joined *jsbridge.Emitter
	media  *media

	mu        sync.Mutex
	peers     map[string]*participant // by peer id
	order     []string
	tracks    map[string]*[slotCount]js.Value // received tracks by owner peer id and slot, set on its object when it exists
	sharing   map[string]bool                 // peers whose screen share was last announced on (screenShareUpdate)
	roomState string                          // self.roomState (self.go)
}

// participant is a remote participant's JS object; its fields are plain data
// properties, updated before its events fire.
type participant struct {
	em  *jsbridge.Emitter
	obj js.Value
}

var arrayCtor = js.Global().Get("Array")

func newMeeting(m *client.Meeting) (*meeting, error) {
	mt := &meeting{m: m, peers: map[string]*participant{}, tracks: map[string]*[slotCount]js.Value{}, sharing: map[string]bool{}, roomState: roomInit}
	root := jsbridge.NewEmitter()
	mt.obj = root.Value()
	mt.stage = jsbridge.NewEmitter()
	mt.self = jsbridge.NewEmitter()
	mt.parts = jsbridge.NewEmitter()
	mt.joined = jsbridge.NewParticipantMap()
	md, err := newMedia(mt)
	if err != nil {
		return nil, err
	}
	mt.media = md

	mt.defineMeeting(root)
	mt.defineStage()
	mt.defineSelf()
	mt.defineParticipants()
	mt.defineMetaRTK()
	m.On(func(ev client.Event) { mt.onEvent(root, ev) })
	return mt, nil
}

// callTimeout bounds a JS call's wait for the server (the client's own
// request timeout is shorter; this is the backstop).
const callTimeout = 30 * time.Second

// call runs fn with a context that ends after callTimeout or when the
// meeting is left.
func (mt *meeting) call(fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(mt.media.ctx, callTimeout)
	defer cancel()
	return fn(ctx)
}

func (mt *meeting) defineMeeting(root *jsbridge.Emitter) {
	o := root.Value()
	o.Set("stage", mt.stage.Value())
	o.Set("self", mt.self.Value())
	jsbridge.DefineAsyncMethod(o, "join", func(js.Value, []js.Value) (any, error) {
		if err := mt.call(mt.m.Join); err != nil {
			return nil, err
		}
		mt.syncParticipants()
		return nil, nil
	})
	jsbridge.DefineAsyncMethod(o, "leave", func(js.Value, []js.Value) (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		return nil, mt.m.Leave(ctx)
	})
}

func (mt *meeting) defineStage() {
	o := mt.stage.Value()
	st := mt.m.Stage()
	jsbridge.DefineGetter(o, "status", func() (any, error) { return string(st.Status()), nil })
	jsbridge.DefineGetter(o, "peerId", func() (any, error) { return st.PeerID(), nil })
	simple := map[string]func(context.Context) error{
		"requestAccess":       st.RequestAccess,
		"cancelRequestAccess": st.CancelRequestAccess,
		"join":                st.Join,
		"leave":               st.Leave,
	}
	for name, fn := range simple {
		jsbridge.DefineAsyncMethod(o, name, func(js.Value, []js.Value) (any, error) {
			if err := mt.call(fn); err != nil {
				return nil, err
			}
			if name == "join" || name == "leave" {
				// Resolve with media caught up: published, or released.
				return nil, mt.media.afterStageAction(name == "join")
			}
			return nil, nil
		})
	}
	batch := map[string]func(context.Context, []string) error{
		"grantAccess": st.GrantAccess,
		"denyAccess":  st.DenyAccess,
		"kick":        nil, // below
	}
	for name, fn := range batch {
		jsbridge.DefineAsyncMethod(o, name, func(_ js.Value, args []js.Value) (any, error) {
			var ids []string
			if len(args) == 0 || jsbridge.Decode(args[0], &ids) != nil {
				return nil, protocol.NewError(protocol.CodeBadArgs, "%s needs an array of user ids", name)
			}
			if name != "kick" {
				return nil, mt.call(func(ctx context.Context) error { return fn(ctx, ids) })
			}
			var reply protocol.ServerMessage
			err := mt.call(func(ctx context.Context) (err error) {
				reply, err = st.KickReply(ctx, ids)
				return err
			})
			if err != nil {
				return nil, err
			}
			return kickResult(reply), mt.media.afterStageAction(false) // a host may kick itself
		})
	}
	// Synchronous, as in RealtimeKit: the server-confirmed list the client
	// holds (kept current by the server's events, oldest first).
	jsbridge.DefineMethod(o, "getAccessRequests", func(js.Value, []js.Value) (any, error) {
		reqs, err := st.AccessRequests()
		if err != nil {
			return nil, err
		}
		return map[string]any{"stageRequests": reqs}, nil
	})
}

func (mt *meeting) defineSelf() {
	o := mt.self.Value()
	self := func() client.Self { return mt.m.Self() }
	props := map[string]func(client.Self) any{
		"id":                  func(s client.Self) any { return s.PeerID },
		"userId":              func(s client.Self) any { return s.UserID },
		"name":                func(s client.Self) any { return s.Name },
		"presetName":          func(s client.Self) any { return s.PresetName },
		"customParticipantId": func(s client.Self) any { return optional(s.CustomParticipantID) },
		"stageStatus":         func(s client.Self) any { return string(s.StageStatus) },
		"roomJoined":          func(s client.Self) any { return s.RoomJoined },
		"permissions":         func(s client.Self) any { return permissionsOf(s) },
	}
	for name, get := range props {
		jsbridge.DefineGetter(o, name, func() (any, error) { return get(self()), nil })
	}
	mt.media.defineSelf(o)
	mt.defineSelfRTK(o)
}

// defineParticipants builds meeting.participants: joined holds the other
// participants the user may see (everyone for hosts, the stage and the
// ALLOWED users for the audience); count is the whole room, the user
// included, and countUpdate announces its changes.
func (mt *meeting) defineParticipants() {
	parts := mt.parts.Value()
	joined := mt.joined.Value()
	parts.Set("joined", joined)
	mt.obj.Set("participants", parts)
	// joined is a participant map (a JS Map with toArray, see jsbridge),
	// kept in step with mt.peers by upsert and remove.
	jsbridge.DefineMethod(parts, "toArray", func(js.Value, []js.Value) (any, error) { return mt.array(), nil })
	jsbridge.DefineGetter(parts, "count", func() (any, error) { return mt.m.Count(), nil })
}

// array returns the participants' objects in join order.
func (mt *meeting) array() js.Value {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	arr := arrayCtor.New(len(mt.order))
	for i, id := range mt.order {
		arr.SetIndex(i, mt.peers[id].obj)
	}
	return arr
}

// upsert creates or updates the participant's object.
func (mt *meeting) upsert(p client.Participant) *participant {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	jp := mt.peers[p.PeerID]
	if jp == nil {
		jp = &participant{em: jsbridge.NewEmitter()}
		jp.obj = jp.em.Value()
		mt.peers[p.PeerID] = jp
		mt.order = append(mt.order, p.PeerID)
		jp.obj.Set("id", p.PeerID)
		jp.obj.Set("userId", p.UserID)
		jp.obj.Set("name", p.Name)
		jp.obj.Set("presetName", p.PresetName)
		jp.obj.Set("customParticipantId", optional(p.CustomParticipantID))
		jp.obj.Set("isHost", p.IsHost)
		var held [slotCount]js.Value
		for k := range held {
			held[k] = js.Null()
			if tr := mt.tracks[p.PeerID]; tr != nil && !tr[k].IsUndefined() {
				held[k] = tr[k]
			}
		}
		for k := range kindNames {
			setTrackProps(jp.obj, k, held[k])
		}
		initParticipantRTK(jp.obj)
		setScreenProps(jp.obj, held[slotScreenAudio], held[slotScreenVideo])
		mt.joined.Value().Call("set", p.PeerID, jp.obj)
	}
	jp.obj.Set("stageStatus", string(p.StageStatus))
	jp.obj.Set("reconnecting", p.Reconnecting)
	return jp
}

func (mt *meeting) remove(peerID string) *participant {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	jp := mt.peers[peerID]
	if jp == nil {
		return nil
	}
	delete(mt.peers, peerID)
	mt.joined.Value().Call("delete", peerID)
	delete(mt.tracks, peerID)
	delete(mt.sharing, peerID)
	for i, id := range mt.order {
		if id == peerID {
			mt.order = append(mt.order[:i], mt.order[i+1:]...)
			break
		}
	}
	return jp
}

// showRemote sets a participant's received track of a slot (null: none)
// and emits audioUpdate/videoUpdate, or screenShareUpdate, on it and on
// meeting.participants.joined. With only (not undefined), it changes
// nothing unless the track is still only (a track that ended after another
// replaced it).
func (mt *meeting) showRemote(peer string, slot int, track, only js.Value) {
	mt.mu.Lock()
	tr := mt.tracks[peer]
	if tr == nil {
		tr = &[slotCount]js.Value{}
		for k := range tr {
			tr[k] = js.Undefined()
		}
		mt.tracks[peer] = tr
	}
	if !only.IsUndefined() && !tr[slot].Equal(only) {
		mt.mu.Unlock()
		return
	}
	tr[slot] = track
	jp := mt.peers[peer]
	if jp == nil {
		mt.mu.Unlock()
		return // not (yet) in the room: set when its object is made
	}
	if slot >= slotScreenAudio {
		audio, video := nullIfUndefined(tr[slotScreenAudio]), nullIfUndefined(tr[slotScreenVideo])
		setScreenProps(jp.obj, audio, video)
		mt.mu.Unlock()
		if !mt.screenSettled(peer, audio, video) {
			return // announced once its other track is here (or gone) too
		}
		// Against what was announced, not what the object said: the object
		// turns off with the first of the pair's tracks to end, unannounced.
		on := !video.IsNull()
		mt.mu.Lock()
		if !mt.sharing[peer] && !on {
			mt.mu.Unlock()
			return // nothing to show, nothing shown
		}
		mt.sharing[peer] = on
		mt.mu.Unlock()
		upd := screenUpdateOf(audio, video)
		jp.em.Emit(eventScreenShareUpdate, upd)
		mt.joined.Emit(eventScreenShareUpdate, jp.obj, upd)
		return
	}
	if jp.obj.Get(kindNames[slot] + "Track").Equal(track) {
		mt.mu.Unlock()
		return
	}
	setTrackProps(jp.obj, slot, track)
	mt.mu.Unlock()
	ev := kindNames[slot] + "Update"
	upd := updateOf(slot, track)
	jp.em.Emit(ev, upd)
	mt.joined.Emit(ev, jp.obj, upd)
}

// showLocal sets self's track of kind (null: disabled) and emits
// audioUpdate/videoUpdate on self.
func (mt *meeting) showLocal(kind int, track js.Value) {
	setTrackProps(mt.self.Value(), kind, track)
	mt.self.Emit(kindNames[kind]+"Update", updateOf(kind, track))
}

// syncParticipants makes the objects match the client's participants
// without events (the room as found on joining).
func (mt *meeting) syncParticipants() {
	current := mt.m.Participants()
	seen := make(map[string]bool, len(current))
	for _, p := range current {
		seen[p.PeerID] = true
		mt.upsert(p)
	}
	mt.mu.Lock()
	var gone []string
	for _, id := range mt.order {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	mt.mu.Unlock()
	for _, id := range gone {
		mt.remove(id)
	}
}

// onEvent mirrors a client event on the JS objects; it runs before the call
// that caused it resolves.
func (mt *meeting) onEvent(root *jsbridge.Emitter, ev client.Event) {
	switch ev.Name {
	case client.EventStageStatusUpdate:
		mt.stage.Emit(ev.Name, string(ev.Status))
		mt.self.Emit(ev.Name, mt.self.Value()) // as a participant's: the object itself
	case client.EventStageAccessRequestUpdate:
		mt.stage.Emit(ev.Name, ev.Requests)
	case client.EventNewStageRequest:
		mt.stage.Emit(ev.Name, map[string]any{"count": ev.Count})
	case client.EventStageRequestApproved, client.EventStageRequestRejected, client.EventAcceptPresentRequests:
		mt.stage.Emit(ev.Name)
	case client.EventParticipantJoined:
		if ev.Participant != nil {
			mt.joined.Emit(ev.Name, mt.upsert(*ev.Participant).obj)
		}
	case client.EventParticipantLeft:
		if ev.Participant != nil {
			if jp := mt.remove(ev.Participant.PeerID); jp != nil {
				mt.joined.Emit(ev.Name, jp.obj)
			}
		}
	case client.EventParticipantStageStatusUpdate:
		if ev.Participant != nil {
			jp := mt.upsert(*ev.Participant)
			jp.em.Emit("stageStatusUpdate", jp.obj)
			mt.joined.Emit("stageStatusUpdate", jp.obj)
		}
	case client.EventParticipantConnection:
		// Reconnecting (its connection dropped or its media went silent;
		// the grace period keeps its place) or back: participant.reconnecting.
		if ev.Participant != nil {
			jp := mt.upsert(*ev.Participant)
			jp.em.Emit("connectionUpdate", jp.obj)
			mt.joined.Emit("connectionUpdate", jp.obj)
		}
	case client.EventParticipantCount:
		mt.parts.Emit("countUpdate", ev.Count)
	case client.EventPermissionsUpdate:
		// web/shape.js re-emits it on self.permissions, whose values read
		// the new permissions.
		mt.self.Emit(ev.Name, mt.m.Self().Permissions)
	case client.EventRoomJoined:
		mt.syncParticipants()
		mt.selfRoomEvent(ev)
	case client.EventRoomLeft:
		mt.selfRoomEvent(ev)
	case client.EventReconnecting:
		root.Emit(ev.Name)
	case client.EventReconnected:
		root.Emit(ev.Name)
		mt.selfRoomEvent(ev)
	case client.EventDisconnected:
		root.Emit(ev.Name, jsbridge.ErrorToJS(ev.Err))
		mt.selfRoomEvent(ev)
	}
	mt.media.onEvent(ev)
}

// optional is s, or undefined when it is empty (RealtimeKit's optional
// string members).
func optional(s string) any {
	if s == "" {
		return js.Undefined()
	}
	return s
}
