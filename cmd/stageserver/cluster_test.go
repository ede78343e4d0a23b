package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/client/media"
	"github.com/stagekit/stagekit/internal/clusterenv"
	"github.com/stagekit/stagekit/internal/netproxy"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// The cluster tests run three stageserver binaries on loopback against a
// real PostgreSQL and a real redis-server (internal/clusterenv), with
// native clients carrying media (client/media).

// clusterTTL is the nodes' lease TTL: a dead owner's rooms move after it.
const clusterTTL = time.Second

// clusterWait bounds every wait of these tests.
const clusterWait = 30 * time.Second

type clusterNode struct {
	id, url string
	args    []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	logs   []map[string]any
	exited chan struct{}
}

type testCluster struct {
	t     testing.TB
	pg    string
	redis *clusterenv.Redis
	nodes []*clusterNode
	api   *webrtc.API // the clients' media API (loopback ICE)
}

// newCluster starts n nodes; redisFor(i), if set, gives node i's Redis
// address (a proxy, to partition it), else the shared server's.
func newCluster(t *testing.T, n int, redisFor func(i int, addr string) string) *testCluster {
	t.Helper()
	return newClusterTTL(t, n, clusterTTL, redisFor)
}

func newClusterTTL(t *testing.T, n int, ttl time.Duration, redisFor func(i int, addr string) string) *testCluster {
	t.Helper()
	return newClusterWith(t, n, ttl, redisFor)
}

// newClusterWith starts n nodes with extra flags.
func newClusterWith(t testing.TB, n int, ttl time.Duration, redisFor func(i int, addr string) string, extra ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, pg: clusterenv.PostgresURL(t), redis: clusterenv.RedisServer(t)}
	api, err := media.NewAPI(media.Options{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	c.api = api
	for i := 0; i < n; i++ {
		port, err := clusterenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := c.redis.Addr
		if redisFor != nil {
			addr = redisFor(i, addr)
		}
		nd := &clusterNode{id: fmt.Sprintf("n%d", i), url: fmt.Sprintf("http://127.0.0.1:%d", port)}
		nd.args = []string{"-cluster", "-redis", "redis://" + addr + "/0", "-postgres", c.pg,
			"-node-id", nd.id, "-advertise", nd.url, "-addr", fmt.Sprintf("127.0.0.1:%d", port),
			"-lease-ttl", ttl.String(), "-api-key", testserver.APIKey, "-data", t.TempDir(), "-web", "",
			"-nat-ips", "127.0.0.1", "-log-format", "json", "-log-level", "info"}
		nd.args = append(nd.args, extra...)
		c.nodes = append(c.nodes, nd)
		c.start(nd)
	}
	// Every node's node list holds the others (heartbeats every TTL/2).
	time.Sleep(ttl)
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.nodes {
				nd.dump(t)
			}
		}
	})
	return c
}

// start runs the node's binary and waits until it listens.
func (c *testCluster) start(nd *clusterNode) {
	c.t.Helper()
	cmd := exec.Command(binary, nd.args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	listening := make(chan struct{})
	exited := make(chan struct{})
	nd.mu.Lock()
	nd.cmd, nd.exited = cmd, exited
	nd.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": "raw: " + sc.Text()}
			}
			nd.mu.Lock()
			nd.logs = append(nd.logs, m)
			nd.mu.Unlock()
			if m["msg"] == "listening" {
				once.Do(func() { close(listening) })
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(exited)
	}()
	c.t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	select {
	case <-listening:
	case <-exited:
		nd.dump(c.t)
		c.t.Fatalf("node %s exited before listening", nd.id)
	case <-time.After(20 * time.Second):
		nd.dump(c.t)
		c.t.Fatalf("node %s did not listen", nd.id)
	}
}

// signal sends sig to the node's process; SIGKILL also waits for its end.
func (nd *clusterNode) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	switch sig {
	case syscall.SIGKILL:
		<-exited
	case syscall.SIGSTOP:
		// A stop is not instant: each thread stops when it next runs,
		// and on a loaded machine one may first serve a request.
		waitStopped(t, cmd.Process.Pid)
	}
}

