//go:build linux

package bench

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/harness"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

const (
	presetHost   = "webinar_host"   // ALLOWED, accepts stage requests
	presetViewer = "webinar_viewer" // CAN_REQUEST

	restWorkers  = 16  // concurrent REST calls creating participants
	joinInFlight = 64  // concurrent viewer dials + joins
	sampleSize   = 200 // viewers timed one at a time for request → host
	stormSize    = 1000
	// idleWindow covers a round of the viewers' pings (every 30s of
	// silence, as the SDK's audience does), which the joins spread over a
	// few seconds.
	idleWindow = 35 * time.Second
	// sampleGap separates the timed requests: more than the server's host
	// tick, so that each is an isolated request (the storm is the burst).
	sampleGap = 30 * time.Millisecond
)

func TestMain(m *testing.M) {
	if fds, ok := os.LookupEnv(workerEnv); ok {
		os.Exit(runWorker(fds)) // a load worker (workers_test.go), not a test run
	}
	code := m.Run()
	cleanupBinary()
	os.Exit(code)
}

// skipUnlessBench skips under -short and when the run is not a -bench run.
func skipUnlessBench(b *testing.B) {
	b.Helper()
	if testing.Short() {
		b.Skip("load benchmark: skipped with -short")
	}
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		b.Skip("load benchmark: runs only with -bench")
	}
}

// audienceSizes are the room sizes measured: 300, 3000 and 10000 viewers,
// or $STAGEKIT_BENCH_SIZES (comma-separated). $STAGEKIT_BENCH_HOST_TICK
// runs the server with that -host-tick (e.g. -1ns for none, 5ms, 20ms).
func audienceSizes() []int {
	sizes := []int{300, 3000, 10000}
	if v := os.Getenv("STAGEKIT_BENCH_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				sizes = append(sizes, n)
			}
		}
	}
	return sizes
}

// BenchmarkAudience measures one webinar room per size: a fresh server
// process, one host (the real SDK client, client.Meeting), one observer
// host (a lean client counting the frames a host receives) and N viewers
// (lean clients, one WebSocket each, see leanClient). Per size it reports:
//
//	join-ms/viewer      server CPU for the N joins (dial, hello with token
//	                    check, join, snapshot) / N; join-wall-s the wall time,
//	                    joinInFlight at a time
//	mem-KB/viewer       server VmRSS after the joins − before them, / N;
//	                    heap-KB/viewer the live heap (gctrace) likewise
//	host-join-ms        a host joining the full room: Init → Join resolved
//	                    with every participant (its snapshot comes in parts)
//	idle-cpu-%          server CPU over idleWindow with everyone connected
//	                    and nothing happening but the viewers' pings, % of
//	                    one core
//	req-cpu-ms          server CPU per viewer request, over sampleSize
//	                    requests made one at a time, sampleGap apart
//	req-p50-ms,         request sent → the host's newStageRequest naming
//	req-p99-ms          that viewer, for those requests
//	unrelated-B/viewer  bytes a viewer not involved received during those
//	                    requests, per viewer per request (the audience
//	                    should get nothing of other viewers' requests)
//	storm-ms            stormSize viewers request at once → the host's list
//	                    holds all of them; storm-host-frames the frames the
//	                    observer host received meanwhile
//	grant-ms            one grantAccess of the stormSize → each of them saw
//	                    ACCEPTED
//	other-cpu-%         share of the machine other processes used during the
//	                    measured phases (figures are inflated above a few %)
func BenchmarkAudience(b *testing.B) {
	skipUnlessBench(b)
	for _, n := range audienceSizes() {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchAudience(b, n)
			}
		})
	}
}

// audience is one server with a meeting, its hosts and its viewers.
type audience struct {
	srv *server // the server the hosts connect to (a cluster's owner)
	// entries, if set, are the URLs viewers connect to, in turn (the nodes
	// of a cluster); default srv's.
	entries   []string
	meetingID string
	host      *client.Meeting
	observer  *leanClient
	viewers   []*leanClient // in this process; nil entries when workers hold them
	// workers, when set, hold the viewers in other processes (see
	// workers_test.go) instead of viewers.
	workers  *workerPool
	ids      []string
	tokens   []string
	lateHost participant // joins once the room is full

	// newReq receives the user id of each newStageRequest the host emits
	// (the newest entry of the list it emitted just before), when sampling.
	sampling atomic.Bool
	newReq   chan hostSample
	// pend fires when the host's list reaches n.
	pend atomic.Pointer[pendingWait]
	// accepted counts viewers that saw ACCEPTED while tracking.
	accepted   atomic.Int64
	acceptedAt chan time.Time
	want       atomic.Int64
	// sample are the viewers sampleRequests timed, in order.
	sample []int
}

