// Package signal is the server's WebSocket signaling: it authenticates
// connections, keeps one stage.Room per meeting, applies each room's stage
// actions one at a time and sends every client the resulting events in that
// one order.
//
// Concurrency: every connection has one reader goroutine (which handles its
// messages in order) and, while it has frames to send, one writer goroutine
// (the only one that writes to the socket; it drains a bounded queue of
// already-encoded frames). One hub goroutine pings quiet connections. A room's state, its seq and the queueing of every message a
// change causes happen under the room's mutex, so every client of a room
// receives the room's events in the same order. Lock order: room.mu before
// Hub.mu; nothing blocks under either.
package signal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

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
	SendQueue      int              // per-connection outbound queue length (default 1024 frames)
	// SendQueueBytes bounds a connection's outbound queue in bytes (default
	// 4 MiB); an empty queue takes any one snapshot, however large.
	SendQueueBytes int
	// HostTick is how long events bound for users who see everyone (hosts)
	// are coalesced before they are sent as one batch (default 10ms; a
	// negative value sends each at once). Answers to a host are never
	// delayed: its coalesced events go out just before them.
	HostTick time.Duration
	// CountInterval is the least time between two broadcasts of the room's
	// participant count (default 1s) in a room of up to 2,000; a larger room
	// waits a CountInterval more per 2,000 participants, at most 10 in all
	// (countInterval).
	CountInterval time.Duration
	// Media receives media signaling and connection life-cycle; nil refuses media.
	Media MediaHandler
	// RateLimit is messages per second per participant, shared by its
	// connections and kept across reconnects (default 50, burst 2×).
	RateLimit float64
	// MaxConns bounds a participant's open connections (default 5); one more
	// is refused with 4021. New connections per participant are limited to
	// HelloRate per second (default 1, burst 10; 4020 beyond).
	MaxConns  int
	HelloRate float64
	// Stage keeps each room's durable stage state (statuses other than the
	// preset's initial one, and the pending list with its order) so that a
	// restart restores it; nil keeps it in memory only.
	Stage StageStore
	// Placement, in a cluster, decides which node serves each room: a
	// client whose room lives elsewhere is redirected there at hello
	// (CodeElsewhere). nil: this server serves every room, at epoch 0.
	Placement Placement
	// OnStageAction, if set, is called after every committed stage action
	// (for metrics); it must not block.
	OnStageAction func(kind stage.Kind)
	// DefaultLimits bound the stage of rooms whose meeting has no limits
	// of its own.
	DefaultLimits stage.Limits
	// Edges, in a cluster, serves the users of rooms owned by other nodes
	// here (see remote.go) instead of redirecting them; nil redirects.
	Edges *EdgeConfig
	// OnPreset, if set, is told under the room's lock which preset each
	// user holds: when it joins and when an admin changes its preset (the
	// media server enforces media.*.can_produce from it). It must not block.
	OnPreset func(meetingID, userID string, p stage.Preset)
}

// Placement is a cluster's room ownership as the hub sees it
// (server/cluster keeps it in Redis).
type Placement interface {
	// Claim returns this node's epoch for the room when this node owns it
	// (claiming it if no node does), or else owner, the base URL of the
	// node that does, and how long that node's lease has left (when the
	// owner turns out dead, another node may take the room after it). It
	// is fast when this node holds the room already.
	Claim(ctx context.Context, meetingID string) (epoch int64, owner string, ownerLeft time.Duration, err error)
	// Release gives the room up if this node holds it under epoch.
	Release(meetingID string, epoch int64)
	// Nodes are the base URLs of the live nodes.
	Nodes() []string
	// Successor is the live node that the room's clients go to when this
	// node shuts down ("" when there is none): one per room, so that they
	// meet there.
	Successor(meetingID string) string
	// Holds reports whether this node holds the room's lease under epoch,
	// renewed recently enough to serve under: what the owner's decisions
	// that write nothing to the fenced store (a screen-share slot) go by.
	Holds(meetingID string, epoch int64) bool
}

// ErrFenced is what a StageStore returns when the room's state is fenced
// at a newer epoch: another node took the room over. The room is then
// deposed here: nothing of the refused change is told, and its clients
// reconnect to the new owner.
var ErrFenced = errors.New("signal: the room was taken over by another node")

