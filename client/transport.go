package client

import (
	"context"
	"errors"
	"fmt"
)

// transport is one WebSocket connection as the client uses it: text
// messages in, text messages out. The native build uses coder/websocket, the
// js/wasm build the browser's WebSocket directly (coder/websocket's wasm
// Conn hides the close code, which the client needs to tell a revoked or
// replaced session from a network drop).
type transport interface {
	// read returns the next text message. After the connection ended it
	// returns a *closedError (possibly wrapped).
	read(ctx context.Context) ([]byte, error)
	// write sends one text message; it never waits for more than the
	// transport's own write timeout.
	write(data []byte) error
	// close ends the connection without waiting for the peer.
	close()
}

// dialFunc opens a transport; Meeting.dial is replaced in unit tests.
type dialFunc func(ctx context.Context, url string) (transport, error)

// closedError is how a transport reports the end of its connection. Code is
// the WebSocket close code received, or -1 if none was (network failure, or
// the client closed it).
type closedError struct {
	Code   int
	Reason string
	Err    error
}

func (e *closedError) Error() string {
	if e.Code >= 0 {
		return fmt.Sprintf("connection closed with %d %q", e.Code, e.Reason)
	}
	if e.Err != nil {
		return "connection lost: " + e.Err.Error()
	}
	return "connection lost"
}

func (e *closedError) Unwrap() error { return e.Err }

// closeCode returns the close code in err, or -1.
func closeCode(err error) (int, string) {
	var ce *closedError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, ""
}
