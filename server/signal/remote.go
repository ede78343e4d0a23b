package signal

// Edges: a room's audience served by other nodes than its owner. The owner
// (the lease holder) keeps the room: the stage state machine, its order,
// its routing. Users connected to another node (an edge) are members of the
// owner's room like its own; the owner calls them remote. Events for them
// are encoded as for local users and published once per audience to the
// room's streams (EdgeConfig.Streams) under the room's own seq (wseq); the
// edge numbers them per connection. An edge's calls (join, stage actions,
// snapshot, leave, drop, media news) come over HTTP (ServeEdgeCall) and
// are answered after the commit with the wseq of its events.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/mailru/easyjson"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// EdgeConfig turns edges on: a clustered hub serves any room's users,
// forwarding to the room's owner what it does not own.
type EdgeConfig struct {
	Streams RoomStreams
	// Key authenticates the nodes' calls to each other (the cluster's
	// shared admin key).
	Key string
	// Self is this node's advertised URL: its name in the streams and in
	// the owner's books.
	Self string
	// Client makes the calls to owners; default a client with a 5 s timeout.
	Client *http.Client
	// Relays, if set, carries the media of the rooms served here between
	// this node and their owners (edge_media.go).
	Relays EdgeRelays
}

// RoomStreams carries rooms' events from owners to edges (server/cluster's
// Redis Streams).
type RoomStreams interface {
	// Publish adds one commit's parts, in the room's order, under the
	// owner's epoch.
	Publish(meetingID string, epoch, seq int64, parts []StreamPart) error
	// Follow reads each stream of from after its position (the zero
	// position: after its current tail) and hands their entries over in the
	// room's order; start is where each stream was taken up. done is told
	// of a gap (the reader must resync) or, with nil, of stop.
	Follow(meetingID string, from map[string]StreamPos, deliver func([]StreamEntry), done func(error)) (stop func(), start map[string]StreamPos, err error)
}

// StreamPart is one stream's part of a commit.
type StreamPart struct {
	Stream string
	Body   []byte
}

// StreamEntry is a part as a follower gets it.
type StreamEntry struct {
	Stream string
	Pos    StreamPos
	Body   []byte
}

// StreamPos is a place in a stream: an entry's id and seq.
type StreamPos struct {
	ID  string
	Seq int64
}

// Streams of a room: what every user may see, what watchers see, and each
// node's users' own events.
const (
	streamAudience = "aud"
	streamHosts    = "host"
)

func nodeStream(node string) string { return "n:" + node }

// audPart is the audience stream's part of a commit: an event for every
// user not a watcher, the participant count, a resync for everyone.
type audPart struct {
	Event  json.RawMessage `json:"a,omitempty"`
	Count  int             `json:"n,omitempty"`
	Resync bool            `json:"r,omitempty"`
}

// hostPart is the watchers' part: watch for those who see everyone, host
// for those who also accept requests (with the pending list's delta).
type hostPart struct {
	Watch json.RawMessage `json:"w,omitempty"`
	Host  json.RawMessage `json:"h,omitempty"`
}

// nodePart is a node's users' part: their own events (instead of the
// audience's) and connections to close (replaced elsewhere).
type nodePart struct {
	Own   map[string]json.RawMessage `json:"o,omitempty"`
	Close map[string]int             `json:"x,omitempty"`
	// Pub: users whose publishing changed (true: ON_STAGE), ahead of the
	// events that tell it.
	Pub map[string]bool `json:"p,omitempty"`
}

// remoteMember is a member of the room connected to another node.
type remoteMember struct {
	node    string
	conn    uint64 // its connection's number on node (edgeCall.Conn)
	watcher bool
	lost    bool // its node left the cluster: in its grace period
}

// commitParts collects what one routed event sends to edges.
type commitParts struct {
	aud   *audPart
	host  *hostPart
	nodes map[string]*nodePart
}

func (p *commitParts) node(n string) *nodePart {
	if p.nodes == nil {
		p.nodes = map[string]*nodePart{}
	}
	np := p.nodes[n]
	if np == nil {
		np = &nodePart{}
		p.nodes[n] = np
	}
	return np
}