// waitStopped waits until every thread of process pid is stopped.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	eventually(t, fmt.Sprintf("process %d stopped", pid), func() bool {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				return false // a thread that just ended, or a new one: look again
			}
			// "pid (comm) S ...": the state follows the last ')'.
			i := bytes.LastIndexByte(stat, ')')
			if i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
				return false
			}
		}
		return true
	})
}

// logged returns the time of the first log line with msg whose attributes
// match attrs.
func (nd *clusterNode) logged(msg string, attrs map[string]string) (time.Time, bool) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
next:
	for _, m := range nd.logs {
		if m["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if fmt.Sprint(m[k]) != v {
				continue next
			}
		}
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"]))
		return at, err == nil
	}
	return time.Time{}, false
}

func (nd *clusterNode) dump(t testing.TB) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	from := max(0, len(nd.logs)-60)
	for _, m := range nd.logs[from:] {
		b, _ := json.Marshal(m)
		t.Logf("%s: %s", nd.id, b)
	}
}

// metric reads one unlabelled metric of the node (-1 if absent).
func (nd *clusterNode) metric(t testing.TB, name string) float64 {
	t.Helper()
	res, err := http.Get(nd.url + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}

// member is a participant with a native client and a media session.
type member struct {
	t    testing.TB
	name string
	id   string
	m    *client.Meeting
	s    *media.Session

	mu          sync.Mutex
	reconnected []time.Time
}

func (c *testCluster) add(mid, name, preset string) testserver.Participant {
	c.t.Helper()
	// Any node answers REST: they share one database.
	p, err := testserver.AddParticipant(c.nodes[len(c.nodes)-1].url, mid, name, preset)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// join connects a new participant through node nd and joins the room.
// requested makes a meeting through b, with a host on a and a viewer on b
// whose stage request the host has seen.
func (c *testCluster) requested(t *testing.T, ctx context.Context, a, b *clusterNode, title string) (mid string, host, viewer *member) {
	t.Helper()
	mid, err := testserver.CreateMeeting(b.url, title)
	if err != nil {
		t.Fatal(err)
	}
	host = c.join(mid, a, "Host", stage.PresetWebinarHost)
	viewer = c.join(mid, b, "Viewer", stage.PresetWebinarViewer)
	act(t, "request", viewer.m.Stage().RequestAccess(ctx))
	eventually(t, "the request", func() bool { return len(host.m.Requests()) == 1 })
	return mid, host, viewer
}

func (c *testCluster) join(mid string, nd *clusterNode, name, preset string) *member {
	c.t.Helper()
	return c.connect(mid, nd, name, preset,
		client.Options{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, media.Options{})
}

// connect joins a new member with media through nd: o and mo as given,
// with the member's token and the node's URL, the cluster's media API.
func (c *testCluster) connect(mid string, nd *clusterNode, name, preset string, o client.Options, mo media.Options) *member {
	c.t.Helper()
	return c.connectAt(mid, nd.url, name, preset, o, mo)
}

// connectAt is connect through base (a node's URL, or a proxy's in front
// of it); mo's own SettingEngine, if any, replaces the cluster's media API.
func (c *testCluster) connectAt(mid, base, name, preset string, o client.Options, mo media.Options) *member {
	c.t.Helper()
	p := c.add(mid, name, preset)
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	o.BaseURI, o.AuthToken = base, p.Token
	m, err := client.Init(ctx, o)
	if err != nil {
		c.t.Fatalf("%s: init via %s: %v", name, base, err)
	}
	u := &member{t: c.t, name: name, id: p.ID, m: m}
	m.On(func(e client.Event) {
		if e.Name == client.EventReconnected {
			u.mu.Lock()
			u.reconnected = append(u.reconnected, time.Now())
			u.mu.Unlock()
		}
	})
	if mo.SettingEngine == nil {
		mo.API = c.api
	}
	s, err := media.Attach(m, mo)
	if err != nil {
		c.t.Fatal(err)
	}
	u.s = s
	c.t.Cleanup(func() { s.Close(); m.Close() })
	if err := m.Join(ctx); err != nil {
		c.t.Fatalf("%s: join via %s: %v", name, base, err)
	}
	return u
}

// reconnectedSince reports whether u resynced after t0.
func (u *member) reconnectedSince(t0 time.Time) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, at := range u.reconnected {
		if at.After(t0) {
			return at, true
		}
	}
	return time.Time{}, false
}

func (u *member) statusOf(userID string) stage.Status { return statusSeen(u.m, u.id, userID) }

// statusSeen is userID's status as the meeting of user self sees it.
func statusSeen(m *client.Meeting, self, userID string) stage.Status {
	if userID == self {
		return m.Stage().Status()
	}
	for _, p := range m.Participants() {
		if p.UserID == userID {
			return p.StageStatus
		}
	}
	return ""
}

// publish takes an ACCEPTED member on stage and publishes a synthetic video.
func (u *member) publish() {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	if err := u.m.Stage().Join(ctx); err != nil {
		u.t.Fatalf("%s: stage join: %v", u.name, err)
	}
	v, err := media.NewSyntheticVideo()
	if err != nil {
		u.t.Fatal(err)
	}
	v.Start()
	u.t.Cleanup(v.Stop)
	if err := u.s.Publish(ctx, v); err != nil {
		u.t.Fatalf("%s: publish: %v", u.name, err)
	}
}

// receiving waits until u gets fresh packets from peerID: more than it had.
func (u *member) receiving(from *member) {
	u.t.Helper()
	peer := from.m.Stage().PeerID()
	before, _ := u.s.ReceivedFrom(peer)
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	if err := u.s.Wait(ctx, func() bool { n, _ := u.s.ReceivedFrom(peer); return n > before+10 }); err != nil {
		u.t.Fatalf("%s: no media from %s: %v", u.name, from.name, err)
	}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func act(t *testing.T, who string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
}

func ctxWait() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), clusterWait)
}

