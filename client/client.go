package client

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Options configure a Meeting.
type Options struct {
	// BaseURI is the server's http(s)://host:port (a path prefix is kept);
	// the WebSocket is BaseURI + "/v1/ws". ws(s):// is accepted too.
	BaseURI   string
	AuthToken string
	// Logger receives debug and warning logs (a *slog.Logger, say); nil
	// discards them.
	Logger Logger
	// RequestTimeout bounds every request (and the dial and hello of each
	// connection). Default 10s.
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential reconnect backoff; each
	// wait is drawn from [d/2, d). Defaults 250ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval and PingTimeout keep the connection honest: after
	// PingInterval without a frame from the server the client pings, and
	// if nothing arrives within PingTimeout more the connection is taken
	// for dead (a network that drops packets without a reset) and the
	// client reconnects, emitting reconnecting. Defaults 5s and 4s; a
	// negative PingInterval turns the pings off.
	PingInterval, PingTimeout time.Duration
	// AudiencePingInterval replaces PingInterval while the user is in the
	// audience with nothing at stake (OFF_STAGE, not a host): an idle
	// audience's pings are what it costs the server. Default 30s.
	AudiencePingInterval time.Duration
}

// Liveness defaults (Options.PingInterval, PingTimeout,
// AudiencePingInterval): hosts, users on stage or waiting for it notice a
// silent dead connection within 9 s, an idle viewer within 34 s. Each
// ping costs the server a read and a write: 10,000 idle viewers pinging
// every 30 s cost it about 1.4% of a core (see the README).
const (
	defaultPingInterval         = 5 * time.Second
	defaultPingTimeout          = 4 * time.Second
	defaultAudiencePingInterval = 30 * time.Second
)

// Participant is a member of the room as the others see it.
type Participant = protocol.Participant

// Self is the local user. The embedded Participant holds PeerID (the
// connection's id, stable across reconnects within the grace period),
// UserID, Name, PresetName and StageStatus.
type Self struct {
	protocol.Participant
	MeetingID   string
	Permissions protocol.Permissions
	// MeetingTitle is the meeting's title; StartedAt when the room's
	// session started on the server (ms since epoch, 0 before Join).
	MeetingTitle string
	StartedAt    int64
	// RoomJoined is set by Join and cleared by Leave, Close and a fatal
	// disconnect; it stays set while reconnecting (the server keeps the
	// user's place for its grace period).
	RoomJoined bool
}

// Meeting is one user's session in one meeting. Its methods are safe for
// concurrent use.
type Meeting struct {
	opts  Options
	log   Logger
	wsURL string // the WebSocket URL of BaseURI
	dial  dialFunc
	// route is where the reader connects: the node that served the last
	// connection and, in a cluster, the other live nodes to fall back on.
	// Owned by the reader (and open, before it starts).
	route route
	stage Stage
	ids   atomic.Uint64 // request ids, unique for the meeting's life
	// keepMedia: a media session keeps its peer connections across
	// reconnects (KeepMedia), so rejoins ask the server to keep its side.
	keepMedia atomic.Bool

	ctx    context.Context // ends when the meeting is closed: stops reconnecting
	cancel context.CancelFunc
	done   chan struct{} // closed when the reader goroutine exits

	mu           sync.Mutex
	st           state
	joinName     string        // SetName's name, sent with every join ("": the token's)
	cur          *conn         // the reader's connection (also while it handshakes)
	conn         *conn         // the connection that takes calls; nil while reconnecting
	connReady    chan struct{} // closed when a connection takes calls again (awaitConn)
	closed       bool          // Leave, Close or a fatal close: no more calls, no reconnect
	reconnecting bool
	backoff      time.Duration // reader only: next reconnect wait
	prompt       int           // reader only: attempts left without backing off (the node shut down cleanly)
	spare        *spareSocket  // a socket Probe opened to replace a dead one; the reconnect takes it

	lmu    sync.Mutex // guards listener registration
	ls     listeners
	emitMu sync.Mutex // one emission at a time
}

