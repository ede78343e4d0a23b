package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

const waitTimeout = 5 * time.Second

// fakeAuth is a token → identity table with a few magic tokens.
type fakeAuth struct {
	mu  sync.Mutex
	ids map[string]auth.Identity
}

func (a *fakeAuth) Authenticate(ctx context.Context, token string) (auth.Identity, error) {
	switch token {
	case "expired":
		return auth.Identity{}, protocol.NewError(protocol.CodeTokenExpired, "token expired")
	case "revoked":
		return auth.Identity{}, protocol.NewError(protocol.CodeTokenRevoked, "participant no longer exists")
	case "broken-store":
		return auth.Identity{}, errors.New("database is down")
	case "panic":
		panic("authenticator exploded")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.ids[token]
	if !ok {
		return auth.Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "invalid token")
	}
	return id, nil
}

// lockedBuffer collects the hub's logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nowMs is the fake clock's time: every request is stamped with it.
const nowMs = 1_750_000_000_000

type env struct {
	t     *testing.T
	hub   *Hub
	srv   *httptest.Server
	wsURL string
	auth  *fakeAuth
	logs  *lockedBuffer
	now   atomic.Int64
}

// newEnv starts a hub behind an httptest server. opts are func(*Config)
// (applied before NewHub) or func(*Hub) (applied before serving).
func newEnv(t *testing.T, opts ...any) *env {
	t.Helper()
	e := &env{t: t, auth: &fakeAuth{ids: map[string]auth.Identity{}}, logs: &lockedBuffer{}}
	e.now.Store(nowMs)
	cfg := Config{
		Auth:   e.auth,
		Grace:  time.Minute,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return time.UnixMilli(e.now.Load()) },
	}
	for _, o := range opts {
		if f, ok := o.(func(*Config)); ok {
			f(&cfg)
		}
	}
	e.hub = NewHub(cfg)
	for _, o := range opts {
		switch f := o.(type) {
		case func(*Hub):
			f(e.hub)
		case func(*Config):
		default:
			t.Fatalf("newEnv: option %T", o)
		}
	}
	e.srv = httptest.NewServer(e.hub)
	e.wsURL = "ws" + strings.TrimPrefix(e.srv.URL, "http")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hub log:\n%s", e.logs.String())
		}
		e.hub.Close()
		e.srv.Close()
	})
	return e
}

// panelist is ALLOWED on stage without accepting requests: in everyone's
// view, but a member of the audience.
var panelist = stage.Preset{Name: "panelist", Permissions: stage.Permissions{StageEnabled: true, StageAccess: stage.Allowed}}

// user registers a participant and returns its token and user id.
func (e *env) user(meetingID, name, preset string) (token, userID string) {
	p, ok := stage.BuiltinPresets()[preset]
	if preset == panelist.Name {
		p, ok = panelist, true
	}
	if !ok {
		e.t.Fatalf("no preset %q", preset)
	}
	userID = "u-" + strings.ToLower(name)
	token = "tok-" + itoa(uint64(tokens.Add(1)))
	e.auth.mu.Lock()
	e.auth.ids[token] = auth.Identity{MeetingID: meetingID, UserID: userID, Name: name, Preset: p}
	e.auth.mu.Unlock()
	return token, userID
}

type msg struct {
	protocol.ServerMessage
	raw []byte
	// more marks the second and later joiners of a participantsJoined
	// event, logged as a participantJoined each (see expandJoins).
	more bool
}

// expandJoins is m as a client takes it: a participantsJoined event is a
// participantJoined for each of its participants, in order, at its seq.
func expandJoins(m msg) []msg {
	if m.Type != protocol.TypeEvent || m.Event != protocol.EventParticipantsJoined {
		return []msg{m}
	}
	out := make([]msg, len(m.Participants))
	for i := range m.Participants {
		ev := m.ServerMessage
		ev.Event, ev.Participant, ev.Participants = protocol.EventParticipantJoined, &m.Participants[i], nil
		out[i] = msg{ServerMessage: ev, raw: m.raw, more: i > 0}
	}
	return out
}

