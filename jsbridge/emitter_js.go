//go:build js && wasm

package jsbridge

import (
	"fmt"
	"runtime/debug"
	"syscall/js"
)

// listenersProp is the non-enumerable property of an emitter object that
// holds its listeners (the same name as in shim.js): a JS Map from event
// name to an Array of entries {fn, once, fired}.
const listenersProp = "__stagekitListeners"

// Wildcard is the event name whose listeners receive every event, as
// (eventName, ...args).
const Wildcard = "*"

// Emitter is a JS event emitter driven from Go, with RealtimeKit's (Node's)
// emitter methods. Its JS object has
//
//	on(event, cb)                   add cb; returns the emitter (calls chain)
//	addListener(event, cb)          same as on
//	once(event, cb)                 add cb for one call; returns the emitter
//	prependListener(event, cb)      add cb before the others; returns the emitter
//	prependOnceListener(event, cb)  the same, for one call
//	off(event, cb)                  remove cb (its latest registration); returns the emitter
//	removeListener(event, cb)       same as off
//	removeAllListeners(event?)      remove the event's listeners, or all; returns the emitter
//	emit(event, ...args)            call the listeners as Go's Emit does; true if there were any
//	listeners(event)                the event's listeners (a copy); rawListeners is the same
//	listenerCount(event)            the number of listeners of event
//	eventNames()                    the events that have listeners
//
// as non-enumerable properties bound to the object (so they work detached
// too). A bad argument throws a ClientError with code 4005. Listeners are
// plain JS functions kept in a JS Map on the object and run with this =
// the emitter object; '*' listeners receive (eventName, ...args) for every
// event, before the event's own listeners (as in RealtimeKit). A listener
// that throws is reported with console.error; the others still run and Go
// is unaffected.
//
// The emitter lives in the JS half of jsbridge ([ShimSource]), which the
// SDK's loader always installs (it imports jsbridge-shim.js; elsewhere, as
// in tests, jsbridge evaluates the source): adding and removing listeners
// never calls into Go and creates no js.Func, and [Emitter.Emit] is one call
// into JS.
type Emitter struct {
	obj  js.Value
	shim js.Value // the JS implementation; undefined when it could not be had
}

// NewEmitter returns an emitter on a new plain JS object.
func NewEmitter() *Emitter {
	return MakeEmitter(jsObject.New())
}

// NewParticipantMap returns an emitter on a new RealtimeKit participant map:
// a JS Map subclass with toArray(). Go fills it with Set and Delete. Without
// the JS half it is a plain emitter object.
func NewParticipantMap() *Emitter {
	s := getShim()
	if !hasJSEmitter(s) || s.Get("makeParticipantMap").Type() != js.TypeFunction {
		return NewEmitter()
	}
	return &Emitter{obj: s.Call("makeParticipantMap"), shim: s}
}

// MakeEmitter makes obj an emitter: it defines the emitter methods on obj
// (non-enumerable, bound to it) and an empty listener store. Without the JS
// half (a page that forbids eval and bypassed the loader) obj gets no
// methods, a console error says why, and Emit does nothing.
func MakeEmitter(obj js.Value) *Emitter {
	s := getShim()
	if !hasJSEmitter(s) {
		console.Call("error", "stagekit: no jsbridge helper, so no event emitter: load the SDK through stagekit.js (it imports jsbridge-shim.js)")
		return &Emitter{obj: obj, shim: js.Undefined()}
	}
	s.Call("makeEmitter", obj)
	return &Emitter{obj: obj, shim: s}
}

func hasJSEmitter(s js.Value) bool {
	return s.Type() == js.TypeObject && s.Get("makeEmitter").Type() == js.TypeFunction &&
		s.Get("emit").Type() == js.TypeFunction && s.Get("listenerCount").Type() == js.TypeFunction
}

// Value returns the emitter's JS object.
func (e *Emitter) Value() js.Value { return e.obj }

// ListenerCount returns the number of listeners of event (not counting
// wildcard listeners, unless event is "*").
func (e *Emitter) ListenerCount(event string) int {
	if e.shim.IsUndefined() {
		return 0
	}
	return e.shim.Call("listenerCount", e.obj, event).Int()
}

// Emit calls the wildcard listeners with (event, ...args), then the
// listeners of event with args (each converted once with [ToJS]), in the
// order they were added. Listeners added or removed during the emission take
// effect from the next one; a once listener is removed before it is
// called. Emit returns an error only if an argument cannot be converted
// (then no listener is called). It may be called from any goroutine or
// from inside a JS callback; listeners run synchronously within it.
func (e *Emitter) Emit(event string, args ...any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("Emit", r, debug.Stack())
			err = fmt.Errorf("jsbridge: Emit(%q): %v", event, r)
		}
	}()
	if e.shim.IsUndefined() {
		return nil
	}
	jsArgs := make([]any, 0, len(args)+2)
	jsArgs = append(jsArgs, e.obj, event)
	for _, a := range args {
		v, err := ToJS(a)
		if err != nil {
			return err
		}
		jsArgs = append(jsArgs, v)
	}
	e.shim.Call("emit", jsArgs...)
	return nil
}
