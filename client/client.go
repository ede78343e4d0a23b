// Package client is the stage client core: plain Go that builds natively and
// for GOOS=js GOARCH=wasm. The browser SDK wraps it one to one; native tests
// and load tests drive it directly.
//
// Every stage method returns only after the server committed the change: the
// server sends the room's event before the answer on the same ordered socket,
// so when a method returns, the local state and events already reflect it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Options configure a Meeting.
type Options struct {
	BaseURI        string // http(s)://host:port of the server
	AuthToken      string
	Logger         *slog.Logger
	RequestTimeout time.Duration // default 10s
	MinBackoff     time.Duration // reconnect backoff, default 250ms
	MaxBackoff     time.Duration // default 5s
}

// Error is a coded failure; Error() reads "[ERR<code>] message".
type Error = protocol.ErrorBody

// Participant is a member of the room.
type Participant = protocol.Participant

// Self is the local user.
type Self struct {
	protocol.Participant
	MeetingID   string
	Permissions protocol.Permissions
	RoomJoined  bool
}

// Meeting is one user's session in one meeting.
type Meeting struct {
	opts  Options
	log   *slog.Logger
	wsURL string
	stage Stage

	mu           sync.Mutex
	self         Self
	participants map[string]*Participant // by peer id
	order        []string                // peer ids in join order
	requests     []protocol.StageRequest
	lastSeq      uint64
	resyncing    bool
	closed       bool // Leave or Close was called: no reconnect
	conn         *conn

	lmu       sync.Mutex
	listeners map[int]func(Event)
	nextL     int
}

// Init connects to the server and authenticates the token.
func Init(ctx context.Context, o Options) (*Meeting, error) {
	if o.AuthToken == "" {
		return nil, protocol.NewError(protocol.CodeTokenMissing, "authToken is required")
	}
	u, err := url.Parse(o.BaseURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, protocol.NewError(protocol.CodeBadArgs, "baseURI must be an http(s) URL, got %q", o.BaseURI)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/ws"
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Meeting{opts: o, log: o.Logger, wsURL: u.String(), participants: map[string]*Participant{}, listeners: map[int]func(Event){}}
	m.stage.m = m
	if err := m.connect(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// connect dials and says hello.
func (m *Meeting) connect(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, m.opts.RequestTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, m.wsURL, nil)
	if err != nil {
		return protocol.NewError(protocol.CodeUnreachable, "cannot reach the server: %v", err)
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c := newConn(m, ws)
	go c.readLoop()
	res, err := c.call(dctx, protocol.ClientMessage{Type: protocol.TypeHello, Token: m.opts.AuthToken})
	if err != nil {
		c.close()
		return err
	}
	m.mu.Lock()
	m.conn = c
	h := res.Hello
	m.self.MeetingID = h.MeetingID
	m.self.Permissions = h.Permissions
	if !m.self.RoomJoined {
		m.self.Participant = h.Self
	}
	m.mu.Unlock()
	return nil
}

// Join joins the room.
func (m *Meeting) Join(ctx context.Context) error {
	if _, err := m.call(ctx, protocol.ClientMessage{Type: protocol.TypeJoin}); err != nil {
		return err
	}
	return nil
}

// Leave leaves the room and closes the connection.
func (m *Meeting) Leave(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	c := m.conn
	m.mu.Unlock()
	if c == nil {
		return protocol.NewError(protocol.CodeClosed, "the meeting is not connected")
	}
	_, err := c.call(ctx, protocol.ClientMessage{Type: protocol.TypeLeave})
	c.close()
	m.mu.Lock()
	wasJoined := m.self.RoomJoined
	m.self.RoomJoined = false
	m.mu.Unlock()
	if wasJoined {
		m.emit([]Event{{Name: EventRoomLeft}})
	}
	return err
}

// Close drops the connection without leaving: the server keeps the user's
// place for its grace period. The Meeting does not reconnect afterwards.
func (m *Meeting) Close() {
	m.mu.Lock()
	m.closed = true
	c := m.conn
	m.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// Self returns a copy of the local user.
func (m *Meeting) Self() Self {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// Participants returns the other participants in join order.
func (m *Meeting) Participants() []Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Participant, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, *m.participants[id])
	}
	return out
}

// Participant returns the participant with peerID.
func (m *Meeting) Participant(peerID string) (Participant, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.participants[peerID]
	if !ok {
		return Participant{}, false
	}
	return *p, true
}

// Requests returns the pending requests as last sent by the server (users
// who accept stage requests only).
func (m *Meeting) Requests() []protocol.StageRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]protocol.StageRequest(nil), m.requests...)
}