// Init connects to the server and authenticates the token. It fails with a
// *Error: 4010 without a token, 4011/4012/4013 for an invalid, expired or
// revoked token, 5001 when the server cannot be reached, 5003 when it does
// not answer in time.
func Init(ctx context.Context, o Options) (*Meeting, error) {
	m, err := newMeeting(o, dialWebSocket)
	if err != nil {
		return nil, err
	}
	if err := m.open(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// open makes the first connection and starts the reader.
func (m *Meeting) open(ctx context.Context) error {
	c, hello, err := m.dialHello(ctx)
	if err != nil {
		m.cancel()
		return err
	}
	m.mu.Lock()
	m.applyHello(hello)
	m.cur = c
	m.setConnLocked(c)
	m.mu.Unlock()
	go m.run(c)
	return nil
}

// newMeeting checks the options and builds an unconnected Meeting.
func newMeeting(o Options, dial dialFunc) (*Meeting, error) {
	if o.AuthToken == "" {
		return nil, newError(CodeTokenMissing, "authToken is required")
	}
	wsURL, err := socketURL(o.BaseURI)
	if err != nil {
		return nil, err
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.PingInterval == 0 {
		o.PingInterval = defaultPingInterval
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = defaultPingTimeout
	}
	if o.AudiencePingInterval <= 0 {
		o.AudiencePingInterval = max(o.PingInterval, defaultAudiencePingInterval)
	}
	if o.Logger == nil {
		o.Logger = Discard
	}
	m := &Meeting{opts: o, log: o.Logger, wsURL: wsURL, dial: dial, st: newState(), done: make(chan struct{})}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.stage.m = m
	return m, nil
}

// socketURL turns BaseURI into the signaling WebSocket URL.
func socketURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", newError(CodeBadArgs, "baseURI must be an absolute http(s) URL, got %q", base)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", newError(CodeBadArgs, "baseURI must be an http(s) URL, got %q", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/ws"
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// applyHello records who the token says the user is; called with mu held.
// Once joined, the room's snapshot is the authority on self.
func (m *Meeting) applyHello(h *protocol.HelloResult) {
	m.st.self.MeetingID = h.MeetingID
	m.st.self.MeetingTitle = h.MeetingTitle
	m.st.self.Permissions = h.Permissions
	if !m.st.self.RoomJoined {
		m.st.self.Participant = h.Self
	}
}

// maxRedirects bounds the hops of one connection attempt in a cluster
// (a room that moves while the client follows it).
const maxRedirects = 3

// route is where a meeting connects. A clustered server answers a hello
// for a room it does not serve with the owner's URL (4050), which the
// client follows; its hello results list the live nodes, which the client
// tries in turn when the node it was on cannot be reached (it died) or
// cannot place the room (4052). A node that shut down (4053) or could not
// be reached is left out of the turn for a while: the other nodes' lists
// may still name it.
type route struct {
	current string               // the node of the last connection (WebSocket URL)
	nodes   []string             // the cluster's nodes (WebSocket URLs), from hello
	next    int                  // the next fallback to try
	down    map[string]time.Time // nodes found gone, and when
}

// downFor is how long a node found gone is skipped while another remains.
const downFor = 30 * time.Second

// target is the URL of the next connection attempt: the current node
// first, then, after failures, the others in turn (BaseURI among them),
// skipping those found gone unless every one was.
func (r *route) target(home string, failures int) string {
	if failures == 0 && r.current != "" {
		return r.current
	}
	alts := []string{home}
	for _, n := range r.nodes {
		if n != home {
			alts = append(alts, n)
		}
	}
	if up := slices.DeleteFunc(slices.Clone(alts), r.isDown); len(up) > 0 {
		alts = up
	}
	u := alts[r.next%len(alts)]
	r.next++
	return u
}

func (r *route) isDown(u string) bool {
	at, ok := r.down[u]
	return ok && time.Since(at) < downFor
}

// markDown records that the node at u shut down or cannot be reached.
func (r *route) markDown(u string) {
	if r.down == nil {
		r.down = map[string]time.Time{}
	}
	r.down[u] = time.Now()
	if r.current == u {
		r.current = ""
	}
}

// leaving handles the close of a node that shuts down (4053): it is gone,
// and reason names the node to go to instead, if any.
func (r *route) leaving(reason string) {
	if r.current != "" {
		r.markDown(r.current)
	}
	if u, err := socketURL(reason); err == nil && reason != "" {
		r.current = u
	}
}

// setNodes records a hello's node list (base URLs).
func (r *route) setNodes(bases []string) {
	if len(bases) == 0 {
		return
	}
	nodes := make([]string, 0, len(bases))
	for _, b := range bases {
		if u, err := socketURL(b); err == nil {
			nodes = append(nodes, u)
		}
	}
	r.nodes = nodes
}

// dialHello opens a connection to the current node and authenticates it,
// following a cluster's redirects.
func (m *Meeting) dialHello(ctx context.Context) (*conn, *protocol.HelloResult, error) {
	c, hello, _, err := m.dialVia(ctx, m.route.target(m.wsURL, 0), nil)
	return c, hello, err
}

// dialVia connects to url and authenticates, following up to maxRedirects
// redirects to the node that serves the room; on success that node becomes
// the route's current one. When a redirect's target cannot be reached (the
// owner died), retryAt is when its lease ends and another node may take
// the room: the time to try again, rather than backing off blindly.
//
// first, if not nil, is a socket already open to url (Probe's spare): it
// is used instead of a new one.
func (m *Meeting) dialVia(ctx context.Context, url string, first transport) (c *conn, hello *protocol.HelloResult, retryAt time.Time, err error) {
	var leaseEnds time.Time
	for hop := 0; ; hop++ {
		c, hello, err = m.dialHelloAt(ctx, url, first)
		first = nil
		var e *protocol.ErrorBody
		if errors.As(err, &e) && e.Code == protocol.CodeElsewhere && e.Redirect != "" && hop < maxRedirects {
			next, uerr := socketURL(e.Redirect)
			if uerr != nil {
				return nil, nil, time.Time{}, newError(protocol.CodeMalformed, "the server redirected to %q: %v", e.Redirect, uerr)
			}
			m.log.Debug("stagekit: the room lives on another node; following", "to", next)
			url = next
			leaseEnds = time.Time{}
			if e.LeaseMs > 0 {
				leaseEnds = time.Now().Add(time.Duration(e.LeaseMs) * time.Millisecond)
			}
			continue
		}
		if err == nil {
			m.route.current = url
			delete(m.route.down, url)
			m.route.setNodes(hello.Nodes)
		} else if code := CodeOf(err); code == CodeUnreachable || code == CodeTimeout {
			m.route.markDown(url)
			if !leaseEnds.IsZero() {
				retryAt = leaseEnds
			}
		}
		return c, hello, retryAt, err
	}
}

// helloFrame is the first message on every connection: call id and token.
func helloFrame(id uint64, token string) []byte {
	data, _ := protocol.EncodeClient(protocol.ClientMessage{V: protocol.Version, ID: id, Type: protocol.TypeHello, Token: token})
	return data
}

// helloSender is a transport whose opener sent (or sends on open) the hello
// itself: the browser loader's early socket.
type helloSender interface {
	sentHello() string
}

// dialHelloAt opens a connection to url (or takes t, one open to it) and
// authenticates it. The hello exchange is read here, before the
// connection's reader starts.
func (m *Meeting) dialHelloAt(ctx context.Context, url string, t transport) (*conn, *protocol.HelloResult, error) {
	dctx, cancel := context.WithTimeout(ctx, m.opts.RequestTimeout)
	defer cancel()
	if t == nil {
		var err error
		if t, err = m.dial(dctx, url); err != nil {
			if m.ctx.Err() != nil {
				return nil, nil, newError(CodeClosed, "the meeting was closed")
			}
			return nil, nil, newError(CodeUnreachable, "cannot reach the server at %s: %v", url, err)
		}
	}
	id := m.ids.Add(1)
	data := helloFrame(id, m.opts.AuthToken)
	if len(data) > protocol.MaxFrameBytes {
		t.close()
		return nil, nil, newError(CodeTooLarge, "the token is too large")
	}
	if pre, ok := t.(helloSender); !ok || pre.sentHello() != string(data) {
		if err := t.write(data); err != nil {
			t.close()
			return nil, nil, newError(CodeUnreachable, "cannot reach the server: %v", err)
		}
	}
	for {
		raw, err := t.read(dctx)
		if err != nil {
			t.close()
			code, reason := closeCode(err)
			switch {
			case code >= 4000 && code <= 4999:
				return nil, nil, newError(code, "%s", reason)
			case dctx.Err() != nil:
				return nil, nil, ctxError(dctx)
			}
			return nil, nil, newError(CodeUnreachable, "the server closed the connection: %v", err)
		}
		var msg protocol.ServerMessage
		if err := protocol.DecodeServer(raw, &msg); err != nil || msg.ID != id {
			continue
		}
		switch {
		case msg.Type == protocol.TypeError && msg.Error != nil:
			t.close()
			return nil, nil, msg.Error
		case msg.Type == protocol.TypeResult && msg.Hello != nil:
			return newConn(m, t, url), msg.Hello, nil
		}
		t.close()
		return nil, nil, newError(protocol.CodeMalformed, "unexpected answer to hello")
	}
}

// Join enters the room. It fills Self, Participants and (for users who
// accept stage requests) the pending list from the server's snapshot and
// emits roomJoined (preceded by stageStatusUpdate when the snapshot's status
// differs from hello's, e.g. a pending request kept from a previous
// connection, and by stageAccessRequestUpdate when requests are pending).
// Joining twice is a no-op. A join interrupted by the room moving to
// another node (4051) or by a dropped connection is sent again once the
// meeting has reconnected, until ctx ends.
func (m *Meeting) Join(ctx context.Context) error {
	m.mu.Lock()
	joined := m.st.self.RoomJoined
	m.mu.Unlock()
	if joined {
		return nil
	}
	for {
		m.mu.Lock()
		c, closed := m.conn, m.closed
		m.mu.Unlock()
		var err error
		switch {
		case closed:
			return newError(CodeClosed, "the meeting was left or closed")
		case c == nil:
			err = newError(CodeDisconnected, "not connected; reconnecting")
		default:
			_, err = c.call(ctx, m.joinMessage(false), kindJoin)
		}
		if code := CodeOf(err); code != protocol.CodeRoomMoved && code != CodeDisconnected {
			return err
		}
		// The room moved to another node (a cluster's owner died or was
		// deposed mid-join) or the connection dropped: the meeting
		// reconnects by itself, and a join is safe to repeat, so join again
		// on its next connection rather than fail the page's join().
		m.log.Debug("stagekit: join interrupted; joining again after the reconnect", "err", err)
		if werr := m.awaitConn(ctx, c); werr != nil {
			return err
		}
	}
}

// awaitConn waits until a connection other than old takes calls, the
// meeting is closed, or ctx ends.
func (m *Meeting) awaitConn(ctx context.Context, old *conn) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return newError(CodeClosed, "the meeting was left or closed")
	}
	if m.conn != nil && m.conn != old {
		m.mu.Unlock()
		return nil
	}
	if m.connReady == nil {
		m.connReady = make(chan struct{})
	}
	ready := m.connReady
	m.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-m.ctx.Done():
		return newError(CodeClosed, "the meeting was left or closed")
	case <-ctx.Done():
		return ctxError(ctx)
	}
}

// setConnLocked makes c the connection that takes calls and wakes those
// waiting for one.
func (m *Meeting) setConnLocked(c *conn) {
	m.conn = c
	if c != nil && m.connReady != nil {
		close(m.connReady)
		m.connReady = nil
	}
}

// joinMessage is the join request: with SetName's name if one was set,
// and after a reconnect, whether the media session is kept.
func (m *Meeting) joinMessage(rejoin bool) protocol.ClientMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return protocol.ClientMessage{Type: protocol.TypeJoin, Name: m.joinName, KeepMedia: rejoin && m.keepMedia.Load()}
}

