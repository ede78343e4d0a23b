package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagekit/stagekit/protocol"
)

// callKind tells the reader what a result means beyond answering its caller.
type callKind uint8

const (
	kindPlain    callKind = iota
	kindJoin              // the user's Join: its snapshot is the first sync
	kindRejoin            // the join after a reconnect: resync, then reconnected
	kindSnapshot          // a resync after a gap
)

// pending is a request waiting for its answer. ch is nil for the client's
// own requests (rejoin, snapshot) and once the caller gave up.
type pending struct {
	kind callKind
	ch   chan protocol.ServerMessage
}

// held is an answer whose seq the client has not reached yet: it is handed
// over once the resync catches up, so the caller sees the state it implies.
type held struct {
	msg protocol.ServerMessage
	p   *pending
}

// maxBuffered bounds the events kept while a snapshot is awaited; beyond it
// they are dropped and another snapshot is taken.
const maxBuffered = 4096

// conn is one connection and its pending requests.
type conn struct {
	m   *Meeting
	t   transport
	url string // the node it reached

	mu    sync.Mutex
	calls map[uint64]*pending
	done  chan struct{} // closed when the connection ended
	err   error         // why; set before done closes

	// lastRead is when the last frame arrived (unix ns) and reads how many
	// have, for liveness (a count, as clocks may be coarse: in browsers).
	lastRead atomic.Int64
	reads    atomic.Int64

	// Owned by the reader goroutine.
	parts       map[uint64]*protocol.ServerMessage // "part" frames by request id
	synced      bool                               // a snapshot was applied on this connection
	snapPending bool                               // a resync snapshot was asked for
	overflow    bool                               // events were dropped while awaiting it
	buffered    []protocol.ServerMessage
	held        []held
}

func newConn(m *Meeting, t transport, url string) *conn {
	c := &conn{m: m, t: t, url: url, calls: map[uint64]*pending{}, done: make(chan struct{})}
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

// watch pings the server after PingInterval of silence and closes the
// transport when nothing arrives within PingTimeout more: the reader then
// fails and the meeting reconnects. It ends with the connection.
func (c *conn) watch() {
	if c.m.opts.PingInterval < 0 {
		return
	}
	grace := c.m.opts.PingTimeout
	t := time.NewTimer(c.m.opts.PingInterval)
	defer t.Stop()
	pinged := int64(-1) // frames read when the awaited ping was sent; -1 for none
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		last := c.lastRead.Load()
		every := c.m.pingInterval()
		switch quiet := time.Since(time.Unix(0, last)); {
		case pinged >= 0 && c.reads.Load() == pinged:
			c.m.log.Debug("stagekit: the server is silent; reconnecting", "quiet", quiet)
			c.t.close()
			return
		case quiet < every:
			// Look again within PingInterval: the user's status (and with
			// it the interval) may change meanwhile.
			pinged = -1
			t.Reset(min(every-quiet, c.m.opts.PingInterval))
		default:
			pinged = c.reads.Load()
			if _, err := c.send(protocol.ClientMessage{Type: protocol.TypePing}, kindPlain, nil); err != nil {
				return
			}
			t.Reset(grace)
		}
	}
}

// send writes a request and registers it; ch receives the answer.
func (c *conn) send(msg protocol.ClientMessage, kind callKind, ch chan protocol.ServerMessage) (uint64, error) {
	msg.V = protocol.Version
	msg.ID = c.m.ids.Add(1)
	data, err := protocol.EncodeClient(msg)
	if err != nil {
		return 0, newError(CodeBadArgs, "cannot encode the request: %v", err)
	}
	if len(data) > protocol.MaxFrameBytes {
		return 0, newError(CodeTooLarge, "request of %d bytes exceeds the limit of %d", len(data), protocol.MaxFrameBytes)
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return 0, c.err
	default:
	}
	c.calls[msg.ID] = &pending{kind: kind, ch: ch}
	c.mu.Unlock()
	if err := c.t.write(data); err != nil {
		c.mu.Lock()
		delete(c.calls, msg.ID)
		c.mu.Unlock()
		c.t.close() // the reader notices and reconnects
		select {
		case <-c.done:
			return 0, c.err
		default:
		}
		return 0, newError(CodeDisconnected, "connection lost: %v", err)
	}
	return msg.ID, nil
}

