// Package signal is the server's WebSocket signaling: it authenticates
// connections, keeps one stage.Room per meeting, applies each room's stage
// actions one at a time and sends every client the resulting events in that
// one order.
package signal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

// Authenticator verifies a participant token. Errors are *protocol.ErrorBody
// with codes 4011, 4012 or 4013.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Identity, error)
}

// Config configures a Hub.
type Config struct {
	Auth           Authenticator
	Grace          time.Duration // how long a dropped user keeps its place (default 20s)
	OriginPatterns []string      // accepted page origins; empty means the server's own host only
	Logger         *slog.Logger
	Now            func() time.Time // stamps requests; default time.Now
	HelloTimeout   time.Duration    // default 10s
	SendQueue      int              // per-connection outbound queue (default 256)
	// Media receives media signaling and connection life-cycle; nil refuses media.
	Media MediaHandler
	// RateLimit is messages per second per connection (default 50, burst 2×).
	RateLimit float64
}

// MediaHandler is the media server as the hub sees it.
type MediaHandler interface {
	// Attach is called when a user joins (or re-attaches to) a room.
	Attach(meetingID, userID, peerID string, out MediaSender) error
	// Detach is called when the user leaves the room.
	Detach(meetingID, userID string)
	// Handle answers one media message of an attached user.
	Handle(meetingID, userID string, m protocol.ClientMessage) (protocol.ServerMessage, error)
	// StageChanged is called in room order for every committed change.
	StageChanged(meetingID string, c stage.Change)
}

// MediaSender sends media messages to one user's current connection.
type MediaSender interface {
	SendMedia(m protocol.ServerMessage)
}

// Stats counts the hub's activity.
type Stats struct {
	Connections int64
	Rooms       int
	MessagesIn  int64
	MessagesOut int64
	Rejected    int64
}

// Hub serves the signaling WebSocket.
type Hub struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	rooms  map[string]*room
	conns  map[*conn]struct{}
	closed bool

	connections atomic.Int64
	msgsIn      atomic.Int64
	msgsOut     atomic.Int64
	rejected    atomic.Int64
}

// NewHub returns a hub with defaults filled in.
func NewHub(cfg Config) *Hub {
	if cfg.Grace <= 0 {
		cfg.Grace = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 256
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 50
	}
	return &Hub{cfg: cfg, log: cfg.Logger, rooms: make(map[string]*room), conns: make(map[*conn]struct{})}
}

// ServeHTTP upgrades the request to a signaling WebSocket.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		h.log.Debug("websocket accept failed", "err", err, "origin", r.Header.Get("Origin"))
		return
	}
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c := newConn(h, ws)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	h.connections.Add(1)
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		h.connections.Add(-1)
	}()
	c.serve(r.Context())
}

// RemoveParticipant closes the user's connection (4031) and takes it out of
// its room at once; an admin deleted the participant.
func (h *Hub) RemoveParticipant(meetingID, userID string) {
	h.mu.Lock()
	r := h.rooms[meetingID]
	h.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.attached[userID]; c != nil {
		delete(r.attached, userID)
		c.closeWith(protocol.CodeRemoved, "participant removed")
	}
	r.exitLocked(userID)
}

// Close closes every connection with 1001 and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	rooms := h.rooms
	h.rooms = map[string]*room{}
	h.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		for _, t := range r.timers {
			t.Stop()
		}
		r.dead = true
		r.mu.Unlock()
	}
	for _, c := range conns {
		c.closeWith(int(websocket.StatusGoingAway), "server shutting down")
	}
}

// RoomMembers returns the members of a meeting's room, in join order.
func (h *Hub) RoomMembers(meetingID string) []stage.Member {
	h.mu.Lock()
	r := h.rooms[meetingID]
	h.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Members()
}

// Subscribe calls fn, in the room's order and under its lock, for every
// committed stage change of the meeting; fn must not block.
func (h *Hub) Subscribe(meetingID string, fn func(stage.Change)) (remove func()) {
	r := h.room(meetingID)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextSub++
	id := r.nextSub
	r.subs[id] = fn
	return func() {
		r.mu.Lock()
		delete(r.subs, id)
		r.mu.Unlock()
	}
}

// Stats reports counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	rooms := len(h.rooms)
	h.mu.Unlock()
	return Stats{
		Connections: h.connections.Load(),
		Rooms:       rooms,
		MessagesIn:  h.msgsIn.Load(),
		MessagesOut: h.msgsOut.Load(),
		Rejected:    h.rejected.Load(),
	}
}

// room returns the meeting's live room, creating it if needed.
func (h *Hub) room(meetingID string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[meetingID]
	if r == nil {
		r = newRoom(h, meetingID)
		h.rooms[meetingID] = r
	}
	return r
}

// dropRoomIfEmpty forgets an empty room; called with r.mu held.
func (h *Hub) dropRoomIfEmpty(r *room) {
	if r.st.Len() > 0 || len(r.timers) > 0 || len(r.subs) > 0 {
		return
	}
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
	h.mu.Unlock()
	r.dead = true
}

func newPeerID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DropConnection cuts the user's socket without a close handshake, as a
// network failure would; the user keeps its place for the grace period.
func (h *Hub) DropConnection(meetingID, userID string) {
	h.mu.Lock()
	r := h.rooms[meetingID]
	h.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	c := r.attached[userID]
	r.mu.Unlock()
	if c != nil {
		c.ws.CloseNow()
	}
}
