//go:build js && wasm

package main

import (
	"fmt"
	"strings"
	"syscall/js"
)

// pageLog is the client's and the media session's logger in the page:
// warnings and errors go to console.warn and console.error as
// "stagekit: msg key=value …"; debug lines too when the page sets
// globalThis.STAGEKIT_DEBUG = true before init().
var pageLog consoleLogger

type consoleLogger struct{}

func (consoleLogger) Debug(msg string, args ...any) {
	if js.Global().Get("STAGEKIT_DEBUG").Truthy() {
		consoleLine("debug", msg, args)
	}
}

func (consoleLogger) Warn(msg string, args ...any)  { consoleLine("warn", msg, args) }
func (consoleLogger) Error(msg string, args ...any) { consoleLine("error", msg, args) }

func consoleLine(method, msg string, args []any) {
	var b strings.Builder
	if !strings.HasPrefix(msg, "stagekit:") {
		b.WriteString("stagekit: ")
	}
	b.WriteString(msg)
	for i := 0; i+1 < len(args); i += 2 {
		fmt.Fprintf(&b, " %v=%v", args[i], args[i+1])
	}
	js.Global().Get("console").Call(method, b.String())
}