func requestIDs(u *member) []string { return pendingIDs(u.m) }

// pendingIDs are the users of m's pending requests, in order.
func pendingIDs(m *client.Meeting) []string {
	var ids []string
	for _, r := range m.Requests() {
		ids = append(ids, r.UserID)
	}
	return ids
}

// A host on node A and viewers on B and C: the viewers are sent to the
// room's owner (A) and the whole stage flow runs, with media forwarded by A.
func TestClusterStageFlowWithMedia(t *testing.T) {
	c := newCluster(t, 3, nil)
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(b.url, "cluster webinar")
	if err != nil {
		t.Fatal(err)
	}
	host := c.join(mid, a, "Host", stage.PresetWebinarHost)
	v1 := c.join(mid, b, "Viewer B", stage.PresetWebinarViewer)
	v2 := c.join(mid, cn, "Viewer C", stage.PresetWebinarViewer)
	eventually(t, "all three on node A", func() bool {
		return a.metric(t, "stagekit_connections") == 3 && b.metric(t, "stagekit_rooms") == 0 && cn.metric(t, "stagekit_rooms") == 0
	})
	if n := a.metric(t, "stagekit_leases_held"); n != 1 {
		t.Errorf("node A holds %v leases, want 1", n)
	}

	host.publish()
	v2.receiving(host)
	v1.receiving(host)

	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "request", v1.m.Stage().RequestAccess(ctx))
	eventually(t, "the host sees the request", func() bool { return slices.Equal(requestIDs(host), []string{v1.id}) })
	if at := host.m.Requests()[0].RequestedAt; at <= 0 {
		t.Errorf("requestedAt = %d", at)
	}
	act(t, "grant", host.m.Stage().GrantAccess(ctx, []string{v1.id}))
	eventually(t, "v1 accepted", func() bool { return v1.m.Stage().Status() == stage.Accepted })
	v1.publish()
	v2.receiving(v1)
	host.receiving(v1)
	eventually(t, "v2 sees v1 on stage", func() bool { return v2.statusOf(v1.id) == stage.OnStage })

	act(t, "kick", host.m.Stage().Kick(ctx, []string{v1.id}))
	eventually(t, "v1 off stage", func() bool { return v1.m.Stage().Status() == stage.OffStage })
	// After a drain window for packets in flight, nothing more of v1 arrives.
	peer := v1.m.Stage().PeerID()
	time.Sleep(150 * time.Millisecond)
	was, _ := v2.s.ReceivedFrom(peer)
	time.Sleep(300 * time.Millisecond)
	if now, _ := v2.s.ReceivedFrom(peer); now != was {
		t.Errorf("%d packets of the kicked v1 reached v2 after the kick", now-was)
	}
	v2.receiving(host) // the host's media goes on

	// Denial and cancel on the owner, asked through the other nodes' clients.
	act(t, "request again", v2.m.Stage().RequestAccess(ctx))
	eventually(t, "the host sees v2's request", func() bool { return slices.Equal(requestIDs(host), []string{v2.id}) })
	act(t, "deny", host.m.Stage().DenyAccess(ctx, []string{v2.id}))
	eventually(t, "v2 denied", func() bool { return v2.m.Stage().Status() == stage.OffStage })
	if n := a.metric(t, "stagekit_media_packets_forwarded_total"); n <= 0 {
		t.Errorf("node A forwarded %v packets, by its metrics", n)
	}

	// The REST API answers on any node: the live stage is read on the owner,
	// and a participant deleted through another node leaves the room at once.
	var live struct {
		Members []struct{ UserID, StageStatus string } `json:"members"`
		Count   int                                    `json:"count"`
	}
	if err := testserver.Do(cn.url, "GET", "/v1/meetings/"+mid+"/stage", nil, http.StatusOK, &live); err != nil || live.Count != 3 {
		t.Errorf("GET …/stage via node C: %+v, %v; want the owner's 3 members", live, err)
	}
	if err := testserver.Do(b.url, "DELETE", "/v1/meetings/"+mid+"/participants/"+v2.id, nil, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-v2.m.Done():
	case <-time.After(clusterWait):
		t.Fatal("the participant deleted via node B is still connected to A")
	}
	eventually(t, "the host sees v2 leave", func() bool { return host.statusOf(v2.id) == "" })
}

