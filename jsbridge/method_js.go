//go:build js && wasm

package jsbridge

import (
	_ "embed"
	"runtime/debug"
	"sync"
	"syscall/js"

	"github.com/hack-pad/safejs"
)

// ShimSource is the JavaScript half of jsbridge (shim.js): one expression
// evaluating to a helper object with box/wrap (they let a Go method throw
// into its synchronous JS caller, which syscall/js cannot do) and the event
// emitter (see [Emitter]). The SDK's loader defines it before the wasm
// starts, by importing jsbridge-shim.js (built from this source):
//
//	globalThis.__stagekitJSBridge = /* ShimSource */;
//
// Where nothing defined it (a test binary in a page of its own) jsbridge
// evaluates the source once, with new Function. Without either (eval
// forbidden and the loader bypassed) methods return their ClientError
// instead of throwing it, emitters have no methods, and an error is logged.
//
//go:embed shim.js
var ShimSource string

var (
	shimOnce sync.Once
	shim     js.Value // the helper object, or undefined when unavailable
)

func getShim() js.Value {
	shimOnce.Do(func() { shim = loadShim() })
	return shim
}

// loadShim returns the page's helper if it defined one, else builds it.
func loadShim() js.Value {
	if g := js.Global().Get("__stagekitJSBridge"); g.Type() == js.TypeObject &&
		g.Get("box").Type() == js.TypeFunction && g.Get("wrap").Type() == js.TypeFunction {
		return g
	}
	// The parentheses keep `return` from ending at the source's first line
	// break (it starts with comments).
	fn, err := safejs.Safe(js.Global().Get("Function")).New("return (" + ShimSource + "\n)")
	if err == nil {
		var s safejs.Value
		if s, err = fn.Invoke(); err == nil {
			return safejs.Unsafe(s)
		}
	}
	console.Call("warn", "stagekit: cannot build the jsbridge helper ("+err.Error()+
		"); define globalThis.__stagekitJSBridge (see jsbridge.ShimSource). Methods will return errors instead of throwing them.")
	return js.Undefined()
}

// throwing returns what a Go method returns to make its JS wrapper throw e.
func throwing(e js.Value) js.Value {
	if s := getShim(); !s.IsUndefined() {
		return s.Call("box", e)
	}
	return e
}

// MethodOf returns a JS function that runs fn synchronously and returns
// ToJS of its value. An error, a panic (recovered and reported on the
// console) or a value that cannot be converted makes the JS call throw a
// ClientError ([ErrorToJS]; 5000 for panics). fn must not block.
func MethodOf(fn func(this js.Value, args []js.Value) (any, error)) *Func {
	f := newFunc(func(this js.Value, args []js.Value) (result any) {
		defer func() {
			if r := recover(); r != nil {
				reportPanic("method", r, debug.Stack())
				result = throwing(PanicError(r))
			}
		}()
		v, err := fn(this, args)
		if err != nil {
			return throwing(ErrorToJS(err))
		}
		jv, err := ToJS(v)
		if err != nil {
			return throwing(NewClientError(CodeInternal, err.Error()))
		}
		return jv
	})
	if s := getShim(); !s.IsUndefined() {
		f.Value = s.Call("wrap", f.Value)
	}
	return f
}

// AsyncMethodOf returns a JS function that returns a Promise settled by fn,
// run in a new goroutine (see [Promise]): fn may block, errors and panics
// reject. this and args are the JS call's.
func AsyncMethodOf(fn func(this js.Value, args []js.Value) (any, error)) *Func {
	return newFunc(func(this js.Value, args []js.Value) (result any) {
		defer func() {
			if r := recover(); r != nil {
				reportPanic("async method", r, debug.Stack())
				result = jsPromise.Call("reject", PanicError(r))
			}
		}()
		return Promise(func() (any, error) { return fn(this, args) })
	})
}

// DefineMethod sets obj[name] to MethodOf(fn), as a non-enumerable,
// writable, configurable property (like a class method), and returns the
// Func to release when obj is discarded.
func DefineMethod(obj js.Value, name string, fn func(this js.Value, args []js.Value) (any, error)) *Func {
	f := MethodOf(fn)
	defineValue(obj, name, f.Value)
	return f
}

// DefineAsyncMethod sets obj[name] to AsyncMethodOf(fn), like
// [DefineMethod].
func DefineAsyncMethod(obj js.Value, name string, fn func(this js.Value, args []js.Value) (any, error)) *Func {
	f := AsyncMethodOf(fn)
	defineValue(obj, name, f.Value)
	return f
}

// DefineGetter defines obj[name] as an enumerable, configurable accessor
// whose getter returns ToJS of get's value; an error or a panic makes the
// property read throw a ClientError. get must not block.
func DefineGetter(obj js.Value, name string, get func() (any, error)) *Func {
	f := MethodOf(func(js.Value, []js.Value) (any, error) { return get() })
	jsObject.Call("defineProperty", obj, name, map[string]any{
		"get": f.Value, "enumerable": true, "configurable": true,
	})
	return f
}

func defineValue(obj js.Value, name string, v js.Value) {
	jsObject.Call("defineProperty", obj, name, map[string]any{
		"value": v, "writable": true, "enumerable": false, "configurable": true,
	})
}