// KeepMedia says that a media session (client/media) keeps its peer
// connections across reconnects: a rejoin within the grace period then
// asks the server to keep its media session, and the media session
// restarts ICE on them instead of building new ones.
func (m *Meeting) KeepMedia() { m.keepMedia.Store(true) }

// Probe checks the signaling connection now (the media session calls it
// when its media went silent, a sign that the network changed): it pings,
// and unless the connection spoke within probeGrace, opens a second
// socket to the same node meanwhile. The old connection is dropped, and
// the meeting reconnects at once over the new socket, when the new one is
// open and the old has not said a word for as long again, and at least
// probeGrace (a live one answers within a round trip; opening a socket
// takes two), or when it stays silent for timeout. A connection that
// answers keeps going and the new socket is closed unused (the server
// sees it open and close, never a hello).
func (m *Meeting) Probe(timeout time.Duration) error {
	m.mu.Lock()
	c := m.conn
	m.mu.Unlock()
	if c == nil {
		return newError(CodeDisconnected, "not connected; reconnecting")
	}
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	if time.Since(time.Unix(0, c.lastRead.Load())) < probeGrace {
		// It spoke just now (or is new: the media restarting after a
		// reconnect is silent too): a ping is enough.
		return c.ping(ctx)
	}
	start := time.Now()
	readsBefore := c.reads.Load()
	pinged := make(chan error, 1)
	go func() { pinged <- c.ping(ctx) }()
	opened := make(chan transport)
	probeDone := make(chan struct{})
	defer close(probeDone)
	go func() {
		t, err := m.dial(ctx, c.url)
		if err != nil {
			return
		}
		select {
		case opened <- t:
		case <-probeDone:
			t.close()
		}
	}()
	select {
	case err := <-pinged:
		return err
	case t := <-opened:
		wait := time.NewTimer(max(time.Since(start), probeGrace))
		defer wait.Stop()
		select {
		case err := <-pinged:
			t.close()
			return err
		case <-wait.C:
		}
		if c.reads.Load() != readsBefore {
			t.close() // it spoke: slow, not dead
			return <-pinged
		}
		m.mu.Lock()
		if m.closed || m.conn != c {
			m.mu.Unlock()
			t.close()
			return <-pinged
		}
		if m.spare != nil {
			m.spare.t.close()
		}
		m.spare = &spareSocket{t: t, url: c.url}
		m.mu.Unlock()
		m.log.Debug("stagekit: the connection is silent while a new socket opened; switching", "after", time.Since(start))
		c.t.close()
		return <-pinged
	}
}

