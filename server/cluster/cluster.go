// Package cluster places rooms on the nodes of a cluster of stage servers,
// with Redis (github.com/redis/go-redis/v9): a room is owned by one node at a
// time, under a lease.
//
// A lease is the key <prefix>room:<meeting> holding "node|epoch|url" with a
// TTL. The first node a client of an unowned room reaches claims it (one Lua
// script: the key is set only if absent, under a new epoch); every other
// node redirects that room's clients to the owner's advertised URL. The
// owner renews its leases every TTL/6 (every Redis call is bounded by TTL/6
// too); when a renewal finds the lease gone or another's, or when no renewal
// succeeded for 2/3 of the TTL (Redis unreachable: the lease may be expiring
// there), the node deposes the room (signal.Hub.Depose) before the lease can
// expire in Redis.
//
// Epochs only grow: a claim takes max(INCR of <prefix>epoch:<meeting>, the
// time in ms), so even a Redis that lost its data hands out epochs above the
// earlier ones. The epoch fences the room's stage state in the shared store
// (store.Store.ClaimStage/SaveStage): the new owner raises the fence before
// it reads the state, and a write under an older epoch is refused in the
// same transaction. A node that lost its lease without noticing (paused,
// partitioned from Redis) therefore cannot commit a stage change once the
// new owner took the room: two owners never both commit.
//
// The node also registers itself (<prefix>nodes, a sorted set scored by
// expiry), so that hello results can list the live nodes for clients whose
// node dies.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Config configures a Node.
type Config struct {
	RedisURL string // redis://host:port/db
	NodeID   string // unique in the cluster
	// Advertise is the node's base URL as clients reach it
	// (http://host:port); redirected clients connect there.
	Advertise string
	LeaseTTL  time.Duration // default 5s
	Prefix    string        // Redis key prefix; default "stagekit:"
	Logger    *slog.Logger
}

// Rooms is the signaling hub as the node sees it.
type Rooms interface {
	// Serving reports whether the room is live on this node.
	Serving(meetingID string) bool
	// Depose ends the room on this node (its lease was lost).
	Depose(meetingID string)
	// RemoveParticipant takes a deleted participant out of its room (on
	// whichever node the admin's DELETE arrived).
	RemoveParticipant(meetingID, userID string)
}

// DefaultLeaseTTL is a lease's lifetime without renewal: how long a dead
// owner's rooms wait before another node may take them.
const DefaultLeaseTTL = 5 * time.Second

// Stats counts lease changes.
type Stats struct {
	Held     int   // leases held now
	Acquired int64 // leases claimed (new epochs) by this node
	Released int64 // leases given up (rooms no longer served, shutdown)
	Lost     int64 // leases lost: taken by another node or not renewed in time
}