// MediaHandler is the media server as the hub sees it.
type MediaHandler interface {
	// Attach is called, under the room's lock, when a user joins (or
	// re-attaches to) a room. resume: a re-attach whose client kept its
	// peer connections; the media session stays if there is one.
	Attach(meetingID, userID, peerID string, out MediaSender, resume bool) error
	// Detach is called, under the room's lock, when the user exits the room.
	Detach(meetingID, userID string)
	// Handle answers one media message of an attached user.
	Handle(meetingID, userID string, m protocol.ClientMessage) (protocol.ServerMessage, error)
	// SetPublishing is called, under the room's lock and in room order, for
	// every committed change of a user's status (onStage: the new status is
	// ON_STAGE), and for every ON_STAGE user of a restored room.
	SetPublishing(meetingID, userID string, onStage bool)
	// Screensharing reports whether the user shares its screen through
	// this node (it holds a slot of the room's stage): an edge claims it
	// again from a new owner, whose stage starts without shares.
	Screensharing(meetingID, userID string) bool
}

// StageStore keeps rooms' durable stage state (see stage.Member.Durable).
// Claim is called when the room is created here: it fences the room at
// epoch (ErrFenced when a newer epoch holds it) and returns its state. Save
// is called under the room's lock for every committed change, before anyone
// is told of it; it must return once the state is stored, and fail with
// ErrFenced when the room's fence is not epoch any more.
type StageStore interface {
	ClaimStage(meetingID string, epoch int64) (StageClaim, error)
	SaveStage(meetingID string, epoch int64, c StageCommit) error
	// IdempotentResponse returns the answer stored with an idempotency
	// key by an earlier commit, if any.
	IdempotentResponse(meetingID, key string) ([]byte, bool, error)
}

// StageClaim is what a room starts from: its durable members, the seq of
// its last event, its meeting's title and creation time (for events), and
// its limits when the meeting has its own.
type StageClaim struct {
	Records   []StageRecord
	LastSeq   int64
	Title     string
	CreatedAt time.Time
	Limits    *stage.Limits
}

// StageCommit is one change to store in one transaction: the durable
// members that changed or are no longer durable, its events, and an
// idempotency key with the answer to replay for it.
type StageCommit struct {
	Save           []StageRecord
	Drop           []string
	Events         []Event
	IdempotencyKey string
	Response       []byte
}

// StageRecord is a durable member. RequestOrder orders a room's pending
// requests (increasing in request order); it is 0 for other statuses.
type StageRecord struct {
	stage.Member
	RequestOrder int64
}

// MediaSender sends media messages to one user's current connection.
type MediaSender interface {
	SendMedia(m protocol.ServerMessage)
}

// Stats counts the hub's activity.
type Stats struct {
	Connections int64 // open WebSocket connections
	Rooms       int   // live rooms
	MessagesIn  int64 // frames read from clients
	MessagesOut int64 // frames written to clients
	Rejected    int64 // client messages refused before reaching a room: malformed, rate-limited, failed hello
	// EdgeBatches and EdgeBatchedCalls count, on an edge, the batches of
	// calls sent to rooms' owners and the calls in them.
	EdgeBatches, EdgeBatchedCalls int64
}

const (
	defaultGrace        = 20 * time.Second
	defaultHelloTimeout = 10 * time.Second
	defaultSendQueue    = 1024
	defaultQueueBytes   = 4 << 20
	defaultHostTick     = 10 * time.Millisecond
	defaultCount        = time.Second
	defaultRateLimit    = 50
	defaultMaxConns     = 5
	defaultHelloRate    = 1
	helloBurst          = 10
	// limitsTTL is how long a participant's limits outlive its last
	// connection: a flooder that reconnects finds its bucket as it left it.
	limitsTTL           = 2 * time.Minute
	defaultPingInterval = 20 * time.Second
	// defaultProbeTimeout: a client whose media went silent answers a ping
	// within a round trip if its network is there at all.
	defaultProbeTimeout = 3 * time.Second
	defaultCloseTimeout = 5 * time.Second
	// removedTTL is how long a removed participant is refused even if its
	// token was verified just before the removal.
	removedTTL = time.Minute
)