// tclient is a raw protocol client: it sends protocol JSON and records
// every frame the server sends, in order.
type tclient struct {
	t    *testing.T
	name string
	ws   *websocket.Conn
	id   atomic.Uint64
	host bool // accepts stage requests: may see host-only fields

	batches atomic.Int64 // batch frames received (their events are in log)

	mu      sync.Mutex
	log     []msg
	changed chan struct{}
	ended   bool
	endErr  error
	evCur   int // index in log of the next event nextEvent looks at
}

// dial opens a WebSocket to the hub and starts recording.
func (e *env) dial(name string) *tclient {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL, nil)
	if err != nil {
		e.t.Fatalf("%s: dial: %v", name, err)
	}
	ws.SetReadLimit(-1)
	c := &tclient{t: e.t, name: name, ws: ws, changed: make(chan struct{})}
	go c.readLoop()
	e.t.Cleanup(func() {
		ws.CloseNow()
		c.checkSeqs()
		c.checkAudience()
	})
	return c
}

// connect dials and says hello with token.
func (e *env) connect(name, token string) (*tclient, protocol.HelloResult) {
	e.t.Helper()
	c := e.dial(name)
	res := c.ok(protocol.ClientMessage{Type: protocol.TypeHello, Token: token})
	if res.Hello == nil {
		e.t.Fatalf("%s: hello result without hello: %s", name, res.raw)
	}
	c.host = res.Hello.Permissions.AcceptStageRequests
	return c, *res.Hello
}

// join connects a new participant of meetingID and joins the room.
func (e *env) join(meetingID, name, preset string) (*tclient, protocol.Snapshot) {
	e.t.Helper()
	tok, _ := e.user(meetingID, name, preset)
	return e.joinWith(name, tok)
}

func (e *env) joinWith(name, token string) (*tclient, protocol.Snapshot) {
	e.t.Helper()
	c, _ := e.connect(name, token)
	res := c.ok(protocol.ClientMessage{Type: protocol.TypeJoin})
	if res.Snapshot == nil {
		e.t.Fatalf("%s: join result without snapshot: %s", name, res.raw)
	}
	return c, *res.Snapshot
}

// barrier has a new panelist (in everyone's view) join the meeting and
// checks that the next event every client sees is its participantJoined:
// nothing was sent to them in between.
func (e *env) barrier(meetingID string, clients ...*tclient) {
	e.t.Helper()
	name := "Barrier" + itoa(uint64(barriers.Add(1)))
	tok, uid := e.user(meetingID, name, panelist.Name)
	e.joinWith(name, tok)
	for _, c := range clients {
		ev := c.nextEvent()
		if ev.Event != protocol.EventParticipantJoined || ev.Participant == nil || ev.Participant.UserID != uid {
			e.t.Fatalf("%s: expected only the barrier's participantJoined, got %s", c.name, ev.raw)
		}
	}
}

var barriers, tokens atomic.Int64

func (c *tclient) readLoop() {
	for {
		_, b, err := c.ws.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.ended, c.endErr = true, err
		} else {
			c.record(b)
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// record logs one frame; a batch is logged as the events it holds.
func (c *tclient) record(b []byte) {
	var m protocol.ServerMessage
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Errorf("%s: server sent a frame that is not a ServerMessage: %v: %s", c.name, err, b)
	}
	if m.Type != protocol.TypeBatch {
		c.log = append(c.log, expandJoins(msg{ServerMessage: m, raw: b})...)
		return
	}
	c.batches.Add(1)
	var raw struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(b, &raw); err != nil || len(raw.Events) < 2 || len(b) > protocol.MaxFrameBytes {
		c.t.Errorf("%s: bad batch (%d bytes): %v", c.name, len(b), err)
	}
	for i, ev := range raw.Events {
		c.log = append(c.log, expandJoins(msg{ServerMessage: m.Events[i], raw: ev})...)
	}
}

// waitUntil waits until cond (called with c.mu held) holds.
func (c *tclient) waitUntil(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if cond() {
			c.mu.Unlock()
			return
		}
		if c.ended {
			err := c.endErr
			c.mu.Unlock()
			c.t.Fatalf("%s: connection ended (%v) while waiting for %s", c.name, err, what)
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			c.t.Fatalf("%s: timed out waiting for %s; received:\n%s", c.name, what, c.dump())
		}
	}
}

