//go:build js && wasm

package jsbridge

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"syscall/js"

	"github.com/hack-pad/safejs"
)

// listenersProp is the non-enumerable property of an emitter object that
// holds its listeners (the same name as in shim.js): a JS Map from event
// name to an Array of entries {fn, once, fired}.
const listenersProp = "__stagekitListeners"

// Wildcard is the event name whose listeners receive every event, as
// (eventName, ...args).
const Wildcard = "*"

// Emitter is a JS event emitter driven from Go. Its JS object has
//
//	on(event, cb)              add cb; returns a function that removes it
//	addListener(event, cb)     same as on
//	once(event, cb)            add cb for one call; returns a remover
//	off(event, cb)             remove cb (its latest registration); returns the emitter
//	removeListener(event, cb)  same as off
//	removeAllListeners(event?) remove the event's listeners, or all; returns the emitter
//	listenerCount(event)       the number of listeners of event
//
// as non-enumerable properties bound to the object (so they work detached
// too). A bad argument throws a ClientError with code 4005. Listeners are
// plain JS functions kept in a JS Map on the object and run with this =
// the emitter object; '*' listeners receive (eventName, ...args) for every
// event. A listener that throws is reported with console.error; the others
// still run and Go is unaffected.
//
// The emitter lives in the JS half of jsbridge ([ShimSource]): adding and
// removing listeners never calls into Go and creates no js.Func, and
// [Emitter.Emit] is one call into JS. When that JS cannot be loaded (strict
// CSP without the page's copy), the same behaviour is served by six shared
// Go functions (bound per object with Function.prototype.bind, removers
// too), so the number of js.Funcs stays fixed however many emitters and
// listeners there are.
type Emitter struct {
	obj   js.Value
	shim  js.Value // the JS implementation, or undefined
	store js.Value // the Map of listeners (Go implementation)
}

// emitterMethods are the shared Go functions of the Go implementation.
var emitterMethods struct {
	once sync.Once

	on, addOnce, off, removeAll, count, removeEntry *Func
}

var jsMap = js.Global().Get("Map")

// NewEmitter returns an emitter on a new plain JS object.
func NewEmitter() *Emitter {
	return MakeEmitter(jsObject.New())
}

// MakeEmitter makes obj an emitter: it defines the emitter methods on obj
// (overwriting any of the same names) and gives it an empty listener store.
// Use it for objects that carry other properties too (meeting.stage).
func MakeEmitter(obj js.Value) *Emitter {
	if s := getShim(); hasJSEmitter(s) {
		s.Call("makeEmitter", obj)
		return &Emitter{obj: obj, shim: s}
	}
	return makeGoEmitter(obj)
}

func hasJSEmitter(s js.Value) bool {
	return s.Type() == js.TypeObject && s.Get("makeEmitter").Type() == js.TypeFunction &&
		s.Get("emit").Type() == js.TypeFunction && s.Get("listenerCount").Type() == js.TypeFunction
}

// makeGoEmitter is MakeEmitter's Go implementation.
func makeGoEmitter(obj js.Value) *Emitter {
	m := &emitterMethods
	m.once.Do(func() {
		m.on = MethodOf(func(this js.Value, args []js.Value) (any, error) { return addListener(this, args, false) })
		m.addOnce = MethodOf(func(this js.Value, args []js.Value) (any, error) { return addListener(this, args, true) })
		m.off = MethodOf(removeListener)
		m.removeAll = MethodOf(removeAllListeners)
		m.count = MethodOf(listenerCount)
		m.removeEntry = MethodOf(removeEntry)
	})
	store := jsMap.New()
	defineValue(obj, listenersProp, store)
	bind := func(f *Func) js.Value { return f.Value.Call("bind", obj) }
	on, off := bind(m.on), bind(m.off)
	defineValue(obj, "on", on)
	defineValue(obj, "addListener", on)
	defineValue(obj, "once", bind(m.addOnce))
	defineValue(obj, "off", off)
	defineValue(obj, "removeListener", off)
	defineValue(obj, "removeAllListeners", bind(m.removeAll))
	defineValue(obj, "listenerCount", bind(m.count))
	return &Emitter{obj: obj, shim: js.Undefined(), store: store}
}

// Value returns the emitter's JS object.
func (e *Emitter) Value() js.Value { return e.obj }

// ListenerCount returns the number of listeners of event (not counting
// wildcard listeners, unless event is "*").
func (e *Emitter) ListenerCount(event string) int {
	if !e.shim.IsUndefined() {
		return e.shim.Call("listenerCount", e.obj, event).Int()
	}
	l := e.store.Call("get", event)
	if l.IsUndefined() {
		return 0
	}
	return l.Length()
}

// Emit calls the listeners of event with args (each converted once with
// [ToJS]), in the order they were added, then the wildcard listeners with
// (event, ...args). Listeners added or removed during the emission take
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
	if !e.shim.IsUndefined() {
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
	list := e.store.Call("get", event)
	wild := e.store.Call("get", Wildcard)
	if event == Wildcard {
		wild = js.Undefined()
	}
	if (list.IsUndefined() || list.Length() == 0) && (wild.IsUndefined() || wild.Length() == 0) {
		return nil
	}
	jsArgs := make([]any, 0, len(args)+2)
	jsArgs = append(jsArgs, e.obj, event) // this, then the event name for '*'
	for _, a := range args {
		v, err := ToJS(a)
		if err != nil {
			return err
		}
		jsArgs = append(jsArgs, v)
	}
	if !list.IsUndefined() {
		e.call(event, event, list, append(jsArgs[:1:1], jsArgs[2:]...))
	}
	if !wild.IsUndefined() {
		e.call(event, Wildcard, wild, jsArgs)
	}
	return nil
}

