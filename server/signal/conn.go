package signal

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

const (
	writeTimeout  = 10 * time.Second
	pingInterval  = 20 * time.Second
	floodCloseAt  = 500 // rate-limited messages in a row before the socket is closed
	closeDeadline = 5 * time.Second
)

// stageKinds maps protocol types to stage actions.
var stageKinds = map[string]stage.Kind{
	protocol.TypeStageRequest: stage.ActRequest,
	protocol.TypeStageCancel:  stage.ActCancel,
	protocol.TypeStageGrant:   stage.ActGrant,
	protocol.TypeStageDeny:    stage.ActDeny,
	protocol.TypeStageKick:    stage.ActKick,
	protocol.TypeStageJoin:    stage.ActJoin,
	protocol.TypeStageLeave:   stage.ActLeave,
}

// conn is one client's signaling connection.
type conn struct {
	hub   *Hub
	ws    *websocket.Conn
	out   chan []byte
	done  chan struct{}
	close sync.Once

	// Set by the reader goroutine before the connection joins a room, read
	// only after.
	id      auth.Identity
	peerID  string
	room    *room
	limiter *rate.Limiter
	flooded int
}

func newConn(h *Hub, ws *websocket.Conn) *conn {
	return &conn{
		hub: h, ws: ws,
		out:     make(chan []byte, h.cfg.SendQueue),
		done:    make(chan struct{}),
		limiter: rate.NewLimiter(rate.Limit(h.cfg.RateLimit), int(2*h.cfg.RateLimit)),
	}
}

// serve runs the connection until it ends.
func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.writeLoop(ctx)
	go c.pingLoop(ctx)
	defer func() {
		if p := recover(); p != nil {
			c.hub.log.Error("signaling connection panicked", "panic", p, "user", c.id.UserID)
			c.closeWith(protocol.CodeInternal, "internal error")
		}
		if c.room != nil {
			c.room.dropped(c)
		}
		c.closeWith(int(websocket.StatusNormalClosure), "")
	}()
	if !c.hello(ctx) {
		return
	}
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		c.hub.msgsIn.Add(1)
		if !c.limiter.Allow() {
			c.hub.rejected.Add(1)
			c.flooded++
			if c.flooded > floodCloseAt {
				c.closeWith(protocol.CodeRateLimited, "too many messages")
				return
			}
			c.sendError(peekID(data), protocol.NewError(protocol.CodeRateLimited, "too many messages; slow down"))
			continue
		}
		c.flooded = 0
		if typ != websocket.MessageText {
			c.hub.rejected.Add(1)
			c.sendError(0, protocol.NewError(protocol.CodeMalformed, "binary messages are not part of the protocol"))
			continue
		}
		msg, perr := protocol.DecodeClient(data)
		if perr != nil {
			c.hub.rejected.Add(1)
			c.sendError(msg.ID, perr)
			continue
		}
		if !c.handle(msg) {
			return
		}
	}
}

// hello reads and checks the first message; false ends the connection.
func (c *conn) hello(ctx context.Context) bool {
	hctx, cancel := context.WithTimeout(ctx, c.hub.cfg.HelloTimeout)
	defer cancel()
	_, data, err := c.ws.Read(hctx)
	if err != nil {
		if errors.Is(hctx.Err(), context.DeadlineExceeded) {
			c.closeWith(protocol.CodeHelloFirst, "no hello in time")
		}
		return false
	}
	c.hub.msgsIn.Add(1)
	msg, perr := protocol.DecodeClient(data)
	if perr == nil && msg.Type != protocol.TypeHello {
		perr = protocol.NewError(protocol.CodeHelloFirst, "the first message must be hello")
	}
	if perr == nil {
		id, err := c.hub.cfg.Auth.Authenticate(ctx, msg.Token)
		if err != nil {
			perr = protocol.ErrorOf(err)
		} else {
			c.id = id
		}
	}
	if perr != nil {
		c.hub.rejected.Add(1)
		c.sendError(msg.ID, perr)
		code := perr.Code
		if code < 4000 || code > 4999 {
			code = protocol.CodeHelloFirst
		}
		c.closeWith(code, perr.Message)
		return false
	}
	c.peerID = newPeerID()
	if r := c.existingRoom(); r != nil {
		r.mu.Lock()
		if m, ok := r.st.Member(c.id.UserID); ok {
			c.peerID = m.PeerID // keeps its place within the grace period
		}
		r.mu.Unlock()
	}
	self := protocol.Participant{PeerID: c.peerID, UserID: c.id.UserID, Name: c.id.Name, PresetName: c.id.Preset.Name, StageStatus: c.id.Preset.InitialStatus()}
	c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Hello: &protocol.HelloResult{
		MeetingID: c.id.MeetingID, Self: self, Permissions: protocol.PermissionsOf(c.id.Preset.Permissions),
		GraceMs: c.hub.cfg.Grace.Milliseconds(),
	}})
	return true
}