func (c *tclient) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sb strings.Builder
	for i, m := range c.log {
		if i > 40 && i < len(c.log)-20 {
			continue
		}
		sb.Write(m.raw)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func (c *tclient) sendRaw(typ websocket.MessageType, b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return c.ws.Write(ctx, typ, b)
}

// send sends m with version 1 and a fresh id, and returns the id.
func (c *tclient) send(m protocol.ClientMessage) uint64 {
	c.t.Helper()
	if m.V == 0 {
		m.V = protocol.Version
	}
	if m.ID == 0 {
		m.ID = c.id.Add(1)
	}
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.sendRaw(websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
	return m.ID
}

// reply waits for the result or error answering id.
func (c *tclient) reply(id uint64) msg {
	c.t.Helper()
	var out msg
	c.waitUntil("the answer to "+itoa(id), func() bool {
		for _, m := range c.log {
			if (m.Type == protocol.TypeResult || m.Type == protocol.TypeError) && m.ID == id {
				out = m
				return true
			}
		}
		return false
	})
	return out
}

func (c *tclient) call(m protocol.ClientMessage) msg {
	c.t.Helper()
	return c.reply(c.send(m))
}

// ok calls and fails the test on an error answer.
func (c *tclient) ok(m protocol.ClientMessage) msg {
	c.t.Helper()
	res := c.call(m)
	if res.Type != protocol.TypeResult {
		c.t.Fatalf("%s: %s: want a result, got %s", c.name, m.Type, res.raw)
	}
	return res
}

// fails calls and checks the answer is an error with code.
func (c *tclient) fails(m protocol.ClientMessage, code int) msg {
	c.t.Helper()
	res := c.call(m)
	wantError(c.t, c.name+" "+m.Type, res, code)
	return res
}

func wantError(t *testing.T, what string, res msg, code int) {
	t.Helper()
	if res.Type != protocol.TypeError || res.Error == nil || res.Error.Code != code {
		t.Fatalf("%s: want error %d, got %s", what, code, res.raw)
	}
	if res.Error.Message == "" {
		t.Fatalf("%s: error %d without a message", what, code)
	}
}

// nextEvent waits for the next event not yet looked at.
func (c *tclient) nextEvent() msg {
	c.t.Helper()
	var out msg
	c.waitUntil("an event", func() bool {
		for ; c.evCur < len(c.log); c.evCur++ {
			if m := c.log[c.evCur]; m.Type == protocol.TypeEvent && m.Event != protocol.EventCount {
				out = c.log[c.evCur]
				c.evCur++
				return true
			}
		}
		return false
	})
	return out
}

// lastSeq is the seq of the last event received.
func (c *tclient) lastSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.log) - 1; i >= 0; i-- {
		if m := c.log[i]; m.Type == protocol.TypeEvent && m.Seq > 0 {
			return m.Seq
		}
	}
	return 0
}

// stageEvents counts the stage events received.
func (c *tclient) stageEvents() int {
	n := 0
	for _, m := range c.frames() {
		if m.Type == protocol.TypeEvent && m.Event == protocol.EventStage {
			n++
		}
	}
	return n
}

// stageEvent waits for the next event and checks it is a stage event.
func (c *tclient) stageEvent() msg {
	c.t.Helper()
	ev := c.nextEvent()
	if ev.Event != protocol.EventStage {
		c.t.Fatalf("%s: want a stage event, got %s", c.name, ev.raw)
	}
	return ev
}

// closed waits for the connection to end and returns its close status (-1
// when it did not end with a close frame).
func (c *tclient) closed() websocket.StatusCode {
	c.t.Helper()
	c.waitUntil("the connection to close", func() bool { return c.ended })
	c.mu.Lock()
	defer c.mu.Unlock()
	return websocket.CloseStatus(c.endErr)
}

func (c *tclient) closeReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce websocket.CloseError
	if errors.As(c.endErr, &ce) {
		return ce.Reason
	}
	return ""
}

// index returns the position of the first frame matching pred, or -1.
func (c *tclient) index(pred func(msg) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.log {
		if pred(m) {
			return i
		}
	}
	return -1
}

func (c *tclient) frames() []msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]msg(nil), c.log...)
}