// probeGrace is the least Probe waits for a word on the old connection
// once the new socket is open: on loopback or a LAN the new one opens in
// a millisecond, sooner than a busy machine schedules the old one's reader.
const probeGrace = 150 * time.Millisecond

// spareSocket is a socket Probe opened to url, not yet authenticated.
type spareSocket struct {
	t   transport
	url string
}

// SetName sets the name others see, before Join (RealtimeKit's
// self.setName): the join carries it and the server uses it in place of
// the token's. Errors (4005): an empty or blank name, one longer than
// protocol.MaxNameBytes, or a call after Join.
func (m *Meeting) SetName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > protocol.MaxNameBytes {
		return newError(CodeBadArgs, "setName needs a name of 1 to %d bytes", protocol.MaxNameBytes)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.self.RoomJoined {
		return newError(CodeBadArgs, "setName works only before join")
	}
	m.joinName = name
	m.st.self.Name = name
	return nil
}

// Leave leaves the room and closes the meeting: the server takes the user
// out at once (a pending request is withdrawn). roomLeft is emitted if the
// user was in the room. The meeting is finished afterwards even if the
// server could not be told (the error says so; the server then drops the
// user when its grace period ends).
func (m *Meeting) Leave(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return newError(CodeClosed, "the meeting was already left or closed")
	}
	m.closed = true // no reconnect when the server closes after answering
	c := m.conn
	m.mu.Unlock()

	var err error
	if c == nil {
		err = newError(CodeDisconnected, "not connected; the server will drop the user after its grace period")
	} else {
		_, err = c.call(ctx, protocol.ClientMessage{Type: protocol.TypeLeave}, kindPlain)
	}
	m.mu.Lock()
	wasJoined := m.st.self.RoomJoined
	m.st.self.RoomJoined = false
	m.mu.Unlock()
	m.shutdown()
	if wasJoined {
		m.emit(Event{Name: EventRoomLeft})
	}
	return err
}