type hostSample struct {
	userID string
	at     time.Time
}

type pendingWait struct {
	n    int
	at   time.Time
	done chan struct{}
}

func benchAudience(b *testing.B, n int) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := harness.RaiseNoFile(uint64(n + 1024)); err != nil {
		b.Fatal(err)
	}
	srv, err := startServer(serverOptions{gctrace: true, hostTick: os.Getenv("STAGEKIT_BENCH_HOST_TICK")})
	if err != nil {
		b.Fatal(err)
	}
	a := &audience{srv: srv, newReq: make(chan hostSample, 4*stormSize), acceptedAt: make(chan time.Time, 1)}
	defer a.close()
	if err := a.setup(ctx, n); err != nil {
		b.Fatal(err)
	}
	load := loadAvg()

	// Joins.
	time.Sleep(time.Second)
	before, _ := srv.status()
	_, gcBefore := srv.gcState()
	if gcBefore.N == 0 {
		gcBefore, _ = forceServerGC(ctx, srv, a.meetingID)
	}
	b.StartTimer()
	ph := startPhase(srv, fmt.Sprintf("join-%d", n))
	err = a.connectViewers(ctx)
	join := ph.end()
	b.StopTimer()
	if err != nil {
		b.Fatalf("joins: %v", err)
	}
	time.Sleep(2 * time.Second)
	after, _ := srv.status()
	gcAfter, gcErr := forceServerGC(ctx, srv, a.meetingID)
	if profileDir() != "" {
		if err := srv.profileCmd(fmt.Sprintf("heap audience-%d-heap-server.pprof", n)); err != nil {
			b.Logf("heap profile: %v", err)
		}
	}

	// A host joining the full room gets all of it (a snapshot in parts).
	lateJoin, err := a.joinLateHost(ctx, n+2)
	if err != nil {
		b.Fatalf("late host: %v", err)
	}

	// Idle.
	ph = startPhase(srv, fmt.Sprintf("idle-%d", n))
	time.Sleep(idleWindow)
	idle := ph.end()

	// Requests one at a time.
	lat, unrelated, reqCPU, err := a.sampleRequests(ctx)
	if err != nil {
		b.Fatalf("requests: %v", err)
	}

	// Storm, then one grant of all.
	storm, frames, grant, stormCPU, err := a.stormAndGrant(ctx, min(stormSize, n))
	if err != nil {
		b.Fatalf("storm: %v", err)
	}

	cpu := join
	for _, p := range []phaseCPU{idle, reqCPU, stormCPU} {
		cpu.add(p)
	}
	b.ReportMetric(ms(join.srv)/float64(n), "join-ms/viewer")
	b.ReportMetric(join.wall.Seconds(), "join-wall-s")
	b.ReportMetric(float64(after.RSS-before.RSS)/float64(n), "mem-KB/viewer")
	if gcErr == nil && gcBefore.N > 0 {
		b.ReportMetric(float64(gcAfter.Live-gcBefore.Live)*1024/float64(n), "heap-KB/viewer")
	}
	b.ReportMetric(100*idle.srv.Seconds()/idle.wall.Seconds(), "idle-cpu-%")
	b.ReportMetric(ms(lateJoin), "host-join-ms")
	b.ReportMetric(ms(reqCPU.srv)/float64(len(lat)), "req-cpu-ms")
	b.ReportMetric(ms(percentile(lat, 0.5)), "req-p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "req-p99-ms")
	b.ReportMetric(unrelated, "unrelated-B/viewer")
	b.ReportMetric(ms(storm), "storm-ms")
	b.ReportMetric(float64(frames), "storm-host-frames")
	b.ReportMetric(ms(grant), "grant-ms")
	b.ReportMetric(cpu.otherPct(), "other-cpu-%")
	b.Logf("%d viewers, load average at start %s: joins %v wall, %v server CPU; VmRSS %d → %d KiB; server threads %d",
		n, load, join.wall.Round(time.Millisecond), join.srv, before.RSS, after.RSS, after.Threads)
	if t := a.trouble(); t != "" {
		b.Logf("connection trouble: %s", t)
	}
}

