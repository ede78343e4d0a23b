package signal

// The edge side: a room owned by another node, as this node serves its own
// users of it. The edge follows the room's streams (the audience's, the
// watchers' and this node's), numbers each event per connection as the
// owner does, and forwards its users' calls to the owner. It keeps no stage
// state: snapshots come from the owner, at the owner's seq, and are aligned
// here with what was delivered (entries up to the snapshot's seq skipped,
// those after it replayed from a ring of recent entries).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mailru/easyjson"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// edgeRing is how many recent entries an edge keeps to align snapshots.
const edgeRing = 1024

type edgeRoom struct {
	hub   *Hub
	id    string
	owner string // the owner's base URL
	// ownerGone is closed when the room follows another owner: calls still
	// out to the old one give up (a paused owner would hold them, and the
	// batches queued behind them, until their timeout).
	ownerGone chan struct{}

	restart sync.Mutex // one follower change at a time

	mu        sync.Mutex
	stop      func()               // the follower's
	pos       map[string]StreamPos // each followed stream's last delivered entry
	withHosts bool                 // the watchers' stream is followed (someone here sees everyone)
	conns     map[string]*conn     // user id → its connection here
	watchers  map[string]*conn     // those of conns who see everyone
	delivered int64                // the room seq delivered up to
	ringFrom  int64                // the ring covers (ringFrom, delivered]
	ring      []edgeGroup
	parked    []parkedAnswer
	dead      bool
	relay     EdgeRelay // the room's media with its owner, nil without Relays
	counts    countFan  // the count broadcasts to the connections here

	batchMu sync.Mutex
	batch   []batchedCall // joins, leaves and drops waiting for the next batch
	sending bool          // a batch is being gathered or sent
}

// batchedCall is a call waiting in the edge's next batch to the owner.
type batchedCall struct {
	call edgeCall
	done chan batchResult // nil: nobody waits (a drop)
}

type batchResult struct {
	ans edgeAnswer
	err error
}

// edgeGroup is one commit's parts as this edge follows them.
type edgeGroup struct {
	seq  int64
	aud  *audPart
	host *hostPart
	node *nodePart
	// count is the count event's frame, encoded once for every connection
	// (frames are not written to once queued).
	count []byte
}

// parkedAnswer waits until the events of its action are delivered.
type parkedAnswer struct {
	c   *conn
	seq int64
	msg protocol.ServerMessage
}

// edgeRoomFor returns the edge room of a meeting owned by owner, starting
// to follow its streams if needed; nil when they cannot be followed.
func (h *Hub) edgeRoomFor(meetingID, owner string) *edgeRoom {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	if er := h.edgeRooms[meetingID]; er != nil {
		h.mu.Unlock()
		if er.ownerURL() != owner {
			er.migrate(owner, nil)
		}
		return er
	}
	h.mu.Unlock()
	er := &edgeRoom{hub: h, id: meetingID, owner: owner, ownerGone: make(chan struct{}), conns: map[string]*conn{},
		counts: countFan{deliver: enqueueFrame}}
	// The audience's stream and this node's: the watchers' is followed
	// only once someone here sees everyone (ensureHosts).
	from := map[string]StreamPos{streamAudience: {}, nodeStream(h.cfg.Edges.Self): {}}
	er.mu.Lock() // no delivery before the start is known
	stop, start, err := h.cfg.Edges.Streams.Follow(meetingID, from, er.deliver, er.followEnded)
	if err != nil {
		er.mu.Unlock()
		h.log.Warn("cannot follow the room's streams", "meeting", meetingID, "err", err)
		return nil
	}
	er.stop, er.pos = stop, start
	for _, p := range start {
		er.delivered = max(er.delivered, p.Seq)
	}
	er.ringFrom = er.delivered
	er.mu.Unlock()
	h.mu.Lock()
	if other := h.edgeRooms[meetingID]; other != nil {
		h.mu.Unlock()
		stop()
		return other
	}
	h.edgeRooms[meetingID] = er
	h.mu.Unlock()
	if rs := h.cfg.Edges.Relays; rs != nil {
		er.mu.Lock()
		if !er.dead { // else forgotten already: a relay now would never close
			er.relay = rs.Open(meetingID, er.owner) // the owner as of now: migrate moves it under the same lock
		}
		er.mu.Unlock()
	}
	return er
}

