package app

// Media between nodes (-edges): an edge serving a room's users opens one
// WebSocket to the room's owner, /v1/cluster/relay, authenticated with the
// cluster's shared key. It carries the signaling of two relays (server/sfu
// relay.go), one each way: the owner's sources to the edge (the owner's
// JoinRelay, the edge's RelayIn) and the edge's own publishers' to the
// owner (the edge's JoinRelay, the owner's RelayIn). The media itself goes
// on their peer connections (DTLS-SRTP), one copy per track per hop. A
// relay never sends a track back to the node it came from, so a track
// published at an edge goes edge → owner → the other edges.
//
// The socket's end is the relay's end on both nodes: an edge that dies
// loses its relays at the owner; an owner that dies is dialled again by
// its edges, which follow the room to its new owner (EdgeRelay.Move).

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/sfu"
	"github.com/stagekit/stagekit/server/signal"
)

// relayPath is where a node accepts relays from the others.
const relayPath = "/v1/cluster/relay"

// relayQueue bounds the messages waiting for a relay socket; a relay that
// falls that far behind is closed and made again.
const relayQueue = 1024

// relayMsg is one message of a relay socket. To says which side of the
// receiving node it is for: "in", its RelayIn (from the sender's relay
// participant: offer, candidate, tracks); "out", its relay participant
// (from the sender's RelayIn: answer, candidate, paused: the simulcast
// layers the sender's viewers do not watch now).
type relayMsg struct {
	To         string                 `json:"to"`
	Type       string                 `json:"type"`
	SDP        string                 `json:"sdp,omitempty"`
	ICERestart bool                   `json:"iceRestart,omitempty"`
	Candidate  *protocol.ICECandidate `json:"candidate,omitempty"`
	Tracks     []protocol.TrackInfo   `json:"tracks,omitempty"`
	Paused     []string               `json:"paused,omitempty"`
}

// relayPeer runs the two relays of one room between this node and remote
// over one socket.
type relayPeer struct {
	queue chan relayMsg
	stop  context.CancelFunc
}

// send queues a message; a full queue ends the socket.
func (p *relayPeer) send(m relayMsg) {
	select {
	case p.queue <- m:
	default:
		p.stop()
	}
}

// The relay participant's Signaler: to the remote's RelayIn.
func (p *relayPeer) SendOffer(sdp string, iceRestart bool) {
	p.send(relayMsg{To: "in", Type: "offer", SDP: sdp, ICERestart: iceRestart})
}
func (p *relayPeer) SendCandidate(_ string, c protocol.ICECandidate) {
	p.send(relayMsg{To: "in", Type: "candidate", Candidate: &c})
}
func (p *relayPeer) SendTracks(tracks []protocol.TrackInfo) {
	p.send(relayMsg{To: "in", Type: "tracks", Tracks: tracks})
}
func (p *relayPeer) SendLayers([]protocol.LayerID) {}

// inLink is the RelayIn's RelayLink: to the remote's relay participant.
type inLink struct{ p *relayPeer }

func (l inLink) SendAnswer(sdp string) { l.p.send(relayMsg{To: "out", Type: "answer", SDP: sdp}) }
func (l inLink) SendCandidate(c protocol.ICECandidate) {
	l.p.send(relayMsg{To: "out", Type: "candidate", Candidate: &c})
}
func (l inLink) SendPaused(trackIDs []string) {
	l.p.send(relayMsg{To: "out", Type: "paused", Paused: trackIDs})
}

// runRelay relays meetingID both ways with remote over ws until ctx ends
// or the socket does; then both relays end here.
func runRelay(ctx context.Context, s *sfu.SFU, meetingID, remote string, ws *websocket.Conn) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	ws.SetReadLimit(1 << 20)
	p := &relayPeer{queue: make(chan relayMsg, relayQueue), stop: stop}
	in, err := s.NewRelayIn(meetingID, remote, inLink{p})
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := s.JoinRelay(meetingID, remote, p)
	if err != nil {
		return err
	}
	defer s.LeaveRelay(out)
	done := make(chan struct{})
	defer func() { stop(); <-done }()
	go func() { // the writer, and a ping every 5 s (a node gone silent ends the relay)
		defer close(done)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-p.queue:
				b, _ := json.Marshal(m)
				if ws.Write(ctx, websocket.MessageText, b) != nil {
					stop()
					return
				}
			case <-tick.C:
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := ws.Ping(pctx)
				cancel()
				if err != nil {
					stop()
					return
				}
			}
		}
	}()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		var m relayMsg
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch {
		case m.To == "in" && m.Type == "offer":
			in.Signaler().SendOffer(m.SDP, m.ICERestart)
		case m.To == "in" && m.Type == "candidate" && m.Candidate != nil:
			in.Signaler().SendCandidate(protocol.PCSubscribe, *m.Candidate)
		case m.To == "in" && m.Type == "tracks":
			in.Signaler().SendTracks(m.Tracks)
		case m.To == "out" && m.Type == "answer":
			_ = out.HandleSubscribeAnswer(m.SDP)
		case m.To == "out" && m.Type == "candidate" && m.Candidate != nil:
			_ = out.HandleCandidate(protocol.PCSubscribe, *m.Candidate)
		case m.To == "out" && m.Type == "paused":
			out.HandleRelayPaused(m.Paused)
		}
	}
}

