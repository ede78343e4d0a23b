//go:build js && wasm

// Command wasm is the StageKit browser SDK: the Go client core compiled to
// WebAssembly and exposed to the page as RealtimeKit's meeting object.
// web/stagekit.js loads it once per page; it hands the loader its API through
// globalThis.__stagekitReady.
package main

import (
	"context"
	"syscall/js"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/jsbridge"
	"github.com/stagekit/stagekit/protocol"
)

// initOptions reads StageKit.init's options as the loader passes them on,
// {authToken, baseURI}: each a string or absent. Read field by field, not
// through jsbridge.Decode: that would be encoding/json's first decode, and
// its cold start, on every page's way to join.
func initOptions(args []js.Value) (o client.Options, ok bool) {
	if len(args) == 0 || args[0].Type() != js.TypeObject {
		return o, false
	}
	str := func(name string, out *string) bool {
		switch v := args[0].Get(name); v.Type() {
		case js.TypeUndefined, js.TypeNull:
			return true
		case js.TypeString:
			*out = v.String()
			return true
		}
		return false
	}
	ok = str("authToken", &o.AuthToken) && str("baseURI", &o.BaseURI)
	return o, ok // not `return o, str(...)`: Go does not order reading o against the calls
}

func main() {
	api := newAPI()
	if ready := js.Global().Get("__stagekitReady"); ready.Type() == js.TypeFunction {
		ready.Invoke(api)
	} else {
		js.Global().Set("__stagekit", api)
	}
	select {} // serve the page for its lifetime
}

// earlySocket is the connection the loader opened while the wasm loaded
// (init's second argument, {socket, hello, take()}), or undefined.
func earlySocket(args []js.Value) js.Value {
	if len(args) < 2 || args[1].Type() != js.TypeObject || args[1].Get("take").Type() != js.TypeFunction ||
		args[1].Get("socket").Type() != js.TypeObject || args[1].Get("socket").Get("readyState").Type() != js.TypeNumber {
		return js.Undefined()
	}
	return args[1]
}

// newAPI is what the loader receives: init() and a debug counter.
func newAPI() js.Value {
	api := js.Global().Get("Object").New()
	jsbridge.DefineAsyncMethod(api, "init", func(_ js.Value, args []js.Value) (any, error) {
		o, ok := initOptions(args)
		if !ok {
			return nil, protocol.NewError(protocol.CodeBadArgs, "init needs { authToken, baseURI }")
		}
		o.Logger = pageLog
		var m *client.Meeting
		var err error
		if early := earlySocket(args); !early.IsUndefined() {
			m, err = client.InitWithSocket(context.Background(), o, early)
		} else {
			m, err = client.Init(context.Background(), o)
		}
		if err != nil {
			return nil, err
		}
		mt, err := newMeeting(m)
		if err != nil {
			m.Close()
			return nil, err
		}
		return mt.obj, nil
	})
	jsbridge.DefineGetter(api, "liveFuncs", func() (any, error) { return jsbridge.LiveFuncs(), nil })
	return api
}