// followEnded: a gap in the streams (trimmed, a new owner) or the stop.
// After a gap the edge follows the room's owner anew and resyncs its
// clients (migrate).
func (er *edgeRoom) followEnded(err error) {
	if err == nil {
		return
	}
	go func() {
		owner, cerr := er.hub.ownerForEdge(er.id)
		if cerr != nil {
			er.fail(fmt.Errorf("%w; and the room cannot be placed: %v", err, cerr))
			return
		}
		er.migrate(owner, err)
	}()
}

func (er *edgeRoom) ownerURL() string {
	er.mu.Lock()
	defer er.mu.Unlock()
	return er.owner
}

// migrate follows the room under owner (a new owner, or the same after a
// gap in its streams) without the clients reconnecting: the follower
// starts over from the new streams' tails, every user here is joined to
// the owner again (an OFF_STAGE viewer is not in its durable state) and
// its client is told to resync. Actions waiting for their events fail
// (4051): those events were the old owner's. A user the owner refuses is
// closed (4051) to reconnect.
func (er *edgeRoom) migrate(owner string, why error) {
	er.restart.Lock()
	defer er.restart.Unlock()
	er.mu.Lock()
	if er.dead || (owner == er.owner && why == nil) {
		er.mu.Unlock()
		return
	}
	stop := er.stop
	er.stop = nil
	er.mu.Unlock()
	if stop != nil {
		stop()
	}
	er.mu.Lock()
	if er.dead {
		er.mu.Unlock()
		return
	}
	er.hub.log.Info("edge room follows its owner anew", "meeting", er.id, "from", er.owner, "to", owner, "why", why)
	if owner != er.owner {
		close(er.ownerGone)
		er.ownerGone = make(chan struct{})
	}
	er.owner = owner
	if er.relay != nil {
		er.relay.Move(owner)
	}
	from := map[string]StreamPos{streamAudience: {}, nodeStream(er.hub.cfg.Edges.Self): {}}
	if er.withHosts {
		from[streamHosts] = StreamPos{}
	}
	stop, start, err := er.hub.cfg.Edges.Streams.Follow(er.id, from, er.deliver, er.followEnded)
	if err != nil {
		er.mu.Unlock()
		er.fail(err)
		return
	}
	er.stop, er.pos, er.delivered, er.ring = stop, start, 0, nil
	for _, p := range start {
		er.delivered = max(er.delivered, p.Seq)
	}
	er.ringFrom = er.delivered
	parked := er.parked
	er.parked = nil
	conns := make([]*conn, 0, len(er.conns))
	peers := make([]string, 0, len(er.conns))
	for _, c := range er.conns {
		c.edgeSkip = er.delivered
		conns = append(conns, c)
		peers = append(peers, c.peerID)
	}
	er.mu.Unlock()
	for _, p := range parked {
		p.c.sendError(p.msg.ID, protocol.NewError(protocol.CodeRoomMoved, "the room moved to another node before the change was confirmed"))
	}
	resync := encodeEvent(protocol.ServerMessage{Event: protocol.EventResync})
	// Every user joins the new owner again, in batches.
	answers := make([]edgeAnswer, len(conns))
	errs := make([]error, len(conns))
	for from := 0; from < len(conns); from += maxEdgeBatch {
		to := min(from+maxEdgeBatch, len(conns))
		calls := make([]edgeCall, 0, to-from)
		for i := from; i < to; i++ {
			// The identity as of hello (c.id is the reader's own).
			id := conns[i].ident.Load()
			lost := er.hub.edgeMedia.isLost(memberKey{er.id, id.UserID})
			calls = append(calls, edgeCall{Op: "join", User: id.UserID, Ident: id, PeerID: peers[i], MediaLost: lost, Conn: conns[i].serial})
		}
		got, err := er.callBatch(calls)
		for i := from; i < to; i++ {
			if err != nil {
				errs[i] = err
				continue
			}
			answers[i] = got[i-from]
			if answers[i].Error != nil {
				errs[i] = answers[i].Error
			}
		}
	}
	// The new owner's stage starts without screen shares: those shared
	// through this node claim their slots again before anyone here hears
	// of the new owner.
	if media := er.hub.cfg.Media; media != nil {
		for i, c := range conns {
			if errs[i] != nil || !media.Screensharing(er.id, c.id.UserID) {
				continue
			}
			ans, err := er.batchedAs(c.id.UserID, edgeCall{Op: opShare})
			if err == nil && ans.Error != nil {
				err = ans.Error
			}
			if err != nil {
				er.hub.log.Warn("a screen share could not claim its slot from the room's new owner", "meeting", er.id, "user", c.id.UserID, "err", err)
			}
		}
	}
	for i, c := range conns {
		ans, err := answers[i], errs[i]
		er.mu.Lock()
		switch {
		case er.conns[c.id.UserID] != c:
		case err != nil:
			er.dropConnLocked(c.id.UserID)
			c.closeWith(protocol.CodeRoomMoved, "the room moved to another node; reconnect", true)
			er.detachMedia(c, er.hub.cfg.Grace)
		default:
			c.edgeSkip = max(c.edgeSkip, ans.Seq)
			queueEventTo(c, resync, false)
		}
		er.mu.Unlock()
	}
}

