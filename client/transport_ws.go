//go:build !js

package client

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
)

// writeTimeout bounds one write; a connection that cannot take a message in
// that time is closed and reconnected.
const writeTimeout = 10 * time.Second

// wsTransport is a native coder/websocket connection.
type wsTransport struct{ ws *websocket.Conn }

func dialWebSocket(ctx context.Context, url string) (transport, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	return &wsTransport{ws: ws}, nil
}

func (t *wsTransport) read(ctx context.Context) ([]byte, error) {
	for {
		typ, data, err := t.ws.Read(ctx)
		if err != nil {
			ce := &closedError{Code: -1, Err: err}
			var wce websocket.CloseError
			if errors.As(err, &wce) {
				ce.Code, ce.Reason = int(wce.Code), wce.Reason
			}
			return nil, ce
		}
		if typ == websocket.MessageText {
			return data, nil
		}
	}
}

func (t *wsTransport) write(data []byte) error {
	// Not the caller's context: coder/websocket closes the connection when a
	// write's context ends, and a caller giving up must not do that.
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return t.ws.Write(ctx, websocket.MessageText, data)
}

func (t *wsTransport) close() { t.ws.CloseNow() }
