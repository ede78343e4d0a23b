//go:build linux

package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/clusterenv"
	"github.com/stagekit/stagekit/internal/harness"
	"github.com/stagekit/stagekit/stage"
)

// clusterBackends starts a throwaway PostgreSQL (with a fresh database)
// and redis-server for a cluster benchmark, or skips when they are not
// installed.
func clusterBackends(b *testing.B) (pgURL, redisURL string, stop func()) {
	b.Helper()
	if clusterenv.PostgresBin() == "" || clusterenv.RedisBin() == "" {
		b.Skip("cluster benchmark: postgresql or redis-server not installed (make setup)")
	}
	pg, err := clusterenv.StartPostgres()
	if err != nil {
		b.Fatal(err)
	}
	url, err := pg.CreateDatabase("bench")
	if err != nil {
		pg.Stop()
		b.Fatal(err)
	}
	rd, err := clusterenv.StartRedis()
	if err != nil {
		pg.Stop()
		b.Fatal(err)
	}
	return url, rd.URL(), func() { rd.Stop(); pg.Stop() }
}

// metric reads one unlabelled metric of the server (0 if absent).
func (s *server) metric(name string) float64 {
	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

func startNode(pgURL, redisURL, id string, leaseTTL time.Duration, extra ...string) (*server, error) {
	return startServer(serverOptions{cluster: append([]string{"-cluster", "-redis", redisURL, "-postgres", pgURL,
		"-node-id", id, "-lease-ttl", leaseTTL.String()}, extra...)})
}

// clusterSizes are the room sizes of BenchmarkClusterAudience: 1000
// viewers, or $STAGEKIT_BENCH_CLUSTER_SIZES (comma-separated).
func clusterSizes() []int {
	sizes := []int{1000}
	if v := os.Getenv("STAGEKIT_BENCH_CLUSTER_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				sizes = append(sizes, n)
			}
		}
	}
	return sizes
}

// BenchmarkClusterAudience is the audience load of BenchmarkAudience (its
// joins, its requests one at a time, its storm and grant) on one webinar
// room, once on a single server (SQLite), once on a cluster of three nodes
// (PostgreSQL, Redis) with the viewers connecting to the three nodes in
// turn — the room lives on the node the host reached first, and the others
// redirect to it — and once on three nodes with -edges, where each viewer
// stays on the node it reached. The host is on the room's owner. Per mode
// it reports:
//
//	join-ms/viewer        CPU of every server process for the N joins / N
//	                      (in a cluster: the redirecting nodes' hellos too)
//	redirect-ms/viewer    the share of that spent by the nodes that
//	                      redirected (0 on a single server)
//	join-wall-s           wall time of the joins, joinInFlight at a time
//	client-join-ms/viewer the load clients' CPU (this process and the
//	                      worker processes) / N
//	req-p50-ms, p99-ms    a viewer's request → the host's newStageRequest
//	                      for it, sampleSize requests one at a time (each
//	                      stored before it is told: SQLite or PostgreSQL)
//	req-cpu-ms            the owner's CPU per request
//	storm-ms, grant-ms    stormSize viewers request at once → the host's list
//	                      holds them all; one grant of them all → each saw
//	                      ACCEPTED (on a cluster: viewers not on the owner)
//
// and with edges, where the viewers of the edges join first, then the
// owner's own (each phase's CPU measured apart):
//
//	owner-join-ms/viewer  the owner's CPU for the edges' viewers' joins /
//	                      those viewers (what a viewer elsewhere costs it)
//	edge-join-ms/viewer   the edges' CPU for those joins / those viewers
//	local-join-ms/viewer  the owner's CPU for its own viewers' joins / them
//	req-edge-p99-ms       request → host p99 of the sampled viewers on edges
//	                      (host and viewer on different nodes)
//	redis-cmds/edge-join  commands Redis ran during the edges' joins / those
//	                      viewers (every node's: claims, stream writes, …)
//
// Beyond viewersPerWorker viewers (or with $STAGEKIT_BENCH_WORKERS=K) the
// viewers run in worker processes, each with its own open-file limit
// (workers_test.go): 30,000 viewers need four here. Every process needs a
// socket per viewer it holds, so 30,000 fit only in edges3, where each
// node holds a third:
//
//	STAGEKIT_BENCH_CLUSTER_SIZES=30000 STAGEKIT_BENCH_CLUSTER_MODES=edges3 \
//	  go test -run='^$' -bench=ClusterAudience -benchtime=1x -timeout=60m ./bench
func BenchmarkClusterAudience(b *testing.B) {
	skipUnlessBench(b)
	for _, run := range clusterRuns() {
		b.Run(fmt.Sprintf("viewers=%d/%s", run.n, run.mode), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchClusterAudience(b, run.n, run.mode)
			}
		})
	}
}