// kill -9 of the room's owner mid-webinar: its lease expires, another node
// takes the room over from the durable stage state, every client
// reconnects and resyncs; the users on stage come back on stage and
// republish, the pending requests keep their order and requestedAt, and
// the webinar goes on.
func TestClusterOwnerKilledMidWebinar(t *testing.T) {
	c := newCluster(t, 3, nil)
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(b.url, "takeover")
	if err != nil {
		t.Fatal(err)
	}
	host := c.join(mid, a, "Host", stage.PresetWebinarHost)
	star := c.join(mid, b, "Star", stage.PresetWebinarViewer)
	first := c.join(mid, cn, "First", stage.PresetWebinarViewer)
	second := c.join(mid, b, "Second", stage.PresetWebinarViewer)
	watcher := c.join(mid, cn, "Watcher", stage.PresetWebinarViewer)
	ctx, cancel := ctxWait()
	defer cancel()
	host.publish()
	act(t, "star request", star.m.Stage().RequestAccess(ctx))
	eventually(t, "the star's request", func() bool { return slices.Contains(requestIDs(host), star.id) })
	act(t, "grant star", host.m.Stage().GrantAccess(ctx, []string{star.id}))
	eventually(t, "star accepted", func() bool { return star.m.Stage().Status() == stage.Accepted })
	star.publish()
	act(t, "first request", first.m.Stage().RequestAccess(ctx))
	time.Sleep(5 * time.Millisecond) // distinct requestedAt
	act(t, "second request", second.m.Stage().RequestAccess(ctx))
	eventually(t, "two requests pending", func() bool { return len(host.m.Requests()) == 2 })
	before := host.m.Requests()
	watcher.receiving(host)
	watcher.receiving(star)

	killed := time.Now()
	a.signal(t, syscall.SIGKILL)

	members := []*member{host, star, first, second, watcher}
	var last time.Time
	for _, u := range members {
		eventually(t, u.name+" resynced after the takeover", func() bool {
			at, ok := u.reconnectedSince(killed)
			if ok && at.After(last) {
				last = at
			}
			return ok
		})
	}
	resynced := last.Sub(killed)
	if got := host.m.Requests(); len(got) != 2 || got[0] != before[0] || got[1] != before[1] {
		t.Errorf("pending after the takeover %+v, want %+v (order and requestedAt kept)", got, before)
	}
	for _, u := range members {
		for who, want := range map[*member]stage.Status{host: stage.OnStage, star: stage.OnStage} {
			if u == host || who == u {
				if got := u.statusOf(who.id); got != want {
					t.Errorf("%s sees %s as %s, want %s", u.name, who.name, got, want)
				}
			}
		}
	}
	if s := first.m.Stage().Status(); s != stage.Requested {
		t.Errorf("first's status after the takeover: %s", s)
	}
	watcher.receiving(host)
	watcher.receiving(star)
	mediaBack := time.Since(killed)
	served := b.metric(t, "stagekit_rooms") + cn.metric(t, "stagekit_rooms")
	if served != 1 {
		t.Errorf("rooms served by B and C after the takeover: %v, want 1", served)
	}
	t.Logf("takeover after kill -9 (lease TTL %v): every client resynced in %v, media flowing again in %v",
		clusterTTL, resynced.Round(time.Millisecond), mediaBack.Round(time.Millisecond))

	// The webinar goes on: the oldest request is granted.
	act(t, "grant first", host.m.Stage().GrantAccess(ctx, []string{first.id}))
	eventually(t, "first accepted", func() bool { return first.m.Stage().Status() == stage.Accepted })
	if got := requestIDs(host); !slices.Equal(got, []string{second.id}) {
		t.Errorf("pending after the grant %v", got)
	}
}

