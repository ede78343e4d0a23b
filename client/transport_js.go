//go:build js && wasm

package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"syscall/js"

	"github.com/stagekit/stagekit/protocol"
)

// jsTransport is the JS environment's WebSocket (the browser's, or Node's
// with --experimental-websocket). Its callbacks only queue and signal; they
// never block the JS event loop.
type jsTransport struct {
	ws js.Value

	mu      sync.Mutex
	queue   [][]byte
	ended   bool
	code    int
	reason  string
	signal  chan struct{} // capacity 1: something was queued or it ended
	closed  chan struct{} // closed when the socket ended
	funcs   []js.Func
	release sync.Once
	hello   string // the hello the loader sent (or sends on open) on this socket; "" if none
}

func dialWebSocket(ctx context.Context, url string) (tr transport, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("websocket: %v", r)
		}
	}()
	ctor := js.Global().Get("WebSocket")
	if ctor.Type() != js.TypeFunction {
		return nil, errors.New("this JavaScript environment has no WebSocket")
	}
	return openTransport(ctx, url, ctor.New(url), js.Undefined())
}

// webSocketOpen and webSocketClosing are WebSocket.readyState values.
const (
	webSocketOpen    = 1
	webSocketClosing = 2
)

// openTransport takes over ws (connecting or open) and waits until it is
// open. early, if defined, is the loader's {socket: ws, hello, take()}: what
// it kept of the messages comes first, and its hello counts as sent.
func openTransport(ctx context.Context, url string, ws js.Value, early js.Value) (transport, error) {
	t := &jsTransport{ws: ws, signal: make(chan struct{}, 1), closed: make(chan struct{}), code: -1}
	opened := make(chan struct{})
	var openOnce sync.Once
	t.ws.Set("binaryType", "arraybuffer")
	t.on("onopen", func(js.Value) { openOnce.Do(func() { close(opened) }) })
	t.on("onmessage", func(e js.Value) {
		data := e.Get("data")
		if data.Type() != js.TypeString {
			return // binary frames are not part of the protocol
		}
		t.mu.Lock()
		t.queue = append(t.queue, []byte(data.String()))
		t.mu.Unlock()
		t.wake()
	})
	if !early.IsUndefined() {
		// No event runs between setting onmessage above and take(): this
		// goroutine does not yield in between, so nothing is lost or twice.
		kept := early.Call("take")
		for i := range kept.Length() {
			if m := kept.Index(i); m.Type() == js.TypeString {
				t.queue = append(t.queue, []byte(m.String()))
			}
		}
		if h := early.Get("hello"); h.Type() == js.TypeString {
			t.hello = h.String()
		}
	}
	t.on("onerror", func(js.Value) {}) // the close event follows with the code
	t.on("onclose", func(e js.Value) {
		t.mu.Lock()
		if !t.ended {
			t.ended = true
			t.code = e.Get("code").Int()
			t.reason = e.Get("reason").String()
			close(t.closed)
		}
		t.mu.Unlock()
		t.wake()
		// Nothing fires after close: free the callbacks now, whether or
		// not anyone reads again (releasing the running one is safe).
		t.releaseFuncs()
	})
	if ws.Get("readyState").Int() == webSocketOpen { // an early socket that is already open
		openOnce.Do(func() { close(opened) })
	}
	select {
	case <-opened:
		return t, nil
	case <-t.closed:
		t.releaseFuncs()
		return nil, fmt.Errorf("websocket to %s closed before it opened (code %d)", url, t.code)
	case <-ctx.Done():
		t.close()
		t.releaseFuncs()
		return nil, ctx.Err()
	}
}