type clusterRun struct {
	n    int
	mode string
}

// clusterRuns are the sizes and modes of BenchmarkClusterAudience: every
// mode at each of $STAGEKIT_BENCH_CLUSTER_SIZES and
// $STAGEKIT_BENCH_CLUSTER_MODES when either is set; else 1,000 viewers in
// every mode and 30,000 in edges3 (the target, and the only mode
// whose nodes each hold a third of them).
func clusterRuns() []clusterRun {
	var out []clusterRun
	if os.Getenv("STAGEKIT_BENCH_CLUSTER_SIZES") == "" && os.Getenv("STAGEKIT_BENCH_CLUSTER_MODES") == "" {
		for _, mode := range clusterModes() {
			out = append(out, clusterRun{1000, mode})
		}
		return append(out, clusterRun{30000, "edges3"})
	}
	for _, n := range clusterSizes() {
		for _, mode := range clusterModes() {
			out = append(out, clusterRun{n, mode})
		}
	}
	return out
}

// clusterModes are BenchmarkClusterAudience's modes: single, cluster3 and
// edges3, or $STAGEKIT_BENCH_CLUSTER_MODES (comma-separated).
func clusterModes() []string {
	if v := os.Getenv("STAGEKIT_BENCH_CLUSTER_MODES"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"single", "cluster3", "edges3"}
}