// call runs the entries of a snapshot of list, the listeners stored under
// key, with callArgs (this first).
func (e *Emitter) call(event, key string, list js.Value, callArgs []any) {
	snap := list.Call("slice")
	n := snap.Length()
	for i := range n {
		entry := snap.Index(i)
		if entry.Get("once").Truthy() {
			if entry.Get("fired").Truthy() {
				continue // a nested emission already ran it
			}
			entry.Set("fired", true)
			removeFrom(list, entry)
		}
		fn := safejs.Safe(entry.Get("fn"))
		if _, err := fn.Call("call", callArgs...); err != nil {
			reportListenerError(event, err)
		}
	}
	if list.Length() == 0 && e.store.Call("get", key).Equal(list) {
		e.store.Call("delete", key) // the once listeners are gone
	}
}

func reportListenerError(event string, err error) {
	var v any
	var je js.Error
	if errors.As(err, &je) {
		v = je.Value // not je.Error(): it panics when the thrown value is no object
	} else {
		v = err.Error()
	}
	console.Call("error", "stagekit: a listener of '"+event+"' threw:", v)
}

// removeFrom removes entry from the array list, if present.
func removeFrom(list, entry js.Value) bool {
	i := list.Call("indexOf", entry).Int()
	if i < 0 {
		return false
	}
	list.Call("splice", i, 1)
	return true
}

// storeOf returns the listener store of an emitter object.
func storeOf(this js.Value) (js.Value, error) {
	if t := this.Type(); t == js.TypeObject || t == js.TypeFunction {
		if s := this.Get(listenersProp); s.InstanceOf(jsMap) {
			return s, nil
		}
	}
	return js.Undefined(), codeError{CodeBadArgs, "not an event emitter"}
}

func eventArg(args []js.Value) (string, error) {
	ev := arg(args, 0)
	if ev.Type() != js.TypeString {
		return "", codeError{CodeBadArgs, "the event name must be a string"}
	}
	return ev.String(), nil
}

func listenerArg(args []js.Value) (js.Value, error) {
	cb := arg(args, 1)
	if cb.Type() != js.TypeFunction {
		return js.Undefined(), codeError{CodeBadArgs, "the listener must be a function"}
	}
	return cb, nil
}

// The Go implementation of the emitter methods (see Emitter).

// addListener implements on and once: it returns a remover bound to the new
// entry.
func addListener(this js.Value, args []js.Value, once bool) (any, error) {
	store, err := storeOf(this)
	if err != nil {
		return nil, err
	}
	event, err := eventArg(args)
	if err != nil {
		return nil, err
	}
	cb, err := listenerArg(args)
	if err != nil {
		return nil, err
	}
	list := store.Call("get", event)
	if list.IsUndefined() {
		list = jsArray.New()
		store.Call("set", event, list)
	}
	entry := jsObject.New()
	entry.Set("fn", cb)
	entry.Set("once", once)
	entry.Set("fired", false)
	list.Call("push", entry)
	return emitterMethods.removeEntry.Value.Call("bind", this, event, entry), nil
}

// removeEntry is the remover: this is the emitter, args (event, entry).
// It returns whether the entry was still registered.
func removeEntry(this js.Value, args []js.Value) (any, error) {
	store, err := storeOf(this)
	if err != nil {
		return nil, err
	}
	event := arg(args, 0).String()
	list := store.Call("get", event)
	if list.IsUndefined() {
		return false, nil
	}
	removed := removeFrom(list, arg(args, 1))
	if list.Length() == 0 {
		store.Call("delete", event)
	}
	return removed, nil
}

// removeListener implements off: it removes the latest registration of cb.
func removeListener(this js.Value, args []js.Value) (any, error) {
	store, err := storeOf(this)
	if err != nil {
		return nil, err
	}
	event, err := eventArg(args)
	if err != nil {
		return nil, err
	}
	cb, err := listenerArg(args)
	if err != nil {
		return nil, err
	}
	list := store.Call("get", event)
	if list.IsUndefined() {
		return this, nil
	}
	for i := list.Length() - 1; i >= 0; i-- {
		if list.Index(i).Get("fn").Equal(cb) {
			list.Call("splice", i, 1)
			break
		}
	}
	if list.Length() == 0 {
		store.Call("delete", event)
	}
	return this, nil
}

func removeAllListeners(this js.Value, args []js.Value) (any, error) {
	store, err := storeOf(this)
	if err != nil {
		return nil, err
	}
	if ev := arg(args, 0); ev.IsUndefined() || ev.IsNull() {
		store.Call("clear")
		return this, nil
	}
	event, err := eventArg(args)
	if err != nil {
		return nil, err
	}
	store.Call("delete", event)
	return this, nil
}

func listenerCount(this js.Value, args []js.Value) (any, error) {
	store, err := storeOf(this)
	if err != nil {
		return nil, err
	}
	event, err := eventArg(args)
	if err != nil {
		return nil, err
	}
	list := store.Call("get", event)
	if list.IsUndefined() {
		return 0, nil
	}
	return list.Length(), nil
}

// codeError is an error with a ClientError code.
type codeError struct {
	code int
	msg  string
}

func (e codeError) Error() string  { return FormatMessage(itoa(e.code), e.msg) }
func (e codeError) ErrorCode() int { return e.code }