// Hub serves the signaling WebSocket.
type Hub struct {
	cfg Config
	log *slog.Logger

	// pingInterval is how often the server pings each client; a client that
	// does not answer within the same time is dropped. Tests shorten it.
	pingInterval time.Duration
	// probeTimeout bounds the ping sent when a participant's media went
	// silent (MediaLiveness).
	probeTimeout time.Duration
	// closeTimeout bounds a closing connection's flush and close handshake.
	closeTimeout time.Duration
	// writeTimeout: a frame's write that takes longer is cut (pingLoop).
	writeTimeout time.Duration

	pingOnce sync.Once
	stopPing chan struct{} // closed by Close
	// pacePings, when set, replaces the pinger's pause between chunks
	// (tests).
	pacePings func(time.Duration) bool

	mu        sync.Mutex
	rooms     map[string]*room
	edgeRooms map[string]*edgeRoom // rooms owned elsewhere, served here as an edge
	edgeMedia edgeMediaBook
	conns     map[*conn]struct{}
	removed   map[memberKey]time.Time // recently removed participants
	limits    map[memberKey]*limits   // per participant, across its connections
	closed    bool
	wg        sync.WaitGroup // running connections

	msgsIn                        atomic.Int64
	edgeBatches, edgeBatchedCalls atomic.Int64
	msgsOut                       atomic.Int64
	rejected                      atomic.Int64
	connSerial                    atomic.Uint64 // the last connection's serial
}

type memberKey struct{ meetingID, userID string }

// NewHub returns a hub with defaults filled in.
func NewHub(cfg Config) *Hub {
	if cfg.Grace <= 0 {
		cfg.Grace = defaultGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = defaultHelloTimeout
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = defaultSendQueue
	}
	if cfg.SendQueueBytes <= 0 {
		cfg.SendQueueBytes = defaultQueueBytes
	}
	if cfg.HostTick == 0 {
		cfg.HostTick = defaultHostTick
	}
	if cfg.CountInterval <= 0 {
		cfg.CountInterval = defaultCount
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = defaultRateLimit
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.HelloRate <= 0 {
		cfg.HelloRate = defaultHelloRate
	}
	h := &Hub{
		cfg: cfg, log: cfg.Logger, pingInterval: defaultPingInterval, probeTimeout: defaultProbeTimeout, closeTimeout: defaultCloseTimeout, writeTimeout: defaultWriteTimeout,
		stopPing:  make(chan struct{}),
		rooms:     make(map[string]*room),
		edgeRooms: make(map[string]*edgeRoom),
		conns:     make(map[*conn]struct{}),
		removed:   make(map[memberKey]time.Time),
		limits:    make(map[memberKey]*limits),
	}
	if cfg.Edges != nil && cfg.Placement != nil {
		// An owner may serve a room to edges without a socket of its own.
		go h.watchEdges()
	}
	return h
}

// ServeHTTP upgrades the request to a signaling WebSocket and serves it until
// it closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	ws, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
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
	h.wg.Add(1)
	h.mu.Unlock()
	h.pingOnce.Do(func() { go h.pingLoop() })
	// The connection gets a goroutine of its own and the handler returns:
	// net/http's goroutine, its buffers and the request go, which keeps an
	// idle connection to one small goroutine.
	go func() {
		defer h.wg.Done()
		defer func() {
			h.mu.Lock()
			delete(h.conns, c)
			if c.limits != nil {
				h.releaseLocked(c.limits)
			}
			h.mu.Unlock()
		}()
		c.serve(context.Background())
	}()
}

// Socket buffer sizes after the upgrade. net/http's are 4 KiB each way;
// most signaling frames are far smaller, larger ones bypass the buffer, and
// 6 KiB less per connection matters in a room of 10,000.
const (
	socketReadBuffer  = 1 << 10
	socketWriteBuffer = 1 << 10
)

// smallBuffers is the response writer handed to websocket.Accept: its
// Hijack gives the WebSocket smaller buffers than net/http's.
type smallBuffers struct{ http.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// What the client sent after its request is moved into the new buffer:
	// websocket.Accept takes it from there (it resets the reader to the raw
	// connection after what is buffered).
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	if len(early) == 0 { // as a client waits for the upgrade: read the socket itself
		return conn, bufio.NewReadWriter(bufio.NewReaderSize(conn, socketReadBuffer), bufio.NewWriterSize(conn, socketWriteBuffer)), nil
	}
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(socketReadBuffer, len(early)))
	if _, err := br.Peek(len(early)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, socketWriteBuffer)), nil
}