// Close drops the connection without leaving, as a crash would: the server
// keeps the user's place for its grace period. The meeting does not
// reconnect; calls in flight fail with 5004. No event is emitted.
func (m *Meeting) Close() {
	m.mu.Lock()
	m.closed = true
	m.st.self.RoomJoined = false
	m.mu.Unlock()
	m.shutdown()
}

// shutdown stops reconnecting and closes the reader's connection.
func (m *Meeting) shutdown() {
	m.cancel()
	m.mu.Lock()
	c := m.cur
	m.conn = nil
	m.mu.Unlock()
	if c != nil {
		c.t.close()
	}
}

// Done is closed when the meeting is finished (after Leave, Close or a
// fatal disconnect) and its reader goroutine has exited.
func (m *Meeting) Done() <-chan struct{} { return m.done }

// Self returns a copy of the local user.
func (m *Meeting) Self() Self {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.self
}

// Participants returns copies of the other participants the user may see,
// in join order: everyone for hosts (and presets that see all
// participants), otherwise those on stage or ALLOWED on it.
func (m *Meeting) Participants() []Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Participant, 0, len(m.st.order))
	for _, id := range m.st.order {
		out = append(out, *m.st.peers[id])
	}
	return out
}

// Count is the room's participant count, the local user included: the
// whole room, also where the user sees only the stage. It follows the
// server's count broadcasts (participantCount events).
func (m *Meeting) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.count
}