// Stage is the stage API of the meeting.
func (m *Meeting) Stage() *Stage { return &m.stage }

// On registers fn for every event and returns its remover. Listeners run in
// order on the connection's reader and must not block.
func (m *Meeting) On(fn func(Event)) (remove func()) {
	m.lmu.Lock()
	defer m.lmu.Unlock()
	m.nextL++
	id := m.nextL
	m.listeners[id] = fn
	return func() {
		m.lmu.Lock()
		delete(m.listeners, id)
		m.lmu.Unlock()
	}
}

func (m *Meeting) emit(events []Event) {
	if len(events) == 0 {
		return
	}
	m.lmu.Lock()
	ids := make([]int, 0, len(m.listeners))
	for id := range m.listeners {
		ids = append(ids, id)
	}
	fns := make([]func(Event), 0, len(ids))
	sortInts(ids)
	for _, id := range ids {
		fns = append(fns, m.listeners[id])
	}
	m.lmu.Unlock()
	for _, ev := range events {
		for _, fn := range fns {
			fn(ev)
		}
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// call sends a request on the current connection and waits for its answer.
func (m *Meeting) call(ctx context.Context, msg protocol.ClientMessage) (protocol.ServerMessage, error) {
	m.mu.Lock()
	c := m.conn
	closed := m.closed
	m.mu.Unlock()
	if c == nil || closed {
		if closed {
			return protocol.ServerMessage{}, protocol.NewError(protocol.CodeClosed, "the meeting was left or closed")
		}
		return protocol.ServerMessage{}, protocol.NewError(protocol.CodeDisconnected, "not connected; reconnecting")
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.RequestTimeout)
	defer cancel()
	return c.call(ctx, msg)
}

// Stage is meeting.stage.
type Stage struct{ m *Meeting }

// Status is the local user's stage status.
func (s *Stage) Status() stage.Status {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.self.StageStatus
}

// PeerID is the local connection's id.
func (s *Stage) PeerID() string {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.self.PeerID
}

func (s *Stage) act(ctx context.Context, typ string, ids []string) error {
	s.m.mu.Lock()
	joined := s.m.self.RoomJoined
	s.m.mu.Unlock()
	if !joined {
		return protocol.NewError(protocol.CodeNotJoined, "join the room before acting on the stage")
	}
	msg := protocol.ClientMessage{Type: typ, UserIDs: ids}
	if typ == protocol.TypeStageGrant {
		// A grant means "accept the request" or "invite", by what the host
		// saw; the server refuses it if the user has moved since.
		msg.Expect = s.m.seenStatuses(ids)
	}
	_, err := s.m.call(ctx, msg)
	return err
}

// seenStatuses is what the local user last saw of each user id, so the server
// can refuse an action overtaken by a race.
func (m *Meeting) seenStatuses(ids []string) []stage.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	byUser := make(map[string]stage.Status, len(m.participants)+1)
	for _, p := range m.participants {
		byUser[p.UserID] = p.StageStatus
	}
	byUser[m.self.UserID] = m.self.StageStatus
	out := make([]stage.Status, len(ids))
	for i, id := range ids {
		out[i] = byUser[id]
	}
	return out
}

// RequestAccess asks to come on stage (OFF_STAGE → REQUESTED).
func (s *Stage) RequestAccess(ctx context.Context) error {
	return s.act(ctx, protocol.TypeStageRequest, nil)
}

// CancelRequestAccess withdraws a pending request.
func (s *Stage) CancelRequestAccess(ctx context.Context) error {
	return s.act(ctx, protocol.TypeStageCancel, nil)
}

// GrantAccess accepts requesters and invites others; all or none.
func (s *Stage) GrantAccess(ctx context.Context, userIDs []string) error {
	return s.act(ctx, protocol.TypeStageGrant, userIDs)
}

// DenyAccess rejects requesters; all or none.
func (s *Stage) DenyAccess(ctx context.Context, userIDs []string) error {
	return s.act(ctx, protocol.TypeStageDeny, userIDs)
}

// Kick takes users off stage; all or none.
func (s *Stage) Kick(ctx context.Context, userIDs []string) error {
	return s.act(ctx, protocol.TypeStageKick, userIDs)
}

// Join goes on stage (ACCEPTED → ON_STAGE).
func (s *Stage) Join(ctx context.Context) error { return s.act(ctx, protocol.TypeStageJoin, nil) }

// Leave leaves the stage, or declines an invitation.
func (s *Stage) Leave(ctx context.Context) error { return s.act(ctx, protocol.TypeStageLeave, nil) }

// GetAccessRequests asks the server for the pending requests, oldest first.
func (s *Stage) GetAccessRequests(ctx context.Context) ([]protocol.StageRequest, error) {
	s.m.mu.Lock()
	joined := s.m.self.RoomJoined
	s.m.mu.Unlock()
	if !joined {
		return nil, protocol.NewError(protocol.CodeNotJoined, "join the room before reading stage requests")
	}
	res, err := s.m.call(ctx, protocol.ClientMessage{Type: protocol.TypeStageRequests})
	if err != nil {
		return nil, err
	}
	if res.Requests == nil {
		return []protocol.StageRequest{}, nil
	}
	return res.Requests, nil
}

// conn is one WebSocket connection and its pending calls.
type conn struct {
	m      *Meeting
	ws     *websocket.Conn
	nextID atomic.Uint64
	mu     sync.Mutex
	calls  map[uint64]chan protocol.ServerMessage
	done   chan struct{}
	once   sync.Once
	err    error // why the connection ended; set before done closes
}

func newConn(m *Meeting, ws *websocket.Conn) *conn {
	return &conn{m: m, ws: ws, calls: map[uint64]chan protocol.ServerMessage{}, done: make(chan struct{})}
}

func (c *conn) call(ctx context.Context, msg protocol.ClientMessage) (protocol.ServerMessage, error) {
	msg.V = protocol.Version
	msg.ID = c.nextID.Add(1)
	data, err := json.Marshal(msg)
	if err != nil {
		return protocol.ServerMessage{}, protocol.NewError(protocol.CodeBadArgs, "cannot encode: %v", err)
	}
	if len(data) > protocol.MaxFrameBytes {
		return protocol.ServerMessage{}, protocol.NewError(protocol.CodeTooLarge, "message of %d bytes exceeds %d", len(data), protocol.MaxFrameBytes)
	}
	ch := make(chan protocol.ServerMessage, 1)
	c.mu.Lock()
	c.calls[msg.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, msg.ID)
		c.mu.Unlock()
	}()
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
		select {
		case <-c.done:
			return protocol.ServerMessage{}, c.err
		default:
		}
		if ctx.Err() != nil {
			return protocol.ServerMessage{}, protocol.NewError(protocol.CodeTimeout, "no answer in time")
		}
		return protocol.ServerMessage{}, protocol.NewError(protocol.CodeDisconnected, "connection lost: %v", err)
	}
	select {
	case res := <-ch:
		if res.Type == protocol.TypeError {
			return res, res.Error
		}
		return res, nil
	case <-c.done:
		return protocol.ServerMessage{}, c.err
	case <-ctx.Done():
		return protocol.ServerMessage{}, protocol.NewError(protocol.CodeTimeout, "no answer in time")
	}
}

