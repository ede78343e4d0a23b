package jsbridge

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
)

// Codes used by jsbridge itself. They match the protocol's codes of the same
// meaning (protocol.CodeInternal, protocol.CodeBadArgs); jsbridge does not
// import the protocol package.
const (
	// CodeInternal is the code of an error that carries no code of its own,
	// of a recovered panic, and of a value that cannot be converted.
	CodeInternal = 5000
	// CodeBadArgs is the code of a call with a missing or wrongly typed
	// argument (e.g. on(event, cb) without a function).
	CodeBadArgs = 4005
)

// ErrorCoder is implemented by errors that carry a ClientError code (the
// client core's *Error does). [ErrorToJS] uses the code of the first error
// in the wrapped chain (errors.As) that implements it.
type ErrorCoder interface {
	ErrorCode() int
}

// CodeOf returns the ClientError code carried by err, looking through
// wrapped errors (Unwrap() error and Unwrap() []error), and whether one was
// found. In order of preference an error provides it by
//   - implementing [ErrorCoder],
//   - a method Code() returning an integer type,
//   - an exported integer field Code (on the struct or pointer to struct).
func CodeOf(err error) (int, bool) {
	if err == nil {
		return 0, false
	}
	var c ErrorCoder
	if errors.As(err, &c) {
		return c.ErrorCode(), true
	}
	return codeOfTree(err, 0)
}

func codeOfTree(err error, depth int) (int, bool) {
	if err == nil || depth > 100 {
		return 0, false
	}
	if code, ok := codeByReflection(err); ok {
		return code, true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return codeOfTree(u.Unwrap(), depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if code, ok := codeOfTree(e, depth+1); ok {
				return code, true
			}
		}
	}
	return 0, false
}

func isInteger(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func intOf(v reflect.Value) int {
	if v.CanInt() {
		return int(v.Int())
	}
	return int(v.Uint())
}

func codeByReflection(err error) (code int, ok bool) {
	defer func() {
		if recover() != nil { // a Code method that panics has no code
			code, ok = 0, false
		}
	}()
	v := reflect.ValueOf(err)
	if m := v.MethodByName("Code"); m.IsValid() {
		t := m.Type()
		if t.NumIn() == 0 && t.NumOut() == 1 && isInteger(t.Out(0).Kind()) {
			if v.Kind() == reflect.Pointer && v.IsNil() && v.Type().Elem().Kind() == reflect.Struct {
				return 0, false // a method on a nil pointer would likely panic
			}
			return intOf(m.Call(nil)[0]), true
		}
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	f, ok := v.Type().FieldByName("Code")
	if !ok || !f.IsExported() || !isInteger(f.Type.Kind()) {
		return 0, false
	}
	return intOf(v.FieldByIndex(f.Index)), true
}

// FormatMessage returns msg in RealtimeKit's form "[ERR<code>]: msg"; a
// msg that already starts with "[ERR<code>]" (the Go errors' own form,
// "[ERR<code>] msg") gets the colon.
func FormatMessage(code string, msg string) string {
	prefix := "[ERR" + code + "]"
	msg = strings.TrimLeft(strings.TrimPrefix(msg, prefix), ": ")
	if msg == "" {
		return prefix
	}
	return prefix + ": " + msg
}

// codeString renders a code given as an int-like or a string.
func codeString(code any) string {
	switch c := code.(type) {
	case string:
		return c
	case int:
		return strconv.Itoa(c)
	case nil:
		return strconv.Itoa(CodeInternal)
	}
	v := reflect.ValueOf(code)
	if isInteger(v.Kind()) {
		return strconv.Itoa(intOf(v))
	}
	if v.Kind() == reflect.String {
		return v.String()
	}
	return strconv.Itoa(CodeInternal)
}

func itoa(n int) string { return strconv.Itoa(n) }