func (p *commitParts) own(node, userID string, body []byte) {
	np := p.node(node)
	if np.Own == nil {
		np.Own = map[string]json.RawMessage{}
	}
	np.Own[userID] = body
}

// publishLocked sends parts to the edges under the room's next seq; nothing
// when no member is remote.
func (r *room) publishLocked(p commitParts) {
	streams := r.hub.edgeStreams()
	if streams == nil || len(r.remote) == 0 || (p.aud == nil && p.host == nil && len(p.nodes) == 0) {
		return
	}
	if r.collect != nil {
		*r.collect = append(*r.collect, p)
		return
	}
	r.wseq++
	var parts []StreamPart
	add := func(stream string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			r.hub.log.Error("encode stream part", "err", err)
			return
		}
		parts = append(parts, StreamPart{Stream: stream, Body: b})
	}
	if p.aud != nil {
		add(streamAudience, p.aud)
	}
	if p.host != nil {
		add(streamHosts, p.host)
	}
	for n, np := range p.nodes {
		add(nodeStream(n), np)
	}
	r.sendPartsLocked(parts)
}

func (r *room) sendPartsLocked(parts []StreamPart) {
	if err := r.hub.edgeStreams().Publish(r.id, r.epoch, r.wseq, parts); err != nil {
		// The edges find the hole (the next entry's link skips it) and
		// resync their clients.
		r.hub.log.Warn("publishing to the room's edges failed", "meeting", r.id, "seq", r.wseq, "err", err)
	}
}

// publishManyLocked sends several routed events' parts to the edges as one
// commit (one seq): each stream's entry is then a JSON array with an
// element per event, null where the event has no part for that stream,
// and an edge hands the events over in that order.
func (r *room) publishManyLocked(ps []commitParts) {
	switch len(ps) {
	case 0:
		return
	case 1:
		r.publishLocked(ps[0])
		return
	}
	byStream := map[string][]any{}
	var order []string
	put := func(k int, stream string, v any) {
		list, ok := byStream[stream]
		if !ok {
			list = make([]any, len(ps))
			order = append(order, stream)
		}
		list[k] = v
		byStream[stream] = list
	}
	for k, p := range ps {
		if p.aud != nil {
			put(k, streamAudience, p.aud)
		}
		if p.host != nil {
			put(k, streamHosts, p.host)
		}
		for n, np := range p.nodes {
			put(k, nodeStream(n), np)
		}
	}
	if len(order) == 0 {
		return
	}
	r.wseq++
	parts := make([]StreamPart, 0, len(order))
	for _, stream := range order {
		b, err := json.Marshal(byStream[stream])
		if err != nil {
			r.hub.log.Error("encode stream part", "err", err)
			continue
		}
		parts = append(parts, StreamPart{Stream: stream, Body: b})
	}
	r.sendPartsLocked(parts)
}

// remoteOwnLocked publishes an event for one remote user only.
func (r *room) remoteOwnLocked(userID string, body []byte) {
	rm := r.remote[userID]
	if rm == nil || body == nil {
		return
	}
	var p commitParts
	p.own(rm.node, userID, body)
	r.publishLocked(p)
}

// snapshotOfLocked is the room as userID may see it (Seq left 0).
func (r *room) snapshotOfLocked(userID string, preset stage.Preset) protocol.Snapshot {
	snap := protocol.Snapshot{Count: r.st.Count(), StartedAt: r.started}
	visible := r.st.VisibleTo(userID)
	snap.Participants = make([]protocol.Participant, 0, len(visible))
	for _, m := range visible {
		if m.UserID == userID {
			snap.Self = protocol.ParticipantOf(m)
			continue
		}
		p := protocol.ParticipantOf(m)
		p.Reconnecting = r.away[m.UserID]
		snap.Participants = append(snap.Participants, p)
	}
	if preset.AcceptStageRequests {
		snap.Requests = r.requestsLocked()
	}
	return snap
}