// checkSeqs checks that after its join every event this connection got
// carries the connection's next seq, and every later snapshot agrees.
func (c *tclient) checkSeqs() {
	var next uint64
	joined := false
	for _, m := range c.frames() {
		switch {
		case m.Type == protocol.TypeResult && m.Snapshot != nil:
			if joined && m.Snapshot.Seq != next-1 {
				c.t.Errorf("%s: snapshot at seq %d, but the last event was %d", c.name, m.Snapshot.Seq, next-1)
			}
			if !joined {
				joined, next = true, m.Snapshot.Seq+1
			}
		case m.Type == protocol.TypeEvent && m.Event == protocol.EventCount:
			if m.Seq != 0 || m.Count < 1 {
				c.t.Errorf("%s: count event %s", c.name, m.raw)
			}
		case m.Type == protocol.TypeEvent && m.more:
			// the same event as the entry before it
		case m.Type == protocol.TypeEvent:
			if !joined {
				c.t.Errorf("%s: event before the join result: %s", c.name, m.raw)
				continue
			}
			if m.Seq != next {
				c.t.Errorf("%s: event seq %d, want %d: %s", c.name, m.Seq, next, m.raw)
			}
			next = m.Seq + 1
		}
	}
}

// checkAudience checks that a user who does not accept stage requests never
// received host-only fields.
func (c *tclient) checkAudience() {
	if c.host {
		return
	}
	for _, m := range c.frames() {
		if m.Type != protocol.TypeEvent {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(m.raw, &fields); err != nil {
			c.t.Errorf("%s: %v", c.name, err)
			continue
		}
		for _, f := range []string{"requests", "requestsAdded", "requestsRemoved"} {
			if _, ok := fields[f]; ok {
				c.t.Errorf("%s (not a host) received host-only field %q: %s", c.name, f, m.raw)
			}
		}
	}
}

// sameOrder checks that every two clients saw the events they both
// received in the same order (up to the audience's and hosts' own fields).
func sameOrder(t *testing.T, clients ...*tclient) {
	t.Helper()
	keys := make([][]string, len(clients))
	for i, c := range clients {
		for _, m := range c.frames() {
			if m.Type != protocol.TypeEvent || m.Event == protocol.EventCount {
				continue
			}
			keys[i] = append(keys[i], eventKey(m))
		}
	}
	for i := range clients {
		for j := i + 1; j < len(clients); j++ {
			a, b := common(keys[i], keys[j]), common(keys[j], keys[i])
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%s and %s saw their common events in different orders:\n%q\n%q", clients[i].name, clients[j].name, a, b)
			}
		}
	}
}

// eventKey names an event by what every recipient gets of it.
func eventKey(m msg) string {
	k := m.Event
	for _, ch := range m.Changes {
		k += " " + ch.UserID + ":" + string(ch.From) + ">" + string(ch.To) + ":" + string(ch.Cause)
	}
	if m.Participant != nil {
		k += " " + m.Participant.UserID
	}
	return k
}

// common keeps the keys of a that b has too, in a's order; an event is
// only common when both saw it, so a stage event is compared change by
// change.
func common(a, b []string) []string {
	in := map[string]bool{}
	for _, k := range b {
		for _, part := range splitChanges(k) {
			in[part] = true
		}
	}
	var out []string
	for _, k := range a {
		for _, part := range splitChanges(k) {
			if in[part] {
				out = append(out, part)
			}
		}
	}
	return out
}

func splitChanges(k string) []string {
	f := strings.Fields(k)
	if len(f) < 2 || f[0] != protocol.EventStage {
		return []string{k}
	}
	out := make([]string, 0, len(f)-1)
	for _, ch := range f[1:] {
		out = append(out, f[0]+" "+ch)
	}
	return out
}

// statuses maps user id → status in a snapshot (self included).
func statuses(s protocol.Snapshot) map[string]stage.Status {
	out := map[string]stage.Status{s.Self.UserID: s.Self.StageStatus}
	for _, p := range s.Participants {
		out[p.UserID] = p.StageStatus
	}
	return out
}

func memberStatuses(ms []stage.Member) map[string]stage.Status {
	out := map[string]stage.Status{}
	for _, m := range ms {
		out[m.UserID] = m.Status
	}
	return out
}

func act(typ string, ids ...string) protocol.ClientMessage {
	return protocol.ClientMessage{Type: typ, UserIDs: ids}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