// call sends a request and waits for its answer, the end of the connection,
// or the context (bounded by RequestTimeout).
func (c *conn) call(ctx context.Context, msg protocol.ClientMessage, kind callKind) (protocol.ServerMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.m.opts.RequestTimeout)
	defer cancel()
	ch := make(chan protocol.ServerMessage, 1)
	readsBefore := c.reads.Load()
	id, err := c.send(msg, kind, ch)
	if err != nil {
		return protocol.ServerMessage{}, err
	}
	timedOut := false
	select {
	case res := <-ch:
		return answer(res)
	case <-c.done:
	case <-ctx.Done():
		timedOut = true
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && c.reads.Load() == readsBefore {
			// Not a frame since the request: the socket is dead, not the
			// server slow. Drop it so that the meeting reconnects now.
			c.t.close()
		}
	}
	// The answer may have come at the same moment: prefer it.
	select {
	case res := <-ch:
		return answer(res)
	default:
	}
	c.mu.Lock()
	if p := c.calls[id]; p != nil {
		p.ch = nil // keep the kind: the reader still applies a late snapshot
	}
	c.mu.Unlock()
	if timedOut {
		// What the caller waited for ran out (the connection may have
		// ended since: dropped here, for that reason).
		return protocol.ServerMessage{}, ctxError(ctx)
	}
	return protocol.ServerMessage{}, c.err
}

// ping asks the server for an answer on this connection.
func (c *conn) ping(ctx context.Context) error {
	_, err := c.call(ctx, protocol.ClientMessage{Type: protocol.TypePing}, kindPlain)
	return err
}

func answer(res protocol.ServerMessage) (protocol.ServerMessage, error) {
	if res.Type == protocol.TypeError {
		if res.Error == nil {
			return res, newError(protocol.CodeInternal, "the server refused without a reason")
		}
		return res, res.Error
	}
	return res, nil
}

// end marks the connection ended and fails its waiting callers with err.
func (c *conn) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	c.err = err
	close(c.done)
}

// take removes and returns the pending request with id.
func (c *conn) take(id uint64) *pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.calls[id]
	delete(c.calls, id)
	return p
}

// deliver hands an answer to its waiting caller, if any, after the pending
// list's events of what was applied before it: a caller sees their effect.
func (c *conn) deliver(p *pending, msg protocol.ServerMessage) {
	c.m.emitRequestEvents()
	c.mu.Lock()
	ch := p.ch
	c.mu.Unlock()
	if ch != nil {
		ch <- msg // buffered, never blocks
	}
}

// run is the meeting's reader goroutine: it reads connection after
// connection until the meeting is finished.
func (m *Meeting) run(c *conn) {
	defer close(m.done)
	for c != nil {
		err := m.readAll(c)
		c = m.lost(c, err)
	}
}

