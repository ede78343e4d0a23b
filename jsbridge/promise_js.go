//go:build js && wasm

package jsbridge

import (
	"context"
	"fmt"
	"runtime/debug"
	"syscall/js"
)

var jsPromise = js.Global().Get("Promise")

// Promise returns a JS Promise settled by fn, which runs in a new goroutine
// (never inside the caller's JS callback, so it may block, e.g. on [Await]
// or on the network). The promise resolves with ToJS of fn's value, or
// rejects with ErrorToJS of its error (a ClientError). A panic in fn is
// recovered, reported on the console with its stack, and rejects the
// promise with a ClientError of code 5000; the Go program keeps running.
//
// Promise creates no js.Func where the browser has Promise.withResolvers
// (resolve and reject are plain JS functions); elsewhere it uses one for
// the executor, which JS calls synchronously inside the Promise
// constructor, and releases it before returning.
func Promise(fn func() (any, error)) js.Value {
	if hasWithResolvers {
		d := jsPromise.Call("withResolvers")
		go settle(fn, d.Get("resolve"), d.Get("reject"))
		return d.Get("promise")
	}
	executor := newFunc(func(this js.Value, args []js.Value) any {
		go settle(fn, arg(args, 0), arg(args, 1))
		return nil
	})
	p := jsPromise.New(executor.Value)
	executor.Release()
	return p
}

// hasWithResolvers: the browser has Promise.withResolvers (Chrome 119,
// Firefox 121, Safari 17.4).
var hasWithResolvers = jsPromise.Get("withResolvers").Type() == js.TypeFunction

func settle(fn func() (any, error), resolve, reject js.Value) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("promise", r, debug.Stack())
			reject.Invoke(PanicError(r))
		}
	}()
	v, err := fn()
	if err != nil {
		reject.Invoke(ErrorToJS(err))
		return
	}
	jv, err := ToJS(v)
	if err != nil {
		reject.Invoke(NewClientError(CodeInternal, err.Error()))
		return
	}
	resolve.Invoke(jv)
}

// PanicError is the ClientError (code 5000) that stands for a recovered
// panic value r.
func PanicError(r any) js.Value {
	return NewClientError(CodeInternal, fmt.Sprintf("internal error: panic: %v", r))
}

// Await waits for the JS promise (or thenable, or plain value) p to settle
// and returns its value, or a *JSError holding the rejection reason.
//
// Call it only from a goroutine, never from inside a function called by JS
// (a js.Func): the promise can only settle once the JS event loop runs
// again, which it cannot while a Go callback is blocked, so the program
// would deadlock.
func Await(p js.Value) (js.Value, error) {
	return AwaitContext(context.Background(), p)
}

// AwaitContext is [Await] that gives up when ctx is done, returning
// ctx.Err(). The two js.Funcs it attaches to p are released when p
// settles, even after AwaitContext gave up ([LiveFuncs] counts them until
// then).
func AwaitContext(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	var onOK, onErr *Func
	onOK = newFunc(func(this js.Value, args []js.Value) any {
		ch <- result{v: arg(args, 0)}
		onOK.Release()
		onErr.Release()
		return nil
	})
	onErr = newFunc(func(this js.Value, args []js.Value) any {
		ch <- result{v: js.Undefined(), err: errorFromJS(arg(args, 0))}
		onOK.Release()
		onErr.Release()
		return nil
	})
	if err := then(p, onOK.Value, onErr.Value); err != nil {
		onOK.Release()
		onErr.Release()
		return js.Undefined(), err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err()
	}
}

// then runs Promise.resolve(p).then(ok, fail), returning what it throws.
func then(p, ok, fail js.Value) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, isJS := r.(js.Error); isJS {
				err = errorFromJS(je.Value)
				return
			}
			err = fmt.Errorf("jsbridge: %v", r)
		}
	}()
	jsPromise.Call("resolve", p).Call("then", ok, fail)
	return nil
}