// edgeCallPath is where owners answer edges' calls.
const edgeCallPath = "/v1/cluster/call"

// EdgeCallPath is where an app mounts ServeEdgeCall.
const EdgeCallPath = "POST " + edgeCallPath

// ServeEdgeCall answers an edge's call for a room this node owns.
func (h *Hub) ServeEdgeCall(w http.ResponseWriter, req *http.Request) {
	ec := h.cfg.Edges
	if ec == nil || subtle.ConstantTimeCompare([]byte(req.Header.Get("X-Stagekit-Node-Key")), []byte(ec.Key)) != 1 {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	var call edgeCall
	body, err := readBody(http.MaxBytesReader(w, req.Body, maxEdgeCallBytes), req.ContentLength)
	if err == nil {
		err = easyjson.Unmarshal(body, &call)
	}
	if err != nil || call.Meeting == "" || call.User == "" || call.Node == "" {
		http.Error(w, "bad call", http.StatusBadRequest)
		return
	}
	ans := h.answerEdge(call)
	easyjson.MarshalToHTTPResponseWriter(ans, w)
}

func (h *Hub) answerEdge(call edgeCall) edgeAnswer {
	moved := edgeAnswer{Error: protocol.NewError(protocol.CodeRoomMoved, "this node does not serve the room")}
	switch call.Op {
	case "join", "act":
		// A batch of one: the same path as the edges' batches.
		ans := h.answerEdge(edgeCall{Op: "batch", Meeting: call.Meeting, Node: call.Node, User: call.User,
			Calls: []edgeCall{{Op: call.Op, User: call.User, Ident: call.Ident, PeerID: call.PeerID, Msg: call.Msg}}})
		if ans.Error != nil || len(ans.Answers) != 1 {
			return ans
		}
		if err := ans.unshare(); err != nil {
			return edgeAnswer{Error: protocol.NewError(protocol.CodeInternal, "%v", err)}
		}
		return ans.Answers[0]
	case "batch":
		if len(call.Calls) > maxEdgeBatch {
			return edgeAnswer{Error: protocol.NewError(protocol.CodeBadArgs, "batch: more than %d calls", maxEdgeBatch)}
		}
		joins := false
		for _, c := range call.Calls {
			if c.User == "" {
				return edgeAnswer{Error: protocol.NewError(protocol.CodeBadArgs, "batch: a call names no user")}
			}
			switch c.Op {
			case "join":
				if c.Ident == nil || c.Ident.MeetingID != call.Meeting || c.Ident.UserID != c.User {
					return edgeAnswer{Error: protocol.NewError(protocol.CodeBadArgs, "join: identity missing")}
				}
				joins = true
			case "act":
				if c.Msg == nil {
					return edgeAnswer{Error: protocol.NewError(protocol.CodeBadArgs, "act: message missing")}
				}
			case "leave", "drop", "media", opShare, opUnshare:
			default:
				return edgeAnswer{Error: protocol.NewError(protocol.CodeUnknownType, "not a batched call: %q", c.Op)}
			}
		}
		r := h.existingRoom(call.Meeting)
		if joins {
			r = h.room(call.Meeting)
		}
		if r == nil {
			return moved
		}
		return r.remoteBatch(call.Node, call.Calls)
	}
	r := h.existingRoom(call.Meeting)
	if r == nil {
		return moved
	}
	switch call.Op {
	case "snapshot", "requests":
		return r.remoteRead(call.Node, call.User, call.Op == "requests")
	case "leave", "drop":
		r.remoteGone(call.Node, call.User, call.Conn, call.Op == "leave")
		return edgeAnswer{}
	}
	return edgeAnswer{Error: protocol.NewError(protocol.CodeUnknownType, "unknown call %q", call.Op)}
}

// maxEdgeCallBytes bounds an edge call's body.
const maxEdgeCallBytes = 1 << 20

// readBody reads a body of the announced size (net/http's body ends there)
// into one buffer of that size, not one grown from 512 bytes by doubling;
// size < 0 (unknown) or beyond maxEdgeCallBytes reads it as it comes.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 || size > maxEdgeCallBytes {
		return io.ReadAll(r)
	}
	b := make([]byte, size)
	n, err := io.ReadFull(r, b)
	return b[:n], err
}