// fail ends the edge room: its clients reconnect (4051) and resync.
func (er *edgeRoom) fail(err error) {
	er.mu.Lock()
	if er.dead {
		er.mu.Unlock()
		return
	}
	er.dead = true
	conns := er.conns
	er.conns, er.watchers = map[string]*conn{}, nil
	er.mu.Unlock()
	er.hub.log.Info("edge room ended; its clients reconnect", "meeting", er.id, "err", err)
	for _, c := range conns {
		c.closeWith(protocol.CodeRoomMoved, "the room moved; reconnect", true)
		er.detachMedia(c, er.hub.cfg.Grace)
	}
	er.forget()
}

// forget drops the room from the hub and stops following.
func (er *edgeRoom) forget() {
	h := er.hub
	h.mu.Lock()
	if h.edgeRooms[er.id] == er {
		delete(h.edgeRooms, er.id)
	}
	h.mu.Unlock()
	er.mu.Lock()
	stop, relay := er.stop, er.relay
	er.relay = nil
	er.mu.Unlock()
	if stop != nil {
		go stop() // not from the follower's own goroutine: it waits for it
	}
	if relay != nil {
		relay.Close()
	}
}

// deliver hands the streams' entries to the connections, commit by commit.
func (er *edgeRoom) deliver(entries []StreamEntry) {
	groups, err := edgeGroups(entries)
	if err != nil {
		go er.fail(err)
		return
	}
	er.mu.Lock()
	defer er.mu.Unlock()
	if er.dead {
		return
	}
	for _, e := range entries {
		er.pos[e.Stream] = e.Pos
	}
	from := er.delivered
	var count []byte
	var counted int
	var countSeq int64
	for _, g := range groups {
		if g.seq <= from {
			continue
		}
		er.deliverGroupLocked(g)
		if g.count != nil {
			count, counted, countSeq = g.count, g.aud.Count, g.seq // only the last of them matters
		}
		er.delivered = g.seq
		er.ring = append(er.ring, g)
		if len(er.ring) > edgeRing {
			er.ringFrom = er.ring[0].seq
			er.ring = er.ring[1:]
		}
	}
	if count != nil {
		conns := make([]*conn, 0, len(er.conns))
		for _, c := range er.conns {
			if c.edgeSkip < countSeq { // else its snapshot holds this count or a newer one
				conns = append(conns, c)
			}
		}
		er.counts.send(count, conns, countInterval(er.hub.cfg.CountInterval, counted)/2)
	}
	kept := er.parked[:0]
	for _, p := range er.parked {
		if p.seq <= er.delivered {
			p.msg.Seq = p.c.seq
			p.c.send(p.msg)
		} else {
			kept = append(kept, p)
		}
	}
	er.parked = kept
}