// A node cut off from Redis (its connection black-holed) stops serving its
// room before its lease can expire, so the node that takes the room over
// never serves it beside it; the room's state goes over whole, and the
// partitioned node, healed, sends its clients to the new owner.
func TestClusterPartitionedNodeNeverServesBesideTheOwner(t *testing.T) {
	var px *netproxy.Proxy
	c := newCluster(t, 3, func(i int, addr string) string {
		if i != 0 {
			return addr
		}
		p, err := netproxy.Start(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		px = p
		return strings.TrimPrefix(p.URL(), "http://")
	})
	a, b := c.nodes[0], c.nodes[1]
	ctx, cancel := ctxWait()
	defer cancel()
	mid, host, viewer := c.requested(t, ctx, a, b, "partition")
	before := host.m.Requests()

	cut := time.Now()
	px.BlackHole(true)
	for _, u := range []*member{host, viewer} {
		eventually(t, u.name+" resynced on the new owner", func() bool { _, ok := u.reconnectedSince(cut); return ok })
	}
	lost, ok := a.logged("room lease lost; deposing the room here", map[string]string{"meeting": mid})
	if !ok {
		t.Fatal("node A did not depose the room")
	}
	var acquired time.Time
	var owner *clusterNode
	for _, nd := range c.nodes[1:] {
		if at, ok := nd.logged("room lease acquired", map[string]string{"meeting": mid}); ok {
			acquired, owner = at, nd
		}
	}
	if owner == nil {
		t.Fatal("no other node acquired the room")
	}
	if !lost.Before(acquired) {
		t.Errorf("A stopped serving at %v, %s started at %v: two owners at once", lost, owner.id, acquired)
	}
	t.Logf("A deposed the room %v after the cut, %v before %s took it (lease TTL %v)",
		lost.Sub(cut).Round(time.Millisecond), acquired.Sub(lost).Round(time.Millisecond), owner.id, clusterTTL)
	if got := host.m.Requests(); len(got) != 1 || got[0] != before[0] {
		t.Errorf("pending after the move %+v, want %+v", got, before)
	}
	act(t, "grant on the new owner", host.m.Stage().GrantAccess(ctx, []string{viewer.id}))
	eventually(t, "viewer accepted", func() bool { return viewer.m.Stage().Status() == stage.Accepted })

	// Healed, A redirects to the new owner instead of serving the room.
	px.BlackHole(false)
	time.Sleep(clusterTTL / 2)
	late := c.join(mid, a, "Late", stage.PresetWebinarViewer)
	if n := a.metric(t, "stagekit_rooms"); n != 0 {
		t.Errorf("healed node A serves %v rooms, want 0", n)
	}
	eventually(t, "the late viewer counted in the room", func() bool { return late.m.Count() == 3 })
}

// A paused owner (SIGSTOP: a long GC pause, a frozen VM) that wakes after
// another node took its room cannot commit a stage change: the write is
// fenced by the epoch in PostgreSQL, or the node deposes the room first.
// Either way the change is not acknowledged and does not exist.
func TestClusterPausedOwnerCannotCommit(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	mid, err := testserver.CreateMeeting(b.url, "paused")
	if err != nil {
		t.Fatal(err)
	}
	host := c.join(mid, a, "Host", stage.PresetWebinarHost)
	stale := c.join(mid, a, "Stale", stage.PresetWebinarViewer)
	a.signal(t, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			a.signal(t, syscall.SIGCONT)
		}
	}()
	time.Sleep(clusterTTL + clusterTTL/2) // A's lease expires
	fresh := c.join(mid, b, "Fresh", stage.PresetWebinarViewer)
	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "fresh request on the new owner", fresh.m.Stage().RequestAccess(ctx))

	// The stale viewer's request reaches the paused node's socket buffer;
	// the node reads it when it wakes.
	staleErr := make(chan error, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer rcancel()
		staleErr <- stale.m.Stage().RequestAccess(rctx)
	}()
	time.Sleep(200 * time.Millisecond)
	a.signal(t, syscall.SIGCONT)
	stopped = false
	if err := <-staleErr; err == nil {
		t.Fatal("the paused owner acknowledged a stage change after losing its room")
	} else {
		t.Logf("the paused owner's answer: %v (code %d)", err, client.CodeOf(err))
	}
	// The node logs why it deposed the room before it closes the socket,
	// but its log reaches this process through a pipe that another
	// goroutine drains: the client may see the close first.
	var fenced, deposed bool
	eventually(t, "the woken node fenced or deposed", func() bool {
		_, fenced = a.logged("stage write fenced: another node owns the room now; deposing it here", map[string]string{"meeting": mid})
		_, deposed = a.logged("room lease lost; deposing the room here", map[string]string{"meeting": mid})
		return fenced || deposed
	})
	t.Logf("woken node: write fenced %v, lease loss noticed first %v", fenced, deposed && !fenced)
	for _, u := range []*member{host, stale} {
		eventually(t, u.name+" moved to the new owner", func() bool { _, ok := u.reconnectedSince(time.Now().Add(-clusterWait)); return ok })
	}
	eventually(t, "the host sees only the fresh request", func() bool { return slices.Equal(requestIDs(host), []string{fresh.id}) })
	if s := stale.m.Stage().Status(); s != stage.OffStage {
		t.Errorf("the stale viewer's status %s: its unacknowledged request exists", s)
	}
}