func (m *Meeting) readAll(c *conn) error {
	go c.watch()
	for {
		data, err := c.t.read(context.Background())
		if err != nil {
			return err
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.reads.Add(1)
		var msg protocol.ServerMessage
		if err := protocol.DecodeServer(data, &msg); err != nil {
			m.log.Warn("stagekit: undecodable server message", "err", err)
			continue
		}
		m.handle(c, msg)
	}
}

// handle applies one server message. Only the reader calls it (and unit
// tests, in its place).
func (m *Meeting) handle(c *conn, msg protocol.ServerMessage) {
	switch msg.Type {
	case protocol.TypeEvent:
		m.onEvent(c, msg)
	case protocol.TypeBatch:
		for _, ev := range msg.Events {
			if ev.Type == protocol.TypeEvent {
				m.onEvent(c, ev)
			}
		}
	case protocol.TypePart:
		c.addPart(msg)
	case protocol.TypeMedia:
		mm := msg
		m.emit(Event{Name: EventMedia, Media: &mm})
	case protocol.TypeResult, protocol.TypeError:
		m.onAnswer(c, msg)
	default:
		m.log.Debug("stagekit: unknown server message", "type", msg.Type)
	}
	m.emitRequestEvents()
}

// emitRequestEvents emits the pending list's events once per frame, after
// the frame's other events.
func (m *Meeting) emitRequestEvents() {
	m.mu.Lock()
	evs := m.st.requestEvents()
	m.mu.Unlock()
	m.emit(evs...)
}

// addPart keeps a part of a large answer until its result arrives.
func (c *conn) addPart(msg protocol.ServerMessage) {
	if c.parts == nil {
		c.parts = map[uint64]*protocol.ServerMessage{}
	}
	p := c.parts[msg.ID]
	if p == nil {
		p = &protocol.ServerMessage{}
		c.parts[msg.ID] = p
	}
	p.Participants = append(p.Participants, msg.Participants...)
	p.Requests = append(p.Requests, msg.Requests...)
}

// withParts completes an answer with the parts that preceded it.
func (c *conn) withParts(msg protocol.ServerMessage) protocol.ServerMessage {
	p := c.parts[msg.ID]
	if p == nil {
		return msg
	}
	delete(c.parts, msg.ID)
	if msg.Snapshot != nil {
		snap := *msg.Snapshot
		snap.Participants = append(p.Participants, snap.Participants...)
		if len(p.Requests) > 0 {
			snap.Requests = append(p.Requests, snap.Requests...)
		}
		msg.Snapshot = &snap
	} else if len(p.Requests) > 0 {
		msg.Requests = append(p.Requests, msg.Requests...)
	}
	return msg
}

func (m *Meeting) onEvent(c *conn, msg protocol.ServerMessage) {
	if msg.Event == protocol.EventCount {
		m.onCount(msg.Count)
		return
	}
	if msg.Seq == 0 {
		m.log.Warn("stagekit: event without seq ignored", "event", msg.Event)
		return
	}
	if !c.synced || c.snapPending {
		c.buffer(msg)
		return
	}
	m.mu.Lock()
	last := m.st.lastSeq
	switch {
	case msg.Seq <= last:
		m.mu.Unlock()
		return // already covered by a snapshot
	case msg.Seq > last+1:
		m.mu.Unlock()
		m.log.Debug("stagekit: event gap, resyncing", "have", last, "got", msg.Seq)
		c.buffer(msg)
		m.resync(c)
		return
	}
	evs := m.st.applyEvent(msg)
	m.mu.Unlock()
	m.emit(evs...)
	if msg.Event == protocol.EventResync {
		m.resync(c) // the server says the room changed beyond its events
		return
	}
	m.releaseHeld(c)
}

func (c *conn) buffer(msg protocol.ServerMessage) {
	if len(c.buffered) >= maxBuffered {
		c.buffered, c.overflow = nil, true
	}
	c.buffered = append(c.buffered, msg)
}

// resync asks for a snapshot unless one is on its way.
func (m *Meeting) resync(c *conn) {
	if c.snapPending {
		return
	}
	c.snapPending = true
	if _, err := c.send(protocol.ClientMessage{Type: protocol.TypeSnapshot}, kindSnapshot, nil); err != nil {
		m.log.Debug("stagekit: snapshot request failed", "err", err)
	}
}

// onCount applies the room's participant count (not sequenced: the latest
// wins).
func (m *Meeting) onCount(n int) {
	m.mu.Lock()
	changed := n != m.st.count
	m.st.count = n
	m.mu.Unlock()
	if changed {
		m.emit(Event{Name: EventParticipantCount, Count: n})
	}
}

func (m *Meeting) onAnswer(c *conn, msg protocol.ServerMessage) {
	msg = c.withParts(msg)
	p := c.take(msg.ID)
	if p == nil {
		if msg.Type == protocol.TypeError {
			m.log.Warn("stagekit: server error", "id", msg.ID, "err", msg.Error)
		}
		return
	}
	switch p.kind {
	case kindJoin, kindRejoin, kindSnapshot:
		if msg.Type == protocol.TypeResult && msg.Snapshot != nil {
			m.onSnapshot(c, *msg.Snapshot, p.kind)
		} else if p.kind != kindJoin {
			// The client's own join or snapshot failed: start over on a new
			// connection.
			m.log.Warn("stagekit: resync failed; reconnecting", "err", msg.Error)
			c.t.close()
		}
	case kindPlain:
		if msg.Type == protocol.TypeResult && msg.Seq > 0 {
			m.mu.Lock()
			ahead := msg.Seq > m.st.lastSeq
			m.mu.Unlock()
			if ahead {
				// The event of this answer has not been applied (it cannot
				// happen on one ordered socket, but the promise depends on
				// it): hold the answer until a resync includes it.
				c.held = append(c.held, held{msg: msg, p: p})
				m.resync(c)
				return
			}
		}
	}
	c.deliver(p, msg)
}

// onSnapshot applies a join or resync snapshot, then the events buffered
// meanwhile, then releases the answers that waited for them.
func (m *Meeting) onSnapshot(c *conn, snap protocol.Snapshot, kind callKind) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	first := kind == kindJoin && !m.st.self.RoomJoined // two Joins at once: one roomJoined
	evs := m.st.sync(snap, first)
	if first {
		evs = append(evs, Event{Name: EventRoomJoined, Seq: snap.Seq})
	}
	c.synced, c.snapPending = true, false
	if kind == kindRejoin {
		m.setConnLocked(c)
		m.reconnecting = false
		m.backoff = 0
		evs = append(evs, Event{Name: EventReconnected, Seq: snap.Seq})
	}
	buf, overflow := c.buffered, c.overflow
	c.buffered, c.overflow = nil, false
	gap := overflow
	for i, ev := range buf {
		if ev.Seq <= m.st.lastSeq {
			continue
		}
		if ev.Seq != m.st.lastSeq+1 {
			c.buffered, gap = append(c.buffered, buf[i:]...), true
			break
		}
		evs = append(evs, m.st.applyEvent(ev)...)
	}
	m.mu.Unlock()
	m.emit(evs...)
	if gap {
		m.resync(c)
	}
	m.releaseHeld(c)
}