// edgeGroups decodes entries (a commit's entries together, in the room's
// order) into the events they carry: one group per commit, or, for a
// batch's commit (each stream's entry a JSON array, see
// publishManyLocked), one group per event of the batch, in its order.
func edgeGroups(entries []StreamEntry) ([]edgeGroup, error) {
	var groups, block []edgeGroup
	seq := int64(-1)
	end := func() {
		for _, g := range block {
			if g.aud != nil && g.aud.Count > 0 {
				g.count, _ = protocol.EncodeServer(protocol.ServerMessage{Type: protocol.TypeEvent, Event: protocol.EventCount, Count: g.aud.Count})
			}
			if g.aud != nil || g.host != nil || g.node != nil {
				groups = append(groups, g)
			}
		}
		block = block[:0]
	}
	for _, e := range entries {
		if e.Pos.Seq != seq {
			end()
			seq = e.Pos.Seq
		}
		bodies := []json.RawMessage{e.Body}
		if len(e.Body) > 0 && e.Body[0] == '[' {
			if err := json.Unmarshal(e.Body, &bodies); err != nil {
				return nil, fmt.Errorf("undecodable stream entry %d: %w", e.Pos.Seq, err)
			}
		}
		for len(block) < len(bodies) {
			block = append(block, edgeGroup{seq: seq})
		}
		for k, body := range bodies {
			if len(body) == 0 || string(body) == "null" {
				continue
			}
			g := &block[k]
			var err error
			switch e.Stream {
			case streamAudience:
				g.aud = &audPart{}
				err = json.Unmarshal(body, g.aud)
			case streamHosts:
				g.host = &hostPart{}
				err = json.Unmarshal(body, g.host)
			default:
				g.node = &nodePart{}
				err = json.Unmarshal(body, g.node)
			}
			if err != nil {
				return nil, fmt.Errorf("undecodable stream entry %d: %w", e.Pos.Seq, err)
			}
		}
	}
	end()
	return groups, nil
}

// deliverGroupLocked queues g for the connections here. A group with
// nothing for the audience as a whole (a request, a withdrawal: an event
// private to its user and the hosts) goes to the users it names and the
// watchers only, not through every connection: a storm of 1,000 requests
// at an edge of 10,000 viewers was 10 million visits.
func (er *edgeRoom) deliverGroupLocked(g edgeGroup) {
	if g.aud != nil && (g.aud.Event != nil || g.aud.Resync) {
		for _, c := range er.conns {
			er.deliverToLocked(c, g, false)
		}
		return
	}
	// Each user named once: its own event, its publishing, its close are
	// one visit.
	var seen map[string]bool
	if np := g.node; np != nil {
		seen = make(map[string]bool, len(np.Own)+len(np.Pub)+len(np.Close))
		visit := func(uid string) {
			if seen[uid] {
				return
			}
			seen[uid] = true
			if c := er.conns[uid]; c != nil {
				er.deliverToLocked(c, g, false)
			}
		}
		for uid := range np.Own {
			visit(uid)
		}
		for uid := range np.Pub {
			visit(uid)
		}
		for uid := range np.Close {
			visit(uid)
		}
	}
	if g.host != nil {
		for uid, c := range er.watchers {
			if !seen[uid] {
				er.deliverToLocked(c, g, false)
			}
		}
	}
}

// presetChanged closes the connections here of users whose preset p
// changed (4033): an edge serves a user by its preset (which streams it
// follows, what it delivers, what its media may do) as of its hello, and
// the owner changes only the stage. The SDK reconnects at once, and its
// new hello and rejoin (within the grace period, its media kept) take up
// the new preset as a join here does; it tells the page the permissions
// changed.
func (er *edgeRoom) presetChanged(p stage.Preset) {
	er.mu.Lock()
	defer er.mu.Unlock()
	for _, c := range er.conns {
		if c.id.Preset.Name == p.Name && c.id.Preset != p {
			c.closeWith(protocol.CodePresetChanged, "the preset changed; reconnect", true)
		}
	}
}

// putConnLocked and dropConnLocked keep conns and watchers together.
func (er *edgeRoom) putConnLocked(c *conn) {
	uid := c.id.UserID
	er.conns[uid] = c
	if c.id.Preset.SeesEveryone() {
		if er.watchers == nil {
			er.watchers = map[string]*conn{}
		}
		er.watchers[uid] = c
	} else {
		delete(er.watchers, uid)
	}
}

func (er *edgeRoom) dropConnLocked(uid string) {
	delete(er.conns, uid)
	delete(er.watchers, uid)
}

// deliverToLocked queues what c's user may see of g: its own event if it
// has one, else the watchers' or the audience's; and g's count if count
// (deliver sends counts to all through er.counts).
func (er *edgeRoom) deliverToLocked(c *conn, g edgeGroup, count bool) {
	if g.seq <= c.edgeSkip {
		return
	}
	uid := c.id.UserID
	switch own, ok := g.node.own(uid); {
	case ok:
		queueEventTo(c, own, false)
	case c.id.Preset.SeesEveryone():
		if g.host != nil {
			body := g.host.Watch
			if c.id.Preset.AcceptStageRequests && g.host.Host != nil {
				body = g.host.Host
			}
			queueEventTo(c, body, false)
		}
	case g.aud != nil && g.aud.Event != nil:
		queueEventTo(c, g.aud.Event, false)
	}
	if count && g.count != nil {
		c.enqueue(g.count)
	}
	if g.aud != nil && g.aud.Resync {
		queueEventTo(c, encodeEvent(protocol.ServerMessage{Event: protocol.EventResync}), false)
	}
	if g.node != nil {
		if on, ok := g.node.Pub[uid]; ok {
			er.setPublishingLocked(uid, on)
		}
		if code, ok := g.node.Close[uid]; ok {
			c.closeWith(code, "the participant connected elsewhere", true)
			er.detachMedia(c, 0) // its media is elsewhere now: what it published here must not go on
		}
	}
}

