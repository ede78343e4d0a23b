package cluster

// Room streams carry a room's committed events from its owner to the edges
// (the nodes that serve part of its audience), in Redis Streams: ordered,
// kept for a while, and readable again from where a reader stopped, so an
// edge that lost Redis for a moment catches up instead of starting over.
//
// A room has one stream per audience, so that a node reads only what its
// own users may see: StreamAudience (what every user may see),
// StreamHosts (what the users who see everyone get) and one per node
// (NodeStream: events private to users on that node). The owner adds the
// entries of one commit to every stream concerned in one script run,
// refused unless the room's lease is still at its epoch, each with
// the room's seq, the seq of the stream's previous entry and the names of
// the commit's streams; a reader that follows several streams reads them
// in one XREAD and hands their entries over merged in the room's order, a
// commit once it has its part of every stream it follows (a blocked XREAD
// returns as soon as one of its streams has data). A reader knows from the previous-seq link whether it
// missed an entry of a stream (trimmed while it was away), and from the
// epoch whether another owner took over: both end in a resync from the
// owner's state rather than a guess.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream names within a room.
const (
	StreamAudience = "aud"
	StreamHosts    = "host"
)

// NodeStream is the stream of events private to users on node nodeID.
func NodeStream(nodeID string) string { return "n:" + nodeID }

// streamMaxLen bounds each stream (approximately: MAXLEN ~): a reader more
// than this many entries behind resyncs.
const streamMaxLen = 10000

// RoomEntry is one stream's part of a commit: the room's seq and what the
// stream's readers need (an encoded event, bodies per user, a count).
type RoomEntry struct {
	Stream string
	Body   []byte
}

// Publisher adds a room's commits to its streams; the room's owner holds
// one per room, created when it takes the room under epoch.
type Publisher struct {
	n       *Node
	meeting string
	epoch   int64

	mu   sync.Mutex
	prev map[string]int64 // stream → the seq of its last entry
}

// Publisher returns the room's publisher for this node's epoch.
func (n *Node) Publisher(meetingID string, epoch int64) *Publisher {
	return &Publisher{n: n, meeting: meetingID, epoch: epoch, prev: map[string]int64{}}
}

func (n *Node) streamKey(meetingID, stream string) string {
	return n.cfg.Prefix + "stream:" + meetingID + ":" + stream
}

// ErrFenced is Publish's answer when the room's lease is no longer held
// at the publisher's epoch: a deposed owner that has not noticed yet.
var ErrFenced = errors.New("cluster: the room's lease moved; not published")

// publishScript adds a commit's entries to their streams only while the
// room's lease (KEYS[1], "node|epoch|url") is at the publisher's epoch:
// an owner paused past its lease writes nothing its heir's edges would
// take for a gap. KEYS[2..] are the streams; ARGV: epoch, seq, the
// commit's streams, the streams' bound, then per stream its previous seq
// and the body.
var publishScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local _, e = string.match(v, '^([^|]*)|([^|]*)|')
if e ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
	redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[4], '*',
		's', ARGV[2], 'p', ARGV[3 + 2*i - 2], 'e', ARGV[1], 'k', ARGV[3], 'b', ARGV[4 + 2*i - 2])