func benchClusterAudience(b *testing.B, n int, mode string) {
	clustered := mode != "single"
	edges := mode == "edges3"
	var extra []string
	if edges {
		extra = []string{"-edges"}
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// The nodes inherit this process's open-file limit: the room's owner
	// holds every viewer but with edges, where each node holds a third.
	perNode := n
	if edges {
		perNode = n/3 + 1
	}
	k := workerCount(n)
	need := perNode
	if k == 0 {
		need = max(need, n) // the viewers' sockets are in this process
	}
	if err := harness.RaiseNoFile(uint64(need + 1024)); err != nil {
		b.Fatalf("%v (with $STAGEKIT_BENCH_WORKERS=%d worker processes for the viewers)", err, k)
	}
	var nodes []*server
	var redisURL string
	if clustered {
		pg, rd, stop := clusterBackends(b)
		redisURL = rd
		defer stop()
		for i := 0; i < 3; i++ {
			s, err := startNode(pg, rd, fmt.Sprintf("n%d", i), 5*time.Second, extra...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.stop()
			nodes = append(nodes, s)
		}
	} else {
		s, err := startServer(serverOptions{})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, s)
	}
	a := &audience{srv: nodes[0], newReq: make(chan hostSample, 4*stormSize), acceptedAt: make(chan time.Time, 1)}
	for _, s := range nodes {
		a.entries = append(a.entries, s.URL)
	}
	defer a.close()
	if err := a.setup(ctx, n); err != nil {
		b.Fatal(err)
	}
	if k > 0 {
		var err error
		if a.workers, err = startWorkers(k, n); err != nil {
			b.Fatal(err)
		}
	}
	load := loadAvg()
	time.Sleep(time.Second)
	cpu := func() []time.Duration {
		out := make([]time.Duration, len(nodes))
		for i, s := range nodes {
			out[i], _ = s.cpuTime()
		}
		return out
	}
	onOwner := func(i int) bool { return i%len(nodes) == 0 } // viewer i joins through node i % len(nodes)
	onEdges := 0
	for i := 0; i < n; i++ {
		if !onOwner(i) {
			onEdges++
		}
	}
	c0, cli0 := cpu(), a.clientCPU()
	t0 := time.Now()
	b.StartTimer()
	var err error
	var cMid []time.Duration
	var redisPerJoin float64
	if edges {
		// With $STAGEKIT_BENCH_PROFILE_DIR: the owner's and an edge's CPU
		// profiles of the edges' joins.
		owner, edge := startPhase(nodes[0], "edge-joins-owner"), startPhase(nodes[1], "edge-joins-edge")
		rc0 := redisCommands(ctx, redisURL)
		err = a.connectViewersWhere(ctx, func(i int) bool { return !onOwner(i) })
		redisPerJoin = float64(redisCommands(ctx, redisURL)-rc0) / float64(max(onEdges, 1))
		edge.end()
		owner.end()
		cMid = cpu()
		if err == nil {
			err = a.connectViewersWhere(ctx, onOwner)
		}
	} else {
		err = a.connectViewers(ctx)
	}
	b.StopTimer()
	wall := time.Since(t0)
	c1, cli1 := cpu(), a.clientCPU()
	if err != nil {
		b.Fatalf("joins: %v", err)
	}
	var total, redirect time.Duration
	for i := range nodes {
		total += c1[i] - c0[i]
		if i > 0 {
			redirect += c1[i] - c0[i]
		}
	}
	lat, _, reqCPU, err := a.sampleRequests(ctx)
	if err != nil {
		b.Fatalf("requests: %v", err)
	}
	var remote []time.Duration
	for j, i := range a.sample {
		if j < len(lat) && !onOwner(i) {
			remote = append(remote, lat[j])
		}
	}
	b.Logf("slowest requests → host: %s", slowest(lat, a.sample, onOwner, 5))
	var storming []int
	for i := 0; i < n && len(storming) < stormSize; i++ {
		if !clustered || !onOwner(i) {
			storming = append(storming, i)
		}
	}
	storm, _, grant, _, err := a.stormAndGrantOf(ctx, storming)
	if err != nil {
		b.Fatalf("storm: %v", err)
	}
	b.ReportMetric(ms(total)/float64(n), "join-ms/viewer")
	b.ReportMetric(ms(redirect)/float64(n), "redirect-ms/viewer")
	b.ReportMetric(wall.Seconds(), "join-wall-s")
	b.ReportMetric(ms(cli1-cli0)/float64(n), "client-join-ms/viewer")
	b.ReportMetric(ms(percentile(lat, 0.5)), "req-p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "req-p99-ms")
	b.ReportMetric(ms(reqCPU.srv)/float64(len(lat)), "req-cpu-ms")
	b.ReportMetric(reqCPU.otherPct(), "other-cpu-%")
	b.ReportMetric(ms(storm), "storm-ms")
	b.ReportMetric(ms(grant), "grant-ms")
	if edges {
		var edgeCPU time.Duration
		for i := 1; i < len(nodes); i++ {
			edgeCPU += cMid[i] - c0[i]
		}
		b.ReportMetric(ms(cMid[0]-c0[0])/float64(max(onEdges, 1)), "owner-join-ms/viewer")
		b.ReportMetric(ms(edgeCPU)/float64(max(onEdges, 1)), "edge-join-ms/viewer")
		b.ReportMetric(ms(c1[0]-cMid[0])/float64(max(n-onEdges, 1)), "local-join-ms/viewer")
		b.ReportMetric(ms(percentile(remote, 0.99)), "req-edge-p99-ms")
		b.ReportMetric(redisPerJoin, "redis-cmds/edge-join")
		var calls, batches float64
		for _, s := range nodes[1:] {
			calls += s.metric("stagekit_edge_batched_calls_total")
			batches += s.metric("stagekit_edge_batches_total")
		}
		b.ReportMetric(calls/max(batches, 1), "edge-calls/batch")
	}
	b.Logf("%d viewers over %d node(s), clients in %d worker process(es) + this one, load average at start %s, at the end %s: joins %v wall, %v server CPU (%v on nodes other than the owner), %v client CPU; storm of %d %v, grant %v",
		n, len(nodes), k, load, loadAvg(), wall.Round(time.Millisecond), total, redirect, cli1-cli0, len(storming), storm.Round(time.Millisecond), grant.Round(time.Millisecond))
	if t := a.trouble(); t != "" {
		b.Logf("connection trouble: %s", t)
	}
}

// redisCommands is how many commands the Redis server at url has run
// (INFO commandstats), -1 if it cannot tell.
func redisCommands(ctx context.Context, url string) int64 {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return -1
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return -1
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		// cmdstat_get:calls=3,usec=...
		_, rest, ok := strings.Cut(line, ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, _ := strconv.ParseInt(n, 10, 64)
		total += v
	}
	return total - 1 // this INFO itself
}

// slowest names the k slowest of the timed requests (lat[j] is the j-th
// sampled viewer's, the sample's order being the order they were made):
// whether the tail is a few requests together (a pause somewhere) or
// spread out, and on which node.
func slowest(lat []time.Duration, sample []int, onOwner func(int) bool, k int) string {
	order := make([]int, len(lat))
	for j := range order {
		order[j] = j
	}
	slices.SortFunc(order, func(x, y int) int { return int(lat[y] - lat[x]) })
	var parts []string
	for _, j := range order[:min(k, len(order))] {
		where := "edge"
		if onOwner(sample[j]) {
			where = "owner"
		}
		parts = append(parts, fmt.Sprintf("#%d (%s) %v", j, where, lat[j].Round(100*time.Microsecond)))
	}
	return strings.Join(parts, ", ")
}

// BenchmarkTakeover is the gap a kill -9 of a room's owner leaves:
// takeoverRuns times, a room (host, a user on stage, two pending requests,
// a few viewers; the SDK's client with its default reconnect backoff) on a
// fresh owner node, the others connected through the two other nodes; the
// owner is killed; then
//
//	serving-ms   kill → the first client resynced (its rejoin answered by
//	             the new owner from the durable state)
//	resynced-ms  kill → every client resynced
//
// p50 (and max) over the runs, with the nodes' lease TTL
// ($STAGEKIT_BENCH_LEASE_TTL, default the server's 5s). Each run also
// checks that the state came over whole.
func BenchmarkTakeover(b *testing.B) {
	skipUnlessBench(b)
	ttl := 5 * time.Second
	if v := os.Getenv("STAGEKIT_BENCH_LEASE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		ttl = d
	}
	for i := 0; i < b.N; i++ {
		benchTakeover(b, ttl)
	}
}

const takeoverRuns = 10

func benchTakeover(b *testing.B, ttl time.Duration) {
	b.StopTimer()
	pg, rd, stop := clusterBackends(b)
	defer stop()
	var others []*server
	for i := 0; i < 2; i++ {
		s, err := startNode(pg, rd, fmt.Sprintf("stay%d", i), ttl)
		if err != nil {
			b.Fatal(err)
		}
		defer s.stop()
		others = append(others, s)
	}
	load := loadAvg()
	var serving, resynced []time.Duration
	for run := 0; run < takeoverRuns; run++ {
		owner, err := startNode(pg, rd, fmt.Sprintf("owner%d", run), ttl)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(ttl / 2) // the nodes' lists hold the new node
		first, all, err := takeoverOnce(owner, others, syscall.SIGKILL)
		owner.stop()
		if err != nil {
			b.Fatalf("run %d: %v", run, err)
		}
		serving, resynced = append(serving, first), append(resynced, all)
	}
	b.ReportMetric(ms(percentile(slices.Clone(serving), 0.5)), "serving-p50-ms")
	b.ReportMetric(ms(percentile(slices.Clone(resynced), 0.5)), "resynced-p50-ms")
	b.ReportMetric(ms(slices.Max(resynced)), "resynced-max-ms")
	b.ReportMetric(ttl.Seconds(), "lease-ttl-s")
	b.Logf("%d runs, lease TTL %v, load average at start %s: serving %v, resynced %v", takeoverRuns, ttl, load, serving, resynced)
}

// takeoverOnce stops the owner with sig (a kill -9, or a SIGTERM) and
// returns the signal → first resync and → last resync.
func takeoverOnce(owner *server, others []*server, sig syscall.Signal) (time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rest := owner.rest
	mid, err := createMeeting(ctx, rest, "takeover")
	if err != nil {
		return 0, 0, err
	}
	hosts, err := addParticipants(ctx, rest, mid, presetHost, "host", 1, 1)
	if err != nil {
		return 0, 0, err
	}
	viewers, err := addParticipants(ctx, rest, mid, presetViewer, "viewer", 8, 4)
	if err != nil {
		return 0, 0, err
	}
	var mu sync.Mutex
	var killed time.Time
	resynced := map[*client.Meeting]time.Time{} // each client's first resync after the kill
	var members []*client.Meeting
	defer func() {
		for _, m := range members {
			m.Close()
		}
	}()
	join := func(url, token string) (*client.Meeting, error) {
		m, err := client.Init(ctx, client.Options{BaseURI: url, AuthToken: token})
		if err != nil {
			return nil, err
		}
		members = append(members, m)
		m.On(func(e client.Event) {
			if e.Name == client.EventReconnected {
				mu.Lock()
				if _, ok := resynced[m]; !ok && !killed.IsZero() {
					resynced[m] = time.Now()
				}
				mu.Unlock()
			}
		})
		return m, m.Join(ctx)
	}
	host, err := join(owner.URL, hosts[0].Token) // first: the owner claims the room
	if err != nil {
		return 0, 0, fmt.Errorf("host: %w", err)
	}
	var vs []*client.Meeting
	for i, v := range viewers {
		m, err := join(others[i%len(others)].URL, v.Token)
		if err != nil {
			return 0, 0, fmt.Errorf("viewer %d: %w", i, err)
		}
		vs = append(vs, m)
	}
	if err := host.Stage().GrantAccess(ctx, []string{viewers[0].ID}); err != nil {
		return 0, 0, err
	}
	for _, step := range []func() error{
		func() error { return waitStatus(ctx, vs[0], stage.Accepted) },
		func() error { return vs[0].Stage().Join(ctx) },
		func() error { return vs[1].Stage().RequestAccess(ctx) },
		func() error { return vs[2].Stage().RequestAccess(ctx) },
	} {
		if err := step(); err != nil {
			return 0, 0, err
		}
	}
	for len(host.Requests()) != 2 {
		if ctx.Err() != nil {
			return 0, 0, fmt.Errorf("the host never saw both requests")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := host.Requests()

	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	owner.cmd.Process.Signal(sig)
	for {
		mu.Lock()
		got := len(resynced)
		mu.Unlock()
		if got >= len(members) {
			break
		}
		if ctx.Err() != nil {
			return 0, 0, fmt.Errorf("%d of %d clients resynced", got, len(members))
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	var first, last time.Duration
	for _, at := range resynced {
		d := at.Sub(killed)
		if first == 0 || d < first {
			first = d
		}
		last = max(last, d)
	}
	mu.Unlock()
	if after := host.Requests(); !slices.Equal(after, before) {
		return 0, 0, fmt.Errorf("pending after the takeover %v, want %v", after, before)
	}
	if s := vs[0].Stage().Status(); s != stage.OnStage {
		return 0, 0, fmt.Errorf("the user on stage came back %s", s)
	}
	return first, last, nil
}

func waitStatus(ctx context.Context, m *client.Meeting, want stage.Status) error {
	for m.Stage().Status() != want {
		if ctx.Err() != nil {
			return fmt.Errorf("status %s, want %s", m.Stage().Status(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// BenchmarkGracefulShutdown is the move a SIGTERM of a room's owner causes,
// with the SDK's default settings: shutdownRuns times, the room of
// BenchmarkTakeover on a fresh owner node; a fourth node, started with it,
// is killed (kill -9) just before, so that it is still in every node list
// (the case: a client may be sent to, or fall back on, a dead
// node); then the owner gets SIGTERM.
//
//	moved-ms   SIGTERM → every client resynced on another node
//
// p50 and max over the runs (lease TTL 5 s, the default: the leases are
// released, not waited for).
func BenchmarkGracefulShutdown(b *testing.B) {
	skipUnlessBench(b)
	for i := 0; i < b.N; i++ {
		benchGracefulShutdown(b)
	}
}

const shutdownRuns = 10

func benchGracefulShutdown(b *testing.B) {
	b.StopTimer()
	const ttl = 5 * time.Second
	pg, rd, stop := clusterBackends(b)
	defer stop()
	var others []*server
	for i := 0; i < 2; i++ {
		s, err := startNode(pg, rd, fmt.Sprintf("stay%d", i), ttl)
		if err != nil {
			b.Fatal(err)
		}
		defer s.stop()
		others = append(others, s)
	}
	load := loadAvg()
	var moved []time.Duration
	for run := 0; run < shutdownRuns; run++ {
		owner, err := startNode(pg, rd, fmt.Sprintf("owner%d", run), ttl)
		if err != nil {
			b.Fatal(err)
		}
		dead, err := startNode(pg, rd, fmt.Sprintf("dead%d", run), ttl)
		if err != nil {
			owner.stop()
			b.Fatal(err)
		}
		time.Sleep(ttl / 2) // the nodes' lists hold the new nodes
		dead.cmd.Process.Kill()
		_, all, err := takeoverOnce(owner, others, syscall.SIGTERM)
		owner.stop()
		dead.stop()
		if err != nil {
			b.Fatalf("run %d: %v", run, err)
		}
		moved = append(moved, all)
	}
	b.ReportMetric(ms(percentile(slices.Clone(moved), 0.5)), "moved-p50-ms")
	b.ReportMetric(ms(slices.Max(moved)), "moved-max-ms")
	b.Logf("%d runs, SDK defaults, a dead node in the lists, load average at start %s: SIGTERM → every client resynced %v", shutdownRuns, load, moved)
}