func (np *nodePart) own(userID string) ([]byte, bool) {
	if np == nil {
		return nil, false
	}
	b, ok := np.Own[userID]
	return b, ok
}

// ensureHosts makes the edge follow the watchers' stream too, before a
// watcher joins here: the follower is replaced by one that goes on from
// what was delivered on the other streams and takes the watchers' up at
// its tail. A snapshot taken after that (at or past both) aligns; one
// from before it does not (ringFrom).
func (er *edgeRoom) ensureHosts() error {
	er.restart.Lock()
	defer er.restart.Unlock()
	er.mu.Lock()
	if er.withHosts || er.dead {
		er.mu.Unlock()
		return nil
	}
	stop := er.stop
	er.mu.Unlock()
	stop() // no delivery after it returns
	er.mu.Lock()
	defer er.mu.Unlock()
	if er.dead {
		return nil
	}
	from := map[string]StreamPos{streamHosts: {}}
	for s, p := range er.pos {
		from[s] = p
	}
	stop, start, err := er.hub.cfg.Edges.Streams.Follow(er.id, from, er.deliver, er.followEnded)
	if err != nil {
		go er.fail(err)
		return err
	}
	er.stop, er.withHosts = stop, true
	er.pos[streamHosts] = start[streamHosts]
	er.hub.log.Info("edge follows the room's watchers' stream", "meeting", er.id, "from", start[streamHosts].Seq)
	er.ringFrom = max(er.ringFrom, er.delivered, start[streamHosts].Seq)
	return nil
}

// call sends an edge call to the owner.
func (er *edgeRoom) call(ctx context.Context, call edgeCall) (edgeAnswer, error) {
	ec := er.hub.cfg.Edges
	call.Meeting, call.Node = er.id, ec.Self
	body, err := easyjson.Marshal(call)
	if err != nil {
		return edgeAnswer{}, err
	}
	er.mu.Lock()
	owner, gone := er.owner, er.ownerGone
	er.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, edgeCallTimeout)
	defer cancel()
	go func() {
		select {
		case <-gone:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, owner+edgeCallPath, bytes.NewReader(body))
	if err != nil {
		return edgeAnswer{}, err
	}
	req.Header.Set("X-Stagekit-Node-Key", ec.Key)
	req.Header.Set("Content-Type", "application/json")
	client := ec.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return edgeAnswer{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return edgeAnswer{}, fmt.Errorf("the owner answered %s", res.Status)
	}
	raw, err := readBody(res.Body, res.ContentLength)
	if err != nil {
		return edgeAnswer{}, err
	}
	var ans edgeAnswer
	if err := easyjson.Unmarshal(raw, &ans); err != nil {
		return edgeAnswer{}, err
	}
	return ans, nil
}

// edgeCallTimeout bounds an edge's call to the owner.
const edgeCallTimeout = 5 * time.Second

// edgeBatchWindow is how long an edge gathers its users' joins, stage
// actions (screen-share claims with them), leaves and drops of a room
// before it sends them to the owner as one call; while that call is out,
// the next batch gathers. A batch with no stage action or claim in it
// (joins, leaves, drops: nobody waits on a person's click) gathers on, up to edgeJoinWindow or edgeJoinBatch calls: the
// owner pays per batch an HTTP call, a PostgreSQL round trip and a stream
// commit. (Longer does not pay: with 40 ms for a wave the benchmark's
// batches grew from 16 to 24 calls and the owner's CPU per viewer stayed
// where it was, its cost being per viewer; the joins took longer.)
const (
	edgeBatchWindow = 2 * time.Millisecond
	edgeJoinWindow  = 10 * time.Millisecond
	edgeJoinBatch   = 256
)