// Participant returns the other participant with peerID.
func (m *Meeting) Participant(peerID string) (Participant, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.st.peers[peerID]
	if !ok {
		return Participant{}, false
	}
	return *p, true
}

// Requests returns the pending requests as the client knows them (kept up to
// date by events, for users who accept stage requests; empty otherwise).
// Stage().GetAccessRequests asks the server instead.
func (m *Meeting) Requests() []protocol.StageRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copyRequests(m.st.requests)
}

// Seq is the room sequence number of the last event the client applied.
func (m *Meeting) Seq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.lastSeq
}

// Stage is meeting.stage.
func (m *Meeting) Stage() *Stage { return &m.stage }

// pingInterval is how long a silence may last before the client pings:
// shorter while something is at stake for the user.
func (m *Meeting) pingInterval() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.seesEveryone() || m.st.self.StageStatus != stage.OffStage {
		return m.opts.PingInterval
	}
	return m.opts.AudiencePingInterval
}

// Ping makes one round trip to the server on the current connection.
func (m *Meeting) Ping(ctx context.Context) error {
	_, err := m.call(ctx, protocol.ClientMessage{Type: protocol.TypePing}, kindPlain)
	return err
}

// SendMedia sends one media signaling message (protocol.TypeMediaOffer,
// TypeMediaAnswer, TypeMediaCandidate or TypeMediaRestart) and returns the server's answer
// (for an offer, the answer SDP). The server's own media messages arrive as
// EventMedia. Media needs a joined room.
func (m *Meeting) SendMedia(ctx context.Context, msg protocol.ClientMessage) (protocol.ServerMessage, error) {
	switch msg.Type {
	case protocol.TypeMediaOffer, protocol.TypeMediaAnswer, protocol.TypeMediaCandidate, protocol.TypeMediaRestart:
	default:
		return protocol.ServerMessage{}, newError(CodeBadArgs, "%q is not a media message", msg.Type)
	}
	if err := m.requireJoined(); err != nil {
		return protocol.ServerMessage{}, err
	}
	return m.call(ctx, msg, kindPlain)
}

