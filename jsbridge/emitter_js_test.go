//go:build js && wasm

package jsbridge

import (
	"runtime"
	"strings"
	"syscall/js"
	"testing"
	"time"
)

// eachBackend runs f against the emitter (its JS implementation, the only
// one).
func eachBackend(t *testing.T, f func(t *testing.T, newEmitter func() *Emitter)) {
	t.Run("js", func(t *testing.T) {
		if !hasJSEmitter(getShim()) {
			t.Fatal("the JS emitter is not available")
		}
		f(t, func() *Emitter {
			e := MakeEmitter(jsObject.New())
			if e.shim.IsUndefined() {
				t.Fatal("MakeEmitter did not use the JS implementation")
			}
			return e
		})
	})
}

// recorder returns a JS listener that appends "tag:" + its arguments (JSON)
// to log, and checks this === want.
func recorder(t testing.TB, log js.Value, tag string, want js.Value) js.Value {
	t.Helper()
	return jsFunc(t, "log", "tag", "want", `return function (...a) {
		log.push(tag + (this === want ? "" : "(bad this)") + ":" + JSON.stringify(a));
	}`).Invoke(log, tag, want)
}

func logOf(log js.Value) string {
	out := make([]string, log.Length())
	for i := range out {
		out[i] = log.Index(i).String()
	}
	log.Set("length", 0)
	return strings.Join(out, " ")
}

func TestEmitterOnOffOnceWildcard(t *testing.T) { eachBackend(t, testEmitterOnOffOnceWildcard) }

