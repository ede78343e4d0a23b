//go:build js && wasm

package jsbridge

import (
	"context"
	"errors"
	"strings"
	"syscall/js"
	"testing"
	"time"
)

func TestPromiseResolvesAwaitFromGo(t *testing.T) {
	p := Promise(func() (any, error) {
		time.Sleep(time.Millisecond) // fn may block: it runs in a goroutine
		return map[string]any{"a": 1, "b": []string{"x"}}, nil
	})
	if !p.InstanceOf(jsPromise) {
		t.Fatalf("Promise returned %s, not a Promise", stringify(p))
	}
	v, err := Await(p)
	if err != nil {
		t.Fatalf("Await: %v", err)
	}
	if got := stringify(v); got != `{"a":1,"b":["x"]}` {
		t.Errorf("resolved with %s", got)
	}
}

func TestPromiseRejectsAwaitFromGo(t *testing.T) {
	p := Promise(func() (any, error) { return nil, coderErr{2001} })
	_, err := Await(p)
	var je *JSError
	if !errors.As(err, &je) {
		t.Fatalf("Await error = %#v, want a *JSError", err)
	}
	if je.Name != "ClientError" || je.Code != "2001" || je.Message != "[ERR2001]: coder 2001" {
		t.Errorf("rejection = name %q code %q message %q", je.Name, je.Code, je.Message)
	}
	if code, ok := CodeOf(err); !ok || code != 2001 {
		t.Errorf("CodeOf(rejection) = %d, %v", code, ok)
	}
	// Converting it back gives the very same JS error.
	if !ErrorToJS(err).Equal(je.Value) {
		t.Error("ErrorToJS(*JSError) is not the original JS value")
	}
}

func TestPromiseFromJS(t *testing.T) {
	ok := settled(t, Promise(func() (any, error) { return "done", nil }))
	if !ok.Get("ok").Bool() || ok.Get("value").String() != "done" {
		t.Errorf("JS saw %s", stringify(ok))
	}
	bad := settled(t, Promise(func() (any, error) { return nil, &fieldErr{Code: 2006, Message: "not now"} }))
	if bad.Get("ok").Bool() || !bad.Get("isError").Bool() {
		t.Fatalf("JS saw %s, want a rejection with an Error", stringify(bad))
	}
	wantClientError(t, bad, "2006")
	if got := bad.Get("message").String(); got != "[ERR2006]: not now" {
		t.Errorf("message = %q", got)
	}
	unknown := settled(t, Promise(func() (any, error) { return nil, errors.New("boom") }))
	wantClientError(t, unknown, "5000")
	if got := unknown.Get("message").String(); got != "[ERR5000]: boom" {
		t.Errorf("message = %q", got)
	}
}

func TestPromiseResultNotConvertible(t *testing.T) {
	r := settled(t, Promise(func() (any, error) { return make(chan int), nil }))
	if r.Get("ok").Bool() {
		t.Fatalf("resolved with %s", stringify(r))
	}
	wantClientError(t, r, "5000")
}