// setup creates the meeting, the hosts and the viewers' participants
// (REST), and connects the two hosts.
func (a *audience) setup(ctx context.Context, n int) error {
	var err error
	rest := a.srv.rest
	if a.meetingID, err = createMeeting(ctx, rest, "stagekit audience benchmark"); err != nil {
		return err
	}
	hosts, err := addParticipants(ctx, rest, a.meetingID, presetHost, "host", 3, 1)
	if err != nil {
		return fmt.Errorf("create hosts: %w", err)
	}
	viewers, err := addParticipants(ctx, rest, a.meetingID, presetViewer, "viewer", n, restWorkers)
	if err != nil {
		return fmt.Errorf("create viewers: %w", err)
	}
	a.host, err = client.Init(ctx, client.Options{BaseURI: a.srv.URL, AuthToken: hosts[0].Token, RequestTimeout: 30 * time.Second})
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	a.host.On(a.hostListener())
	if err := a.host.Join(ctx); err != nil {
		return fmt.Errorf("host join: %w", err)
	}
	if a.observer, err = dialLean(ctx, a.srv.URL, hosts[1].Token, nil); err != nil {
		return fmt.Errorf("observer: %w", err)
	}
	a.lateHost = hosts[2]
	a.viewers = make([]*leanClient, n)
	a.ids = make([]string, n)
	a.tokens = make([]string, n)
	for i, p := range viewers {
		a.ids[i], a.tokens[i] = p.ID, p.Token
	}
	return nil
}

func (a *audience) hostListener() func(client.Event) {
	// newStageRequest comes just before the stageAccessRequestUpdate of the
	// same frame, whose list names the newest request.
	var added time.Time // only the host's reader goroutine runs this
	return func(ev client.Event) {
		switch ev.Name {
		case client.EventNewStageRequest:
			added = time.Now()
		case client.EventStageAccessRequestUpdate:
			if !added.IsZero() && a.sampling.Load() {
				newest := ""
				if k := len(ev.Requests); k > 0 {
					newest = ev.Requests[k-1].UserID
				}
				select {
				case a.newReq <- hostSample{userID: newest, at: added}:
				default:
				}
			}
			added = time.Time{}
			if w := a.pend.Load(); w != nil && len(ev.Requests) >= w.n && w.at.IsZero() {
				w.at = time.Now()
				close(w.done)
			}
		}
	}
}

// connectViewers dials and joins every viewer, joinInFlight at a time.
func (a *audience) connectViewers(ctx context.Context) error {
	return a.connectViewersWhere(ctx, nil)
}