func (c *conn) close() {
	c.ws.Close(websocket.StatusNormalClosure, "")
}

// readLoop handles every message of the connection in order.
func (c *conn) readLoop() {
	var endErr error
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			endErr = err
			break
		}
		var msg protocol.ServerMessage
		if err := json.Unmarshal(data, &msg); err != nil {
			c.m.log.Warn("undecodable server message", "err", err)
			continue
		}
		c.m.handle(c, msg)
	}
	code := websocket.CloseStatus(endErr)
	c.err = protocol.NewError(protocol.CodeDisconnected, "connection lost")
	var ce websocket.CloseError
	if errors.As(endErr, &ce) && ce.Code >= 4000 && ce.Code <= 4999 {
		c.err = protocol.NewError(int(ce.Code), "%s", ce.Reason)
	}
	close(c.done)
	c.m.connectionEnded(c, int(code))
}

// handle applies one server message; called only by the reader.
func (m *Meeting) handle(c *conn, msg protocol.ServerMessage) {
	switch msg.Type {
	case protocol.TypeEvent:
		m.emit(m.applyEvent(c, msg))
	case protocol.TypeMedia:
		m.emit([]Event{{Name: EventMedia, Media: &msg}})
	case protocol.TypeResult, protocol.TypeError:
		if msg.Snapshot != nil {
			m.emit(m.applySnapshot(*msg.Snapshot))
		}
		c.mu.Lock()
		ch := c.calls[msg.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- msg
		}
	}
}

