//go:build js && wasm

package jsbridge

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"syscall/js"

	"github.com/hack-pad/safejs"
)

// maxDepth bounds the nesting that ToJS and FromJS follow (cycles).
const maxDepth = 100

var (
	jsJSON       = js.Global().Get("JSON")
	jsArray      = js.Global().Get("Array")
	jsObject     = js.Global().Get("Object")
	jsUint8Array = js.Global().Get("Uint8Array")
	objectProto  = jsObject.Get("prototype")
)

// ToJS converts a Go value to a JS value:
//
//   - nil gives null; bools, strings and numbers (named types too) give the
//     JS primitive (integers beyond 2^53 lose precision);
//   - JS values pass through unchanged: js.Value, js.Func, *Func,
//     safejs.Value, safejs.Func;
//   - an error (a value whose type implements error) gives a ClientError,
//     see [ErrorToJS];
//   - a value that holds none of the above two kinds is converted exactly
//     as encoding/json would marshal it (json tags, omitempty, MarshalJSON,
//     nil slices and maps as null, []byte as base64), then JSON.parse'd: one
//     crossing into JS whatever the size;
//   - maps with string keys, slices and arrays that do hold JS values or
//     errors are walked element by element; a struct (or a map with other
//     keys) that holds one is refused: build a map[string]any instead.
//
// Channels, functions and complex numbers are refused, as are NaN and
// infinities inside a value that goes through JSON.
func ToJS(v any) (js.Value, error) {
	return toJS(v, 0)
}

// MustToJS is ToJS for values known to convert; it panics otherwise.
func MustToJS(v any) js.Value {
	jv, err := ToJS(v)
	if err != nil {
		panic(err)
	}
	return jv
}

func toJS(v any, depth int) (js.Value, error) {
	if depth > maxDepth {
		return js.Undefined(), errors.New("jsbridge: value nested too deeply (a cycle?)")
	}
	switch x := v.(type) {
	case nil:
		return js.Null(), nil
	case js.Value:
		return x, nil
	case js.Func:
		return x.Value, nil
	case *Func:
		if x == nil {
			return js.Null(), nil
		}
		return x.Value, nil
	case safejs.Value:
		return safejs.Unsafe(x), nil
	case safejs.Func:
		return safejs.Unsafe(x.Value()), nil
	case bool, string, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr, float32, float64:
		return js.ValueOf(x), nil
	case error:
		return ErrorToJS(x), nil
	}
	rv := reflect.ValueOf(v)
	t := rv.Type()
	if isMarshaler(t) {
		return fromJSON(v)
	}
	switch rv.Kind() {
	case reflect.Bool:
		return js.ValueOf(rv.Bool()), nil
	case reflect.String:
		return js.ValueOf(rv.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return js.ValueOf(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return js.ValueOf(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return js.ValueOf(rv.Float()), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return js.Null(), nil
		}
		return toJS(rv.Elem().Interface(), depth+1)
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
		if !holdsJS(rv, 0) {
			return fromJSON(v)
		}
		return walk(rv, depth)
	}
	return js.Undefined(), fmt.Errorf("jsbridge: cannot convert a %s to JS", t)
}

// walk converts a map, slice or array that holds JS values or errors.
func walk(rv reflect.Value, depth int) (js.Value, error) {
	t := rv.Type()
	switch rv.Kind() {
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return js.Undefined(), fmt.Errorf("jsbridge: cannot convert %s: a map with %s keys holding JS values or errors", t, t.Key())
		}
		if rv.IsNil() {
			return js.Null(), nil
		}
		obj := jsObject.New()
		it := rv.MapRange()
		for it.Next() {
			ev, err := toJS(it.Value().Interface(), depth+1)
			if err != nil {
				return js.Undefined(), err
			}
			obj.Set(it.Key().String(), ev)
		}
		return obj, nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return js.Null(), nil
		}
		n := rv.Len()
		arr := jsArray.New(n)
		for i := 0; i < n; i++ {
			ev, err := toJS(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return js.Undefined(), err
			}
			arr.SetIndex(i, ev)
		}
		return arr, nil
	}
	return js.Undefined(), fmt.Errorf("jsbridge: cannot convert %s: a struct holding JS values or errors (use a map[string]any)", t)
}

// fromJSON converts v by json.Marshal and JSON.parse.
func fromJSON(v any) (js.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return js.Undefined(), fmt.Errorf("jsbridge: %w", err)
	}
	return jsJSON.Call("parse", string(b)), nil
}

var (
	jsValueType       = reflect.TypeFor[js.Value]()
	jsFuncType        = reflect.TypeFor[js.Func]()
	funcPtrType       = reflect.TypeFor[*Func]()
	safeValueType     = reflect.TypeFor[safejs.Value]()
	safeFuncType      = reflect.TypeFor[safejs.Func]()
	errorType         = reflect.TypeFor[error]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func isMarshaler(t reflect.Type) bool {
	return t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType)
}

// isSpecial: values of type t are JS values or errors.
func isSpecial(t reflect.Type) bool {
	switch t {
	case jsValueType, jsFuncType, funcPtrType, safeValueType, safeFuncType:
		return true
	}
	return t.Kind() != reflect.Interface && t.Implements(errorType)
}