func (c *conn) existingRoom() *room {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	return c.hub.rooms[c.id.MeetingID]
}

// handle answers one decoded message; false ends the connection.
func (c *conn) handle(msg protocol.ClientMessage) bool {
	switch msg.Type {
	case protocol.TypeHello:
		c.sendError(msg.ID, protocol.NewError(protocol.CodeHelloFirst, "already authenticated"))
	case protocol.TypePing:
		c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
	case protocol.TypeJoin:
		c.join(msg)
	case protocol.TypeLeave:
		if c.room != nil {
			c.room.leave(c)
			c.room = nil
		}
		c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
		c.closeWith(int(websocket.StatusNormalClosure), "left")
		return false
	default:
		if c.room == nil {
			c.sendError(msg.ID, protocol.NewError(protocol.CodeNotJoined, "join the room first"))
			return true
		}
		c.inRoom(msg)
	}
	return true
}

func (c *conn) join(msg protocol.ClientMessage) {
	for {
		r := c.hub.room(c.id.MeetingID)
		if snap, ok := r.join(c); ok {
			c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: snap.Seq, Snapshot: &snap})
			return
		}
		// The room was dropped as empty between lookup and join: fetch anew.
	}
}

// inRoom handles messages that need a joined room.
func (c *conn) inRoom(msg protocol.ClientMessage) {
	r := c.room
	if kind, ok := stageKinds[msg.Type]; ok {
		r.apply(c, msg, kind)
		return
	}
	switch msg.Type {
	case protocol.TypeSnapshot:
		r.mu.Lock()
		snap := r.snapshotLocked(c.id.UserID)
		c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: snap.Seq, Snapshot: &snap})
		r.mu.Unlock()
	case protocol.TypeStageRequests:
		if !c.id.Preset.AcceptStageRequests {
			c.sendError(msg.ID, protocol.NewError(int(stage.CodePermissionDenied), "preset %q may not see stage requests", c.id.Preset.Name))
			return
		}
		r.mu.Lock()
		reqs := r.requestsLocked()
		r.mu.Unlock()
		if reqs == nil {
			reqs = []protocol.StageRequest{}
		}
		c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Requests: reqs})
	case protocol.TypeMediaOffer, protocol.TypeMediaAnswer, protocol.TypeMediaCandidate:
		media := c.hub.cfg.Media
		if media == nil {
			c.sendError(msg.ID, protocol.NewError(protocol.CodeMediaRefused, "this server forwards no media"))
			return
		}
		res, err := media.Handle(c.id.MeetingID, c.id.UserID, msg)
		if err != nil {
			c.sendError(msg.ID, protocol.ErrorOf(err))
			return
		}
		res.Type, res.ID = protocol.TypeResult, msg.ID
		c.send(res)
	}
}

// SendMedia implements MediaSender.
func (c *conn) SendMedia(m protocol.ServerMessage) {
	m.Type = protocol.TypeMedia
	c.send(m)
}

func (c *conn) send(m protocol.ServerMessage) {
	b, err := json.Marshal(m)
	if err != nil {
		c.hub.log.Error("encode message", "err", err)
		return
	}
	c.enqueue(b)
}

func (c *conn) sendError(id uint64, e *protocol.ErrorBody) {
	c.send(protocol.ServerMessage{Type: protocol.TypeError, ID: id, Error: e})
}

// enqueue never blocks: a client too slow to take its events is dropped and
// will resync when it reconnects.
func (c *conn) enqueue(b []byte) {
	select {
	case <-c.done:
	case c.out <- b:
	default:
		c.closeWith(protocol.CodeSlowConsumer, "too far behind")
	}
}

func (c *conn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-c.done:
			return
		case <-ctx.Done():
			return
		case b := <-c.out:
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := c.ws.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.closeWith(int(websocket.StatusGoingAway), "write failed")
				return
			}
			c.hub.msgsOut.Add(1)
		}
	}
}

func (c *conn) pingLoop(ctx context.Context) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, pingInterval)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil {
				c.closeWith(int(websocket.StatusGoingAway), "no pong")
				return
			}
		}
	}
}

// closeWith flushes what is queued, then closes the socket with code and
// reason. It never blocks its caller.
func (c *conn) closeWith(code int, reason string) {
	c.close.Do(func() {
		close(c.done)
		go func() {
			deadline := time.Now().Add(closeDeadline)
			for len(c.out) > 0 && time.Now().Before(deadline) {
				b := <-c.out
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				err := c.ws.Write(ctx, websocket.MessageText, b)
				cancel()
				if err != nil {
					break
				}
			}
			if len(reason) > 120 {
				reason = reason[:120]
			}
			c.ws.Close(websocket.StatusCode(code), reason)
		}()
	})
}

// peekID reads a message's id without validating the rest.
func peekID(data []byte) uint64 {
	var m struct {
		ID uint64 `json:"id"`
	}
	_ = json.Unmarshal(data, &m)
	return m.ID
}
