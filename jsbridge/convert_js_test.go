//go:build js && wasm

package jsbridge

import (
	"math"
	"reflect"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/hack-pad/safejs"
)

type status string

type request struct {
	DisplayName string   `json:"displayName"`
	UserID      string   `json:"userId"`
	PeerID      string   `json:"peerId,omitempty"`
	RequestedAt int64    `json:"requestedAt"`
	Tags        []string `json:"tags"`
	secret      string
	Skip        string `json:"-"`
}

type embedded struct {
	request
	Extra bool `json:"extra"`
}

type stamp struct {
	At time.Time `json:"at"`
}

type withJS struct {
	Track js.Value `json:"track"`
}

func TestToJSTable(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string // JSON.stringify of the result, or typeof for non-JSON values
	}{
		{"nil", nil, `null`},
		{"true", true, `true`},
		{"int", 42, `42`},
		{"int64", int64(-7), `-7`},
		{"uint8", uint8(255), `255`},
		{"float", 1.5, `1.5`},
		{"string", "héllo", `"héllo"`},
		{"named string", status("ON_STAGE"), `"ON_STAGE"`},
		{"[]string", []string{"a", "b"}, `["a","b"]`},
		{"nil slice is null (encoding/json)", []string(nil), `null`},
		{"empty slice", []int{}, `[]`},
		{"[]any mixed", []any{1, "x", nil, false, []int{2}}, `[1,"x",null,false,[2]]`},
		{"map[string]any", map[string]any{"b": 2, "a": map[string]any{"c": []any{}}}, `{"a":{"c":[]},"b":2}`},
		{"map[string]int", map[string]int{"x": 1}, `{"x":1}`},
		{"map[int]string (json keys)", map[int]string{1: "one"}, `{"1":"one"}`},
		{"struct by json tags", request{DisplayName: "Ann", UserID: "u1", RequestedAt: 1700000000000, secret: "s", Skip: "no"},
			`{"displayName":"Ann","userId":"u1","requestedAt":1700000000000,"tags":null}`},
		{"pointer to struct", &request{UserID: "u2", PeerID: "p2", Tags: []string{}},
			`{"displayName":"","userId":"u2","peerId":"p2","requestedAt":0,"tags":[]}`},
		{"nil pointer", (*request)(nil), `null`},
		{"embedded struct", embedded{request: request{UserID: "u3"}, Extra: true},
			`{"displayName":"","userId":"u3","requestedAt":0,"tags":null,"extra":true}`},
		{"[]struct", []request{{UserID: "a"}}, `[{"displayName":"","userId":"a","requestedAt":0,"tags":null}]`},
		{"MarshalJSON (time)", stamp{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, `{"at":"2026-01-02T03:04:05Z"}`},
		{"[]byte as base64 (json)", map[string]any{"b": []byte("hi")}, `{"b":"aGk="}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ToJS(tt.in)
			if err != nil {
				t.Fatalf("ToJS: %v", err)
			}
			if got := stringify(v); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestToJSPassThroughAndErrors(t *testing.T) {
	obj := jsFunc(t, `return new (class Track { constructor() { this.kind = "video"; } })()`).Invoke()
	fn := FuncOf(func(js.Value, []js.Value) any { return "called" })
	defer fn.Release()

	same := func(in any, want js.Value) {
		t.Helper()
		v, err := ToJS(in)
		if err != nil || !v.Equal(want) {
			t.Errorf("ToJS(%T) = %v, %v; want the same JS value", in, v, err)
		}
	}
	same(obj, obj)
	same(safejs.Safe(obj), obj)
	same(fn, fn.Value)

	// JS values inside maps and slices pass through by identity.
	v, err := ToJS(map[string]any{"track": obj, "n": 1, "list": []any{obj, "s"}, "cb": fn})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Get("track").Equal(obj) || !v.Get("list").Index(0).Equal(obj) || v.Get("n").Int() != 1 {
		t.Errorf("walked map = %s", stringify(v))
	}
	if got := v.Get("cb").Invoke().String(); got != "called" {
		t.Errorf("cb() = %q", got)
	}
	// Errors become ClientErrors, at the top and inside.
	wantClientError(t, MustToJS(coderErr{2003}), "2003")
	v = MustToJS([]any{"x", &fieldErr{Code: 2001, Message: "no"}})
	wantClientError(t, v.Index(1), "2001")
	v = MustToJS([]error{coderErr{1}, nil})
	wantClientError(t, v.Index(0), "1")
	if !v.Index(1).IsNull() {
		t.Errorf("nil error -> %v", v.Index(1))
	}

	// Top-level NaN is a JS NaN; inside JSON it is refused.
	if !MustToJS(math.NaN()).IsNaN() {
		t.Error("NaN")
	}
	refused := []any{
		make(chan int),
		func() {},
		complex(1, 2),
		withJS{Track: obj},                        // a struct holding a JS value
		map[int]any{1: obj},                       // non-string keys holding a JS value
		map[string]any{"x": math.Inf(1)},          // not JSON
		struct{ E error }{E: coderErr{2001}},      // a struct holding an error
		map[string]any{"deep": make(chan bool)},   // deep
		[]any{map[string]any{"ok": 1}, func() {}}, // walked? no: fails in JSON
	}
	for _, in := range refused {
		if v, err := ToJS(in); err == nil {
			t.Errorf("ToJS(%T) = %s, want an error", in, stringify(v))
		}
	}
	// A cycle through an interface is cut by the depth limit, not a crash.
	cyc := map[string]any{"obj": obj}
	cyc["self"] = cyc
	if _, err := ToJS(cyc); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("cycle: %v", err)
	}
}

func TestFromJSTable(t *testing.T) {
	src := `return {
		undef: undefined, nul: null, t: true, n: 1.25, i: -3, s: "str",
		arr: [1, "a", [true], {}],
		obj: { nested: { k: "v" } },
		bare: Object.assign(Object.create(null), { x: 1 }),
		bytes: new Uint8Array([1, 2, 255]),
	}`
	v := jsFunc(t, src).Invoke()
	got, err := FromJS(v)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"undef": nil, "nul": nil, "t": true, "n": 1.25, "i": -3.0, "s": "str",
		"arr":   []any{1.0, "a", []any{true}, map[string]any{}},
		"obj":   map[string]any{"nested": map[string]any{"k": "v"}},
		"bare":  map[string]any{"x": 1.0},
		"bytes": []byte{1, 2, 255},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromJS =\n%#v\nwant\n%#v", got, want)
	}
	// Values that are not plain data come back as themselves.
	for _, src := range []string{
		`return new Date(0)`, `return function f() {}`, `return new (class A {})()`,
		`return Symbol("s")`, `return 10n`, `return new Error("e")`, `return Promise.resolve(1)`,
	} {
		in := jsFunc(t, src).Invoke()
		out, err := FromJS(in)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if jv, ok := out.(js.Value); !ok || !jv.Equal(in) {
			t.Errorf("%s: got %#v, want the js.Value", src, out)
		}
	}
	// A cycle is an error, not a hang.
	if _, err := FromJS(jsFunc(t, `const a = {}; a.a = a; return a`).Invoke()); err == nil {
		t.Error("cycle: no error")
	}
}

func TestRoundTripAndDecode(t *testing.T) {
	in := map[string]any{"s": "x", "n": 2.5, "b": true, "l": []any{"a", 1.0, nil}, "m": map[string]any{"k": []any{}}}
	out, err := FromJS(MustToJS(in))
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Errorf("round trip = %#v, %v", out, err)
	}

	var r request
	obj := jsFunc(t, `return { displayName: "Bo", userId: "u9", peerId: "p9", requestedAt: 1700000000123, tags: ["x"], extra: 1, fn() {} }`).Invoke()
	if err := Decode(obj, &r); err != nil {
		t.Fatal(err)
	}
	want := request{DisplayName: "Bo", UserID: "u9", PeerID: "p9", RequestedAt: 1700000000123, Tags: []string{"x"}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Decode = %+v", r)
	}
	var ids []string
	if err := Decode(js.ValueOf([]any{"a", "b"}), &ids); err != nil || !reflect.DeepEqual(ids, []string{"a", "b"}) {
		t.Errorf("Decode []string = %v, %v", ids, err)
	}
	for _, src := range []string{`return undefined`, `const a = {}; a.a = a; return a`, `return 1n`, `return "str"`} {
		var x []int
		if err := Decode(jsFunc(t, src).Invoke(), &x); err == nil {
			t.Errorf("Decode(%s) into []int: no error", src)
		}
	}
}