// maxEdgeBatch bounds the calls of one batch.
const maxEdgeBatch = 1024

// remoteBatch runs an edge's batch of joins, actions, screen-share claims
// and releases, leaves, drops and media news in its order, under one lock:
// each run of joins is committed in one transaction, and what the batch
// publishes to the edges goes out as one commit of the streams (one seq).
// Each join is answered with its snapshot at that seq; the batch's Seq is
// it too.
func (r *room) remoteBatch(node string, calls []edgeCall) edgeAnswer {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]edgeAnswer, len(calls))
	joined := make([]bool, len(calls))
	var collected []commitParts
	r.collect = &collected
	for i := 0; i < len(calls) && !r.dead; {
		j := i
		for j < len(calls) && calls[j].Op == "join" {
			j++
		}
		if j > i {
			r.remoteJoinsLocked(node, calls[i:j], out[i:j], joined[i:j])
			i = j
			continue
		}
		for j < len(calls) && calls[j].Op == "act" {
			j++
		}
		if j > i {
			r.remoteActsLocked(node, calls[i:j], out[i:j])
			i = j
			continue
		}
		switch c := calls[i]; c.Op {
		case "media":
			r.remoteMediaLocked(node, c.User, c.Live)
		case opShare, opUnshare:
			out[i] = r.remoteShareLocked(node, c)
		default:
			r.remoteGoneLocked(node, c.User, c.Conn, c.Op == "leave")
		}
		i++
	}
	r.collect = nil
	if r.dead {
		// Fenced or not stored: the room is deposed here, and no call of
		// the batch is acknowledged.
		moved := protocol.NewError(protocol.CodeRoomMoved, "the room moved to another node; reconnect")
		for i := range out {
			out[i] = edgeAnswer{Error: moved}
		}
		return edgeAnswer{Answers: out}
	}
	r.publishManyLocked(collected)
	var shared []protocol.Snapshot
	selves := make([]protocol.Participant, 0, len(calls)) // the shared snapshot's joiners' Self, one allocation
	for i, c := range calls {
		if joined[i] {
			// The room as of the whole batch, at its seq.
			m, ok := r.st.Member(c.User)
			switch {
			case !ok: // left later in the batch
				out[i] = edgeAnswer{Error: protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room")}
			case !m.Preset.SeesEveryone() && !m.InView():
				// It sees those in view, as every such joiner of the batch
				// does: one snapshot for them all.
				if shared == nil {
					snap := r.snapshotOfLocked(c.User, m.Preset)
					snap.Self = protocol.Participant{}
					shared = append(shared, snap)
				}
				selves = append(selves, protocol.ParticipantOf(m))
				out[i] = edgeAnswer{Shared: 1, Self: &selves[len(selves)-1]}
			default:
				snap := r.snapshotOfLocked(c.User, m.Preset)
				out[i] = edgeAnswer{Snapshot: &snap}
			}
		}
		if out[i].Error == nil {
			out[i].Seq = r.wseq
		}
	}
	return edgeAnswer{Seq: r.wseq, Answers: out, Snapshots: shared}
}

