//go:build js && wasm

package jsbridge

import (
	"errors"
	"strings"
	"syscall/js"
	"testing"
	"time"
)

// callJS calls obj[name](...args) from JS and reports {ok, value} or the
// thrown error's {ok:false, name, code, codeType, message, isError}.
func callJS(t testing.TB, obj js.Value, name string, args ...any) js.Value {
	t.Helper()
	f := jsFunc(t, "obj", "name", "args", `try { return { ok: true, value: obj[name](...args) }; }
		catch (e) { return { ok: false, name: e && e.name, code: e && e.code, codeType: typeof (e && e.code),
			message: e && e.message, isError: e instanceof Error }; }`)
	return f.Invoke(obj, name, js.ValueOf(args))
}

func TestMethodReturnsThrowsAndSurvivesPanics(t *testing.T) {
	errs := consoleRecorder(t, "error")
	obj := js.Global().Get("Object").New()
	m := DefineMethod(obj, "m", func(this js.Value, args []js.Value) (any, error) {
		if !this.Equal(obj) {
			return nil, errors.New("this is not the object")
		}
		switch mode := arg(args, 0).String(); mode {
		case "ok":
			return map[string]any{"n": len(args)}, nil
		case "err":
			return nil, coderErr{2005}
		case "panic":
			panic("method exploded")
		case "chan":
			return make(chan int), nil
		default:
			return mode, nil
		}
	})
	defer m.Release()

	if r := callJS(t, obj, "m", "ok", 2); !r.Get("ok").Bool() || stringify(r.Get("value")) != `{"n":2}` {
		t.Errorf("m('ok') = %s", stringify(r))
	}
	r := callJS(t, obj, "m", "err")
	if r.Get("ok").Bool() || !r.Get("isError").Bool() {
		t.Fatalf("m('err') did not throw an Error: %s", stringify(r))
	}
	wantClientError(t, r, "2005")
	for i := 0; i < 3; i++ {
		r = callJS(t, obj, "m", "panic")
		if r.Get("ok").Bool() {
			t.Fatalf("m('panic') returned: %s", stringify(r))
		}
		wantClientError(t, r, "5000")
		if !strings.Contains(r.Get("message").String(), "method exploded") {
			t.Errorf("message = %q", r.Get("message").String())
		}
		// Go is alive: the next call works.
		if r := callJS(t, obj, "m", "again"); !r.Get("ok").Bool() || r.Get("value").String() != "again" {
			t.Fatalf("after a panic: %s", stringify(r))
		}
	}
	r = callJS(t, obj, "m", "chan")
	wantClientError(t, r, "5000")
	if n := len(errs()); n != 3 {
		t.Errorf("console.error calls = %d, want 3 (one per panic)", n)
	}
	// The method is not enumerable, like a class method.
	if got := stringify(js.Global().Get("Object").Call("keys", obj)); got != "[]" {
		t.Errorf("Object.keys = %s", got)
	}
}

func TestAsyncMethod(t *testing.T) {
	consoleRecorder(t, "error") // the expected panic's report
	obj := js.Global().Get("Object").New()
	m := DefineAsyncMethod(obj, "work", func(this js.Value, args []js.Value) (any, error) {
		d := time.Duration(arg(args, 0).Int()) * time.Millisecond
		time.Sleep(d) // blocking is fine: this runs in a goroutine
		switch arg(args, 1).String() {
		case "panic":
			panic("async exploded")
		case "err":
			return nil, &fieldErr{Code: 2001, Message: "denied"}
		}
		return []any{"slept", d.Milliseconds()}, nil
	})
	defer m.Release()
	r := settled(t, obj.Call("work", 5, "ok"))
	if !r.Get("ok").Bool() || stringify(r.Get("value")) != `["slept",5]` {
		t.Errorf("work(5) = %s", stringify(r))
	}
	r = settled(t, obj.Call("work", 0, "err"))
	wantClientError(t, r, "2001")
	r = settled(t, obj.Call("work", 0, "panic"))
	wantClientError(t, r, "5000")
	r = settled(t, obj.Call("work", 0, "ok"))
	if !r.Get("ok").Bool() {
		t.Errorf("after a panic: %s", stringify(r))
	}
}