// Node is this server's membership in the cluster.
type Node struct {
	cfg Config
	log *slog.Logger
	rdb *redis.Client
	// readers serves the room streams' blocking reads, one connection each
	// while it waits: on a pool of their own, so that many followed rooms
	// never keep a lease renewal waiting for a connection.
	readers *redis.Client

	mu   sync.Mutex
	held map[string]*lease
	// claims shares one claim script run among the concurrent claims of a
	// room: an edge's join wave asks Redis once per round trip, not once
	// per hello.
	claims singleflight.Group
	rooms  Rooms
	nodes  atomic.Pointer[[]string]

	acquired, released, lost atomic.Int64

	sub     *redis.PubSub // participant removals
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

type lease struct {
	epoch   int64
	value   string    // the key's value while ours
	renewed time.Time // when the last successful renewal (or the claim) was sent
	idle    int       // renewal rounds in a row the room was not served here
}

var (
	// claimScript returns the lease's value and time left (ms), setting it
	// to this node under a new epoch when nobody holds it.
	claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {v, redis.call('PTTL', KEYS[1])} end
local e = redis.call('INCR', KEYS[2])
local t = tonumber(ARGV[4])
if e < t then redis.call('SET', KEYS[2], t); e = t end
v = ARGV[1] .. '|' .. e .. '|' .. ARGV[2]
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
return {v, tonumber(ARGV[3])}`)
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// New connects to Redis and checks that it answers.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.NodeID == "" || strings.Contains(cfg.NodeID, "|") {
		return nil, fmt.Errorf("cluster: node id %q: required, without '|'", cfg.NodeID)
	}
	if !strings.HasPrefix(cfg.Advertise, "http://") && !strings.HasPrefix(cfg.Advertise, "https://") {
		return nil, fmt.Errorf("cluster: advertised address %q must be an http(s):// URL", cfg.Advertise)
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LeaseTTL < 400*time.Millisecond {
		return nil, fmt.Errorf("cluster: lease TTL %v is too short (at least 400ms)", cfg.LeaseTTL)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "stagekit:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{cfg.Logger.With("component", "redis")}) })
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: redis URL: %w", err)
	}
	// A call that hangs (a partition) must not outlive a renewal round.
	step := cfg.LeaseTTL / 6
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = step, step, step
	opts.MaxRetries = 0
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("cluster: redis at %s: %w", opts.Addr, err)
	}
	ropts := *opts
	ropts.PoolSize, ropts.PoolTimeout = streamReaders, step
	n := &Node{cfg: cfg, log: cfg.Logger, rdb: rdb, readers: redis.NewClient(&ropts), held: map[string]*lease{},
		stop: make(chan struct{}), done: make(chan struct{})}
	empty := []string{}
	n.nodes.Store(&empty)
	return n, nil
}

// redisLog sends go-redis's own messages (connection pool failures) to the
// server's log, at debug level: the node logs what they mean (a lease not
// renewed, a claim that failed) itself.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

var redisLogOnce sync.Once

func (n *Node) roomKey(m string) string  { return n.cfg.Prefix + "room:" + m }
func (n *Node) epochKey(m string) string { return n.cfg.Prefix + "epoch:" + m }
func (n *Node) nodesKey() string         { return n.cfg.Prefix + "nodes" }
func (n *Node) removalsKey() string      { return n.cfg.Prefix + "removals" }

// Start begins renewing leases and the node's registration; rooms is told
// of lost leases.
func (n *Node) Start(rooms Rooms) {
	n.mu.Lock()
	n.rooms = rooms
	n.mu.Unlock()
	n.heartbeat(context.Background())
	n.started.Store(true)
	n.sub = n.rdb.Subscribe(context.Background(), n.removalsKey())
	go n.loop()
	go n.heartbeats()
	go n.removals(rooms)
}

// PublishRemoval tells every node (itself included) that an admin deleted
// the participant: the room's owner closes its connection (4031).
func (n *Node) PublishRemoval(meetingID, userID string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/6)
	defer cancel()
	if err := n.rdb.Publish(ctx, n.removalsKey(), meetingID+"|"+userID).Err(); err != nil {
		n.log.Warn("publishing a participant's removal failed; its token is revoked all the same", "meeting", meetingID, "user", userID, "err", err)
	}
}

func (n *Node) removals(rooms Rooms) {
	for m := range n.sub.Channel() {
		meetingID, userID, ok := strings.Cut(m.Payload, "|")
		if ok && rooms != nil && rooms.Serving(meetingID) {
			rooms.RemoveParticipant(meetingID, userID)
		}
	}
}

// Owner returns the base URL of the node that holds the room's lease, ""
// when none does; it claims nothing.
func (n *Node) Owner(ctx context.Context, meetingID string) (string, error) {
	v, err := n.rdb.Get(ctx, n.roomKey(meetingID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	_, _, url, err := parseLease(v)
	return url, err
}

// Advertise is the node's own base URL.
func (n *Node) Advertise() string { return n.cfg.Advertise }

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// LeaseTTL is the lease lifetime in force.
func (n *Node) LeaseTTL() time.Duration { return n.cfg.LeaseTTL }

// usable reports whether a held lease is still safe to serve under: renewed
// within 2/3 of its TTL.
func (n *Node) usable(l *lease, now time.Time) bool {
	return now.Sub(l.renewed) < n.cfg.LeaseTTL*2/3
}

// Holds implements signal.Placement: the room's lease is held here under
// epoch and usable now.
func (n *Node) Holds(meetingID string, epoch int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.held[meetingID]
	return l != nil && l.epoch == epoch && n.usable(l, time.Now())
}

// Claim implements signal.Placement.
func (n *Node) Claim(ctx context.Context, meetingID string) (int64, string, time.Duration, error) {
	n.mu.Lock()
	if l := n.held[meetingID]; l != nil && n.usable(l, time.Now()) {
		n.mu.Unlock()
		return l.epoch, "", 0, nil
	}
	n.mu.Unlock()
	res, err := n.claimShared(ctx, meetingID)
	if err != nil {
		return 0, "", 0, err
	}
	v, left, sent := res.value, res.left, res.sent
	owner, epoch, url, err := parseLease(v)
	if err != nil {
		return 0, "", 0, err
	}
	if owner != n.cfg.NodeID {
		return 0, url, time.Duration(max(left, 0)) * time.Millisecond, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.held[meetingID]; l != nil && l.epoch == epoch {
		l.renewed = sent
		return epoch, "", 0, nil
	}
	n.held[meetingID] = &lease{epoch: epoch, value: v, renewed: sent}
	n.acquired.Add(1)
	n.log.Info("room lease acquired", "meeting", meetingID, "epoch", epoch)
	return epoch, "", 0, nil
}

// claimed is a claim script's answer: the lease's value and the time it
// has left (ms), from a run sent at sent.
type claimed struct {
	value string
	left  int64
	sent  time.Time
}

// claimShared runs the claim script, or waits for the run of a concurrent
// claim of the same room (sent after this claim was asked for or at most
// one round trip before: as fresh as a run of its own racing it).
func (n *Node) claimShared(ctx context.Context, meetingID string) (claimed, error) {
	ch := n.claims.DoChan(meetingID, func() (any, error) {
		// Not cut short when the caller that started it goes away: the
		// others wait on it too.
		rctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			rctx, cancel = context.WithDeadline(rctx, dl)
			defer cancel()
		}
		sent := time.Now()
		res, err := claimScript.Run(rctx, n.rdb, []string{n.roomKey(meetingID), n.epochKey(meetingID)},
			n.cfg.NodeID, n.cfg.Advertise, n.cfg.LeaseTTL.Milliseconds(), sent.UnixMilli()).Slice()
		if err != nil {
			return claimed{}, fmt.Errorf("cluster: claim %s: %w", meetingID, err)
		}
		if len(res) != 2 {
			return claimed{}, fmt.Errorf("cluster: claim %s: %d values", meetingID, len(res))
		}
		v, _ := res[0].(string)
		left, _ := res[1].(int64)
		return claimed{value: v, left: left, sent: sent}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return claimed{}, r.Err
		}
		return r.Val.(claimed), nil
	case <-ctx.Done():
		return claimed{}, fmt.Errorf("cluster: claim %s: %w", meetingID, ctx.Err())
	}
}

func parseLease(v string) (owner string, epoch int64, url string, err error) {
	parts := strings.SplitN(v, "|", 3)
	if len(parts) != 3 {
		return "", 0, "", fmt.Errorf("cluster: malformed lease %q", v)
	}
	epoch, err = strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", 0, "", fmt.Errorf("cluster: malformed lease %q", v)
	}
	return parts[0], epoch, parts[2], nil
}

// Release implements signal.Placement.
func (n *Node) Release(meetingID string, epoch int64) {
	n.mu.Lock()
	l := n.held[meetingID]
	if l == nil || l.epoch != epoch {
		n.mu.Unlock()
		return
	}
	delete(n.held, meetingID)
	n.mu.Unlock()
	n.release(meetingID, l)
}

func (n *Node) release(meetingID string, l *lease) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/6)
	defer cancel()
	if err := releaseScript.Run(ctx, n.rdb, []string{n.roomKey(meetingID)}, l.value).Err(); err != nil {
		n.log.Warn("releasing a room lease failed; it expires by itself", "meeting", meetingID, "err", err)
	}
	n.released.Add(1)
	n.log.Info("room lease released", "meeting", meetingID, "epoch", l.epoch)
}

// Nodes implements signal.Placement: the live nodes' URLs, this one first.
func (n *Node) Nodes() []string { return *n.nodes.Load() }

// Ready checks that Redis answers.
func (n *Node) Ready(ctx context.Context) error { return n.rdb.Ping(ctx).Err() }

// Stats reports the lease counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	held := len(n.held)
	n.mu.Unlock()
	return Stats{Held: held, Acquired: n.acquired.Load(), Released: n.released.Load(), Lost: n.lost.Load()}
}

func (n *Node) loop() {
	defer close(n.done)
	n.every(n.cfg.LeaseTTL/6, n.renew)
}

func (n *Node) heartbeats() {
	n.every(n.cfg.LeaseTTL/2, func() { n.heartbeat(context.Background()) })
}

// every calls f each period until the node stops.
func (n *Node) every(period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			f()
		}
	}
}

// renew renews every held lease of a room served here (one pipeline),
// releases those of rooms not served for two rounds, and deposes the rooms
// whose lease is lost or could not be renewed in time.
func (n *Node) renew() {
	n.mu.Lock()
	rooms := n.rooms
	ids := make([]string, 0, len(n.held))
	leases := make([]*lease, 0, len(n.held))
	for id, l := range n.held {
		ids = append(ids, id)
		leases = append(leases, l)
	}
	n.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	var keep []int
	var lost []string
	now := time.Now()
	for i, id := range ids {
		if !n.usable(leases[i], now) {
			// Not renewed in time: stop serving before the lease can expire.
			n.mu.Lock()
			if n.held[id] == leases[i] {
				delete(n.held, id)
				lost = append(lost, id)
			}
			n.mu.Unlock()
			continue
		}
		if rooms != nil && !rooms.Serving(id) {
			n.mu.Lock()
			leases[i].idle++
			idle := leases[i].idle
			n.mu.Unlock()
			if idle >= 2 {
				n.Release(id, leases[i].epoch)
				continue
			}
		} else {
			n.mu.Lock()
			leases[i].idle = 0
			n.mu.Unlock()
		}
		keep = append(keep, i)
	}
	var err error
	if len(keep) > 0 {
		lost = append(lost, n.renewKept(ids, leases, keep, &err)...)
	}
	if err != nil && len(lost) == 0 {
		n.log.Warn("renewing room leases failed", "err", err)
	}
	for _, id := range lost {
		n.lost.Add(1)
		n.log.Warn("room lease lost; deposing the room here", "meeting", id, "err", err)
		if rooms != nil {
			rooms.Depose(id)
		}
	}
}

// renewKept renews the leases at keep (one pipeline) and returns the rooms
// whose lease turned out lost.
func (n *Node) renewKept(ids []string, leases []*lease, keep []int, errp *error) []string {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/6)
	defer cancel()
	sent := time.Now()
	cmds := make([]*redis.Cmd, len(keep))
	_, err := n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range keep {
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
			cmds[j] = renewScript.Eval(ctx, p, []string{n.roomKey(ids[i])}, leases[i].value, n.cfg.LeaseTTL.Milliseconds())
		}
		return nil
	})
	*errp = err
	now := time.Now()
	var lost []string
	n.mu.Lock()
	for j, i := range keep {
		id, l := ids[i], leases[i]
		if n.held[id] != l {
			continue // released or replaced meanwhile
		}
		res, cerr := cmds[j].Int64()
		switch {
		case cerr == nil && res == 1:
			l.renewed = sent
		case cerr == nil || errors.Is(cerr, redis.Nil):
			// Not ours any more (expired and taken, or deleted).
			delete(n.held, id)
			lost = append(lost, id)
		case !n.usable(l, now):
			// Redis did not answer for too long: the lease may expire there
			// before we learn anything; stop serving before it does.
			delete(n.held, id)
			lost = append(lost, id)
		}
	}
	n.mu.Unlock()
	return lost
}

// heartbeat registers the node for another few TTLs and refreshes the node
// list.
func (n *Node) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL/6)
	defer cancel()
	now := time.Now()
	me := n.cfg.NodeID + "|" + n.cfg.Advertise
	var list *redis.ZSliceCmd
	_, err := n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, n.nodesKey(), redis.Z{Score: float64(now.Add(nodeExpiry * n.cfg.LeaseTTL).UnixMilli()), Member: me})
		p.ZRemRangeByScore(ctx, n.nodesKey(), "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		list = p.ZRangeWithScores(ctx, n.nodesKey(), 0, -1)
		return nil
	})
	if err != nil {
		return
	}
	n.setNodes(list.Val(), now)
}

// nodeExpiry is how many TTLs a node's registration outlives its last
// heartbeat (sent every TTL/2) before it leaves the set.
const nodeExpiry = 3

// setNodes keeps, of the registered nodes, the ones that sent a heartbeat
// within 1.5 TTL (three rounds): a node killed a moment ago is not offered
// to clients while its registration runs out.
func (n *Node) setNodes(registered []redis.Z, now time.Time) {
	fresh := float64(now.Add(nodeExpiry*n.cfg.LeaseTTL - n.cfg.LeaseTTL*3/2).UnixMilli())
	urls := []string{n.cfg.Advertise}
	for _, z := range registered {
		v, _ := z.Member.(string)
		id, url, ok := strings.Cut(v, "|")
		if ok && id != n.cfg.NodeID && z.Score > fresh {
			urls = append(urls, url)
		}
	}
	n.nodes.Store(&urls)
}

// Successor is the live node that the clients of a room should go to when
// this node shuts down: one per room, so that they meet there, spread over
// the other nodes; "" when there is none.
func (n *Node) Successor(meetingID string) string {
	return successor(n.Nodes(), meetingID)
}

func successor(nodes []string, meetingID string) string {
	others := nodes[min(1, len(nodes)):] // the first is this node
	if len(others) == 0 {
		return ""
	}
	h := fnv.New32a()
	h.Write([]byte(meetingID))
	return others[h.Sum32()%uint32(len(others))]
}

// Close stops renewing, leaves the node list, refreshes its list of the
// others (Successor answers from it), releases every lease held (another
// node may take the rooms at once) and closes the Redis client.
func (n *Node) Close() error {
	n.once.Do(func() {
		close(n.stop)
		if n.sub != nil {
			n.sub.Close()
		}
	})
	if n.started.Load() {
		select {
		case <-n.done:
		case <-time.After(n.cfg.LeaseTTL):
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/6)
	now := time.Now()
	var list *redis.ZSliceCmd
	_, err := n.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, n.nodesKey(), n.cfg.NodeID+"|"+n.cfg.Advertise)
		list = p.ZRangeWithScores(ctx, n.nodesKey(), 0, -1)
		return nil
	})
	cancel()
	if err == nil {
		n.setNodes(list.Val(), now)
	}
	n.mu.Lock()
	held := n.held
	n.held = map[string]*lease{}
	n.mu.Unlock()
	for id, l := range held {
		n.release(id, l)
	}
	n.readers.Close()
	return n.rdb.Close()
}