func testEmitterOnOffOnceWildcard(t *testing.T, newEmitter func() *Emitter) {
	e := newEmitter()
	em := e.Value()
	log := js.Global().Get("Array").New()
	a := recorder(t, log, "a", em)
	b := recorder(t, log, "b", em)
	w := recorder(t, log, "*", em)

	if ret := em.Call("on", "stageStatusUpdate", a); !ret.Equal(em) {
		t.Fatalf("on returned %s, want the emitter (RealtimeKit's shape: calls chain)", ret.Type())
	}
	em.Call("on", "stageStatusUpdate", b).Call("on", "*", w)
	if n := em.Call("listenerCount", "stageStatusUpdate").Int(); n != 2 || e.ListenerCount("stageStatusUpdate") != 2 {
		t.Errorf("listenerCount = %d", n)
	}
	if err := e.Emit("stageStatusUpdate", "ON_STAGE", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	// '*' listeners first, as in RealtimeKit.
	if got := logOf(log); got != `*:["stageStatusUpdate","ON_STAGE",{"n":1}] a:["ON_STAGE",{"n":1}] b:["ON_STAGE",{"n":1}]` {
		t.Errorf("emit 1: %s", got)
	}
	// An event nobody listens to still reaches '*'; no args is fine.
	e.Emit("stageRequestApproved")
	if got := logOf(log); got != `*:["stageRequestApproved"]` {
		t.Errorf("emit 2: %s", got)
	}
	// listeners, eventNames, and emit from JS (true when someone listened).
	if got := em.Call("listeners", "stageStatusUpdate"); got.Length() != 2 || !got.Index(0).Equal(a) || !got.Index(1).Equal(b) {
		t.Errorf("listeners = %s", stringify(got))
	}
	if got := stringify(em.Call("eventNames")); got != `["stageStatusUpdate","*"]` {
		t.Errorf("eventNames = %s", got)
	}
	if !em.Call("emit", "stageStatusUpdate", "OFF_STAGE").Bool() {
		t.Error("emit with listeners returned false")
	}
	if got := logOf(log); got != `*:["stageStatusUpdate","OFF_STAGE"] a:["OFF_STAGE"] b:["OFF_STAGE"]` {
		t.Errorf("emit from JS: %s", got)
	}
	em.Call("off", "stageStatusUpdate", a)
	if got := em.Call("listeners", "stageStatusUpdate"); got.Length() != 1 || !got.Index(0).Equal(b) {
		t.Errorf("listeners after off = %s", stringify(got))
	}
	// prependListener puts a listener first.
	em.Call("prependListener", "stageStatusUpdate", a)
	e.Emit("stageStatusUpdate", "ON_STAGE")
	if got := logOf(log); got != `*:["stageStatusUpdate","ON_STAGE"] a:["ON_STAGE"] b:["ON_STAGE"]` {
		t.Errorf("prependListener: %s", got)
	}
	em.Call("removeAllListeners", "stageStatusUpdate")
	em.Call("off", "*", w)
	if em.Call("emit", "stageStatusUpdate", "x").Bool() {
		t.Error("emit without listeners returned true")
	}
	// off removes the latest registration of the function.
	em.Call("on", "x", b)
	em.Call("on", "x", b)
	if ret := em.Call("off", "x", b); !ret.Equal(em) {
		t.Error("off does not return the emitter")
	}
	em.Call("on", "*", w)
	e.Emit("x", 1)
	if got := logOf(log); got != `*:["x",1] b:[1]` {
		t.Errorf("after off of one of two: %s", got)
	}
	em.Call("off", "x", b)
	em.Call("off", "x", b) // not registered: no-op
	em.Call("off", "*", w)
	e.Emit("x", 2)
	e.Emit("stageStatusUpdate", "OFF_STAGE")
	if got := logOf(log); got != `` {
		t.Errorf("after off: %s", got)
	}
	// once fires once, '*' too; off removes it before it fires.
	em.Call("once", "newStageRequest", a)
	em.Call("once", "*", w)
	em.Call("once", "newStageRequest", b)
	em.Call("off", "newStageRequest", b)
	e.Emit("newStageRequest", map[string]any{"count": 1})
	e.Emit("newStageRequest", map[string]any{"count": 2})
	if got := logOf(log); got != `*:["newStageRequest",{"count":1}] a:[{"count":1}]` {
		t.Errorf("once: %s", got)
	}
	if n := e.ListenerCount("newStageRequest"); n != 0 {
		t.Errorf("once listeners left: %d", n)
	}
	// addListener / removeListener are aliases; methods work detached.
	on, off := em.Get("addListener"), em.Get("removeListener")
	on.Invoke("y", a)
	e.Emit("y", "detached")
	off.Invoke("y", a)
	e.Emit("y", "gone")
	if got := logOf(log); got != `a:["detached"]` {
		t.Errorf("aliases: %s", got)
	}
	// removeAllListeners(event) and removeAllListeners().
	em.Call("on", "p", a)
	em.Call("on", "q", b)
	em.Call("removeAllListeners", "p")
	e.Emit("p")
	e.Emit("q")
	em.Call("removeAllListeners")
	e.Emit("q")
	e.Emit("stageStatusUpdate", "ON_STAGE")
	if got := logOf(log); got != `b:[]` {
		t.Errorf("removeAllListeners: %s", got)
	}
	if got := stringify(js.Global().Get("Object").Call("keys", em)); got != "[]" {
		t.Errorf("emitter has enumerable keys %s", got)
	}
}

func TestEmitterDuringEmission(t *testing.T) { eachBackend(t, testEmitterDuringEmission) }

func testEmitterDuringEmission(t *testing.T, newEmitter func() *Emitter) {
	e := newEmitter()
	em := e.Value()
	log := js.Global().Get("Array").New()
	late := recorder(t, log, "late", em)
	b := recorder(t, log, "b", em)
	// The first listener removes b and adds late, then re-emits once.
	first := jsFunc(t, "em", "log", "late", "b", `let depth = 0; return function (v) {
		log.push("first:" + v);
		em.off("e", b);
		em.on("e", late);
		if (depth++ === 0) em.__reemit();
	}`)
	reemit := FuncOf(func(js.Value, []js.Value) any { e.Emit("e", "inner"); return nil })
	defer reemit.Release()
	em.Set("__reemit", reemit.Value)
	em.Call("on", "e", first.Invoke(em, log, late, b))
	em.Call("once", "e", recorder(t, log, "once", em))
	em.Call("on", "e", b)
	e.Emit("e", "outer")
	// outer: first runs (b removed, late added, inner emission starts);
	// inner sees [first, once, late]: once fires there; back in outer, the
	// snapshot still holds once (skipped: fired) and b (removed but in the
	// snapshot, so called, as in Node).
	got := logOf(log)
	want := `first:outer first:inner once:["inner"] late:["inner"] b:["outer"]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEmitterListenerThrows(t *testing.T) { eachBackend(t, testEmitterListenerThrows) }

func testEmitterListenerThrows(t *testing.T, newEmitter func() *Emitter) {
	errs := consoleRecorder(t, "error")
	e := newEmitter()
	em := e.Value()
	log := js.Global().Get("Array").New()
	em.Call("on", "ev", jsFunc(t, `throw new TypeError("listener bug")`))
	em.Call("on", "ev", recorder(t, log, "after", em))
	em.Call("on", "*", jsFunc(t, `throw "a string"`))
	if err := e.Emit("ev", 1); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	if got := logOf(log); got != `after:[1]` {
		t.Errorf("listeners after the throwing one: %s", got)
	}
	l := errs()
	if len(l) != 2 || !strings.Contains(l[1], "listener of 'ev' threw") || !strings.Contains(l[1], "TypeError: listener bug") ||
		!strings.Contains(l[0], "a string") {
		t.Errorf("console.error = %q", l)
	}
	// Go goes on: emit again.
	e.Emit("ev", 2)
	if got := logOf(log); got != `after:[2]` {
		t.Errorf("second emit: %s", got)
	}
}

func TestEmitterBadArguments(t *testing.T) { eachBackend(t, testEmitterBadArguments) }

func testEmitterBadArguments(t *testing.T, newEmitter func() *Emitter) {
	e0 := newEmitter()
	em := e0.Value()
	for _, c := range []struct {
		method string
		args   []any
	}{
		{"on", []any{"ev"}},
		{"on", []any{"ev", "not a function"}},
		{"on", []any{42, js.Global().Get("Function").New()}},
		{"once", []any{}},
		{"off", []any{"ev", nil}},
		{"listenerCount", []any{}},
		{"removeAllListeners", []any{7}},
	} {
		r := callJS(t, em, c.method, c.args...)
		if r.Get("ok").Bool() {
			t.Errorf("%s(%v) did not throw", c.method, c.args)
			continue
		}
		wantClientError(t, r, "4005")
	}
	// Emit refuses an argument it cannot convert, calling no listener.
	e := newEmitter()
	called := false
	cb := FuncOf(func(js.Value, []js.Value) any { called = true; return nil })
	defer cb.Release()
	e.Value().Call("on", "ev", cb.Value)
	if err := e.Emit("ev", make(chan int)); err == nil || called {
		t.Errorf("Emit(chan) = %v, called = %v", err, called)
	}
}

// MakeEmitter on an object with other properties; two emitters are
// independent.
func TestMakeEmitterOnExistingObject(t *testing.T) {
	eachBackend(t, func(t *testing.T, newEmitter func() *Emitter) {
		testMakeEmitterOnExistingObject(t, newEmitter, MakeEmitter)
	})
}

func testMakeEmitterOnExistingObject(t *testing.T, newEmitter func() *Emitter, make func(js.Value) *Emitter) {
	stage := js.Global().Get("Object").New()
	stage.Set("status", "OFF_STAGE")
	e1 := make(stage)
	e2 := newEmitter()
	log := js.Global().Get("Array").New()
	stage.Call("on", "ev", recorder(t, log, "1", stage))
	e2.Value().Call("on", "ev", recorder(t, log, "2", e2.Value()))
	e1.Emit("ev", "a")
	e2.Emit("ev", "b")
	if got := logOf(log); got != `1:["a"] 2:["b"]` {
		t.Errorf("got %s", got)
	}
	if got := stringify(stage); got != `{"status":"OFF_STAGE"}` {
		t.Errorf("JSON of the object = %s", got)
	}
}

// 10,000 on/off cycles from JS (on/off, addListener/removeListener, once, prependListener) create no
// js.Funcs and leave nothing behind.
func TestEmitterNoLeak(t *testing.T) { eachBackend(t, testEmitterNoLeak) }

func testEmitterNoLeak(t *testing.T, newEmitter func() *Emitter) {
	e := newEmitter()
	em := e.Value()
	e.Emit("warm-up")
	base := LiveFuncs()
	var ms runtime.MemStats
	settleGC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc

	const cycles = 10000
	// The JS implementation does all four add/remove pairs every cycle; the
	// Go fallback (a call into Go per method call) one of them in turn, to
	// keep the test short.
	all := e.shim.Type() == js.TypeObject
	pairs := cycles
	if all {
		pairs = 4 * cycles
	}
	loop := jsFunc(t, "em", "n", "all", `
		let calls = 0;
		const cb = () => { calls++; };
		for (let i = 0; i < n; i++) {
			const k = i % 4;
			if (all || k === 0) em.on("stageStatusUpdate", cb).off("stageStatusUpdate", cb);
			if (all || k === 1) { em.addListener("stageAccessRequestUpdate", cb); em.removeListener("stageAccessRequestUpdate", cb); }
			if (all || k === 2) { const f = (name) => { calls++; }; em.once("*", f).off("*", f); }
			if (all || k === 3) { const f = function () { calls++; }; em.prependListener("newStageRequest", f).removeListener("newStageRequest", f); }
		}
		return calls;`)
	start := time.Now()
	calls := loop.Invoke(em, cycles, all).Int()
	elapsed := time.Since(start)

	if calls != 0 {
		t.Errorf("%d listener calls during add/remove", calls)
	}
	if got := LiveFuncs(); got != base {
		t.Errorf("LiveFuncs after %d cycles = %d, want %d", cycles, got, base)
	}
	for _, ev := range []string{"stageStatusUpdate", "stageAccessRequestUpdate", "newStageRequest", "*"} {
		if n := e.ListenerCount(ev); n != 0 {
			t.Errorf("%s: %d listeners left", ev, n)
		}
	}
	if size := em.Get(listenersProp).Get("size").Int(); size != 0 {
		t.Errorf("listener store holds %d events", size)
	}
	settleGC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d cycles, %d add/remove pairs in %v (%.2f µs per pair); LiveFuncs %d -> %d; Go heap %d KB -> %d KB",
		cycles, pairs, elapsed, float64(elapsed.Nanoseconds())/float64(pairs)/1e3, base, LiveFuncs(), heapBefore/1024, ms.HeapAlloc/1024)
	if ms.HeapAlloc > heapBefore+1<<20 {
		t.Errorf("Go heap grew from %d to %d bytes", heapBefore, ms.HeapAlloc)
	}
	// And the emitter still works.
	log := js.Global().Get("Array").New()
	em.Call("on", "ev", recorder(t, log, "ok", em))
	e.Emit("ev")
	if got := logOf(log); got != `ok:[]` {
		t.Errorf("after the loop: %s", got)
	}
}

// settleGC collects garbage twice with a pause between, so that the
// js.Values whose finalizers ran in the first cycle are freed too.
func settleGC() {
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	runtime.GC()
}

// Many emitters share the same Go functions.
func TestEmittersShareFuncs(t *testing.T) { eachBackend(t, testEmittersShareFuncs) }

func testEmittersShareFuncs(t *testing.T, newEmitter func() *Emitter) {
	newEmitter()
	base := LiveFuncs()
	for range 1000 {
		e := newEmitter()
		e.Value().Call("on", "x", js.Global().Get("Function").New())
	}
	if got := LiveFuncs(); got != base {
		t.Errorf("LiveFuncs after 1000 emitters = %d, want %d", got, base)
	}
}

// A participant map is a Map (has, forEach, keys, values, entries,
// iteration) with toArray(), and an emitter.
func TestParticipantMap(t *testing.T) {
	e := NewParticipantMap()
	m := e.Value()
	if !m.InstanceOf(js.Global().Get("Map")) {
		t.Fatal("not a Map")
	}
	a, b := js.Global().Get("Object").New(), js.Global().Get("Object").New()
	a.Set("id", "p1")
	b.Set("id", "p2")
	m.Call("set", "p1", a)
	m.Call("set", "p2", b)
	check := jsFunc(t, "m", `return JSON.stringify({
		size: m.size, has: m.has("p1"), get: m.get("p2").id, arr: m.toArray().map((p) => p.id),
		keys: [...m.keys()], iter: [...m].map(([k, v]) => k + "=" + v.id),
		each: (() => { const o = []; m.forEach((v, k) => o.push(k)); return o; })(),
		chain: m.on("participantJoined", () => {}) === m, json: Object.keys(m).length })`)
	want := `{"size":2,"has":true,"get":"p2","arr":["p1","p2"],"keys":["p1","p2"],"iter":["p1=p1","p2=p2"],"each":["p1","p2"],"chain":true,"json":0}`
	if got := check.Invoke(m).String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	log := js.Global().Get("Array").New()
	m.Call("on", "participantLeft", recorder(t, log, "left", m))
	m.Call("delete", "p1")
	e.Emit("participantLeft", "p1")
	if got := logOf(log); got != `left:["p1"]` || m.Get("size").Int() != 1 {
		t.Errorf("after delete: %s, size %d", got, m.Get("size").Int())
	}
}