// limits are one participant's budgets, shared by its connections and kept
// for limitsTTL after the last one closed.
type limits struct {
	msgs   *rate.Limiter // messages
	hellos *rate.Limiter // connections authenticated
	conns  int           // open authenticated connections
	idle   time.Time     // when conns fell to 0
}

// admitLocked counts a new authenticated connection of the participant, or
// refuses it (4021 over MaxConns, 4020 over HelloRate); called with h.mu held.
func (h *Hub) admitLocked(key memberKey) (*limits, *protocol.ErrorBody) {
	l := h.limits[key]
	if l == nil {
		burst := max(1, int(2*h.cfg.RateLimit))
		l = &limits{
			msgs:   rate.NewLimiter(rate.Limit(h.cfg.RateLimit), burst),
			hellos: rate.NewLimiter(rate.Limit(h.cfg.HelloRate), helloBurst),
		}
		h.limits[key] = l
	}
	if l.conns >= h.cfg.MaxConns {
		return nil, protocol.NewError(protocol.CodeTooManyConns, "this participant has %d connections open already", l.conns)
	}
	if !l.hellos.Allow() {
		return nil, protocol.NewError(protocol.CodeRateLimited, "too many connections opened; slow down")
	}
	l.conns++
	return l, nil
}

// releaseLocked counts a participant's connection closed.
func (h *Hub) releaseLocked(l *limits) {
	l.conns--
	if l.conns == 0 {
		l.idle = time.Now()
	}
}

// sweepLimitsLocked forgets the limits of participants gone for limitsTTL.
func (h *Hub) sweepLimitsLocked(now time.Time) {
	for k, l := range h.limits {
		if l.conns == 0 && now.Sub(l.idle) > limitsTTL {
			delete(h.limits, k)
		}
	}
}

// pingLoop pings, every quarter ping interval, the connections that sent
// nothing for a whole interval and have no ping in flight, and cuts those
// whose write has taken writeTimeout. One goroutine for the hub replaces a
// ticker per connection.
func (h *Hub) pingLoop() {
	tick := min(h.pingInterval, h.writeTimeout) / 4
	t := time.NewTicker(tick)
	defer t.Stop()
	var due []*conn
	for {
		select {
		case <-h.stopPing:
			return
		case now := <-t.C:
			quiet := now.Add(-h.pingInterval).UnixNano()
			stuck := now.Add(-h.writeTimeout).UnixNano()
			due = due[:0]
			h.mu.Lock()
			h.sweepLimitsLocked(now)
			for c := range h.conns {
				if c.writeStuck(stuck) {
					go c.cut("write timed out")
					continue
				}
				if c.lastRead.Load() < quiet && !c.pinging.Load() {
					due = append(due, c)
				}
			}
			h.mu.Unlock()
			h.pingPaced(due, quiet, tick/2)
			clear(due)
		}
	}
}

// pingChunk is how many pings the pinger starts at once. The connections
// that joined within one pinger round fall due together a ping interval
// later: in a join wave of 10,000 viewers on a node that was 1,500–2,600
// pings (and their pongs) at once every 2.5 s, and a request → host that
// came in behind them waited 35–175 ms for its reader to run.
const pingChunk = 32

// pingPaced pings the connections of due still quiet since before quiet,
// pingChunk at a time, spread evenly over span; it gives up when the hub
// closes.
func (h *Hub) pingPaced(due []*conn, quiet int64, span time.Duration) {
	chunks := (len(due) + pingChunk - 1) / pingChunk
	pause := span / time.Duration(max(chunks, 1))
	for len(due) > 0 {
		n := min(len(due), pingChunk)
		for _, c := range due[:n] {
			if c.lastRead.Load() < quiet && !c.isClosing() && c.pinging.CompareAndSwap(false, true) {
				go c.ping(h.pingInterval)
			}
		}
		due = due[n:]
		if len(due) > 0 && !h.pace(pause) {
			return
		}
	}
}