// requireJoined refuses locally, without sending, before Join.
func (m *Meeting) requireJoined() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return newError(CodeClosed, "the meeting was left or closed")
	case !m.st.self.RoomJoined:
		return newError(CodeNotJoined, "action not permitted without joining the room")
	}
	return nil
}

// call sends a request on the connection that takes calls and waits for its
// answer.
func (m *Meeting) call(ctx context.Context, msg protocol.ClientMessage, kind callKind) (protocol.ServerMessage, error) {
	m.mu.Lock()
	c, closed := m.conn, m.closed
	m.mu.Unlock()
	switch {
	case closed:
		return protocol.ServerMessage{}, newError(CodeClosed, "the meeting was left or closed")
	case c == nil:
		return protocol.ServerMessage{}, newError(CodeDisconnected, "not connected; reconnecting")
	}
	return c.call(ctx, msg, kind)
}

// Stage is meeting.stage: the local user's stage status and the stage
// actions. Every action returns after the server committed it (the local
// status already shows it) or with the server's refusal (*Error; nothing
// changed). Before Join they fail with 2005 without sending.
type Stage struct{ m *Meeting }

// Status is the local user's stage status.
func (s *Stage) Status() stage.Status {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.st.self.StageStatus
}

// PeerID is the local connection's id.
func (s *Stage) PeerID() string {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.st.self.PeerID
}

func (s *Stage) act(ctx context.Context, typ string, ids []string) error {
	_, err := s.actReply(ctx, typ, ids)
	return err
}

// actReply is act that also returns the server's answer.
func (s *Stage) actReply(ctx context.Context, typ string, ids []string) (protocol.ServerMessage, error) {
	if err := s.m.requireJoined(); err != nil {
		return protocol.ServerMessage{}, err
	}
	msg := protocol.ClientMessage{Type: typ, UserIDs: ids}
	if typ == protocol.TypeStageGrant {
		// A grant means "accept the request" or "invite" by what this user
		// saw; the server refuses it (2006) if the target moved since, so a
		// grant crossing a cancel does not turn into an invitation.
		msg.Expect = s.m.seenStatuses(ids)
	}
	return s.m.call(ctx, msg, kindPlain)
}

// seenStatuses is the status this client last saw for each user id ("" for
// users it does not know: no expectation).
func (m *Meeting) seenStatuses(ids []string) []stage.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	byUser := make(map[string]stage.Status, len(m.st.peers)+1)
	for _, p := range m.st.peers {
		byUser[p.UserID] = p.StageStatus
	}
	byUser[m.st.self.UserID] = m.st.self.StageStatus
	out := make([]stage.Status, len(ids))
	for i, id := range ids {
		out[i] = byUser[id]
	}
	return out
}

// RequestAccess asks to come on stage: OFF_STAGE → REQUESTED_TO_JOIN_STAGE.
// For an ALLOWED user it succeeds and queues nothing (the status stays
// ACCEPTED); NOT_ALLOWED users get 2001, stage-disabled presets 2003, other
// statuses 2006.
func (s *Stage) RequestAccess(ctx context.Context) error {
	return s.act(ctx, protocol.TypeStageRequest, nil)
}