func TestPanicRejectsAndProgramLives(t *testing.T) {
	errs := consoleRecorder(t, "error")
	for i := 0; i < 3; i++ {
		r := settled(t, Promise(func() (any, error) { panic("kaboom") }))
		if r.Get("ok").Bool() {
			t.Fatalf("a panicking fn resolved: %s", stringify(r))
		}
		wantClientError(t, r, "5000")
		if msg := r.Get("message").String(); !strings.Contains(msg, "kaboom") {
			t.Errorf("message %q does not name the panic", msg)
		}
		// A runtime error (nil map write) is recovered the same way.
		r = settled(t, Promise(func() (any, error) {
			var m map[string]int
			m["x"] = 1
			return nil, nil
		}))
		wantClientError(t, r, "5000")
		// And the program still runs: the next call resolves.
		v, err := Await(Promise(func() (any, error) { return i, nil }))
		if err != nil || v.Int() != i {
			t.Fatalf("after a panic: %v, %v", v, err)
		}
	}
	logged := errs()
	if len(logged) != 6 || !strings.Contains(logged[0], "recovered panic in promise: kaboom") ||
		!strings.Contains(logged[0], "goroutine") {
		t.Errorf("console.error got %d calls, first %q; want 6 with the panic and its stack", len(logged), first(logged))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestAwaitPlainValueAndThenable(t *testing.T) {
	v, err := Await(js.ValueOf(7))
	if err != nil || v.Int() != 7 {
		t.Errorf("Await(7) = %v, %v", v, err)
	}
	thenable := jsFunc(t, `return { then(ok) { ok("from thenable"); } }`).Invoke()
	v, err = Await(thenable)
	if err != nil || v.String() != "from thenable" {
		t.Errorf("Await(thenable) = %v, %v", v, err)
	}
	rej := jsFunc(t, `return Promise.reject(new TypeError("bad type"))`).Invoke()
	_, err = Await(rej)
	var je *JSError
	if !errors.As(err, &je) || je.Name != "TypeError" || je.Message != "bad type" || err.Error() != "TypeError: bad type" {
		t.Errorf("Await(rejected) error = %v (%#v)", err, err)
	}
	if code, _ := CodeOf(err); code != CodeInternal {
		t.Errorf("a JS TypeError has code %d, want %d", code, CodeInternal)
	}
	_, err = Await(jsFunc(t, `return Promise.reject("just a string")`).Invoke())
	if err == nil || err.Error() != "just a string" {
		t.Errorf("Await(reject string) error = %v", err)
	}
}

func TestAwaitContextAndFuncRelease(t *testing.T) {
	base := LiveFuncs()
	// 200 promises settled: every js.Func released.
	for i := 0; i < 200; i++ {
		if _, err := Await(Promise(func() (any, error) { return i, nil })); err != nil {
			t.Fatal(err)
		}
	}
	if got := LiveFuncs(); got != base {
		t.Errorf("LiveFuncs after 200 promises = %d, want %d", got, base)
	}
	// A promise that has not settled yet holds its two handlers ...
	var resolve js.Value
	executor := FuncOf(func(_ js.Value, args []js.Value) any {
		resolve = args[0]
		return nil
	})
	defer executor.Release()
	pending := js.Global().Get("Promise").New(executor.Value)
	afterExecutor := LiveFuncs()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := AwaitContext(ctx, pending); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitContext = %v, want deadline exceeded", err)
	}
	if got := LiveFuncs(); got != afterExecutor+2 {
		t.Errorf("LiveFuncs while pending = %d, want %d", got, afterExecutor+2)
	}
	// ... and releases them when it settles.
	resolve.Invoke("late")
	if _, err := Await(pending); err != nil {
		t.Fatal(err)
	}
	if got := LiveFuncs(); got != afterExecutor {
		t.Errorf("LiveFuncs after settling = %d, want %d", got, afterExecutor)
	}
}

// The executor path (browsers without Promise.withResolvers) behaves the
// same and releases its js.Func.
func TestPromiseWithoutWithResolvers(t *testing.T) {
	if !hasWithResolvers {
		t.Skip("this browser has no Promise.withResolvers: the other tests cover the executor path")
	}
	hasWithResolvers = false
	defer func() { hasWithResolvers = true }()
	base := LiveFuncs()
	v, err := Await(Promise(func() (any, error) { return "via executor", nil }))
	if err != nil || v.String() != "via executor" {
		t.Errorf("resolve: %v, %v", v, err)
	}
	consoleRecorder(t, "error")
	r := settled(t, Promise(func() (any, error) { panic("executor path") }))
	wantClientError(t, r, "5000")
	if got := LiveFuncs(); got != base {
		t.Errorf("LiveFuncs = %d, want %d", got, base)
	}
}