end
return 1`)

// Publish adds the commit seq's entries, each to its stream, in one
// script run, fenced by the room's lease (ErrFenced). Calls must come in
// the room's order (under its lock).
func (p *Publisher) Publish(ctx context.Context, seq int64, entries []RoomEntry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.n.cfg.LeaseTTL/6)
	defer cancel()
	names := make([]string, len(entries))
	keys := make([]string, 1, 1+len(entries))
	keys[0] = p.n.roomKey(p.meeting)
	for i, e := range entries {
		names[i] = e.Stream
		keys = append(keys, p.n.streamKey(p.meeting, e.Stream))
	}
	args := make([]any, 0, 4+2*len(entries))
	args = append(args, p.epoch, seq, strings.Join(names, ","), streamMaxLen)
	for _, e := range entries {
		args = append(args, p.prev[e.Stream], e.Body)
	}
	ok, err := publishScript.Run(ctx, p.n.rdb, keys, args...).Int()
	if err == nil && ok == 0 {
		err = ErrFenced
	}
	if err != nil {
		// The links stay as they were: an entry that did reach Redis is
		// followed by one whose link skips it, which a reader takes as a
		// gap (resync), never as an entry it may drop unseen.
		return fmt.Errorf("cluster: publish %s seq %d: %w", p.meeting, seq, err)
	}
	for _, e := range entries {
		p.prev[e.Stream] = seq
	}
	return nil
}

// Delivered is an entry as a reader gets it.
type Delivered struct {
	Stream string
	ID     string // the entry's Redis id: a Position to follow on from
	Seq    int64
	Epoch  int64
	Body   []byte
	commit []string // the streams of its commit
}

// Position is where a reader stands in each stream it follows: the Redis
// id of the last entry read ("0" for the start) and its seq.
type Position struct {
	ID  string
	Seq int64
}

// Tail returns the room's streams' current ends, read at one point in
// time: following from there and then taking a snapshot of the room (at
// seq S) loses nothing, since every entry after the tail is read and those
// up to S are in the snapshot.
func (n *Node) Tail(ctx context.Context, meetingID string, streams []string) (map[string]Position, error) {
	cmds := make([]*redis.XMessageSliceCmd, len(streams))
	_, err := n.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, s := range streams {
			cmds[i] = pipe.XRevRangeN(ctx, n.streamKey(meetingID, s), "+", "-", 1)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: tail of %s: %w", meetingID, err)
	}
	out := make(map[string]Position, len(streams))
	for i, s := range streams {
		pos := Position{ID: "0"}
		if msgs := cmds[i].Val(); len(msgs) > 0 {
			pos.ID = msgs[0].ID
			pos.Seq, _ = strconv.ParseInt(fmt.Sprint(msgs[0].Values["s"]), 10, 64)
		}
		out[s] = pos
	}
	return out, nil
}

// ErrStreamGap is what a Follower reports when it cannot go on from where
// it stands: entries were trimmed before it read them, or another owner
// (a new epoch) writes the room now. The reader resyncs from the owner.
var ErrStreamGap = errors.New("cluster: room stream gap")

// Follow reads the room's streams from pos and calls deliver with their
// entries merged in the room's order, batch by batch, from one goroutine.
// A Redis error is retried (from the same place: the entries wait in
// Redis); a gap or an epoch other than the first entry's ends the follow
// with ErrStreamGap passed to done. done is also called, with nil, after
// stop. epoch 0 takes the first entry's epoch; a follower that has taken
// nothing yet also takes up a newer owner's chain at its start (its tail
// was an older owner's entry).
func (n *Node) Follow(meetingID string, epoch int64, pos map[string]Position, deliver func([]Delivered), done func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{n: n, meeting: meetingID, epoch: epoch, pos: map[string]Position{}, start: map[string]int64{}}
	for s, p := range pos {
		f.streams = append(f.streams, s)
		f.pos[s], f.start[s] = p, p.Seq
	}
	slices.Sort(f.streams)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done(f.run(ctx, deliver))
	}()
	return func() { cancel(); <-finished }
}

type follower struct {
	n       *Node
	meeting string
	epoch   int64
	streams []string
	pos     map[string]Position
	start   map[string]int64 // the seq each stream is followed after
	taken   bool             // an entry was taken: the epoch is the one followed
	held    []Delivered      // read but not yet safe to hand over (see read)
}

// followBlock is how long one XREAD waits for entries.
const followBlock = time.Second

// streamReaders bounds the connections of the streams' reads: one per
// room followed here (made as needed).
const streamReaders = 4096

// followBatch is the most entries one XREAD takes per stream.
const followBatch = 512

func (f *follower) run(ctx context.Context, deliver func([]Delivered)) error {
	retry := f.n.cfg.LeaseTTL / 6
	for ctx.Err() == nil {
		batch, err := f.read(ctx)
		switch {
		case errors.Is(err, ErrStreamGap):
			return err
		case err != nil && ctx.Err() == nil:
			f.n.log.Debug("reading a room stream failed; retrying", "meeting", f.meeting, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
			continue
		}
		if len(batch) > 0 {
			deliver(batch)
		}
	}
	return nil
}

// read takes what the streams hold after the reader's positions and
// returns the entries that are safe to hand over, in the room's order. A
// stream that returned a full batch may hold more entries below another
// stream's last one: what lies beyond the smallest such last seq is held
// back for the next read.
func (f *follower) read(ctx context.Context) ([]Delivered, error) {
	args := make([]string, 0, 2*len(f.streams))
	for _, s := range f.streams {
		args = append(args, f.n.streamKey(f.meeting, s))
	}
	for _, s := range f.streams {
		args = append(args, f.pos[s].ID)
	}
	res, err := f.n.readers.XRead(ctx, &redis.XReadArgs{Streams: args, Count: followBatch, Block: followBlock}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	limit := int64(-1) // no stream truncated
	for _, xs := range res {
		stream := xs.Stream[len(f.n.streamKey(f.meeting, "")):]
		pos := f.pos[stream]
		for _, m := range xs.Messages {
			d, prev, err := parseEntry(stream, m)
			if err != nil {
				return nil, err
			}
			if !f.taken && prev == 0 && d.Epoch > f.epoch {
				// Taken up at a tail an older owner wrote: the new owner's
				// chain starts here (its seqs go on above the old ones).
				f.epoch, pos.Seq = d.Epoch, 0
			}
			if f.epoch == 0 {
				f.epoch = d.Epoch
			}
			if d.Epoch != f.epoch {
				return nil, fmt.Errorf("%w: %s written at epoch %d, followed at %d", ErrStreamGap, stream, d.Epoch, f.epoch)
			}
			if prev != pos.Seq {
				return nil, fmt.Errorf("%w: %s entry %d follows %d, the reader stands at %d", ErrStreamGap, stream, d.Seq, prev, pos.Seq)
			}
			d.ID = m.ID
			pos = Position{ID: m.ID, Seq: d.Seq}
			f.taken = true
			f.held = append(f.held, d)
		}
		f.pos[stream] = pos
		if len(xs.Messages) == followBatch && (limit < 0 || pos.Seq < limit) {
			limit = pos.Seq
		}
	}
	// A commit's entries of several streams come together, by stream name.
	slices.SortFunc(f.held, func(a, b Delivered) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Stream, b.Stream))
	})
	cut := len(f.held)
	if limit >= 0 {
		cut, _ = slices.BinarySearchFunc(f.held, limit+1, func(d Delivered, seq int64) int { return cmp.Compare(d.Seq, seq) })
	}
	cut = f.complete(cut)
	out := slices.Clone(f.held[:cut])
	f.held = slices.Delete(f.held, 0, cut)
	return out, nil
}

// complete returns how many of the first n held entries form whole
// commits: each with its part of every followed stream its commit wrote.
func (f *follower) complete(n int) int {
	for i := 0; i < n; {
		j := i
		for j < n && f.held[j].Seq == f.held[i].Seq {
			j++
		}
		want := 0
		for _, s := range f.held[i].commit {
			if start, ok := f.start[s]; ok && f.held[i].Seq > start {
				want++ // a stream joined later has no part of earlier commits
			}
		}
		if j-i < want {
			return i
		}
		i = j
	}
	return n
}

func parseEntry(stream string, m redis.XMessage) (Delivered, int64, error) {
	field := func(k string) (int64, error) {
		s, _ := m.Values[k].(string)
		return strconv.ParseInt(s, 10, 64)
	}
	seq, err1 := field("s")
	prev, err2 := field("p")
	epoch, err3 := field("e")
	body, _ := m.Values["b"].(string)
	commit, _ := m.Values["k"].(string)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Delivered{}, 0, fmt.Errorf("%w: malformed entry %s in %s: %v", ErrStreamGap, m.ID, stream, err)
	}
	return Delivered{Stream: stream, Seq: seq, Epoch: epoch, Body: []byte(body), commit: strings.Split(commit, ",")}, prev, nil
}
