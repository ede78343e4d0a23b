//go:build js && wasm

package jsbridge

import (
	"errors"
	"fmt"
	"syscall/js"
	"testing"
)

func TestNewClientErrorShape(t *testing.T) {
	tests := []struct {
		code    any
		msg     string
		wantMsg string
		code2   string
	}{
		{2001, "permission denied", "[ERR2001]: permission denied", "2001"},
		{stageCode(2003), "stage disabled", "[ERR2003]: stage disabled", "2003"},
		{"2005", "[ERR2005] already prefixed", "[ERR2005]: already prefixed", "2005"},
		{"E_CUSTOM", "string code", "[ERRE_CUSTOM]: string code", "E_CUSTOM"},
		{3.5, "odd code", "[ERR5000]: odd code", "5000"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			e := NewClientError(tt.code, tt.msg)
			if !e.InstanceOf(js.Global().Get("Error")) {
				t.Error("not an instance of Error")
			}
			if !e.InstanceOf(getShim().Get("ClientError")) {
				t.Error("not an instance of the exported ClientError class")
			}
			wantClientError(t, e, tt.code2)
			if got := e.Get("message").String(); got != tt.wantMsg {
				t.Errorf("message = %q, want %q", got, tt.wantMsg)
			}
			if got := e.Call("toString").String(); got != "ClientError: "+tt.wantMsg {
				t.Errorf("toString() = %q", got)
			}
			if e.Get("stack").Type() != js.TypeString {
				t.Error("no stack")
			}
		})
	}
}

func TestErrorToJS(t *testing.T) {
	if !ErrorToJS(nil).IsNull() {
		t.Error("ErrorToJS(nil) is not null")
	}
	tests := []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"ErrorCoder", coderErr{2001}, "2001", "[ERR2001]: coder 2001"},
		{"Code field, message already prefixed", &fieldErr{Code: 2006, Message: "wrong status"}, "2006", "[ERR2006]: wrong status"},
		{"Code() method", methodErr{}, "2006", "[ERR2006]: method"},
		{"wrapped", fmt.Errorf("grant: %w", coderErr{2001}), "2001", "[ERR2001]: grant: coder 2001"},
		{"unknown", errors.New("disk on fire"), "5000", "[ERR5000]: disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ErrorToJS(tt.err)
			wantClientError(t, e, tt.code)
			if got := e.Get("message").String(); got != tt.msg {
				t.Errorf("message = %q, want %q", got, tt.msg)
			}
		})
	}
	// An error that came from JS goes back as itself; wrapped, it keeps
	// its code.
	orig := NewClientError(2002, "from js")
	je := errorFromJS(orig)
	if !ErrorToJS(je).Equal(orig) {
		t.Error("ErrorToJS(*JSError) is not the original value")
	}
	w := ErrorToJS(fmt.Errorf("context: %w", je))
	wantClientError(t, w, "2002")
	if got := w.Get("message").String(); got != "[ERR2002]: context: [ERR2002]: from js" {
		t.Errorf("wrapped message = %q", got)
	}
}

func TestErrorFromJS(t *testing.T) {
	tests := []struct {
		name, src               string
		wantName, wantMsg, code string
	}{
		{"Error", `return new Error("plain")`, "Error", "plain", ""},
		{"ClientError", `const e = new Error("[ERR2001] no"); e.name = "ClientError"; e.code = "2001"; return e`, "ClientError", "[ERR2001] no", "2001"},
		{"numeric code", `const e = new RangeError("r"); e.code = 42; return e`, "RangeError", "r", "42"},
		{"string", `return "str"`, "", "str", ""},
		{"number", `return 12`, "", "12", ""},
		{"null", `return null`, "", "null", ""},
		{"plain object", `return {}`, "", "[object Object]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorFromJS(jsFunc(t, tt.src).Invoke())
			if e.Name != tt.wantName || e.Message != tt.wantMsg || e.Code != tt.code {
				t.Errorf("got name %q message %q code %q", e.Name, e.Message, e.Code)
			}
		})
	}
}

func TestTry(t *testing.T) {
	if err := Try(func() {}); err != nil {
		t.Fatalf("Try of a call that returns: %v", err)
	}
	err := Try(func() { js.Global().Get("Object").Call("defineProperty", 1, "x", 2) })
	je, ok := err.(*JSError)
	if !ok || je.Name != "TypeError" {
		t.Fatalf("Try of a throwing call: %T %v, want a *JSError named TypeError", err, err)
	}
	if err := Try(func() { panic("boom") }); err == nil || err.Error() != "boom" {
		t.Fatalf("Try of a Go panic: %v", err)
	}
}
