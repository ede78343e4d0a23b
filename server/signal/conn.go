package signal

import (
	"context"
	"encoding/json"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

const (
	// defaultWriteTimeout is how long a frame's write may take before the hub's
	// pinger cuts the connection (at its next round: up to a quarter of the
	// ping interval later).
	defaultWriteTimeout = 10 * time.Second
	// flushDeadline bounds how long a closing connection spends writing
	// what is still queued (the last answer, an error) before its close frame.
	flushDeadline = 2 * time.Second
	// floodCloseAt is how many rate-limited messages in a row close the
	// connection; a row ends when the client has been quiet long enough for
	// its whole burst to refill.
	floodCloseAt = 500
	maxReason    = 120 // close reasons are at most 123 bytes on the wire
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

// socket is the part of *websocket.Conn a connection uses.
type socket interface {
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
	Write(ctx context.Context, typ websocket.MessageType, p []byte) error
	Ping(ctx context.Context) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
}

// conn is one client's signaling connection.
type conn struct {
	hub *Hub
	ws  socket
	// serial numbers the connection on this node (edgeCall.Conn).
	serial uint64

	// out holds encoded frames for the writer goroutine, the only one that
	// writes to ws. It never blocks a sender: when it is full the client is
	// too slow and is closed (4032).
	out *sendQueue

	closeOnce   sync.Once
	closing     chan struct{} // closed by closeWith
	closeCode   websocket.StatusCode
	closeReason string
	closeFlush  bool          // write what is queued before the close frame
	writerDone  chan struct{} // closed when the writer has closed the socket

	// lastRead is when the client last sent a frame (unix ns): the hub's
	// pinger pings only connections that have been quiet for its interval.
	lastRead atomic.Int64
	pinging  atomic.Bool // a ping is in flight
	// writingSince is when the write under way started (unix ns), 0 when
	// none is: see writeStuck.
	writingSince atomic.Int64

	// ident is the authenticated identity, for lookups from other goroutines.
	ident atomic.Pointer[auth.Identity]

	// Reader-goroutine state. id is set before the connection joins a room
	// and never changes after; peerID is set under the room's lock.
	id     auth.Identity
	peerID string
	room   *room
	// keepMedia: the join asked to keep the user's media session
	// (protocol.ClientMessage.KeepMedia).
	keepMedia bool
	// seq numbers the events queued to this connection; only its room
	// touches it, under the room's lock.
	seq uint64
	// On an edge (the room's owner is another node): the owner's URL from
	// hello, the edge room once joined, and the room seq up to which the
	// connection's snapshot covers the events (under the edge room's lock).
	edgeOwner string
	edge      *edgeRoom
	edgeSkip  int64

	limits  *limits // the participant's, set at hello (under the hub's lock)
	flooded int     // rate-limited messages in a row
	// snapshots limits snapshot requests, which cost O(what the user sees)
	// each: made on the first one.
	snapshots *rate.Limiter
}

// Snapshot requests beyond what resyncs need are refused (4020).
const (
	snapshotRate  = 2 // per second
	snapshotBurst = 5
)

// allowSnapshot applies the snapshot limit, answering a refusal itself.
func (c *conn) allowSnapshot(reqID uint64) bool {
	if c.snapshots == nil {
		c.snapshots = rate.NewLimiter(snapshotRate, snapshotBurst)
	}
	if c.snapshots.Allow() {
		return true
	}
	c.sendError(reqID, protocol.NewError(protocol.CodeRateLimited, "too many snapshot requests; a resync needs one"))
	return false
}

func newConn(h *Hub, ws socket) *conn {
	return &conn{
		hub: h, ws: ws, serial: h.connSerial.Add(1),
		out:        newSendQueue(h.cfg.SendQueue, h.cfg.SendQueueBytes),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

// serve runs the reader until the connection ends, then waits for the
// writer to finish closing the socket. It is the connection's one
// goroutine while the connection is idle: a writer runs only while there is
// something to write, and the hub's pinger checks liveness for all.
func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.lastRead.Store(time.Now().UnixNano())
	helloTimer := time.AfterFunc(c.hub.cfg.HelloTimeout, func() {
		c.closeWith(protocol.CodeHelloFirst, "no hello in time", true)
	})
	defer func() {
		helloTimer.Stop()
		if p := recover(); p != nil {
			c.hub.log.Error("signaling connection panicked", "panic", p, "meeting", c.id.MeetingID, "user", c.id.UserID, "stack", string(debug.Stack()))
			c.closeWith(int(websocket.StatusInternalError), "internal error", true)
		}
		if c.room != nil {
			c.room.dropped(c)
		}
		if c.edge != nil {
			c.edgeGone(false)
		}
		c.closeWith(int(websocket.StatusNormalClosure), "", true)
		<-c.writerDone
	}()
	authed := false
	for {
		// The socket's end ends the read; a context without Done costs the
		// read no timer.
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.hub.log.Debug("signaling connection ended", "meeting", c.id.MeetingID, "user", c.id.UserID, "err", err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.hub.msgsIn.Add(1)
		if c.isClosing() {
			return // replaced, removed, too slow or shutting down: ignore the rest
		}
		if !authed {
			if !helloTimer.Stop() {
				return // too late: already closing with 4006
			}
			if !c.hello(ctx, typ, data) {
				return
			}
			authed = true
			continue
		}
		if !c.allow(data) {
			if c.isClosing() {
				return
			}
			continue
		}
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

// allow applies the rate limit: an over-limit message is answered 4020 and
// otherwise ignored; a client that keeps flooding is closed with 4020.
func (c *conn) allow(data []byte) bool {
	lim := c.limits.msgs
	if lim.Allow() {
		if lim.Tokens() >= float64(lim.Burst()-1) {
			c.flooded = 0 // quiet long enough: the row of rejections ends
		}
		return true
	}
	c.hub.rejected.Add(1)
	c.flooded++
	if c.flooded > floodCloseAt {
		c.hub.log.Warn("closing a flooding connection", "meeting", c.id.MeetingID, "user", c.id.UserID)
		c.closeWith(protocol.CodeRateLimited, "too many messages", true)
		return false
	}
	c.sendError(peekID(data), protocol.NewError(protocol.CodeRateLimited, "too many messages; slow down"))
	return false
}

// hello checks the first message and authenticates it; false ends the
// connection (after an error answer and a close whose code says why).
func (c *conn) hello(ctx context.Context, typ websocket.MessageType, data []byte) bool {
	var msg protocol.ClientMessage
	var perr *protocol.ErrorBody
	if typ != websocket.MessageText {
		perr = protocol.NewError(protocol.CodeMalformed, "binary messages are not part of the protocol")
	} else {
		msg, perr = protocol.DecodeClient(data)
	}
	if perr == nil && msg.Type != protocol.TypeHello {
		perr = protocol.NewError(protocol.CodeHelloFirst, "the first message must be hello, got %q", msg.Type)
	}
	if perr == nil {
		perr = c.authenticate(ctx, msg.Token)
	}
	if perr == nil {
		perr = c.placeRoom(ctx)
	}
	if perr != nil {
		c.hub.rejected.Add(1)
		c.sendError(msg.ID, perr)
		c.closeWith(helloCloseCode(perr.Code), perr.Message, true)
		return false
	}

	// The user keeps its peer id (and status) if it is still in the room,
	// within the grace period or on another connection.
	c.peerID = newPeerID()
	status := c.id.Preset.InitialStatus()
	if r := c.hub.existingRoom(c.id.MeetingID); r != nil {
		if peerID, st, ok := r.peek(c.id.UserID); ok {
			c.peerID, status = peerID, st
		}
	}
	self := protocol.Participant{PeerID: c.peerID, UserID: c.id.UserID, Name: c.id.Name, PresetName: c.id.Preset.Name, StageStatus: status,
		CustomParticipantID: c.id.CustomID, IsHost: protocol.IsHost(c.id.Preset)}
	c.reply(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Hello: &protocol.HelloResult{
		MeetingID: c.id.MeetingID, MeetingTitle: c.id.MeetingTitle, Self: self, Permissions: protocol.PresetPermissions(c.id.Preset),
		GraceMs: c.hub.cfg.Grace.Milliseconds(), Nodes: c.hub.nodes(),
	}})
	return true
}

// placeRoom, in a cluster, sends the client to the node that serves its
// room (CodeElsewhere with the owner's URL), or tells it to try another
// node when this one cannot place the room (CodeUnavailable).
func (c *conn) placeRoom(ctx context.Context) *protocol.ErrorBody {
	owner, left, err := c.hub.place(ctx, c.id.MeetingID)
	switch {
	case err != nil:
		c.hub.log.Warn("cannot place the room", "meeting", c.id.MeetingID, "err", err)
		return protocol.NewError(protocol.CodeUnavailable, "this node cannot place the room now; try another node")
	case owner != "" && c.hub.cfg.Edges != nil:
		c.edgeOwner = owner // served here, as an edge of the owner
	case owner != "":
		e := protocol.NewError(protocol.CodeElsewhere, "the room is served by another node")
		e.Redirect, e.LeaseMs = owner, left.Milliseconds()
		return e
	}
	return nil
}

// authenticate verifies the token and records the identity.
func (c *conn) authenticate(ctx context.Context, token string) *protocol.ErrorBody {
	actx, cancel := context.WithTimeout(ctx, c.hub.cfg.HelloTimeout)
	defer cancel()
	id, err := c.hub.cfg.Auth.Authenticate(actx, token)
	if err != nil {
		eb := protocol.ErrorOf(err)
		if eb.Code == protocol.CodeInternal {
			c.hub.log.Error("authentication failed", "err", err)
		}
		return eb
	}
	if id.MeetingID == "" || id.UserID == "" {
		return protocol.NewError(protocol.CodeTokenInvalid, "token names no meeting or participant")
	}
	h := c.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	// Under h.mu with RemoveParticipant: either it sees this identity and
	// closes the connection, or this sees its tombstone.
	if h.wasRemovedLocked(id.MeetingID, id.UserID) {
		return protocol.NewError(protocol.CodeTokenRevoked, "participant no longer exists")
	}
	lim, refused := h.admitLocked(memberKey{id.MeetingID, id.UserID})
	if refused != nil {
		return refused
	}
	c.limits = lim
	c.id = id
	c.ident.Store(&id)
	return nil
}

// helloCloseCode is the WebSocket close code for a refused hello: the auth
// and admission codes as they are, an internal failure as 1011, anything
// else 4006.
func helloCloseCode(code int) int {
	switch {
	case code >= protocol.CodeTokenMissing && code <= protocol.CodeTokenRevoked,
		code == protocol.CodeRateLimited, code == protocol.CodeTooManyConns,
		code == protocol.CodeElsewhere, code == protocol.CodeUnavailable:
		return code
	case code == protocol.CodeInternal:
		return int(websocket.StatusInternalError)
	}
	return protocol.CodeHelloFirst
}

// handle answers one decoded message; false ends the connection.
func (c *conn) handle(msg protocol.ClientMessage) bool {
	switch msg.Type {
	case protocol.TypeHello:
		c.sendError(msg.ID, protocol.NewError(protocol.CodeHelloFirst, "already authenticated"))
	case protocol.TypePing:
		c.pong(msg.ID)
	case protocol.TypeJoin:
		if msg.Name != "" {
			// RealtimeKit's setName before joining: the name others see.
			if strings.TrimSpace(msg.Name) == "" || len(msg.Name) > protocol.MaxNameBytes || !utf8.ValidString(msg.Name) {
				c.sendError(msg.ID, protocol.NewError(protocol.CodeBadArgs, "join: name must be 1 to %d bytes of UTF-8", protocol.MaxNameBytes))
				return true
			}
			c.id.Name = msg.Name
		}
		c.keepMedia = msg.KeepMedia
		c.join(msg.ID)
	case protocol.TypeLeave:
		if c.room != nil {
			c.room.leave(c)
			c.room = nil
		}
		if c.edge != nil {
			c.edgeGone(true)
			c.edge = nil
		}
		c.send(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
		c.closeWith(int(websocket.StatusNormalClosure), "left", true)
		return false
	default:
		if c.edge != nil {
			c.inEdgeRoom(msg)
			return true
		}
		if c.room == nil {
			c.sendError(msg.ID, protocol.NewError(protocol.CodeNotJoined, "join the room first"))
			return true
		}
		c.inRoom(msg)
	}
	return true
}

func (c *conn) join(reqID uint64) {
	if c.edgeOwner != "" {
		if c.edge == nil || c.allowSnapshot(reqID) {
			c.edgeJoin(reqID)
		}
		return
	}
	if c.room != nil && c.room.isCurrent(c) {
		if c.allowSnapshot(reqID) {
			c.room.snapshot(c, reqID) // joined already: answer with the state
		}
		return
	}
	for {
		r := c.hub.room(c.id.MeetingID)
		if r == nil {
			if c.hub.cfg.Placement != nil {
				// Another node took the room since hello: reconnect, to be sent there.
				c.sendError(reqID, protocol.NewError(protocol.CodeRoomMoved, "the room moved to another node; reconnect"))
				c.closeWith(protocol.CodeRoomMoved, "the room moved to another node; reconnect", true)
				return
			}
			c.sendError(reqID, protocol.NewError(protocol.CodeInternal, "server shutting down"))
			return
		}
		if r.join(c, reqID) {
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
		if c.allowSnapshot(msg.ID) {
			r.snapshot(c, msg.ID)
		}
	case protocol.TypeStageRequests:
		r.requests(c, msg.ID)
	case protocol.TypeMediaOffer, protocol.TypeMediaAnswer, protocol.TypeMediaCandidate, protocol.TypeMediaRestart:
		media := c.hub.cfg.Media
		if media == nil {
			c.sendError(msg.ID, protocol.NewError(protocol.CodeMediaRefused, "this server forwards no media"))
			return
		}
		if !r.isCurrent(c) {
			c.sendError(msg.ID, protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room"))
			return
		}
		res, err := media.Handle(c.id.MeetingID, c.id.UserID, msg)
		if err != nil {
			c.sendError(msg.ID, protocol.ErrorOf(err))
			return
		}
		res.Type, res.ID = protocol.TypeResult, msg.ID
		c.send(res)
	default:
		c.sendError(msg.ID, protocol.NewError(protocol.CodeUnknownType, "unhandled message type %q", msg.Type))
	}
}

// inEdgeRoom handles messages that need a joined room, on an edge.
func (c *conn) inEdgeRoom(msg protocol.ClientMessage) {
	if _, ok := stageKinds[msg.Type]; ok {
		c.edgeApply(msg)
		return
	}
	switch msg.Type {
	case protocol.TypeSnapshot:
		if c.allowSnapshot(msg.ID) {
			c.edgeSnapshot(msg.ID)
		}
	case protocol.TypeStageRequests:
		c.edgeRequests(msg.ID)
	case protocol.TypeMediaOffer, protocol.TypeMediaAnswer, protocol.TypeMediaCandidate, protocol.TypeMediaRestart:
		c.edgeMedia(msg)
	default:
		c.sendError(msg.ID, protocol.NewError(protocol.CodeUnknownType, "unhandled message type %q", msg.Type))
	}
}

// SendMedia implements MediaSender.
func (c *conn) SendMedia(m protocol.ServerMessage) {
	m.Type = protocol.TypeMedia
	c.send(m)
}

func (c *conn) send(m protocol.ServerMessage) {
	b, err := protocol.EncodeServer(m)
	if err != nil {
		c.hub.log.Error("encode message", "err", err)
		return
	}
	c.enqueue(b)
}

func (c *conn) sendError(id uint64, e *protocol.ErrorBody) {
	c.send(protocol.ServerMessage{Type: protocol.TypeError, ID: id, Error: e})
}

// pong answers a client's ping. Idle audiences ping every few seconds, so
// the answer is encoded by hand and written as a reply.
func (c *conn) pong(id uint64) {
	b := strconv.AppendUint([]byte(`{"type":"result","id":`), id, 10)
	if c.pushAll([][]byte{append(b, '}')}) {
		c.writeLoop()
	}
}

// reply answers the client from the reader's goroutine: queued in order
// like any frame, and written by the reader itself when the queue has no
// writer, as the client waits for it. A writer goroutine started per answer
// (the hello's, the join's) and its stack grown on the way into the socket
// cost more than the write itself. Only the reader calls it.
func (c *conn) reply(m protocol.ServerMessage) {
	b, err := protocol.EncodeServer(m)
	if err != nil {
		c.hub.log.Error("encode message", "err", err)
		return
	}
	if c.pushAll([][]byte{b}) {
		c.writeLoop()
	}
}

// enqueue queues frames in order; it never blocks. A client too slow to
// take its messages is closed (4032) and will resync when it reconnects.
// Frames queued after the connection started closing are dropped.
func (c *conn) enqueue(b []byte) { c.enqueueAll([][]byte{b}) }

// enqueueAll queues frames together, or none of them.
func (c *conn) enqueueAll(frames [][]byte) {
	if c.pushAll(frames) {
		go c.writeLoop()
	}
}

// pushAll queues frames together, or none of them, as enqueueAll; true
// says the caller must run writeLoop (the queue had no writer).
func (c *conn) pushAll(frames [][]byte) bool {
	if c.isClosing() {
		return false
	}
	ok, start := c.out.push(frames...)
	if !ok {
		c.slow()
		return false
	}
	return start
}

// enqueueDeferred holds an event frame until flush (or the next frame
// queued), so that a watcher's events travel in batches.
func (c *conn) enqueueDeferred(b []byte) {
	if c.isClosing() {
		return
	}
	if !c.out.pushDeferred(b) {
		c.slow()
	}
}

// flush sends the deferred event frames.
func (c *conn) flush() {
	if c.out.flush() {
		go c.writeLoop()
	}
}

func (c *conn) slow() {
	c.hub.log.Warn("closing a slow connection", append(c.who(), "queued", c.out.len())...)
	c.closeWith(protocol.CodeSlowConsumer, "too far behind the room's events", false)
}

// closeWith asks the writer to close the socket with code and reason,
// after writing what is queued when flush is set. Only the first call
// counts; it never blocks.
// A writer closes the socket (one is started if none runs); if it has not
// finished within closeTimeout (a client that reads nothing), the socket is
// cut.
func (c *conn) closeWith(code int, reason string, flush bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason, c.closeFlush = websocket.StatusCode(code), closeReason(reason), flush
		close(c.closing)
		if c.out.claim() {
			go c.writeLoop()
		}
		time.AfterFunc(c.hub.closeTimeout, func() {
			select {
			case <-c.writerDone:
			default:
				c.ws.CloseNow()
			}
		})
	})
}

// removedByAdmin reports whether the server closed the connection because
// its user was removed (4031).
func (c *conn) removedByAdmin() bool {
	select {
	case <-c.closing: // closeWith set the code before closing it
		return c.closeCode == websocket.StatusCode(protocol.CodeRemoved)
	default:
		return false
	}
}

// cut drops the socket at once, without a close handshake (the peer is
// gone or stuck). The socket is closed before the writer learns of it, so
// the writer's Close cannot start a handshake that would wait for the peer.
func (c *conn) cut(reason string) {
	c.ws.CloseNow()
	c.closeWith(int(websocket.StatusGoingAway), reason, false)
}

// closeReason fits a reason in a close frame: valid UTF-8 (browsers fail
// the connection otherwise), cut at a rune boundary.
func closeReason(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// writeLoop writes queued frames in order while there are any; it is the
// only writer of the socket (the queue has one writer at a time). Once the
// connection is closing, the writer flushes (if asked) and closes the
// socket, and keeps the role for good.
func (c *conn) writeLoop() {
	for {
		if c.isClosing() {
			c.finishClose()
			return
		}
		b, ok := c.out.popOrRelease()
		if !ok {
			// Released. A close that came meanwhile could not start a
			// writer: take the role back for it.
			if c.isClosing() && c.out.claim() {
				continue
			}
			return
		}
		if !c.write(b) {
			close(c.writerDone)
			return
		}
	}
}

// finishClose writes what is queued (when asked, within flushDeadline) and
// closes the socket.
func (c *conn) finishClose() {
	defer close(c.writerDone)
	if c.closeFlush {
		c.out.flush()
		ctx, cancel := context.WithTimeout(context.Background(), flushDeadline)
		defer cancel()
		for b, ok := c.out.pop(); ok; b, ok = c.out.pop() {
			if !c.writeCtx(ctx, b) {
				return
			}
		}
	}
	c.ws.Close(c.closeCode, c.closeReason)
}

// write writes one frame; on failure the socket is cut (the reader then
// ends). It takes no deadline of its own: a context with a timeout per
// frame (a timer, and the WebSocket library's watch on it) was a tenth of
// what a frame cost; the hub's pinger cuts a write that has taken
// Hub.writeTimeout (writeStuck).
func (c *conn) write(b []byte) bool {
	c.writingSince.Store(time.Now().UnixNano())
	ok := c.writeCtx(context.Background(), b)
	c.writingSince.Store(0)
	return ok
}

func (c *conn) writeCtx(ctx context.Context, b []byte) bool {
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.cut("write failed")
		return false
	}
	c.hub.msgsOut.Add(1)
	return true
}

// writeStuck reports whether a write has been under way since before
// cutoff (unix ns): the client takes nothing, and the pinger cuts it.
func (c *conn) writeStuck(cutoff int64) bool {
	since := c.writingSince.Load()
	return since != 0 && since < cutoff
}

// ping checks that a quiet client still answers; one that does not answer
// within the ping interval is cut (the reader then ends and the user's grace
// period starts).
func (c *conn) ping(timeout time.Duration) {
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err == nil {
		c.lastRead.Store(time.Now().UnixNano()) // the pong: alive for another interval
		return
	}
	if !c.isClosing() {
		c.hub.log.Debug("dropping an unresponsive connection", append(c.who(), "err", err)...)
		c.cut("no pong")
	}
}

// probe pings the connection at once with the hub's short probe deadline
// (its user's media went silent), unless a ping is in flight already: a
// client whose network vanished is dropped now, and its grace period
// starts, rather than after the ping interval.
func (c *conn) probe() {
	if !c.isClosing() && c.pinging.CompareAndSwap(false, true) {
		go c.ping(c.hub.probeTimeout)
	}
}

// who names the connection's user in logs; safe from any goroutine.
func (c *conn) who() []any {
	if id := c.ident.Load(); id != nil {
		return []any{"meeting", id.MeetingID, "user", id.UserID}
	}
	return []any{"meeting", "", "user", ""}
}

// peekID reads a message's id without validating the rest.
func peekID(data []byte) uint64 {
	var m struct {
		ID uint64 `json:"id"`
	}
	_ = json.Unmarshal(data, &m)
	return m.ID
}