// releaseHeld hands over the held answers the state has caught up with.
func (m *Meeting) releaseHeld(c *conn) {
	if len(c.held) == 0 || c.snapPending {
		return
	}
	m.mu.Lock()
	last := m.st.lastSeq
	m.mu.Unlock()
	kept := c.held[:0]
	for _, h := range c.held {
		if h.msg.Seq <= last {
			c.deliver(h.p, h.msg)
		} else {
			kept = append(kept, h)
		}
	}
	c.held = kept
	if len(kept) > 0 {
		m.resync(c)
	}
}

// lost handles the end of the reader's connection and returns the next one
// to read, or nil when the meeting is finished.
func (m *Meeting) lost(c *conn, readErr error) *conn {
	code, reason := closeCode(readErr)
	m.mu.Lock()
	if m.conn == c {
		m.conn = nil
	}
	closed := m.closed
	fatal := !closed && isFatal(code)
	var err error
	switch {
	case closed:
		err = newError(CodeClosed, "the meeting was left or closed")
	case fatal:
		if reason == "" {
			reason = "the server ended the session"
		}
		err = newError(code, "%s", reason)
		m.closed = true
		m.st.self.RoomJoined = false
	default:
		err = newError(CodeDisconnected, "connection lost before the answer")
	}
	first := !closed && !fatal && !m.reconnecting
	if !closed && !fatal {
		m.reconnecting = true
	}
	m.mu.Unlock()

	c.end(err)
	if closed || fatal {
		m.mu.Lock()
		if m.spare != nil {
			m.spare.t.close()
			m.spare = nil
		}
		m.mu.Unlock()
	}
	switch {
	case closed:
		return nil
	case fatal:
		m.cancel()
		m.emit(Event{Name: EventDisconnected, Err: err})
		return nil
	}
	if code == protocol.CodeNodeLeaving {
		// The node shut down cleanly and named where to go: no backoff, and
		// not that node again.
		m.route.leaving(reason)
		// One prompt attempt per node: a successor that turns out gone
		// too is followed by the next node at once.
		m.prompt = len(m.route.nodes) + 1
	}
	if code == protocol.CodePresetChanged {
		// The node asks for a new hello to take up the user's new preset:
		// at once, to the same node.
		m.prompt = 1
	}
	m.log.Debug("stagekit: connection lost; reconnecting", "code", code, "err", readErr)
	if first {
		m.emit(Event{Name: EventReconnecting})
	}
	return m.reconnect()
}

