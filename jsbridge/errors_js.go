//go:build js && wasm

package jsbridge

import (
	"fmt"
	"strconv"
	"syscall/js"
)

var jsError = js.Global().Get("Error")

// NewClientError returns a JS ClientError (an instance of the JS half's
// ClientError class, which the loader exports, so instanceof holds; a plain
// Error without it) whose name is 'ClientError', whose code property is the
// code as a string and whose message reads "[ERR<code>]: message", as
// RealtimeKit's do. code is an integer (of any integer type) or a string;
// anything else is taken as 5000.
func NewClientError(code any, message string) js.Value {
	c := codeString(code)
	msg := FormatMessage(c, message)
	if s := getShim(); s.Type() == js.TypeObject {
		if cls := s.Get("ClientError"); cls.Type() == js.TypeFunction {
			return cls.New(msg, c)
		}
	}
	e := jsError.New(msg)
	e.Set("name", "ClientError")
	e.Set("code", c)
	return e
}

// ErrorToJS converts a Go error for JS:
//   - nil gives null;
//   - a *JSError (an error that came from JS, e.g. through [Await]) gives
//     back the original JS value;
//   - otherwise a ClientError whose code is the one [CodeOf] finds (an
//     [ErrorCoder], a Code() method or a Code field anywhere in the wrapped
//     chain; a wrapped *JSError counts, see [JSError.ErrorCode]), else
//     5000, and whose message is err.Error() (prefixed "[ERR<code>] " unless it
//     already starts so).
func ErrorToJS(err error) js.Value {
	if err == nil {
		return js.Null()
	}
	if je, ok := err.(*JSError); ok {
		return je.Value
	}
	if code, ok := CodeOf(err); ok {
		return NewClientError(code, err.Error())
	}
	return NewClientError(CodeInternal, err.Error())
}

// JSError is a JS exception or promise rejection seen from Go. Value is the
// thrown value; Name, Message and Code are its name, message and code
// properties as strings (empty when absent; Message falls back to
// String(value) for a value that is not an Error).
type JSError struct {
	Value   js.Value
	Name    string
	Message string
	Code    string
}

func (e *JSError) Error() string {
	switch {
	case e.Name != "" && e.Name != "Error" && e.Name != "ClientError":
		return e.Name + ": " + e.Message
	}
	return e.Message
}

// ErrorCode returns the numeric code of a ClientError that came from JS,
// or 5000 when its code is absent or not a number.
func (e *JSError) ErrorCode() int {
	if n, err := strconv.Atoi(e.Code); err == nil {
		return n
	}
	return CodeInternal
}

// errorFromJS wraps a thrown or rejected JS value.
func errorFromJS(v js.Value) *JSError {
	e := &JSError{Value: v}
	if t := v.Type(); t == js.TypeObject || t == js.TypeFunction {
		e.Name = stringProp(v, "name")
		e.Message = stringProp(v, "message")
		e.Code = stringProp(v, "code")
		if e.Message == "" && e.Name == "" {
			e.Message = jsString(v)
		}
		return e
	}
	e.Message = jsString(v)
	return e
}

// stringProp returns v[name] as a string, or "" when undefined or null.
func stringProp(v js.Value, name string) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	p := v.Get(name)
	switch p.Type() {
	case js.TypeUndefined, js.TypeNull:
		return ""
	case js.TypeString:
		return p.String()
	}
	return jsString(p)
}

var jsStringFn = js.Global().Get("String")

// jsString is String(v), guarded against values whose conversion throws.
func jsString(v js.Value) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprintf("<unprintable JS value: %v>", r)
		}
	}()
	return jsStringFn.Invoke(v).String()
}

// Try runs fn, returning what it throws (a JS exception, or a Go panic) as
// an error: for calls into the browser that may throw (a constructor, a
// method of a closed object).
func Try(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = errorFromJS(je.Value)
				return
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}