// gatherOn reports whether a batch of calls with no stage action may wait
// longer, having gathered for waited.
func gatherOn(batch []batchedCall, waited time.Duration) bool {
	if waited >= edgeJoinWindow || len(batch) >= edgeJoinBatch {
		return false
	}
	for _, bc := range batch {
		if bc.call.Op == "act" || bc.call.Op == opShare {
			return false
		}
	}
	return true
}

// batched makes a join, action, leave or drop call through the room's next
// batch; wait false returns at once (the answer is not needed). A join
// carries its user's media news as of now, in order with the news to come
// (edgeMediaLiveness).
func (er *edgeRoom) batched(c *conn, call edgeCall, wait bool) (edgeAnswer, error) {
	call.User, call.Conn = c.id.UserID, c.serial
	var done chan batchResult
	if wait {
		done = make(chan batchResult, 1)
	}
	if call.Op == "join" {
		b := &er.hub.edgeMedia
		b.mu.Lock()
		call.MediaLost = c.keepMedia && b.lost[memberKey{er.id, call.User}]
		er.enqueue(call, done)
		b.mu.Unlock()
	} else {
		er.enqueue(call, done)
	}
	if !wait {
		return edgeAnswer{}, nil
	}
	res := <-done
	return res.ans, res.err
}

// batchedAs makes a screen-share claim or release of a user served here
// through the room's next batch and returns its answer.
func (er *edgeRoom) batchedAs(userID string, call edgeCall) (edgeAnswer, error) {
	call.User = userID
	done := make(chan batchResult, 1)
	er.enqueue(call, done)
	res := <-done
	return res.ans, res.err
}

// enqueue adds a call to the room's next batch; done, if set, gets its
// answer.
func (er *edgeRoom) enqueue(call edgeCall, done chan batchResult) {
	er.batchMu.Lock()
	er.batch = append(er.batch, batchedCall{call: call, done: done})
	start := !er.sending
	er.sending = true
	er.batchMu.Unlock()
	if start {
		go er.sendBatches()
	}
}

// sendBatches sends the gathered calls, a batch at a time, until none is
// left.
func (er *edgeRoom) sendBatches() {
	waited := time.Duration(0)
	for {
		time.Sleep(edgeBatchWindow)
		waited += edgeBatchWindow
		er.batchMu.Lock()
		if len(er.batch) > 0 && gatherOn(er.batch, waited) {
			er.batchMu.Unlock()
			continue
		}
		waited = 0
		n := min(len(er.batch), maxEdgeBatch)
		if n == 0 {
			er.sending = false
			er.batchMu.Unlock()
			return
		}
		batch := er.batch[:n:n]
		er.batch = er.batch[n:]
		er.batchMu.Unlock()
		calls := make([]edgeCall, n)
		for i, bc := range batch {
			calls[i] = bc.call
		}
		answers, err := er.callBatch(calls)
		for i, bc := range batch {
			if bc.done != nil {
				var res batchResult
				if err != nil {
					res.err = err
				} else {
					res.ans, res.err = answers[i], movedErr(answers[i])
				}
				bc.done <- res
			}
		}
	}
}

// callBatch sends calls to the owner as one batch: an answer per call, or
// errMoved for all.
func (er *edgeRoom) callBatch(calls []edgeCall) ([]edgeAnswer, error) {
	er.hub.edgeBatches.Add(1)
	er.hub.edgeBatchedCalls.Add(int64(len(calls)))
	ans, err := er.call(context.Background(), edgeCall{Op: "batch", User: calls[0].User, Calls: calls})
	if err == nil && ans.Error != nil {
		err = ans.Error
	}
	if err == nil {
		err = ans.unshare()
	}
	if err == nil && len(ans.Answers) != len(calls) {
		err = fmt.Errorf("the owner answered %d of %d calls", len(ans.Answers), len(calls))
	}
	if err != nil {
		er.hub.log.Warn("a batch of calls to the room's owner failed", "meeting", er.id, "owner", er.ownerURL(), "calls", len(calls), "err", err)
		return nil, errMoved
	}
	return ans.Answers, nil
}

func movedErr(ans edgeAnswer) error {
	if ans.Error != nil && ans.Error.Code == protocol.CodeRoomMoved {
		return errMoved
	}
	return nil
}

// errMoved is an owner that cannot be reached or no longer owns the room:
// the client reconnects (4051), to be placed anew.
var errMoved = errors.New("the room's owner is gone")

