package client

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// This file is a scripted stand-in for the server, speaking the protocol
// over an in-memory transport, so the unit tests drive the client through
// exactly the code the reader runs: transport → decode → handle.

const waitTimeout = 5 * time.Second

// fakeConn is one in-memory connection; the test plays the server.
type fakeConn struct {
	net    *fakeNet
	in     chan []byte // server → client
	closed chan struct{}
	once   sync.Once
	code   int
	reason string

	mu   sync.Mutex
	sent []protocol.ClientMessage
}

func (fc *fakeConn) read(ctx context.Context) ([]byte, error) {
	select {
	case b := <-fc.in:
		return b, nil
	default:
	}
	select {
	case b := <-fc.in:
		return b, nil
	case <-fc.closed:
		select { // what was sent before the close is read first
		case b := <-fc.in:
			return b, nil
		default:
		}
		return nil, &closedError{Code: fc.code, Reason: fc.reason}
	case <-ctx.Done():
		fc.close()
		return nil, &closedError{Code: -1, Err: ctx.Err()}
	}
}

func (fc *fakeConn) write(data []byte) error {
	select {
	case <-fc.closed:
		return errors.New("closed")
	default:
	}
	var msg protocol.ClientMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		fc.net.t.Errorf("client sent undecodable %q", data)
		return nil
	}
	fc.mu.Lock()
	fc.sent = append(fc.sent, msg)
	fc.mu.Unlock()
	fc.net.serve(fc, msg)
	return nil
}

func (fc *fakeConn) close() { fc.shut(-1, "") }

// shut ends the connection as seen by the client, with a close code.
func (fc *fakeConn) shut(code int, reason string) {
	fc.once.Do(func() {
		fc.code, fc.reason = code, reason
		close(fc.closed)
	})
}

func (fc *fakeConn) push(msg protocol.ServerMessage) {
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	select {
	case fc.in <- b:
	case <-time.After(waitTimeout):
		fc.net.t.Errorf("client does not read")
	}
}

// sentOf returns the messages of type typ the client sent.
func (fc *fakeConn) sentOf(typ string) []protocol.ClientMessage {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []protocol.ClientMessage
	for _, m := range fc.sent {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// fakeNet is the server side: it accepts dials and answers hello, join and
// snapshot from the current room state; other requests go to onRequest.
type fakeNet struct {
	t *testing.T

	mu        sync.Mutex
	conns     []*fakeConn
	dialed    chan *fakeConn
	refuse    error           // dial error while set
	down      map[string]bool // URLs whose dials fail
	dials     []string        // every URL dialed, in order
	nodes     []string        // hello results' node list
	helloErr  *protocol.ErrorBody
	self      protocol.Participant
	perms     protocol.Permissions
	snap      func() protocol.Snapshot // the room as the user sees it
	onRequest func(fc *fakeConn, msg protocol.ClientMessage)
	onJoin    func(fc *fakeConn, msg protocol.ClientMessage) // replaces the default join answer
}

func newFakeNet(t *testing.T, self protocol.Participant, perms protocol.Permissions) *fakeNet {
	n := &fakeNet{t: t, self: self, perms: perms, dialed: make(chan *fakeConn, 16)}
	n.snap = func() protocol.Snapshot { return protocol.Snapshot{Seq: 1, Self: self} }
	return n
}

func (n *fakeNet) dial(ctx context.Context, url string) (transport, error) {
	n.mu.Lock()
	n.dials = append(n.dials, url)
	if n.down[url] {
		n.mu.Unlock()
		return nil, errors.New("connection refused")
	}
	if n.refuse != nil {
		err := n.refuse
		n.mu.Unlock()
		return nil, err
	}
	fc := &fakeConn{net: n, in: make(chan []byte, 1024), closed: make(chan struct{})}
	n.conns = append(n.conns, fc)
	n.mu.Unlock()
	select {
	case n.dialed <- fc:
	default:
	}
	return fc, nil
}

func (n *fakeNet) serve(fc *fakeConn, msg protocol.ClientMessage) {
	n.mu.Lock()
	helloErr, snap, on, onJoin, nodes := n.helloErr, n.snap, n.onRequest, n.onJoin, n.nodes
	n.mu.Unlock()
	switch msg.Type {
	case protocol.TypeHello:
		if helloErr != nil {
			fc.push(protocol.ServerMessage{Type: protocol.TypeError, ID: msg.ID, Error: helloErr})
			fc.shut(helloErr.Code, helloErr.Message)
			return
		}
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Hello: &protocol.HelloResult{
			MeetingID: "m1", Self: n.self, Permissions: n.perms, GraceMs: 1000, Nodes: nodes}})
	case protocol.TypeStageRequests:
		if on != nil {
			on(fc, msg)
			return
		}
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Requests: []protocol.StageRequest{}})
	case protocol.TypeJoin, protocol.TypeSnapshot:
		if msg.Type == protocol.TypeJoin && onJoin != nil {
			onJoin(fc, msg)
			return
		}
		s := snap()
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: s.Seq, Snapshot: &s})
	case protocol.TypeLeave:
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
		fc.shut(1000, "left")
	default:
		if on != nil {
			on(fc, msg)
		}
	}
}