func TestGetter(t *testing.T) {
	consoleRecorder(t, "error") // the expected panic's report
	obj := js.Global().Get("Object").New()
	status := "OFF_STAGE"
	g := DefineGetter(obj, "status", func() (any, error) {
		switch status {
		case "panic":
			panic("getter exploded")
		case "err":
			return nil, coderErr{2005}
		}
		return status, nil
	})
	defer g.Release()
	if got := obj.Get("status").String(); got != "OFF_STAGE" {
		t.Errorf("status = %q", got)
	}
	status = "ON_STAGE"
	if got := stringify(obj); got != `{"status":"ON_STAGE"}` {
		t.Errorf("JSON = %s", got)
	}
	read := jsFunc(t, "o", `try { return o.status; } catch (e) { return e; }`)
	status = "err"
	wantClientError(t, read.Invoke(obj), "2005")
	status = "panic"
	wantClientError(t, read.Invoke(obj), "5000")
	status = "ACCEPTED_TO_JOIN_STAGE"
	if got := obj.Get("status").String(); got != status {
		t.Errorf("after a panic: status = %q", got)
	}
}

func TestFuncOfRecovers(t *testing.T) {
	errs := consoleRecorder(t, "error")
	calls := 0
	f := FuncOf(func(this js.Value, args []js.Value) any {
		calls++
		if calls == 1 {
			panic("callback exploded")
		}
		return calls
	})
	defer f.Release()
	if v := f.Value.Invoke(); !v.IsUndefined() {
		t.Errorf("a panicking callback returned %v", v)
	}
	if v := f.Value.Invoke(); v.Int() != 2 {
		t.Errorf("second call = %v", v)
	}
	if l := errs(); len(l) != 1 || !strings.Contains(l[0], "callback exploded") {
		t.Errorf("console.error = %q", l)
	}
}

func TestFuncReleaseCounts(t *testing.T) {
	base := LiveFuncs()
	fs := []*Func{
		FuncOf(func(js.Value, []js.Value) any { return nil }),
		MethodOf(func(js.Value, []js.Value) (any, error) { return nil, nil }),
		AsyncMethodOf(func(js.Value, []js.Value) (any, error) { return nil, nil }),
	}
	if got := LiveFuncs(); got != base+3 {
		t.Errorf("LiveFuncs = %d, want %d", got, base+3)
	}
	for _, f := range fs {
		f.Release()
		f.Release() // idempotent
	}
	if got := LiveFuncs(); got != base {
		t.Errorf("LiveFuncs after release = %d, want %d", got, base)
	}
}

// The shim is built without the page's help here (no CSP in the test
// page); a page-provided one is used when present.
func TestShimFromPage(t *testing.T) {
	if getShim().IsUndefined() {
		t.Fatal("no shim")
	}
	if v := js.Global().Get("__stagekitJSBridge"); !v.IsUndefined() {
		t.Fatal("the test page unexpectedly defines __stagekitJSBridge")
	}
	// Define it as the documented page snippet does: loadShim prefers it.
	js.Global().Get("Function").New("globalThis.__stagekitJSBridge = " + ShimSource).Invoke()
	defer js.Global().Delete("__stagekitJSBridge")
	page := js.Global().Get("__stagekitJSBridge")
	if page.Type() != js.TypeObject || !loadShim().Equal(page) {
		t.Fatal("loadShim did not pick the page's helper")
	}
	if !hasJSEmitter(page) {
		t.Error("the page's helper has no emitter")
	}
	// It throws what it is given.
	wrapped := page.Call("wrap", js.Global().Get("Function").New("x", "return x"))
	boxed := page.Call("box", NewClientError(2001, "boxed"))
	r := jsFunc(t, "f", "v", `try { return f(v); } catch (e) { return { thrown: e }; }`).Invoke(wrapped, boxed)
	if r.Get("thrown").IsUndefined() {
		t.Fatalf("the shim did not throw")
	}
	wantClientError(t, r.Get("thrown"), "2001")
}