// remoteJoinsLocked enters (or re-attaches) users connected to node: the
// new members' events are stored in one commit, then told. joined marks
// the calls that succeeded; out holds the others' errors.
func (r *room) remoteJoinsLocked(node string, calls []edgeCall, out []edgeAnswer, joined []bool) {
	log := r.newEventLog("")
	log.events = make([]Event, 0, len(calls)+1)
	// The joiners others are told of (not hidden): all to the watchers,
	// those in view to everyone.
	told := make([]protocol.Participant, 0, len(calls))
	var public []protocol.Participant
	for k, call := range calls {
		id := *call.Ident
		uid := id.UserID
		if m, ok := r.st.Member(uid); ok {
			if t := r.timers[uid]; t != nil {
				t.Stop()
				delete(r.timers, uid)
			}
			if old := r.attached[uid]; old != nil {
				old.closeWith(protocol.CodeReplaced, "the participant connected elsewhere", true)
				r.detachLocked(uid)
				if media := r.hub.cfg.Media; media != nil {
					media.Detach(r.id, uid) // its media is on the edge now
				}
				r.movedLocked(uid)
			}
			if old := r.remote[uid]; old != nil && old.node != node {
				var p commitParts
				p.node(old.node).Close = map[string]int{uid: protocol.CodeReplaced}
				r.publishLocked(p)
				r.movedLocked(uid)
			}
			r.setRemoteLocked(uid, &remoteMember{node: node, conn: call.Conn, watcher: m.Preset.SeesEveryone()})
			r.setMediaLostFlagLocked(uid, call.MediaLost)
			joined[k] = true
			continue
		}
		r.setRemoteLocked(uid, &remoteMember{node: node, conn: call.Conn, watcher: id.Preset.SeesEveryone()})
		m, err := r.st.Enter(stage.Member{UserID: uid, PeerID: call.PeerID, Name: id.Name, CustomID: id.CustomID, Preset: id.Preset})
		if err != nil {
			r.setRemoteLocked(uid, nil)
			out[k] = edgeAnswer{Error: protocol.ErrorOf(err)}
			continue
		}
		r.setMediaLostFlagLocked(uid, call.MediaLost)
		log.actor = participantActor(uid)
		if r.st.Len() == 1 {
			r.sess.ID, r.sess.StartedAt = newSessionID(), r.hub.cfg.Now()
			log.add(EventMeetingStarted, nil, nil, "")
		}
		log.add(EventParticipantJoined, &m, nil, "")
		if !m.Preset.HiddenParticipant {
			told = append(told, protocol.ParticipantOf(m))
			if m.InView() {
				public = append(public, told[len(told)-1])
			}
		}
		joined[k] = true
	}
	if !r.commitLocked(nil, nil, log, "", nil) {
		return // deposed: the batch answers every call with 4051
	}
	if len(told) > 0 {
		r.routeJoins(told, public)
		r.countChanged()
	}
	// Back (or silent) as far as whoever sees them knows: after the joins
	// were told, so that nobody hears of a participant it does not know.
	for k, call := range calls {
		if joined[k] {
			r.connectionChangedLocked(call.User)
		}
	}
}

// setMediaLostFlagLocked records, without telling anyone, whether uid's
// media is silent as its node says at a join (false: a new media session).
func (r *room) setMediaLostFlagLocked(uid string, lost bool) {
	if lost {
		r.mediaLost[uid] = true
	} else {
		delete(r.mediaLost, uid)
	}
}

// maxJoinsPerEvent bounds the participants of one participantsJoined
// event: at most 64 of the largest participants (names and ids at their
// limits) stay well under protocol.MaxFrameBytes.
const maxJoinsPerEvent = 64

// routeJoins tells of joins committed together, in their order: the
// watchers of all of them, everyone else of those in view (public). A run
// of joins is one participantsJoined event (one seq, one frame to encode
// and write) per maxJoinsPerEvent joiners instead of a participantJoined
// each; a single join is a participantJoined, as alone.
func (r *room) routeJoins(all, public []protocol.Participant) {
	if len(all) == len(public) {
		for _, body := range r.joinBodies(all) {
			r.routeBodies(body, body, body, nil)
		}
		return
	}
	for _, body := range r.joinBodies(all) {
		r.routeBodies(body, body, nil, nil)
	}
	for _, body := range r.joinBodies(public) {
		r.routeBodies(nil, nil, body, nil)
	}
}