// leaveSpread is what the reconnects after a clean shutdown (4053) are
// spread over, in place of a backoff.
const leaveSpread = 100 * time.Millisecond

// reconnect redials with exponential backoff and jitter until it has an
// authenticated connection whose rejoin is on its way (the reader applies
// its snapshot), the meeting is closed, or the server refuses for good.
func (m *Meeting) reconnect() *conn {
	failures := 0 // attempts in a row that could not reach or use a node
	var retryAt time.Time
	for {
		if m.backoff < m.opts.MinBackoff {
			m.backoff = m.opts.MinBackoff
		}
		wait := m.backoff/2 + rand.N(m.backoff/2+1)
		if m.prompt > 0 {
			// Spread over a fraction of the least backoff only: every client
			// of the node moves at once, not all in the same millisecond.
			wait = rand.N(min(leaveSpread, m.opts.MinBackoff) + 1)
			m.prompt--
		} else if !retryAt.IsZero() {
			// The room's owner is dead and its lease ends at retryAt: come
			// back then (spread over a few backoff steps), not later.
			wait = time.Until(retryAt) + rand.N(2*m.opts.MinBackoff+1)
			retryAt = time.Time{}
			m.backoff = m.opts.MinBackoff
		} else {
			m.backoff = min(2*m.backoff, m.opts.MaxBackoff)
		}
		m.mu.Lock()
		spare := m.spare
		m.spare = nil
		m.mu.Unlock()
		if spare != nil {
			// Probe has a socket that reached the node already: the
			// network works, the old socket did not.
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-m.ctx.Done():
			t.Stop()
			if spare != nil {
				spare.t.close()
			}
			return nil
		case <-t.C:
		}

		url := m.route.target(m.wsURL, failures)
		var first transport
		if spare != nil {
			url, first = spare.url, spare.t
		}
		c, hello, until, err := m.dialVia(m.ctx, url, first)
		if err != nil {
			retryAt = until
			code := CodeOf(err)
			if code == CodeUnreachable || code == protocol.CodeUnavailable || code == protocol.CodeElsewhere || code == CodeTimeout {
				failures++ // that node is gone or cannot serve: try the next one
			}
			if code != CodeUnreachable {
				m.prompt = 0 // reached, but refused: back off as usual
			}
			if isFatal(code) && m.ctx.Err() == nil {
				m.mu.Lock()
				m.closed = true
				m.st.self.RoomJoined = false
				m.mu.Unlock()
				m.cancel()
				m.emit(Event{Name: EventDisconnected, Err: err})
				return nil
			}
			m.log.Debug("stagekit: reconnect failed", "err", err)
			continue
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.t.close()
			return nil
		}
		m.cur = c
		m.prompt = 0
		permsChanged := m.st.self.RoomJoined && m.st.self.Permissions != hello.Permissions
		m.applyHello(hello)
		joined := m.st.self.RoomJoined
		if !joined {
			// Never joined: the connection is all there was.
			m.setConnLocked(c)
			m.reconnecting = false
			m.backoff = 0
			m.mu.Unlock()
			m.emit(Event{Name: EventReconnected})
			return c
		}
		m.mu.Unlock()
		if permsChanged {
			// Its preset changed while away (or the node closed it to take
			// the change up): as the permissions event tells it in place.
			m.emit(Event{Name: EventPermissionsUpdate})
		}
		if _, err := c.send(m.joinMessage(true), kindRejoin, nil); err != nil {
			m.log.Debug("stagekit: rejoin failed", "err", err)
		}
		return c // the reader gets the snapshot, or the error and comes back
	}
}
