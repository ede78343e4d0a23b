package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/clusterenv"
	"github.com/stagekit/stagekit/internal/netproxy"
)

// collector keeps what a follower delivered and how it ended.
type collector struct {
	mu    sync.Mutex
	got   []Delivered
	split []int64 // commits whose parts came in two batches
	end   chan error
	stop  func()
}

func follow(t *testing.T, n *Node, room string, epoch int64, pos map[string]Position) *collector {
	t.Helper()
	c := &collector{end: make(chan error, 1)}
	c.stop = n.Follow(room, epoch, pos, func(batch []Delivered) {
		c.mu.Lock()
		if len(c.got) > 0 && len(batch) > 0 && c.got[len(c.got)-1].Seq == batch[0].Seq {
			c.split = append(c.split, batch[0].Seq)
		}
		c.got = append(c.got, batch...)
		c.mu.Unlock()
	}, func(err error) { c.end <- err })
	t.Cleanup(c.stop)
	return c
}

// ownerTTL is the publishing nodes' lease TTL: nothing renews their
// leases here, and a loaded machine must not let one lapse mid-test (these
// tests are about the streams; lapsed leases are TestRoomStreamFenced's).
const ownerTTL = time.Minute

// leased claims the room's lease on n and returns its publisher at the
// lease's epoch.
func leased(t testing.TB, n *Node, room string) *Publisher {
	t.Helper()
	epoch, other, _, err := n.Claim(context.Background(), room)
	if err != nil || epoch == 0 {
		t.Fatalf("claim %s: epoch %d, held by %q, %v", room, epoch, other, err)
	}
	return n.Publisher(room, epoch)
}

func (c *collector) seqs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.got))
	for i, d := range c.got {
		out[i] = fmt.Sprintf("%d:%s:%s", d.Seq, d.Stream, d.Body)
	}
	return out
}

func (c *collector) waitLen(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.got)
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d entries, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// commits publishes seqs from..to, each to a random subset of streams
// (the audience's in most), and returns, per stream set a reader may
// follow, what that reader must get.
func commits(t *testing.T, p *Publisher, from, to int, rng *rand.Rand, want map[string][]string) {
	t.Helper()
	all := []string{StreamAudience, StreamHosts, NodeStream("a"), NodeStream("b")} // by name
	for seq := from; seq <= to; seq++ {
		var entries []RoomEntry
		for _, s := range all {
			if rng.IntN(3) == 0 || (s == StreamAudience && rng.IntN(2) == 0) {
				entries = append(entries, RoomEntry{Stream: s, Body: []byte(fmt.Sprintf("e%d", seq))})
			}
		}
		if err := p.Publish(context.Background(), int64(seq), entries); err != nil {
			t.Fatal(err)
		}
		for key, followed := range readers {
			for _, e := range entries {
				if slices.Contains(followed, e.Stream) {
					want[key] = append(want[key], fmt.Sprintf("%d:%s:%s", seq, e.Stream, e.Body))
				}
			}
		}
	}
}

// readers are the stream sets of the tests' followers: a node with hosts
// and viewers (a), a node with viewers only (b).
var readers = map[string][]string{
	"a": {StreamAudience, StreamHosts, NodeStream("a")},
	"b": {StreamAudience, NodeStream("b")},
}

func startAt(streams []string) map[string]Position {
	pos := map[string]Position{}
	for _, s := range streams {
		pos[s] = Position{ID: "0"}
	}
	return pos
}