// CancelRequestAccess withdraws the pending request: REQUESTED → OFF_STAGE.
// With nothing pending (OFF_STAGE, as this client knows it) it succeeds
// without asking the server, as RealtimeKit's does; from ACCEPTED or
// ON_STAGE the server refuses it (2006).
func (s *Stage) CancelRequestAccess(ctx context.Context) error {
	if err := s.m.requireJoined(); err != nil {
		return err
	}
	if s.Status() == stage.OffStage {
		return nil
	}
	s.m.mu.Lock()
	s.m.st.cancelling = true
	s.m.mu.Unlock()
	err := s.act(ctx, protocol.TypeStageCancel, nil)
	if c := CodeOf(err); c != CodeDisconnected && c != CodeTimeout {
		// The outcome is known; only a lost answer leaves it to the resync.
		s.m.mu.Lock()
		s.m.st.cancelling = false
		s.m.mu.Unlock()
	}
	return err
}

// GrantAccess accepts requesters and invites the others named (OFF_STAGE →
// ACCEPTED); all or none. Needs acceptStageRequests (2001); an unknown user
// id fails the call with 2101 naming it (Error.UserIDs). The grant carries
// the status this client saw for each user: one who moved since (a request
// cancelled, another host's grant first) is refused with 2006.
func (s *Stage) GrantAccess(ctx context.Context, userIDs []string) error {
	return s.act(ctx, protocol.TypeStageGrant, userIDs)
}

// DenyAccess rejects requesters (REQUESTED → OFF_STAGE); all or none.
func (s *Stage) DenyAccess(ctx context.Context, userIDs []string) error {
	return s.act(ctx, protocol.TypeStageDeny, userIDs)
}

// Kick takes users off stage (ON_STAGE or ACCEPTED → OFF_STAGE; ALLOWED
// users → ACCEPTED); all or none.
func (s *Stage) Kick(ctx context.Context, userIDs []string) error {
	return s.act(ctx, protocol.TypeStageKick, userIDs)
}

// KickReply is Kick that also returns the server's answer (its ID is the
// request's), which the browser SDK's kick() resolves with.
func (s *Stage) KickReply(ctx context.Context, userIDs []string) (protocol.ServerMessage, error) {
	return s.actReply(ctx, protocol.TypeStageKick, userIDs)
}

// Join goes on stage: ACCEPTED → ON_STAGE.
func (s *Stage) Join(ctx context.Context) error { return s.act(ctx, protocol.TypeStageJoin, nil) }

// Leave leaves the stage (ON_STAGE → OFF_STAGE, ALLOWED users → ACCEPTED),
// or declines an invitation (ACCEPTED → OFF_STAGE).
func (s *Stage) Leave(ctx context.Context) error { return s.act(ctx, protocol.TypeStageLeave, nil) }

// AccessRequests returns the pending requests the client holds, oldest
// first, without a round trip: the server-confirmed list its events keep
// current (RealtimeKit's synchronous getAccessRequests). Stage-disabled
// presets get 2003, users without acceptStageRequests 2001.
func (s *Stage) AccessRequests() ([]protocol.StageRequest, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	switch p := s.m.st.self.Permissions; {
	case !p.StageEnabled:
		return nil, newError(int(stage.CodeStageDisabled), "stage is disabled for this preset")
	case !p.AcceptStageRequests:
		return nil, newError(int(stage.CodePermissionDenied), "listing stage requests needs acceptStageRequests")
	}
	return copyRequests(s.m.st.requests), nil
}

// GetAccessRequests asks the server for the pending requests, oldest first
// (users with acceptStageRequests; others get 2001). It never returns nil
// without an error.
func (s *Stage) GetAccessRequests(ctx context.Context) ([]protocol.StageRequest, error) {
	if err := s.m.requireJoined(); err != nil {
		return nil, err
	}
	res, err := s.m.call(ctx, protocol.ClientMessage{Type: protocol.TypeStageRequests}, kindPlain)
	if err != nil {
		return nil, err
	}
	if res.Requests == nil {
		return []protocol.StageRequest{}, nil
	}
	return res.Requests, nil
}
