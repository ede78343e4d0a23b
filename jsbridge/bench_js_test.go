//go:build js && wasm

package jsbridge

import (
	"syscall/js"
	"testing"
)

// BenchmarkPromiseRoundTrip: Go creates a Promise (its fn runs in a
// goroutine and resolves it) and awaits it from Go.
func BenchmarkPromiseRoundTrip(b *testing.B) {
	for b.Loop() {
		if _, err := Await(Promise(func() (any, error) { return 1, nil })); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAsyncMethodFromJS: JS calls a Go async method and awaits the
// promise, b.N times in a JS loop (the SDK's path for stage calls).
func BenchmarkAsyncMethodFromJS(b *testing.B) {
	m := AsyncMethodOf(func(this js.Value, args []js.Value) (any, error) { return args[0].Int() + 1, nil })
	defer m.Release()
	loop := jsFunc(b, "m", "n", `return (async () => { let s = 0; for (let i = 0; i < n; i++) s += await m(i); return s; })()`)
	b.ResetTimer()
	if _, err := Await(loop.Invoke(m.Value, b.N)); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSyncMethodFromJS: JS calls a synchronous Go method b.N times.
func BenchmarkSyncMethodFromJS(b *testing.B) {
	m := MethodOf(func(this js.Value, args []js.Value) (any, error) { return nil, nil })
	defer m.Release()
	loop := jsFunc(b, "m", "n", `for (let i = 0; i < n; i++) m(i);`)
	b.ResetTimer()
	loop.Invoke(m.Value, b.N)
}

// BenchmarkRawFuncFromJS: the same through a bare js.FuncOf (no shim, no
// recover): the floor of a JS -> Go call.
func BenchmarkRawFuncFromJS(b *testing.B) {
	f := js.FuncOf(func(this js.Value, args []js.Value) any { return nil })
	defer f.Release()
	loop := jsFunc(b, "m", "n", `for (let i = 0; i < n; i++) m(i);`)
	b.ResetTimer()
	loop.Invoke(f, b.N)
}

// BenchmarkGoCallsJS: one Go -> JS call of a no-op function.
func BenchmarkGoCallsJS(b *testing.B) {
	f := jsFunc(b, `return 1`)
	for b.Loop() {
		f.Invoke()
	}
}

// BenchmarkEmit: Emit with one listener and one string argument.
func BenchmarkEmit(b *testing.B) {
	eachBackendB(b, func(b *testing.B, e *Emitter) {
		e.Value().Call("on", "ev", jsFunc(b, "s", `return s`))
		for b.Loop() {
			e.Emit("ev", "ON_STAGE")
		}
	})
}

// BenchmarkOnOffFromJS: one on + off pair from JS.
func BenchmarkOnOffFromJS(b *testing.B) {
	eachBackendB(b, func(b *testing.B, e *Emitter) {
		loop := jsFunc(b, "em", "n", `const cb = () => {}; for (let i = 0; i < n; i++) em.on("ev", cb).off("ev", cb);`)
		b.ResetTimer()
		loop.Invoke(e.Value(), b.N)
	})
}

func eachBackendB(b *testing.B, f func(b *testing.B, e *Emitter)) {
	b.Run("js", func(b *testing.B) { f(b, MakeEmitter(jsObject.New())) })
}

var benchRequests = func() []request {
	rs := make([]request, 20)
	for i := range rs {
		rs[i] = request{DisplayName: "Participant", UserID: "user-0123456789", PeerID: "peer-0123456789", RequestedAt: 1700000000000 + int64(i)}
	}
	return rs
}()

// BenchmarkToJSStructsJSON: 20 request structs through json + JSON.parse.
func BenchmarkToJSStructsJSON(b *testing.B) {
	for b.Loop() {
		if _, err := ToJS(map[string]any{"stageRequests": benchRequests}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToJSMapsWalk: the same data as maps holding a JS value, which
// forces the element-by-element walk.
func BenchmarkToJSMapsWalk(b *testing.B) {
	marker := js.Global().Get("Object").New()
	rs := make([]any, len(benchRequests))
	for i, r := range benchRequests {
		rs[i] = map[string]any{"displayName": r.DisplayName, "userId": r.UserID, "peerId": r.PeerID, "requestedAt": r.RequestedAt, "x": marker}
	}
	for b.Loop() {
		if _, err := ToJS(map[string]any{"stageRequests": rs}); err != nil {
			b.Fatal(err)
		}
	}
}