// A node shut down gracefully (SIGTERM) releases its leases before it
// closes its clients: they find the room on another node at once, long
// before the lease would have expired.
func TestClusterGracefulShutdownMovesRoomsAtOnce(t *testing.T) {
	const ttl = 4 * time.Second
	c := newClusterTTL(t, 2, ttl, nil)
	a, b := c.nodes[0], c.nodes[1]
	ctx, cancel := ctxWait()
	defer cancel()
	_, host, viewer := c.requested(t, ctx, a, b, "drain")
	stopped := time.Now()
	a.signal(t, syscall.SIGTERM)
	var last time.Duration
	for _, u := range []*member{host, viewer} {
		eventually(t, u.name+" resynced on B", func() bool {
			at, ok := u.reconnectedSince(stopped)
			last = max(last, at.Sub(stopped))
			return ok
		})
	}
	if last >= ttl/2 {
		t.Errorf("clients resynced %v after the shutdown: the lease (TTL %v) was not released", last, ttl)
	}
	t.Logf("graceful shutdown: every client resynced on the other node in %v", last.Round(time.Millisecond))
	if got := requestIDs(host); !slices.Equal(got, []string{viewer.id}) {
		t.Errorf("pending after the move %v", got)
	}
	if n := b.metric(t, "stagekit_rooms"); n != 1 {
		t.Errorf("node B serves %v rooms", n)
	}
}