// connectViewersWhere dials and joins the viewers i for which keep(i) (all
// with nil), joinInFlight at a time.
func (a *audience) connectViewersWhere(ctx context.Context, keep func(i int) bool) error {
	if a.workers != nil {
		var is []int
		for i := range a.viewers {
			if keep == nil || keep(i) {
				is = append(is, i)
			}
		}
		return a.workers.join(ctx, is, a.entryOf, a.tokens, joinInFlight)
	}
	sem := make(chan struct{}, joinInFlight)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for i := range a.viewers {
		if first.Load() != nil {
			break
		}
		if keep != nil && !keep(i) {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := dialLean(ctx, a.entryOf(i), a.tokens[i], a.viewerStatus)
			if err != nil {
				err = fmt.Errorf("viewer %d: %w", i, err)
				first.CompareAndSwap(nil, &err)
				return
			}
			a.viewers[i] = v
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// entryOf is the URL viewer i connects to.
func (a *audience) entryOf(i int) string {
	if len(a.entries) > 0 {
		return a.entries[i%len(a.entries)]
	}
	return a.srv.URL
}

// clientCPU is the CPU time the load clients have used: this process's
// and the workers'.
func (a *audience) clientCPU() time.Duration {
	d := selfCPU()
	if a.workers != nil {
		d += a.workers.cpu()
	}
	return d
}

// viewerStatus counts the viewers that reach ACCEPTED while a grant is
// tracked, and records when the last one did.
func (a *audience) viewerStatus(s stage.Status) {
	if s != stage.Accepted || a.want.Load() == 0 {
		return
	}
	if a.accepted.Add(1) == a.want.Load() {
		select {
		case a.acceptedAt <- time.Now():
		default:
		}
	}
}

// sampleRequests has sampleSize viewers request one after another, each
// timed until the host's newStageRequest for it, then cancels them. It
// returns the latencies, the bytes per uninvolved viewer per request, and
// the CPU of the requests.
func (a *audience) sampleRequests(ctx context.Context) ([]time.Duration, float64, phaseCPU, error) {
	k := min(sampleSize, len(a.viewers)/2)
	step := len(a.viewers) / k
	var sample []int
	for i := 0; i < k; i++ {
		// The i-th sampled viewer is ≡ i (mod 3): a cluster's viewers join
		// through its three nodes in turn, and the sample covers each.
		at := i*step - i*step%3 + i%3
		if at >= len(a.viewers) {
			at -= 3
		}
		sample = append(sample, at)
	}
	a.sample = sample
	inSample := map[int]bool{}
	for _, i := range sample {
		inSample[i] = true
	}
	bytesOf := func() (total int64) {
		if a.workers != nil {
			total, _ = a.workers.bytesExcept(ctx, sample)
			return total
		}
		for i, v := range a.viewers {
			if !inSample[i] {
				total += v.bytes.Load()
			}
		}
		return total
	}
	for len(a.newReq) > 0 {
		<-a.newReq
	}
	a.sampling.Store(true)
	b0 := bytesOf()
	ph := startPhase(a.srv, "requests")
	var lat []time.Duration
	for _, i := range sample {
		time.Sleep(sampleGap)
		start, err := a.call(ctx, i, protocol.TypeStageRequest)
		if err != nil {
			return nil, 0, phaseCPU{}, fmt.Errorf("viewer %d: %w", i, err)
		}
		timeout := time.After(10 * time.Second)
	await:
		for {
			select {
			case s := <-a.newReq:
				if s.userID == a.ids[i] {
					lat = append(lat, s.at.Sub(start))
					break await
				}
			case <-timeout:
				return nil, 0, phaseCPU{}, fmt.Errorf("viewer %d: no newStageRequest for it within 10s", i)
			}
		}
	}
	cpu := ph.end()
	a.sampling.Store(false)
	unrelated := float64(bytesOf()-b0) / float64(len(a.viewers)-k) / float64(k)
	if a.workers != nil {
		if err := a.workers.calls(ctx, sample, protocol.TypeStageCancel); err != nil {
			return nil, 0, phaseCPU{}, fmt.Errorf("cancel: %w", err)
		}
		return lat, unrelated, cpu, a.waitPending(ctx, 0)
	}
	for _, i := range sample {
		if _, err := a.viewers[i].call(ctx, protocol.ClientMessage{Type: protocol.TypeStageCancel}); err != nil {
			return nil, 0, phaseCPU{}, fmt.Errorf("cancel %d: %w", i, err)
		}
	}
	return lat, unrelated, cpu, a.waitPending(ctx, 0)
}

// call has viewer i send a message of type typ, waits for the answer and
// returns when it was sent.
func (a *audience) call(ctx context.Context, i int, typ string) (time.Time, error) {
	if a.workers != nil {
		return a.workers.call(ctx, i, typ)
	}
	start := time.Now()
	_, err := a.viewers[i].call(ctx, protocol.ClientMessage{Type: typ})
	return start, err
}

// joinLateHost connects the SDK's client as a host of the full room, checks
// that it lists all others participants, and leaves again.
func (a *audience) joinLateHost(ctx context.Context, others int) (time.Duration, error) {
	start := time.Now()
	m, err := client.Init(ctx, client.Options{BaseURI: a.srv.URL, AuthToken: a.lateHost.Token, RequestTimeout: 30 * time.Second})
	if err != nil {
		return 0, err
	}
	defer m.Leave(ctx)
	if err := m.Join(ctx); err != nil {
		return 0, err
	}
	took := time.Since(start)
	if got := len(m.Participants()); got != others {
		return 0, fmt.Errorf("the late host sees %d participants, want %d", got, others)
	}
	return took, nil
}

// waitPending waits until the host's list has n entries.
func (a *audience) waitPending(ctx context.Context, n int) error {
	for len(a.host.Requests()) != n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("host list has %d, want %d", len(a.host.Requests()), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// stormAndGrant releases k viewers' requests at once, waits until the host
// has them all, then grants them in one call and waits until each saw
// ACCEPTED; finally kicks them back off stage (untimed).
func (a *audience) stormAndGrant(ctx context.Context, k int) (storm time.Duration, frames int64, grant time.Duration, cpu phaseCPU, err error) {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	return a.stormAndGrantOf(ctx, idx)
}

// stormAndGrantOf is stormAndGrant with the viewers at idx.
func (a *audience) stormAndGrantOf(ctx context.Context, idx []int) (storm time.Duration, frames int64, grant time.Duration, cpu phaseCPU, err error) {
	k := len(idx)
	ids := make([]string, k)
	for j, i := range idx {
		ids[j] = a.ids[i]
	}
	w := &pendingWait{n: k, done: make(chan struct{})}
	a.pend.Store(w)
	defer a.pend.Store(nil)
	fire, err := a.prepareStorm(ctx, idx)
	if err != nil {
		return 0, 0, 0, cpu, err
	}
	f0 := a.observer.frames.Load()
	ph := startPhase(a.srv, "storm")
	t0 := time.Now()
	if err := fire(); err != nil {
		return 0, 0, 0, cpu, fmt.Errorf("a storm request failed: %w", err)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return 0, 0, 0, cpu, fmt.Errorf("the host's list never reached %d (has %d)", k, len(a.host.Requests()))
	}
	storm = w.at.Sub(t0)
	frames = a.observer.frames.Load() - f0
	cpu = ph.end()

	var tracked func() (time.Time, error)
	if a.workers != nil {
		if tracked, err = a.workers.track(ctx, idx); err != nil {
			return 0, 0, 0, cpu, err
		}
	}
	a.accepted.Store(0)
	a.want.Store(int64(k))
	t0 = time.Now()
	if err := a.host.Stage().GrantAccess(ctx, slices.Clone(ids)); err != nil {
		return 0, 0, 0, cpu, fmt.Errorf("grant: %w", err)
	}
	if tracked != nil {
		at, err := tracked()
		if err != nil {
			return 0, 0, 0, cpu, err
		}
		grant = at.Sub(t0)
	} else {
		select {
		case at := <-a.acceptedAt:
			grant = at.Sub(t0)
		case <-ctx.Done():
			return 0, 0, 0, cpu, fmt.Errorf("%d of %d viewers saw ACCEPTED", a.accepted.Load(), k)
		}
	}
	a.want.Store(0)
	if err := a.host.Stage().Kick(ctx, slices.Clone(ids)); err != nil {
		return 0, 0, 0, cpu, fmt.Errorf("kick: %w", err)
	}
	return storm, frames, grant, cpu, nil
}

// prepareStorm has the viewers at idx ready to request at once; fire
// releases them and returns once every request was answered.
func (a *audience) prepareStorm(ctx context.Context, idx []int) (fire func() error, err error) {
	if a.workers != nil {
		return a.workers.storm(ctx, idx, protocol.TypeStageRequest)
	}
	release := make(chan struct{})
	errs := make(chan error, len(idx))
	var wg, parked sync.WaitGroup
	for _, i := range idx {
		v := a.viewers[i]
		wg.Add(1)
		parked.Add(1)
		go func() {
			defer wg.Done()
			parked.Done()
			<-release
			if _, err := v.call(ctx, protocol.ClientMessage{Type: protocol.TypeStageRequest}); err != nil {
				errs <- err
			}
		}()
	}
	parked.Wait()
	return func() error {
		close(release)
		wg.Wait()
		close(errs)
		return <-errs
	}, nil
}

// trouble lists the server's complaints, or "".
func (a *audience) trouble() string {
	var s string
	if ev := a.srv.closeEvents(); len(ev) > 0 {
		s += fmt.Sprintf("server closes: %v; ", ev)
	}
	if l := a.srv.logLines("panic", "level=ERROR", "level=WARN"); len(l) > 0 {
		if len(l) > 5 {
			l = l[len(l)-5:]
		}
		s += fmt.Sprintf("server log: %q", l)
	}
	return s
}

func (a *audience) close() {
	if a.workers != nil {
		a.workers.close()
	}
	for _, v := range a.viewers {
		if v != nil {
			v.close()
		}
	}
	if a.observer != nil {
		a.observer.close()
	}
	if a.host != nil {
		a.host.Close()
	}
	a.srv.stop()
}

// forceServerGC makes the server allocate (REST reads of the participant
// list) until its runtime traces a new GC, and returns that GC's line.
func forceServerGC(ctx context.Context, srv *server, meetingID string) (gcLine, error) {
	seen, _ := srv.gcState()
	deadline := time.Now().Add(20 * time.Second)
	for calls := 0; calls < 5000 && time.Now().Before(deadline); calls++ {
		var list []participant
		if err := srv.rest.Do(ctx, "GET", "/v1/meetings/"+meetingID+"/participants", nil, 200, &list); err != nil {
			return gcLine{}, err
		}
		if n, _ := srv.gcState(); n > seen {
			time.Sleep(50 * time.Millisecond) // let the log reader catch the line
			_, g := srv.gcState()
			return g, nil
		}
	}
	return gcLine{}, fmt.Errorf("no GC within %d REST reads", 5000)
}

// loadAvg is the machine's 1, 5 and 15 minute load average.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// percentile is the nearest-rank q-quantile (0 < q ≤ 1) of d, sorted in place.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	k := int(math.Ceil(q*float64(len(d)))) - 1
	k = max(0, min(k, len(d)-1))
	return d[k]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