// joinBodies are the encoded events telling of joiners ps, in order.
func (r *room) joinBodies(ps []protocol.Participant) [][]byte {
	var bodies [][]byte
	for len(ps) > 0 {
		n := min(len(ps), maxJoinsPerEvent)
		ev := protocol.ServerMessage{Event: protocol.EventParticipantsJoined, Participants: ps[:n]}
		if n == 1 {
			ev = protocol.ServerMessage{Event: protocol.EventParticipantJoined, Participant: &ps[0]}
		}
		if b := r.eventBody(ev); b != nil {
			bodies = append(bodies, b)
		}
		ps = ps[n:]
	}
	return bodies
}

// remoteActsLocked runs stage actions of users connected to node, in
// order, as one commit: each is applied and its events prepared as they
// stand right after it, the whole run is stored in one transaction, and
// only then is anyone told, in the actions' order. Each action is answered
// as alone: its error, or its actor's status right after it.
func (r *room) remoteActsLocked(node string, calls []edgeCall, out []edgeAnswer) {
	log := r.newEventLog("")
	var changes []stage.Change
	var tell []func()
	r.deferred = &tell
	defer func() { r.deferred = nil }()
	for k, call := range calls {
		uid := call.User
		kind, ok := stageKinds[call.Msg.Type]
		if !ok {
			out[k] = edgeAnswer{Error: protocol.NewError(protocol.CodeUnknownType, "not a stage action: %q", call.Msg.Type)}
			continue
		}
		if rm := r.remote[uid]; rm == nil || rm.node != node {
			out[k] = edgeAnswer{Error: protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room")}
			continue
		}
		msg := call.Msg
		res, err := r.st.Apply(stage.Action{Kind: kind, Actor: uid, Targets: msg.UserIDs, Expect: msg.Expect, At: r.hub.cfg.Now().UnixMilli()})
		if err != nil {
			out[k] = edgeAnswer{Error: protocol.ErrorOf(err)}
			continue
		}
		if len(res.Changes) > 0 {
			log.actor = participantActor(uid)
			log.stage(res.Changes)
			changes = append(changes, res.Changes...)
			r.tellLocked(res.Changes, kind)
		}
		me, _ := r.st.Member(uid)
		out[k] = edgeAnswer{Status: me.Status}
	}
	r.deferred = nil
	if len(changes) > 0 && !r.commitLocked(changes, nil, log, "", nil) {
		return // deposed: the batch answers every call with 4051, and nobody was told
	}
	for _, fn := range tell {
		fn()
	}
}

// remoteRead answers a remote user's snapshot or request list.
func (r *room) remoteRead(node, userID string, requests bool) edgeAnswer {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.st.Member(userID)
	if rm := r.remote[userID]; rm == nil || rm.node != node || !ok || r.dead {
		return edgeAnswer{Error: protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room")}
	}
	if requests {
		if !m.Preset.AcceptStageRequests {
			return edgeAnswer{Error: protocol.NewError(int(stage.CodePermissionDenied), "preset %q may not see stage requests", m.Preset.Name)}
		}
		return edgeAnswer{Seq: r.wseq, Requests: r.requestsLocked()}
	}
	snap := r.snapshotOfLocked(userID, m.Preset)
	return edgeAnswer{Seq: r.wseq, Snapshot: &snap}
}

// remoteGone is a remote user's leave (it exits now) or drop (it keeps its
// place for the grace period) of its connection conn on node.
func (r *room) remoteGone(node, userID string, conn uint64, left bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remoteGoneLocked(node, userID, conn, left)
}

func (r *room) remoteGoneLocked(node, userID string, conn uint64, left bool) {
	if rm := r.remote[userID]; rm == nil || rm.node != node {
		return // moved meanwhile
	} else if conn != 0 && rm.conn != 0 && conn != rm.conn {
		// A connection the user's newer one replaced on that node: the
		// edge told of its end after the new join.
		return
	}
	r.setRemoteLocked(userID, nil)
	if left {
		r.exitLocked(userID)
		return
	}
	if !r.dead {
		r.startGraceLocked(userID)
		r.connectionChangedLocked(userID)
	}
}

// remoteMediaLocked is an edge's news of its user's media (the edge
// probed the user's connection itself): hosts on every node see the user
// as reconnecting while it is silent, as on one node. News from a node
// the user is no longer on changes nothing.
func (r *room) remoteMediaLocked(node, userID string, live bool) {
	if rm := r.remote[userID]; rm == nil || rm.node != node || r.dead {
		return
	}
	r.setMediaLostLocked(userID, !live)
}

// nodesChanged treats the users of the gone nodes as dropped (they keep
// their place for the grace period, within which they reconnect somewhere)
// and takes back those of nodes listed again (missed heartbeats, not a
// death) who are still in their grace period.
func (r *room) nodesChanged(gone, back map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return
	}
	// What it tells the edges (the users shown reconnecting or back) goes
	// out as one commit, not one per user of a node that died.
	var collected []commitParts
	r.collect = &collected
	defer func() {
		r.collect = nil
		r.publishManyLocked(collected)
	}()
	for uid, rm := range r.remote {
		switch {
		case gone[rm.node] && !rm.lost:
			rm.lost = true
			r.startGraceLocked(uid)
			r.connectionChangedLocked(uid)
		case back[rm.node] && rm.lost:
			rm.lost = false
			if t := r.timers[uid]; t != nil {
				t.Stop()
				delete(r.timers, uid)
			}
			r.connectionChangedLocked(uid)
		}
	}
}

// watchEdges, every second until the hub closes, drops the remote users of
// nodes that left the cluster and checks that the owner of each room served
// here as an edge still holds it: when another node does, or none (this
// node claims it then), the edge room ends and its clients reconnect, to
// be placed anew.
func (h *Hub) watchEdges() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	// A node counts as gone once it was listed and is not any more: a node
	// that just started may not be in this node's list yet.
	seen := map[string]bool{}
	for {
		select {
		case <-h.stopPing:
			return
		case <-t.C:
		}
		p := h.cfg.Placement
		if p == nil {
			return
		}
		live := map[string]bool{}
		for _, u := range p.Nodes() {
			live[u] = true
		}
		gone, back := map[string]bool{}, map[string]bool{}
		for u := range seen {
			if !live[u] {
				gone[u] = true
			}
		}
		for u := range live {
			if !seen[u] {
				back[u] = true
			}
		}
		seen = live
		h.mu.Lock()
		rooms := make([]*room, 0, len(h.rooms))
		for _, r := range h.rooms {
			rooms = append(rooms, r)
		}
		h.mu.Unlock()
		if len(gone) > 0 || len(back) > 0 {
			for _, r := range rooms {
				r.nodesChanged(gone, back)
			}
		}
		h.checkEdgeOwners()
	}
}