// pace waits d between two chunks of the pinger's; false: the hub closed.
// Tests replace it (pacePings).
func (h *Hub) pace(d time.Duration) bool {
	if h.pacePings != nil {
		return h.pacePings(d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-h.stopPing:
		return false
	case <-t.C:
		return true
	}
}

// MediaLiveness is told by the media server when a participant's media
// connection goes silent (live false) or is heard again: hosts see the
// participant as reconnecting meanwhile (EventParticipantConnection), and
// its signaling connection is checked at once (a ping with a deadline of
// a few seconds; no pong drops it and the grace period starts). It does
// not block on the network.
//
// A user served here as an edge (its media session was attached by an
// edge room) is probed here and the owner is told (edgeMediaLiveness).
func (h *Hub) MediaLiveness(meetingID, userID string, live bool) {
	if h.edgeMediaLiveness(meetingID, userID, live) {
		return
	}
	if r := h.existingRoom(meetingID); r != nil {
		r.mediaLiveness(userID, live)
	}
}

// RemoveParticipant closes every connection of the user (4031 "participant
// removed") and takes it out of its room at once: an admin deleted it. For a
// minute afterwards a hello that was verified just before the removal is
// refused too.
func (h *Hub) RemoveParticipant(meetingID, userID string) {
	key := memberKey{meetingID, userID}
	now := time.Now()
	var victims []*conn
	h.mu.Lock()
	for k, at := range h.removed {
		if now.Sub(at) > removedTTL {
			delete(h.removed, k)
		}
	}
	h.removed[key] = now
	for c := range h.conns {
		if id := c.ident.Load(); id != nil && id.MeetingID == meetingID && id.UserID == userID {
			victims = append(victims, c)
		}
	}
	r := h.rooms[meetingID]
	h.mu.Unlock()
	// Closing first means a join racing with this removal sees its
	// connection closing and is refused.
	for _, c := range victims {
		c.closeWith(protocol.CodeRemoved, "participant removed", true)
	}
	if r != nil {
		r.remove(userID)
	}
}

// wasRemoved reports whether the user was removed recently; called with h.mu held.
func (h *Hub) wasRemovedLocked(meetingID, userID string) bool {
	at, ok := h.removed[memberKey{meetingID, userID}]
	return ok && time.Since(at) <= removedTTL
}

// Close closes every connection with 1001 (going away) — in a cluster with
// CodeNodeLeaving and the room's successor node, so that its clients go
// there at once — refuses new ones, and waits (up to a few seconds) for the
// connections to finish.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.stopPing)
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	rooms := h.rooms
	h.rooms = map[string]*room{}
	h.mu.Unlock()
	for _, r := range rooms {
		r.shutdown()
	}
	for _, c := range conns {
		if p := h.cfg.Placement; p != nil {
			to := ""
			if id := c.ident.Load(); id != nil {
				to = p.Successor(id.MeetingID)
			}
			if len(to) > maxReason {
				to = "" // the client picks another node itself
			}
			c.closeWith(protocol.CodeNodeLeaving, to, true)
			continue
		}
		c.closeWith(int(websocket.StatusGoingAway), "server shutting down", true)
	}
	h.closeEdges() // after the closes: a follower may take a second to stop
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(h.closeTimeout + time.Second):
		h.log.Warn("signaling connections still closing after shutdown wait")
	}
}

// RoomMembers returns the members of a meeting's room, in join order, or nil
// when the meeting has no live room.
func (h *Hub) RoomMembers(meetingID string) []stage.Member {
	r := h.existingRoom(meetingID)
	if r == nil {
		return nil
	}
	return r.members()
}

// Subscribe calls fn, in the room's order and under its lock, for every
// committed stage change of the meeting, including a member's exit from the
// room while it was not OFF_STAGE (Cause stage.CauseExit, To OFF_STAGE).
// fn must not block nor call back into the hub. A subscription keeps the
// meeting's room alive; remove ends it.
func (h *Hub) Subscribe(meetingID string, fn func(stage.Change)) (remove func()) {
	for {
		r := h.room(meetingID)
		if r == nil {
			return func() {}
		}
		id, ok := r.subscribe(fn)
		if !ok {
			continue // dropped as empty between lookup and subscribe: fetch anew
		}
		var once sync.Once
		return func() { once.Do(func() { r.unsubscribe(id) }) }
	}
}