// InitWithSocket is Init whose first connection is early: the loader's
// {socket, hello, take()}, a WebSocket opened while the SDK loaded that says
// hello as soon as it opens, so that the handshake and the server's answer
// overlap the load. It is used only if it is to the meeting's socket URL,
// has not started closing, and its hello is the one this client sends
// first; otherwise it is closed and Init dials as usual.
func InitWithSocket(ctx context.Context, o Options, early js.Value) (*Meeting, error) {
	socket := early.Get("socket")
	earlyURL := socket.Get("url").String()
	hello := early.Get("hello")
	var once sync.Once
	dial := func(ctx context.Context, url string) (transport, error) {
		var t transport
		var err error
		used := false
		once.Do(func() {
			helloOK := hello.Type() != js.TypeString || hello.String() == string(helloFrame(firstCallID, o.AuthToken))
			if helloOK && sameURL(url, earlyURL) && socket.Get("readyState").Int() < webSocketClosing {
				used = true
				t, err = openTransport(ctx, url, socket, early)
				return
			}
			early.Call("close")
		})
		if used {
			return t, err
		}
		return dialWebSocket(ctx, url)
	}
	m, err := newMeeting(o, dial)
	if err != nil {
		early.Call("close")
		return nil, err
	}
	if err := m.open(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// firstCallID is the id of a meeting's first call, its first hello.
const firstCallID = 1

// sameURL compares two socket URLs as Go's net/url writes them.
func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.String() == ub.String()
}

func (t *jsTransport) on(name string, fn func(js.Value)) {
	f := js.FuncOf(func(this js.Value, args []js.Value) any {
		var e js.Value
		if len(args) > 0 {
			e = args[0]
		}
		fn(e)
		return nil
	})
	t.funcs = append(t.funcs, f)
	t.ws.Set(name, f)
}

func (t *jsTransport) sentHello() string { return t.hello }

func (t *jsTransport) wake() {
	select {
	case t.signal <- struct{}{}:
	default:
	}
}

// releaseFuncs detaches and frees the callbacks once the socket ended.
func (t *jsTransport) releaseFuncs() {
	t.release.Do(func() {
		for _, name := range []string{"onopen", "onmessage", "onerror", "onclose"} {
			t.ws.Set(name, js.Null())
		}
		for _, f := range t.funcs {
			f.Release()
		}
	})
}

func (t *jsTransport) read(ctx context.Context) ([]byte, error) {
	for {
		t.mu.Lock()
		if len(t.queue) > 0 {
			data := t.queue[0]
			t.queue[0] = nil
			t.queue = t.queue[1:]
			t.mu.Unlock()
			if len(data) > protocol.MaxFrameBytes {
				t.close()
				return nil, &closedError{Code: -1, Err: errors.New("message larger than the read limit")}
			}
			return data, nil
		}
		if t.ended {
			code, reason := t.code, t.reason
			t.mu.Unlock()
			t.releaseFuncs()
			return nil, &closedError{Code: code, Reason: reason}
		}
		t.mu.Unlock()
		select {
		case <-t.signal:
		case <-ctx.Done():
			t.close()
			return nil, &closedError{Code: -1, Err: ctx.Err()}
		}
	}
}

func (t *jsTransport) write(data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("websocket send: %v", r)
		}
	}()
	if t.ws.Get("readyState").Int() != 1 { // OPEN
		return errors.New("websocket is not open")
	}
	t.ws.Call("send", string(data))
	return nil
}

// close ends the transport now: the reader sees it at once, not when the
// browser's close event comes, which on a dead network waits for the
// closing handshake to time out (a minute in Chromium) and so would hold
// the reconnect that long. The socket's handlers are detached first, so
// nothing fires after.
func (t *jsTransport) close() {
	defer func() { _ = recover() }()
	for _, name := range []string{"onopen", "onmessage", "onerror", "onclose"} {
		t.ws.Set(name, js.Null())
	}
	t.mu.Lock()
	if !t.ended {
		t.ended = true
		t.code, t.reason = -1, "closed by the client"
		close(t.closed)
	}
	t.mu.Unlock()
	t.wake()
	// Browsers accept only 1000 and 3000–4999 from scripts.
	t.ws.Call("close", 1000)
}