// ownerForEdge is the base URL of the node an edge room of meetingID is to
// follow: the owner's, or this node's own when the claim made it the owner
// (an edge of itself). The room is then opened here at once, restored and
// fenced, before the edge follows it: a lease held for a room this node
// does not serve is given up after two renewals, and the edge's users,
// joining a moment later, would be refused (4051).
func (h *Hub) ownerForEdge(meetingID string) (string, error) {
	p := h.cfg.Placement
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), placeTimeout)
		_, owner, _, err := p.Claim(ctx, meetingID)
		cancel()
		if err != nil {
			return "", err
		}
		if owner != "" {
			return owner, nil
		}
		if h.room(meetingID) != nil {
			return h.cfg.Edges.Self, nil
		}
		// Not opened (fenced at a newer epoch, or its state unreadable):
		// the lease is given up; ask again who holds it.
	}
	return "", fmt.Errorf("signal: room %s could not be opened here", meetingID)
}

func (h *Hub) checkEdgeOwners() {
	h.mu.Lock()
	ers := slices.Collect(maps.Values(h.edgeRooms))
	h.mu.Unlock()
	for _, er := range ers {
		owner, err := h.ownerForEdge(er.id)
		if err != nil {
			continue
		}
		if owner != er.ownerURL() {
			er.migrate(owner, nil)
		}
	}
}

func (h *Hub) edgeStreams() RoomStreams {
	if h.cfg.Edges == nil {
		return nil
	}
	return h.cfg.Edges.Streams
}