// UpdatePreset applies a changed preset to every live room's members who
// have it (see room.setPreset).
func (h *Hub) UpdatePreset(p stage.Preset) {
	h.mu.Lock()
	rooms, edges := slices.Collect(maps.Values(h.rooms)), slices.Collect(maps.Values(h.edgeRooms))
	h.mu.Unlock()
	for _, r := range rooms {
		r.setPreset(p)
	}
	for _, er := range edges {
		er.presetChanged(p)
	}
}

// Stats reports counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	rooms, conns := len(h.rooms), len(h.conns)
	h.mu.Unlock()
	return Stats{
		Connections: int64(conns),
		Rooms:       rooms,
		MessagesIn:  h.msgsIn.Load(),
		MessagesOut: h.msgsOut.Load(),
		Rejected:    h.rejected.Load(),

		EdgeBatches:      h.edgeBatches.Load(),
		EdgeBatchedCalls: h.edgeBatchedCalls.Load(),
	}
}

// DropConnection cuts the user's socket without a close handshake, as a
// network failure would; the user keeps its place for the grace period.
// For tests of reconnection.
func (h *Hub) DropConnection(meetingID, userID string) {
	r := h.existingRoom(meetingID)
	if r == nil {
		return
	}
	if c := r.connOf(userID); c != nil {
		c.ws.CloseNow()
	}
}

// SkipEvent makes the user's connection lose its next event number, as if
// a frame had been lost on the way: the client sees a gap at its next event
// and must resync. For tests of gap detection.
func (h *Hub) SkipEvent(meetingID, userID string) {
	r := h.existingRoom(meetingID)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.attached[userID]; c != nil {
		c.seq++
	}
}

// room returns the meeting's live room, creating it if needed; nil once the
// hub is closed, or, in a cluster, when this node does not own the room.
func (h *Hub) room(meetingID string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	r := h.rooms[meetingID]
	if r == nil {
		var epoch int64
		if p := h.cfg.Placement; p != nil {
			ctx, cancel := context.WithTimeout(context.Background(), placeTimeout)
			e, owner, _, err := p.Claim(ctx, meetingID)
			cancel()
			if err != nil || owner != "" {
				return nil
			}
			epoch = e
		}
		r = newRoom(h, meetingID, epoch)
		// Not yet visible to anyone: restored without its lock.
		if !r.restoreLocked() {
			if p := h.cfg.Placement; p != nil {
				go p.Release(meetingID, epoch) // let a node whose epoch is not fenced claim it
			}
			return nil
		}
		h.rooms[meetingID] = r
	}
	return r
}

// placeTimeout bounds a room's placement (a Redis round trip or two).
const placeTimeout = 3 * time.Second

// place decides, at hello, whether this node serves the meeting's room: ""
// when it does, else the owner's base URL and its lease's time left; an
// error when it cannot tell.
func (h *Hub) place(ctx context.Context, meetingID string) (owner string, ownerLeft time.Duration, err error) {
	p := h.cfg.Placement
	if p == nil {
		return "", 0, nil
	}
	if r := h.existingRoom(meetingID); r != nil {
		return "", 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, placeTimeout)
	defer cancel()
	_, owner, ownerLeft, err = p.Claim(ctx, meetingID)
	return owner, ownerLeft, err
}

// Serving reports whether the meeting has a live room here (server/cluster
// releases the leases of rooms no longer served).
func (h *Hub) Serving(meetingID string) bool { return h.existingRoom(meetingID) != nil }

// Depose ends the meeting's room here: this node lost its lease (or its
// writes were fenced). Its clients are closed with CodeRoomMoved and
// reconnect to the new owner; nothing more is stored from here.
func (h *Hub) Depose(meetingID string) {
	if r := h.existingRoom(meetingID); r != nil {
		r.depose()
	}
}

// nodes is the cluster's node list for hello results.
func (h *Hub) nodes() []string {
	if p := h.cfg.Placement; p != nil {
		return p.Nodes()
	}
	return nil
}

func (h *Hub) existingRoom(meetingID string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[meetingID]
}

// forget drops r from the hub's map; called with r.mu held. A cluster's
// lease is released by server/cluster once the room is not served.
func (h *Hub) forget(r *room) {
	h.mu.Lock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
	}
	h.mu.Unlock()
}

func newPeerID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
