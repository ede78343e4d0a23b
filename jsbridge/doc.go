// Package jsbridge is the thin glue between the stagekit Go client core and
// the JavaScript of a browser page, for GOOS=js GOARCH=wasm. It knows nothing
// of stage rules; it provides:
//
//   - value conversion: [ToJS] turns Go values into plain JS values (structs
//     by their json tags), [FromJS] and [Decode] turn JS values back;
//   - promises: [Promise] runs a Go function in a goroutine and settles a JS
//     Promise with its result, turning errors and panics into rejections;
//     [Await] waits for a JS promise from a goroutine;
//   - errors: [NewClientError] and [ErrorToJS] build the SDK's ClientError (an
//     instance of the JS half's ClientError class, RealtimeKit's, with name
//     'ClientError', a string code and a message "[ERR<code>]: …"); Go
//     errors carry their code through [ErrorCoder];
//   - functions: [FuncOf], [MethodOf], [AsyncMethodOf], [DefineMethod],
//     [DefineAsyncMethod] and [DefineGetter] wrap Go functions for JS so that
//     a panic never kills the Go program (synchronous ones throw a
//     ClientError instead); [LiveFuncs] counts the js.Funcs they hold;
//   - [Emitter]: a JS event emitter with RealtimeKit's (Node's) methods and
//     the '*' wildcard, implemented in JS (adding and removing listeners
//     never enters Go), which Go drives with Emit; [NewParticipantMap] is
//     one on RealtimeKit's participant map (a JS Map with toArray).
//
// Only this file and code.go build outside js/wasm (so that native `go vet
// ./...` and `go test ./...` see the package); everything else is in _js.go
// files.
//
// Rules for callers, which the helpers rely on:
//
//   - A Go function called from JS must not block (the page's event loop is
//     stopped while it runs): do blocking work in a goroutine, as Promise
//     does. [Await] must only be called from a goroutine, never from inside
//     a function called by JS.
//   - Throwing an exception from Go into a synchronous JS caller needs a few
//     lines of JavaScript (syscall/js cannot throw), and so does the emitter:
//     that is jsbridge's JS half, shim.js ([ShimSource]). jsbridge evaluates
//     it once with `new Function` unless the page provides it first as
//     globalThis.__stagekitJSBridge; do the latter on pages whose
//     Content-Security-Policy forbids 'unsafe-eval'.
package jsbridge