// callOwner makes a call and turns the owner's refusal of the room (or its
// silence) into errMoved.
func (er *edgeRoom) callOwner(c *conn, call edgeCall) (edgeAnswer, error) {
	call.User, call.Conn = c.id.UserID, c.serial
	ans, err := er.call(context.Background(), call)
	if err != nil {
		er.hub.log.Warn("a call to the room's owner failed", "meeting", er.id, "owner", er.ownerURL(), "op", call.Op, "err", err)
		return ans, errMoved
	}
	if ans.Error != nil && ans.Error.Code == protocol.CodeRoomMoved {
		return ans, errMoved
	}
	return ans, nil
}

func (c *conn) moved(reqID uint64) {
	c.sendError(reqID, protocol.NewError(protocol.CodeRoomMoved, "the room moved to another node; reconnect"))
	c.closeWith(protocol.CodeRoomMoved, "the room moved to another node; reconnect", true)
}

// edgeJoin joins c's user to a room owned by another node.
func (c *conn) edgeJoin(reqID uint64) {
	er := c.edge
	if er == nil {
		er = c.hub.edgeRoomFor(c.id.MeetingID, c.edgeOwner)
	}
	if er == nil {
		c.moved(reqID)
		return
	}
	if c.id.Preset.SeesEveryone() && er.ensureHosts() != nil {
		c.moved(reqID)
		return
	}
	id := c.id
	call := edgeCall{Op: "join", Ident: &id, PeerID: c.peerID}
	for try := range 3 {
		var ans edgeAnswer
		var err error
		if try == 0 {
			ans, err = er.batched(c, call, true)
		} else {
			ans, err = er.callOwner(c, call)
		}
		if err != nil {
			c.moved(reqID)
			return
		}
		if ans.Error != nil {
			c.sendError(reqID, ans.Error)
			return
		}
		if ans.Snapshot == nil {
			c.moved(reqID)
			return
		}
		switch er.attach(c, ans, reqID) {
		case attachDone:
			return
		case attachGone:
			c.moved(reqID)
			return
		}
		call = edgeCall{Op: "snapshot"} // too far behind to align: a newer one
	}
	c.sendError(reqID, protocol.NewError(protocol.CodeInternal, "the room's events run ahead of its snapshots; try again"))
}

type attachResult int

const (
	attachDone attachResult = iota
	attachGone
	attachRetry
)

// attach makes c its user's connection here and answers its join (or
// snapshot) with the owner's snapshot. Only c's reader calls it: the
// answer is written on its goroutine, as a reply (conn.reply).
func (er *edgeRoom) attach(c *conn, ans edgeAnswer, reqID uint64) attachResult {
	res, write := er.attachLocked(c, ans, reqID)
	if write {
		c.writeLoop()
	}
	return res
}

// attachLocked is attach under the room's lock; write says c's reader must
// run the writer.
func (er *edgeRoom) attachLocked(c *conn, ans edgeAnswer, reqID uint64) (res attachResult, write bool) {
	er.mu.Lock()
	defer er.mu.Unlock()
	if er.dead || c.isClosing() {
		return attachGone, false
	}
	if !er.alignedLocked(ans.Seq) {
		return attachRetry, false
	}
	uid := c.id.UserID
	if old := er.conns[uid]; old != nil && old != c {
		old.closeWith(protocol.CodeReplaced, "the participant connected elsewhere", true)
	}
	fresh := er.conns[uid] != c
	er.putConnLocked(c)
	c.edge = er
	c.peerID = ans.Snapshot.Self.PeerID
	if fresh {
		er.attachMediaLocked(c, ans.Snapshot.Self)
	}
	return attachDone, er.sendSnapshotLocked(c, *ans.Snapshot, ans.Seq, reqID)
}

// alignedLocked reports whether a snapshot at seq can be brought up to
// what was delivered: the ring holds every entry after it.
func (er *edgeRoom) alignedLocked(seq int64) bool {
	return seq >= er.ringFrom
}

