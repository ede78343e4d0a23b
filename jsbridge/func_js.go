//go:build js && wasm

package jsbridge

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"syscall/js"
)

// live counts the js.Funcs created by jsbridge and not yet released.
var live atomic.Int64

// LiveFuncs returns how many js.Funcs jsbridge has created and not yet
// released: the few shared ones (the emitter methods, once used) plus those
// held by the caller's [Func]s and by promises awaited but not yet settled.
// It is a debugging aid for leak tests.
func LiveFuncs() int { return int(live.Load()) }

// Func is a Go function made callable from JS. Value is the JS function to
// hand out; Release frees the Go side (after it, calling Value throws in
// JS). Release is idempotent and may be called while the function runs.
type Func struct {
	Value    js.Value
	fn       js.Func
	released atomic.Bool
}

// Release frees the function. Calling it more than once is harmless.
func (f *Func) Release() {
	if f == nil || !f.released.CompareAndSwap(false, true) {
		return
	}
	f.fn.Release()
	live.Add(-1)
}

// newFunc wraps js.FuncOf, counting it. fn must not panic (callers
// recover themselves).
func newFunc(fn func(this js.Value, args []js.Value) any) *Func {
	jf := js.FuncOf(fn)
	live.Add(1)
	return &Func{Value: jf.Value, fn: jf}
}

// FuncOf returns a JS function that runs fn synchronously, for callbacks
// such as DOM or RTCPeerConnection event handlers. A panic in fn is
// recovered and reported with console.error (the function then returns
// undefined) instead of ending the Go program. fn must not block.
func FuncOf(fn func(this js.Value, args []js.Value) any) *Func {
	return newFunc(func(this js.Value, args []js.Value) (result any) {
		defer func() {
			if r := recover(); r != nil {
				reportPanic("callback", r, debug.Stack())
				result = js.Undefined()
			}
		}()
		return fn(this, args)
	})
}

var console = js.Global().Get("console")

// reportPanic logs a recovered panic with its stack on the JS console.
func reportPanic(where string, r any, stack []byte) {
	console.Call("error", fmt.Sprintf("stagekit: recovered panic in %s: %v\n%s", where, r, stack))
}

// arg returns args[i], or undefined when there are fewer arguments.
func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}
