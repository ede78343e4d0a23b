//go:build js && wasm

package jsbridge

import (
	"strings"
	"syscall/js"
	"testing"
)

// jsFunc compiles a JS function: the last argument is its body, the others
// its parameter names.
func jsFunc(t testing.TB, paramsAndBody ...string) js.Value {
	t.Helper()
	args := make([]any, len(paramsAndBody))
	for i, s := range paramsAndBody {
		args[i] = s
	}
	return js.Global().Get("Function").New(args...)
}

// stringify is JSON.stringify(v).
func stringify(v js.Value) string {
	s := js.Global().Get("JSON").Call("stringify", v)
	if s.IsUndefined() {
		return "undefined"
	}
	return s.String()
}

// settled awaits p from JS and reports its outcome as a plain object
// {ok, value} or {ok: false, name, code, codeType, message, isError}.
func settled(t testing.TB, p js.Value) js.Value {
	t.Helper()
	f := jsFunc(t, "p", `return p.then(
		v => ({ ok: true, value: v }),
		e => ({ ok: false, name: e && e.name, code: e && e.code, codeType: typeof (e && e.code),
			message: e && e.message, isError: e instanceof Error }))`)
	v, err := Await(f.Invoke(p))
	if err != nil {
		t.Fatalf("awaiting the JS side: %v", err)
	}
	return v
}

func wantClientError(t testing.TB, e js.Value, code string) {
	t.Helper()
	if got := e.Get("name").String(); got != "ClientError" {
		t.Errorf("name = %q, want ClientError", got)
	}
	if e.Get("code").Type() != js.TypeString || e.Get("code").String() != code {
		t.Errorf("code = %v (%s), want the string %q", e.Get("code"), e.Get("code").Type(), code)
	}
	if msg := e.Get("message").String(); !strings.HasPrefix(msg, "[ERR"+code+"]") {
		t.Errorf("message = %q, want prefix [ERR%s]", msg, code)
	}
}

// consoleRecorder replaces console[method] with a recorder until the test
// ends; calls() returns what was logged, each call's arguments joined.
func consoleRecorder(t testing.TB, method string) (calls func() []string) {
	t.Helper()
	c := js.Global().Get("console")
	orig := c.Get(method)
	rec := jsFunc(t, "log", `const f = function (...a) { log.push(a.map(x => x instanceof Error ? x.name + ": " + x.message : String(x)).join(" ")); }; return f;`)
	log := js.Global().Get("Array").New()
	c.Set(method, rec.Invoke(log))
	t.Cleanup(func() { c.Set(method, orig) })
	return func() []string {
		out := make([]string, log.Length())
		for i := range out {
			out[i] = log.Index(i).String()
		}
		return out
	}
}