// Each follower gets exactly the entries of the streams it follows (what
// its users may see), in the room's order; a commit's entries come in one
// batch, though a blocked XREAD returns as soon as one stream has data. More than a read's batch is waiting at the start,
// so reads are cut and merged across batches.
func TestRoomStreamsInRoomOrderPerAudience(t *testing.T) {
	r := clusterenv.RedisServer(t)
	owner := newNodeTTL(t, r.URL(), "owner", ownerTTL)
	edge := newNode(t, r.URL(), "edge")
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][]string{}
	p := leased(t, owner, "room")
	commits(t, p, 1, 3*followBatch, rng, want)
	a := follow(t, edge, "room", p.epoch, startAt(readers["a"]))
	b := follow(t, edge, "room", 0, startAt(readers["b"]))
	commits(t, p, 3*followBatch+1, 3*followBatch+200, rng, want)
	for name, c := range map[string]*collector{"a": a, "b": b} {
		c.waitLen(t, len(want[name]))
		time.Sleep(50 * time.Millisecond) // nothing more comes
		if got := c.seqs(); !slices.Equal(got, want[name]) {
			t.Errorf("follower %s: got %d entries, want %d; first difference at %d", name, len(got), len(want[name]), firstDiff(got, want[name]))
		}
		if len(c.split) > 0 {
			t.Errorf("follower %s: commits handed over in pieces: %v", name, c.split)
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A follower that joins late starts at the tail: it gets every entry after
// it, none before.
func TestRoomStreamTail(t *testing.T) {
	r := clusterenv.RedisServer(t)
	owner := newNodeTTL(t, r.URL(), "owner", ownerTTL)
	p := leased(t, owner, "room")
	rng := rand.New(rand.NewPCG(3, 4))
	commits(t, p, 1, 50, rng, map[string][]string{})
	pos, err := owner.Tail(context.Background(), "room", readers["b"])
	if err != nil {
		t.Fatal(err)
	}
	if pos[StreamAudience].Seq == 0 || pos[StreamAudience].Seq > 50 {
		t.Fatalf("tail %+v", pos)
	}
	want := map[string][]string{}
	c := follow(t, owner, "room", p.epoch, pos)
	commits(t, p, 51, 80, rng, want)
	c.waitLen(t, len(want["b"]))
	if got := c.seqs(); !slices.Equal(got, want["b"]) {
		t.Errorf("after the tail: %v, want %v", got, want["b"])
	}
}

// Redis unreachable for a while (new connections refused, open ones cut):
// the follower catches up from where it stood, nothing lost or repeated.
func TestRoomStreamCatchesUpAfterABlip(t *testing.T) {
	r := clusterenv.RedisServer(t)
	px, err := netproxy.Start(r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	owner := newNodeTTL(t, r.URL(), "owner", ownerTTL)
	edge := newNode(t, "redis://"+strings.TrimPrefix(px.URL(), "http://")+"/0", "edge")
	p := leased(t, owner, "room")
	rng := rand.New(rand.NewPCG(5, 6))
	want := map[string][]string{}
	c := follow(t, edge, "room", p.epoch, startAt(readers["a"]))
	commits(t, p, 1, 100, rng, want)
	c.waitLen(t, len(want["a"]))
	px.SetDown(true)
	px.Cut()
	commits(t, p, 101, 300, rng, want)
	time.Sleep(3 * ttl)
	px.SetDown(false)
	c.waitLen(t, len(want["a"]))
	time.Sleep(50 * time.Millisecond)
	if got := c.seqs(); !slices.Equal(got, want["a"]) {
		t.Errorf("after the blip: %d entries, want %d; first difference at %d", len(got), len(want["a"]), firstDiff(got, want["a"]))
	}
	select {
	case err := <-c.end:
		t.Fatalf("the follower ended: %v", err)
	default:
	}
}

// Entries trimmed before the follower read them, or a new owner's epoch:
// the follower ends with ErrStreamGap (its node resyncs from the owner)
// rather than go on with a hole.
func TestRoomStreamGaps(t *testing.T) {
	r := clusterenv.RedisServer(t)
	// Thousands of publishes in a row: Redis calls may take longer than
	// the 100 ms the tests' usual TTL allows on a busy machine.
	owner := newNodeTTL(t, r.URL(), "owner", 6*time.Second)
	t.Run("trimmed", func(t *testing.T) {
		p := leased(t, owner, "trimmed")
		for seq := int64(1); seq <= streamMaxLen+500; seq++ {
			if err := p.Publish(context.Background(), seq, []RoomEntry{{Stream: StreamAudience, Body: []byte("x")}}); err != nil {
				t.Fatal(err)
			}
		}
		c := follow(t, owner, "trimmed", p.epoch, startAt([]string{StreamAudience}))
		if err := waitEnd(t, c); !errors.Is(err, ErrStreamGap) {
			t.Errorf("ended with %v, want a gap", err)
		}
		if got := c.seqs(); len(got) != 0 {
			t.Errorf("delivered %d entries past a gap", len(got))
		}
	})
	t.Run("new epoch", func(t *testing.T) {
		old := leased(t, owner, "moved")
		c := follow(t, owner, "moved", 0, startAt([]string{StreamAudience}))
		if err := old.Publish(context.Background(), 1, []RoomEntry{{Stream: StreamAudience, Body: []byte("old")}}); err != nil {
			t.Fatal(err)
		}
		c.waitLen(t, 1)
		owner.Release("moved", old.epoch)
		heir := leased(t, owner, "moved")
		if err := heir.Publish(context.Background(), 2, []RoomEntry{{Stream: StreamAudience, Body: []byte("new")}}); err != nil {
			t.Fatal(err)
		}
		if err := waitEnd(t, c); !errors.Is(err, ErrStreamGap) {
			t.Errorf("ended with %v, want a gap", err)
		}
		if got := c.seqs(); !slices.Equal(got, []string{"1:aud:old"}) {
			t.Errorf("delivered %v", got)
		}
	})
}

func waitEnd(t *testing.T, c *collector) error {
	t.Helper()
	select {
	case err := <-c.end:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the follower did not end")
		return nil
	}
}

// BenchmarkRoomStreamHop is the hop from a room's owner to its edges
// through Redis Streams: per commit, the owner publishes to the audience
// and hosts streams (one MULTI) and two followers (a node with hosts, one
// with viewers only), already waiting in XREAD, get it. Reported: commit →
// both delivered, p50 and p99, one commit at a time (redis-server on
// loopback, which the machine shares with everything else).
func BenchmarkRoomStreamHop(b *testing.B) {
	r := clusterenv.RedisServer(b)
	owner := newNodeTTL(b, r.URL(), "owner", ownerTTL)
	edge := newNode(b, r.URL(), "edge")
	p := leased(b, owner, "bench")
	arrived := make(chan int64, 2)
	for _, streams := range readers {
		stop := edge.Follow("bench", p.epoch, startAt(streams), func(batch []Delivered) {
			for _, d := range batch {
				if d.Stream == StreamAudience {
					arrived <- d.Seq
				}
			}
		}, func(error) {})
		defer stop()
	}
	lat := make([]time.Duration, 0, b.N)
	entries := []RoomEntry{{Stream: StreamAudience, Body: []byte(`{"type":"event","event":"stage"}`)}, {Stream: StreamHosts, Body: []byte(`{"type":"event","event":"stage","requestsAdded":[]}`)}}
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		start := time.Now()
		if err := p.Publish(context.Background(), int64(i), entries); err != nil {
			b.Fatal(err)
		}
		for range 2 {
			if seq := <-arrived; seq != int64(i) {
				b.Fatalf("got seq %d, want %d", seq, i)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// A reader that takes up another stream later (a node whose first host
// arrives) goes on from where it stood on its streams and reads the new
// one after its tail: nothing lost or repeated on the first, and commits
// before the tail do not wait for a part it will never read.
func TestRoomStreamTakenUpLater(t *testing.T) {
	r := clusterenv.RedisServer(t)
	owner := newNodeTTL(t, r.URL(), "owner", ownerTTL)
	p := leased(t, owner, "room")
	both := func(from, to int64) {
		for seq := from; seq <= to; seq++ {
			if err := p.Publish(context.Background(), seq, []RoomEntry{
				{Stream: StreamAudience, Body: []byte(fmt.Sprint("a", seq))},
				{Stream: StreamHosts, Body: []byte(fmt.Sprint("h", seq))},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := follow(t, owner, "room", p.epoch, startAt([]string{StreamAudience}))
	both(1, 10)
	first.waitLen(t, 10)
	first.stop()
	last := first.got[len(first.got)-1]
	both(11, 20) // while nobody reads
	tail, err := owner.Tail(context.Background(), "room", []string{StreamHosts})
	if err != nil {
		t.Fatal(err)
	}
	second := follow(t, owner, "room", p.epoch, map[string]Position{
		StreamAudience: {ID: last.ID, Seq: last.Seq}, StreamHosts: tail[StreamHosts]})
	both(21, 22)
	var want []string
	for seq := 11; seq <= 20; seq++ {
		want = append(want, fmt.Sprintf("%d:aud:a%d", seq, seq))
	}
	want = append(want, "21:aud:a21", "21:host:h21", "22:aud:a22", "22:host:h22")
	second.waitLen(t, len(want))
	time.Sleep(50 * time.Millisecond)
	if got := second.seqs(); !slices.Equal(got, want) {
		t.Errorf("after taking up the hosts' stream: %v, want %v", got, want)
	}
}

// An owner that lost the room's lease without noticing (paused past its
// TTL) publishes nothing: not while nobody holds the lease, nor once an
// heir does. Its heir's edges, following from the tail, read the heir's
// chain from its start and never a stale entry they would take for a gap.
func TestRoomStreamFenced(t *testing.T) {
	r := clusterenv.RedisServer(t)
	a := newNodeTTL(t, r.URL(), "a", ownerTTL)
	b := newNodeTTL(t, r.URL(), "b", ownerTTL)
	old := leased(t, a, "room")
	aud := []string{StreamAudience}
	publish := func(p *Publisher, seq int64, body string) error {
		return p.Publish(context.Background(), seq, []RoomEntry{{Stream: StreamAudience, Body: []byte(body)}})
	}
	if err := publish(old, 1, "a1"); err != nil {
		t.Fatal(err)
	}
	a.Release("room", old.epoch) // as if it expired while a was paused
	if err := publish(old, 2, "stale"); !errors.Is(err, ErrFenced) {
		t.Fatalf("publish without the lease: %v, want ErrFenced", err)
	}
	heir := leased(t, b, "room")
	tail, err := b.Tail(context.Background(), "room", aud)
	if err != nil {
		t.Fatal(err)
	}
	c := follow(t, b, "room", 0, tail)
	if err := publish(old, 2, "stale"); !errors.Is(err, ErrFenced) {
		t.Fatalf("publish under the heir's lease: %v, want ErrFenced", err)
	}
	for seq := int64(3); seq <= 4; seq++ {
		if err := publish(heir, seq, fmt.Sprint("b", seq)); err != nil {
			t.Fatal(err)
		}
	}
	c.waitLen(t, 2)
	select {
	case err := <-c.end:
		t.Fatalf("the heir's follower ended: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := c.seqs(); !slices.Equal(got, []string{"3:aud:b3", "4:aud:b4"}) {
		t.Errorf("delivered %v", got)
	}
	all, err := a.rdb.XRange(context.Background(), a.streamKey("room", StreamAudience), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Values["b"] == "stale" {
			t.Errorf("the deposed owner's entry %s reached the stream", m.ID)
		}
	}
}
