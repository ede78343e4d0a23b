//go:build js && wasm

package main

import (
	"encoding/json"
	"strconv"
	"syscall/js"

	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
)

// initParticipantRTK sets a new participant object's RealtimeKit members
// that this SDK has no feature behind, at their true values: no picture
// (RealtimeKit's value for a participant without one), no pinning, no
// hidden tiles.
func initParticipantRTK(obj js.Value) {
	obj.Set("picture", js.Undefined())
	obj.Set("isPinned", false)
	obj.Set("hidden", false)
	obj.Set("flags", js.Global().Get("Object").New())
}

// kickResult is what stage.kick() resolves with, RealtimeKit's shape
// {id, payload}: the request's id and the server's answer (UTF-8 JSON).
func kickResult(reply protocol.ServerMessage) js.Value {
	o := js.Global().Get("Object").New()
	o.Set("id", strconv.FormatUint(reply.ID, 10))
	data, _ := json.Marshal(reply)
	o.Set("payload", jsbridge.BytesToJS(data))
	return o
}