// relays is this node's side of the relay sockets: those it accepts (it
// owns the room) and those it opens (it serves the room as an edge).
type relays struct {
	a    *App
	self string // this node's advertised URL: its name to the others

	mu       sync.Mutex
	accepted map[[2]string]*acceptedRelay // (meeting, node) → its socket here
	closed   bool
	ctx      context.Context
	cancel   context.CancelFunc
}

type acceptedRelay struct {
	stop context.CancelFunc
	done chan struct{}
}

func newRelays(a *App) *relays {
	ctx, cancel := context.WithCancel(context.Background())
	return &relays{a: a, self: a.node.Advertise(), accepted: map[[2]string]*acceptedRelay{}, ctx: ctx, cancel: cancel}
}

// serve accepts a relay socket from another node. A node's new socket for
// a room replaces its previous one (ended first: they share the relays'
// names).
func (rs *relays) serve(w http.ResponseWriter, req *http.Request) {
	if subtle.ConstantTimeCompare([]byte(req.Header.Get("X-Stagekit-Node-Key")), []byte(rs.a.cfg.APIKey)) != 1 {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	meetingID, node := req.URL.Query().Get("meeting"), req.URL.Query().Get("node")
	if meetingID == "" || node == "" || len(meetingID) > 256 || len(node) > 1024 || node == rs.self {
		http.Error(w, "bad relay", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	key := [2]string{meetingID, node}
	ctx, stop := context.WithCancel(rs.ctx)
	mine := &acceptedRelay{stop: stop, done: make(chan struct{})}
	defer close(mine.done)
	rs.mu.Lock()
	prev := rs.accepted[key]
	rs.accepted[key] = mine
	closed := rs.closed
	rs.mu.Unlock()
	if prev != nil {
		prev.stop()
		<-prev.done
	}
	if !closed {
		rs.a.log.Info("relay accepted", "meeting", meetingID, "node", node)
		err = runRelay(ctx, rs.a.sfu, meetingID, node, ws)
		rs.a.log.Info("relay ended", "meeting", meetingID, "node", node, "err", err)
	}
	stop()
	ws.CloseNow()
	rs.mu.Lock()
	if rs.accepted[key] == mine {
		delete(rs.accepted, key)
	}
	rs.mu.Unlock()
}

// Open implements signal.EdgeRelays: the edge's socket to the room's owner,
// dialled again whenever it ends (after 100 ms, doubling to 2 s while it
// keeps failing) or the owner changes.
func (rs *relays) Open(meetingID, owner string) signal.EdgeRelay {
	r := &edgeRelay{rs: rs, meeting: meetingID, owner: owner, wake: make(chan struct{}, 1)}
	go r.run()
	return r
}

// close ends every relay socket (the server is shutting down).
func (rs *relays) close() {
	rs.mu.Lock()
	rs.closed = true
	rs.mu.Unlock()
	rs.cancel()
}

type edgeRelay struct {
	rs      *relays
	meeting string
	wake    chan struct{}

	mu     sync.Mutex
	owner  string
	closed bool
	stop   context.CancelFunc // the current socket's
}

func (r *edgeRelay) Move(owner string) {
	r.mu.Lock()
	if owner != r.owner {
		r.owner = owner
		if r.stop != nil {
			r.stop()
		}
	}
	r.mu.Unlock()
	r.poke()
}

func (r *edgeRelay) Close() {
	r.mu.Lock()
	r.closed = true
	if r.stop != nil {
		r.stop()
	}
	r.mu.Unlock()
	r.poke()
}

func (r *edgeRelay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *edgeRelay) run() {
	rs := r.rs
	backoff := 100 * time.Millisecond
	for {
		r.mu.Lock()
		if r.closed || rs.ctx.Err() != nil {
			r.mu.Unlock()
			return
		}
		owner := r.owner
		ctx, stop := context.WithCancel(rs.ctx)
		r.stop = stop
		r.mu.Unlock()
		if owner == "" || owner == rs.self {
			// This node owns the room: its media is here.
			select {
			case <-r.wake:
			case <-ctx.Done():
			}
			stop()
			continue
		}
		began := time.Now()
		err := r.dial(ctx, owner)
		stop()
		if time.Since(began) > 5*time.Second {
			backoff = 100 * time.Millisecond
		}
		r.mu.Lock()
		moved, closed := r.owner != owner, r.closed
		r.mu.Unlock()
		if closed {
			return
		}
		if moved {
			backoff = 100 * time.Millisecond
			continue
		}
		rs.a.log.Info("relay to the room's owner ended; dialling again", "meeting", r.meeting, "owner", owner, "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-r.wake:
		case <-rs.ctx.Done():
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// dial opens the socket to owner and runs the room's relays on it.
func (r *edgeRelay) dial(ctx context.Context, owner string) error {
	rs := r.rs
	u, err := url.Parse(owner)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = relayPath
	u.RawQuery = url.Values{"meeting": {r.meeting}, "node": {rs.self}}.Encode()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	ws, _, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPHeader: http.Header{"X-Stagekit-Node-Key": {rs.a.cfg.APIKey}}})
	cancel()
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	rs.a.log.Info("relay to the room's owner open", "meeting", r.meeting, "owner", owner)
	return runRelay(ctx, rs.a.sfu, r.meeting, owner, ws)
}
