//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// leanClient is one signaling connection driven by hand, so that 10,000 of
// them fit in the benchmark process beside the server: hello, join, then
// one reader goroutine that answers calls, follows the user's own status
// and counts what the server sent. It speaks the real protocol to the real
// server; only the SDK's bookkeeping (participants, resync) is left out.
type leanClient struct {
	ws     *websocket.Conn
	userID string
	ids    atomic.Uint64

	mu    sync.Mutex
	calls map[uint64]chan protocol.ServerMessage

	// After the join: frames received (batches count as one frame), bytes
	// of the event frames (answers to the client's own calls, pongs
	// included, are not counted), and the events inside them.
	frames, bytes, events atomic.Int64
	lastRead              atomic.Int64 // unix ns of the last frame
	pinging               atomic.Bool  // a keep-alive ping is out
	status                atomic.Value // stage.Status, the user's own
	// onStatus, when set before dial returns, is called by the reader with
	// each new status of the user.
	onStatus func(stage.Status)
	done     chan struct{}
	err      error // why the reader ended; set before done closes
}

// dialLean connects, authenticates and joins the room. A clustered node's
// redirect to the room's owner (4050) is followed, as the SDK does.
func dialLean(ctx context.Context, baseURL, token string, onStatus func(stage.Status)) (*leanClient, error) {
	for hop := 0; ; hop++ {
		c, err := dialLeanAt(ctx, baseURL, token, onStatus)
		var e *protocol.ErrorBody
		if errors.As(err, &e) && e.Code == protocol.CodeElsewhere && e.Redirect != "" && hop < 3 {
			baseURL = e.Redirect
			continue
		}
		return c, err
	}
}

func dialLeanAt(ctx context.Context, baseURL, token string, onStatus func(stage.Status)) (*leanClient, error) {
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/v1/ws", nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c := &leanClient{ws: ws, calls: map[uint64]chan protocol.ServerMessage{}, onStatus: onStatus, done: make(chan struct{})}
	go c.read()
	hello, err := c.call(ctx, protocol.ClientMessage{Type: protocol.TypeHello, Token: token})
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("hello: %w", err)
	}
	c.userID = hello.Hello.Self.UserID
	joined, err := c.call(ctx, protocol.ClientMessage{Type: protocol.TypeJoin})
	if err != nil || joined.Snapshot == nil {
		ws.CloseNow()
		return nil, fmt.Errorf("join: %v", err)
	}
	c.status.Store(joined.Snapshot.Self.StageStatus)
	c.frames.Store(0)
	c.bytes.Store(0)
	c.events.Store(0)
	go c.keepAlive()
	return c, nil
}

// keepAlive pings as the SDK does for a viewer OFF_STAGE
// (client.Options.AudiencePingInterval): after leanPingInterval without a
// frame from the server. The audience's idle cost to the server is mostly
// these pings. One goroutine of the process checks every client once a
// second (a ticker per client woke a process holding 7,500 of them 7,500
// times a second).
func (c *leanClient) keepAlive() {
	leanPings.once.Do(func() { go leanPings.run() })
	leanPings.mu.Lock()
	leanPings.clients[c] = struct{}{}
	leanPings.mu.Unlock()
}

// leanPinger pings the process's lean clients that have been quiet.
type leanPinger struct {
	once    sync.Once
	mu      sync.Mutex
	clients map[*leanClient]struct{}
}

var leanPings = &leanPinger{clients: map[*leanClient]struct{}{}}

func (p *leanPinger) run() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for range t.C {
		now := time.Now()
		p.mu.Lock()
		for c := range p.clients {
			select {
			case <-c.done:
				delete(p.clients, c)
				continue
			default:
			}
			if now.Sub(time.Unix(0, c.lastRead.Load())) < leanPingInterval || !c.pinging.CompareAndSwap(false, true) {
				continue
			}
			go func() {
				defer c.pinging.Store(false)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c.call(ctx, protocol.ClientMessage{Type: protocol.TypePing})
			}()
		}
		p.mu.Unlock()
	}
}

// leanPingInterval is the SDK's default AudiencePingInterval.
const leanPingInterval = 30 * time.Second

// call sends one request and waits for its answer; an error answer is
// returned as its *protocol.ErrorBody.
func (c *leanClient) call(ctx context.Context, m protocol.ClientMessage) (protocol.ServerMessage, error) {
	m.V, m.ID = protocol.Version, c.ids.Add(1)
	b, err := json.Marshal(m)
	if err != nil {
		return protocol.ServerMessage{}, err
	}
	ch := make(chan protocol.ServerMessage, 1)
	c.mu.Lock()
	c.calls[m.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, m.ID)
		c.mu.Unlock()
	}()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return protocol.ServerMessage{}, err
	}
	select {
	case res := <-ch:
		if res.Type == protocol.TypeError {
			if res.Error == nil {
				return res, errors.New("error answer without a body")
			}
			return res, res.Error
		}
		return res, nil
	case <-c.done:
		return protocol.ServerMessage{}, fmt.Errorf("connection ended: %w", c.err)
	case <-ctx.Done():
		return protocol.ServerMessage{}, ctx.Err()
	}
}

func (c *leanClient) read() {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.frames.Add(1)
		var m protocol.ServerMessage
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		if m.Type == protocol.TypeEvent || m.Type == protocol.TypeBatch {
			c.bytes.Add(int64(len(b)))
		}
		switch m.Type {
		case protocol.TypeResult, protocol.TypeError:
			c.mu.Lock()
			ch := c.calls[m.ID]
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case protocol.TypeEvent:
			c.event(m)
		case protocol.TypeBatch:
			for _, ev := range m.Events {
				c.event(ev)
			}
		}
	}
}

func (c *leanClient) event(m protocol.ServerMessage) {
	c.events.Add(1)
	for _, ch := range m.Changes {
		if ch.UserID == c.userID {
			c.status.Store(ch.To)
			if c.onStatus != nil {
				c.onStatus(ch.To)
			}
		}
	}
}

func (c *leanClient) stageStatus() stage.Status { return c.status.Load().(stage.Status) }

func (c *leanClient) close() { c.ws.CloseNow() }