func (n *fakeNet) last() *fakeConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conns[len(n.conns)-1]
}

func (n *fakeNet) set(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
}

// recorder keeps a meeting's events and lets tests wait for them.
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

func record(t *testing.T, m *Meeting) *recorder {
	r := &recorder{t: t, signal: make(chan struct{}, 1)}
	m.On(func(e Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
		select {
		case r.signal <- struct{}{}:
		default:
		}
	})
	return r
}

// names returns the names of the events so far and forgets them.
func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// waitFor waits until an event named name has arrived, then returns and
// forgets every event up to and including it.
func (r *recorder) waitFor(name string) []Event {
	r.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i, e := range r.events {
			if e.Name == name {
				out := append([]Event(nil), r.events[:i+1]...)
				r.events = r.events[i+1:]
				r.mu.Unlock()
				return out
			}
		}
		have := names(r.events)
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline.C:
			r.t.Fatalf("no %s event; have %v", name, have)
		}
	}
}

// waitN waits until n events have arrived and returns and forgets them.
func (r *recorder) waitN(n int) []Event {
	r.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if len(r.events) >= n {
			out := append([]Event(nil), r.events[:n]...)
			r.events = r.events[n:]
			r.mu.Unlock()
			return out
		}
		have := names(r.events)
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline.C:
			r.t.Fatalf("waiting for %d events; have %v", n, have)
		}
	}
}

func names(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
	}
	return out
}

func wantNames(t *testing.T, evs []Event, want ...string) {
	t.Helper()
	got := names(evs)
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", evs, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", evs, want)
		}
	}
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if CodeOf(err) != code {
		t.Fatalf("error %v, want code %d", err, code)
	}
}

var (
	hostPerms   = protocol.Permissions{StageEnabled: true, StageAccess: stage.Allowed, AcceptStageRequests: true}
	viewerPerms = protocol.Permissions{StageEnabled: true, StageAccess: stage.CanRequest}
)

func part(user, peer string, st stage.Status) protocol.Participant {
	return protocol.Participant{PeerID: peer, UserID: user, Name: user, PresetName: "p", StageStatus: st}
}

// start opens a meeting on n through the real Init path (but the fake
// dialer) and, if join, joins it.
func start(t *testing.T, n *fakeNet, join bool) (*Meeting, *recorder) {
	t.Helper()
	return startWith(t, n, join, Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
}

// startWith is start with o's backoff.
func startWith(t *testing.T, n *fakeNet, join bool, o Options) (*Meeting, *recorder) {
	t.Helper()
	m, err := newMeeting(Options{BaseURI: "http://fake", AuthToken: "tok", RequestTimeout: 2 * time.Second,
		MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff}, n.dial)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		select {
		case <-m.Done():
		case <-time.After(waitTimeout):
			t.Error("reader goroutine did not exit after Close")
		}
	})
	rec := record(t, m)
	if join {
		if err := m.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return m, rec
}

// barrier returns once the reader has handled everything pushed before it:
// the answer to a request travels behind them on the same connection.
func barrier(t *testing.T, m *Meeting) {
	t.Helper()
	if _, err := m.Stage().GetAccessRequests(context.Background()); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}

func stageEvent(seq uint64, changes ...protocol.Change) protocol.ServerMessage {
	return protocol.ServerMessage{Type: protocol.TypeEvent, Seq: seq, Event: protocol.EventStage, Changes: changes}
}

func change(user, peer string, from, to stage.Status, cause stage.Cause) protocol.Change {
	return protocol.Change{UserID: user, PeerID: peer, From: from, To: to, Cause: cause}
}

func req(user, peer string, at int64) protocol.StageRequest {
	return protocol.StageRequest{DisplayName: user, UserID: user, PeerID: peer, RequestedAt: at}
}