// sendSnapshotLocked answers reqID with snap (the room at seq) numbered
// for c, then replays the entries delivered since seq. True says the
// caller must run c's writer (conn.pushAll).
func (er *edgeRoom) sendSnapshotLocked(c *conn, snap protocol.Snapshot, seq int64, reqID uint64) (write bool) {
	snap.Seq = c.seq
	var frames [][]byte
	snap.Participants, frames = splitParts(reqID, snap.Participants, func(m *protocol.ServerMessage, p []protocol.Participant) { m.Participants = p }, frames)
	if snap.Requests != nil {
		snap.Requests, frames = splitParts(reqID, snap.Requests, func(m *protocol.ServerMessage, q []protocol.StageRequest) { m.Requests = q }, frames)
	}
	final, err := protocol.EncodeServer(protocol.ServerMessage{Type: protocol.TypeResult, ID: reqID, Seq: snap.Seq, Snapshot: &snap})
	if err != nil {
		return false
	}
	write = c.pushAll(append(frames, final))
	c.edgeSkip = seq
	for _, g := range er.ring {
		er.deliverToLocked(c, g, true)
	}
	c.edgeSkip = max(seq, er.delivered)
	return write
}

// edgeApply forwards a stage action and answers it once its events are
// delivered here.
func (c *conn) edgeApply(msg protocol.ClientMessage) {
	er := c.edge
	m := msg
	ans, err := er.batched(c, edgeCall{Op: "act", Msg: &m}, true)
	if err != nil {
		c.moved(msg.ID)
		return
	}
	if ans.Error != nil {
		c.sendError(msg.ID, ans.Error)
		return
	}
	res := protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Status: ans.Status}
	er.mu.Lock()
	defer er.mu.Unlock()
	if er.conns[c.id.UserID] != c {
		c.sendError(msg.ID, protocol.NewError(protocol.CodeNotJoined, "this connection is no longer in the room"))
		return
	}
	if ans.Seq <= er.delivered || ans.Seq <= c.edgeSkip {
		res.Seq = c.seq
		c.send(res)
		return
	}
	er.parked = append(er.parked, parkedAnswer{c: c, seq: ans.Seq, msg: res})
}

// edgeSnapshot answers a resync from the owner's state.
func (c *conn) edgeSnapshot(reqID uint64) {
	er := c.edge
	for range 3 {
		ans, err := er.callOwner(c, edgeCall{Op: "snapshot"})
		if err != nil {
			c.moved(reqID)
			return
		}
		if ans.Error != nil || ans.Snapshot == nil {
			c.sendError(reqID, ans.Error)
			return
		}
		switch er.attach(c, ans, reqID) {
		case attachDone:
			return
		case attachGone:
			c.moved(reqID)
			return
		}
	}
	c.sendError(reqID, protocol.NewError(protocol.CodeInternal, "the room's events run ahead of its snapshots; try again"))
}

// edgeRequests answers getAccessRequests from the owner's list.
func (c *conn) edgeRequests(reqID uint64) {
	ans, err := c.edge.callOwner(c, edgeCall{Op: "requests"})
	if err != nil {
		c.moved(reqID)
		return
	}
	if ans.Error != nil {
		c.sendError(reqID, ans.Error)
		return
	}
	last, frames := splitParts(reqID, ans.Requests, func(m *protocol.ServerMessage, q []protocol.StageRequest) { m.Requests = q }, nil)
	if last == nil {
		last = []protocol.StageRequest{}
	}
	final, err := protocol.EncodeServer(protocol.ServerMessage{Type: protocol.TypeResult, ID: reqID, Requests: last})
	if err != nil {
		return
	}
	c.enqueueAll(append(frames, final))
}

// edgeGone is c's leave (the user exits) or drop (it keeps its place for
// the grace period): the owner is told unless c was replaced meanwhile.
func (c *conn) edgeGone(left bool) {
	er := c.edge
	er.mu.Lock()
	mine := er.conns[c.id.UserID] == c
	if mine {
		er.dropConnLocked(c.id.UserID)
	}
	empty := len(er.conns) == 0 && !er.dead
	if empty {
		er.dead = true
	}
	er.mu.Unlock()
	if mine {
		if left {
			er.detachMedia(c, 0)
		} else {
			er.detachMedia(c, er.hub.cfg.Grace)
		}
		op := "drop"
		if left {
			op = "leave"
		}
		er.batched(c, edgeCall{Op: op}, left)
	}
	if empty {
		er.forget()
	}
}

// closeEdges stops following every edge room (the hub is closing).
func (h *Hub) closeEdges() {
	h.mu.Lock()
	rooms := h.edgeRooms
	h.edgeRooms = map[string]*edgeRoom{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, er := range rooms {
		er.mu.Lock()
		er.dead = true
		stop, relay := er.stop, er.relay
		er.relay = nil
		er.mu.Unlock()
		if stop != nil {
			wg.Go(stop)
		}
		if relay != nil {
			relay.Close()
		}
	}
	wg.Wait()
}