// fatalClose says whether a close code forbids reconnecting.
func fatalClose(code int) bool {
	switch code {
	case protocol.CodeTokenInvalid, protocol.CodeTokenExpired, protocol.CodeTokenRevoked,
		protocol.CodeReplaced, protocol.CodeRemoved, protocol.CodeHelloFirst:
		return true
	}
	return false
}

// connectionEnded reconnects when the user was in the room and did not leave.
func (m *Meeting) connectionEnded(c *conn, code int) {
	m.mu.Lock()
	if m.conn != c {
		m.mu.Unlock()
		return
	}
	m.conn = nil
	joined, closed := m.self.RoomJoined, m.closed
	m.mu.Unlock()
	switch {
	case closed || !joined:
		return
	case fatalClose(code):
		m.mu.Lock()
		m.self.RoomJoined = false
		m.mu.Unlock()
		m.emit([]Event{{Name: EventDisconnected, Err: c.err}})
		return
	}
	m.emit([]Event{{Name: EventReconnecting}})
	go m.reconnect()
}

func (m *Meeting) reconnect() {
	backoff := m.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		m.mu.Lock()
		closed := m.closed
		m.mu.Unlock()
		if closed {
			return
		}
		err := m.connect(context.Background())
		if err == nil {
			err = m.Join(context.Background())
		}
		if err == nil {
			m.emit([]Event{{Name: EventReconnected}})
			return
		}
		var eb *protocol.ErrorBody
		if errors.As(err, &eb) && fatalClose(eb.Code) {
			m.mu.Lock()
			m.self.RoomJoined = false
			m.mu.Unlock()
			m.emit([]Event{{Name: EventDisconnected, Err: err}})
			return
		}
		m.log.Debug("reconnect failed", "attempt", attempt, "err", err)
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		time.Sleep(sleep)
		backoff = min(2*backoff, m.opts.MaxBackoff)
	}
}

// String makes Events readable in test failures.
func (e Event) String() string {
	return fmt.Sprintf("%s(status=%s count=%d requests=%d)", e.Name, e.Status, e.Count, len(e.Requests))
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