// mayHold caches typeMayHoldJS.
var mayHold sync.Map // reflect.Type -> bool

// typeMayHoldJS reports whether a value of type t can hold a JS value or an
// error: t is special, an interface, or has such parts (that JSON sees).
func typeMayHoldJS(t reflect.Type) bool {
	if b, ok := mayHold.Load(t); ok {
		return b.(bool)
	}
	b := computeMayHold(t, map[reflect.Type]bool{})
	mayHold.Store(t, b)
	return b
}

func computeMayHold(t reflect.Type, seen map[reflect.Type]bool) bool {
	if isSpecial(t) || t.Kind() == reflect.Interface {
		return true
	}
	if isMarshaler(t) || seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return computeMayHold(t.Elem(), seen)
	case reflect.Map:
		return computeMayHold(t.Key(), seen) || computeMayHold(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if (!f.IsExported() && !f.Anonymous) || f.Tag.Get("json") == "-" {
				continue
			}
			if computeMayHold(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// holdsJS reports whether the value rv holds a JS value or an error.
func holdsJS(rv reflect.Value, depth int) bool {
	if !rv.IsValid() || depth > maxDepth {
		return false
	}
	t := rv.Type()
	if !typeMayHoldJS(t) {
		return false
	}
	if isSpecial(t) {
		return true
	}
	switch rv.Kind() {
	case reflect.Interface, reflect.Pointer:
		return !rv.IsNil() && holdsJS(rv.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			if holdsJS(rv.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Map:
		it := rv.MapRange()
		for it.Next() {
			if holdsJS(it.Value(), depth+1) {
				return true
			}
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if (!f.IsExported() && !f.Anonymous) || f.Tag.Get("json") == "-" {
				continue
			}
			if holdsJS(rv.Field(i), depth+1) {
				return true
			}
		}
	}
	return false
}

// BytesToJS copies b into a new Uint8Array.
func BytesToJS(b []byte) js.Value {
	arr := jsUint8Array.New(len(b))
	js.CopyBytesToJS(arr, b)
	return arr
}

// FromJS converts a JS value to Go:
//
//   - undefined and null give nil; booleans bool; numbers float64; strings
//     string;
//   - arrays give []any; plain objects (prototype Object.prototype or null)
//     map[string]any of their own enumerable keys; a Uint8Array gives
//     []byte;
//   - anything else (functions, class instances such as MediaStreamTrack,
//     Date, Error, Promise; symbols, bigints) is returned as the js.Value.
//
// Nesting deeper than 100 (e.g. a cycle) is an error.
func FromJS(v js.Value) (any, error) {
	return fromJS(v, 0)
}

func fromJS(v js.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("jsbridge: JS value nested too deeply (a cycle?)")
	}
	switch safeType(v) {
	case js.TypeUndefined, js.TypeNull:
		return nil, nil
	case js.TypeBoolean:
		return v.Bool(), nil
	case js.TypeNumber:
		return v.Float(), nil
	case js.TypeString:
		return v.String(), nil
	case js.TypeObject:
		if jsArray.Call("isArray", v).Bool() {
			n := v.Length()
			out := make([]any, n)
			for i := range n {
				e, err := fromJS(v.Index(i), depth+1)
				if err != nil {
					return nil, err
				}
				out[i] = e
			}
			return out, nil
		}
		if v.InstanceOf(jsUint8Array) {
			b := make([]byte, v.Length())
			js.CopyBytesToGo(b, v)
			return b, nil
		}
		if proto := jsObject.Call("getPrototypeOf", v); proto.IsNull() || proto.Equal(objectProto) {
			keys := jsObject.Call("keys", v)
			n := keys.Length()
			out := make(map[string]any, n)
			for i := range n {
				k := keys.Index(i).String()
				e, err := fromJS(v.Get(k), depth+1)
				if err != nil {
					return nil, err
				}
				out[k] = e
			}
			return out, nil
		}
	}
	return v, nil
}

// safeType is v.Type(), with -1 for kinds syscall/js does not know (bigint).
func safeType(v js.Value) (t js.Type) {
	defer func() {
		if recover() != nil {
			t = -1
		}
	}()
	return v.Type()
}

// Decode converts the JS value v into the Go value out points to, as
// json.Unmarshal would from JSON.stringify(v) (so struct fields follow
// their json tags; functions and undefined properties are dropped). It
// fails for undefined, cycles and bigints.
func Decode(v js.Value, out any) error {
	if v.IsUndefined() {
		return errors.New("jsbridge: cannot decode undefined")
	}
	s, err := safejs.Safe(jsJSON).Call("stringify", v)
	if err != nil {
		return fmt.Errorf("jsbridge: JSON.stringify: %w", err)
	}
	if s.Type() != safejs.TypeString {
		return fmt.Errorf("jsbridge: cannot decode a JS %s", safeType(v))
	}
	str, err := s.String()
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(str), out); err != nil {
		return fmt.Errorf("jsbridge: %w", err)
	}
	return nil
}
