//go:build linux

package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeShared()
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

// The room shared by the latency and storm benchmarks: one server process,
// a host and numViewers() viewers, built on first use, closed by TestMain.
var shared struct {
	once  sync.Once
	r     *room
	err   error
	setup time.Duration
	join  time.Duration
}

func sharedRoom(b *testing.B) *room {
	b.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		r, err := newRoom(ctx, numViewers(), serverOptions{})
		if err == nil {
			j := time.Now()
			if err = r.connectViewers(ctx, joinInFlight); err != nil {
				r.close()
				r = nil
			}
			shared.join = time.Since(j)
		}
		shared.r, shared.err, shared.setup = r, err, time.Since(start)
		if err == nil {
			_, from, _ := serverBinary()
			b.Logf("shared room: server %s; %d viewers + 1 host created and joined in %v (joins %v, %d in flight)",
				from, len(r.viewers), shared.setup.Round(time.Millisecond), shared.join.Round(time.Millisecond), joinInFlight)
		}
	})
	if shared.err != nil {
		b.Fatalf("shared room: %v", shared.err)
	}
	return shared.r
}

func closeShared() {
	if shared.r != nil {
		shared.r.close()
		shared.r = nil
	}
}

// ready waits until every client applied the room's last event and checks
// that all viewers are OFF_STAGE and the host has no pending request.
func ready(ctx context.Context, r *room) error {
	if _, err := r.settle(ctx); err != nil {
		return err
	}
	if n := len(r.host.Requests()); n != 0 {
		return fmt.Errorf("the host still has %d pending requests", n)
	}
	return r.allViewersAre(stage.OffStage)
}

// BenchmarkServerMemory measures the server's resident memory per connected
// client. For each iteration it starts a fresh server process (with
// GODEBUG=gctrace=1), creates 1 host + N viewers through REST, connects and
// joins the host (the warm-up client), waits 1s and reads VmRSS from
// /proc/<pid>/status ("before"); then connects and joins the N viewers
// (joinInFlight at a time), waits until every client has applied the room's
// last event, waits 2s and reads VmRSS again ("after").
//
//	rss-KB/client   (VmRSS after − VmRSS before) / N, in KiB
//	heap-KB/client  (live heap marked by a GC after the joins − live heap of
//	                the last GC before them) / N, from the server's gctrace;
//	                the GC after is provoked by REST reads of the participant
//	                list, after the RSS reading
//	rss-after-MB    VmRSS after, MiB; threads: the server's OS threads
//
// ns/op is the time to connect and join the N viewers.
func BenchmarkServerMemory(b *testing.B) {
	skipUnlessBench(b)
	n := numViewers()
	var rssPer, heapPer []float64
	var last struct {
		before, after     procStatus
		gcBefore, gcAfter gcLine
	}
	var joinCPU phaseCPU
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		r, err := newRoom(ctx, n, serverOptions{gctrace: true})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		before, err := r.srv.status()
		if err != nil {
			r.close()
			cancel()
			b.Fatal(err)
		}
		gcs, gcBefore := r.srv.gcState()
		if gcs == 0 {
			// No GC yet (a small N): provoke one for the baseline heap, after
			// the RSS reading.
			if gcBefore, err = forceServerGC(ctx, r); err != nil {
				b.Logf("no baseline GC: %v", err)
			}
		}

		b.StartTimer()
		ph := startPhase(r, "memory-join")
		err = r.connectViewers(ctx, joinInFlight)
		joinCPU = ph.end()
		b.StopTimer()
		if err != nil {
			r.close()
			cancel()
			b.Fatalf("connect viewers: %v", err)
		}
		time.Sleep(2 * time.Second)
		after, err := r.srv.status()
		if err != nil {
			r.close()
			cancel()
			b.Fatal(err)
		}
		gcAfter, gcErr := forceServerGC(ctx, r)
		if profileDir() != "" {
			if err := r.srv.profileCmd("heap memory-heap-server.pprof"); err != nil {
				b.Logf("heap profile: %v", err)
			}
		}
		if trouble := r.trouble(); trouble != "" {
			b.Logf("connection trouble while joining: %s", trouble)
		}
		r.close()
		cancel()

		rssPer = append(rssPer, float64(after.RSS-before.RSS)/float64(n))
		if gcErr != nil {
			b.Logf("no server GC after the joins (%v): heap-KB/client not measured", gcErr)
		} else {
			heapPer = append(heapPer, float64(gcAfter.Live-gcBefore.Live)*1024/float64(n))
		}
		last.before, last.after, last.gcBefore, last.gcAfter = before, after, gcBefore, gcAfter
	}
	b.ReportMetric(mean(rssPer), "rss-KB/client")
	if len(heapPer) > 0 {
		b.ReportMetric(mean(heapPer), "heap-KB/client")
	}
	b.ReportMetric(float64(last.after.RSS)/1024, "rss-after-MB")
	b.ReportMetric(float64(last.after.Threads), "threads")
	b.Logf("%d clients; VmRSS before %d KiB, after %d KiB (peak VmHWM %d KiB); threads %d → %d",
		n, last.before.RSS, last.after.RSS, last.after.HWM, last.before.Threads, last.after.Threads)
	b.Logf("joining the %d viewers took %v, using %v of server CPU and %v of client-process CPU; other processes used %.0f%% of the machine meanwhile",
		n, joinCPU.wall.Round(time.Millisecond), joinCPU.srv, joinCPU.cli.Round(time.Millisecond), joinCPU.otherPct())
	b.Logf("server GC before the joins: %q", last.gcBefore.Raw)
	b.Logf("server GC after the joins:  %q", last.gcAfter.Raw)
}

// forceServerGC makes the server allocate (REST reads of the participant
// list) until its runtime traces a new GC, and returns that GC's line. The
// sequential reads keep at most one response's garbage alive at the mark.
func forceServerGC(ctx context.Context, r *room) (gcLine, error) {
	seen, _ := r.srv.gcState()
	deadline := time.Now().Add(20 * time.Second)
	for calls := 0; calls < 5000 && time.Now().Before(deadline); calls++ {
		var list []participant
		if err := r.srv.rest.do(ctx, "GET", "/v1/meetings/"+r.meetingID+"/participants", nil, 200, &list); err != nil {
			return gcLine{}, err
		}
		if n, g := r.srv.gcState(); n > seen {
			// The GC may have run before this call's reply was read; give
			// the log reader a moment so the line is the newest one.
			time.Sleep(50 * time.Millisecond)
			_, g = r.srv.gcState()
			return g, nil
		}
	}
	return gcLine{}, fmt.Errorf("no GC within %d REST reads", 5000)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// BenchmarkRequestLatency measures, with N viewers and a host connected to
// one server, the time from a viewer's call to Stage().RequestAccess until
// the host's listener receives newStageRequest for it. Every viewer requests
// once, one after another, so the host's pending list grows from 1 to N
// during a sweep (the host's event carries the whole list: later samples pay
// for a larger message). After a sweep the host denies all at once
// (untimed). Two ways of pacing the requests:
//
//	isolated      each request starts once every client has applied the
//	              previous request's event: the latency of one request in a
//	              quiet room of N+1 connections
//	back-to-back  each request starts as soon as the host saw the previous
//	              one and its call returned, while the previous event is
//	              still being fanned out to the N viewers: saturation
//
// Metrics:
//
//	p50-ms … max-ms          call → host newStageRequest, all samples
//	call-p50-ms, call-p99-ms call → RequestAccess returned (the viewer's own
//	                         event applied and the server's answer read)
//	srv-cpu-ms/req           server process CPU per request (its fan-out)
//	cli-cpu-ms/req           CPU of this process (all N+1 clients) per request
//	other-cpu-%              share of the machine other processes used
//	reconnects               client reconnects during the run (0 unless the
//	                         server closed sockets, e.g. send queue overflow)
//
// ns/op is the time of one sweep of N requests.
func BenchmarkRequestLatency(b *testing.B) {
	skipUnlessBench(b)
	b.Run("isolated", func(b *testing.B) { benchLatency(b, true) })
	b.Run("back-to-back", func(b *testing.B) { benchLatency(b, false) })
}

func benchLatency(b *testing.B, isolated bool) {
	r := sharedRoom(b)
	name := map[bool]string{true: "latency-isolated", false: "latency-back-to-back"}[isolated]
	rec0 := r.reconnects.Load() + r.disconnects.Load()
	var lat, calls []time.Duration
	var firstSweep []time.Duration
	var denyAll []time.Duration
	var cpu phaseCPU
	lost := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := ready(ctx, r); err != nil {
			cancel()
			b.Fatal(err)
		}
		b.StartTimer()
		ph := startPhase(r, name)
		l, c, lostN, err := sweep(ctx, r, isolated)
		pc := ph.end()
		b.StopTimer()
		lost += lostN
		cpu.add(pc)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		if firstSweep == nil {
			firstSweep = slices.Clone(l)
		}
		lat, calls = append(lat, l...), append(calls, c...)

		if _, err := r.settle(ctx); err != nil {
			cancel()
			b.Fatal(err)
		}
		t, err := r.hostBatch(ctx, r.host.Stage().DenyAccess, r.pendingIDs(), stage.OffStage)
		if err != nil {
			cancel()
			b.Fatalf("deny all: %v", err)
		}
		denyAll = append(denyAll, t.all.Round(time.Millisecond))
		cancel()
	}
	k := min(100, len(firstSweep))
	first := percentile(slices.Clone(firstSweep[:k]), 0.5)
	last := percentile(slices.Clone(firstSweep[len(firstSweep)-k:]), 0.5)
	b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.90)), "p90-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(lat, 1)), "max-ms")
	b.ReportMetric(ms(percentile(calls, 0.50)), "call-p50-ms")
	b.ReportMetric(ms(percentile(calls, 0.99)), "call-p99-ms")
	b.ReportMetric(ms(cpu.srv)/float64(len(lat)), "srv-cpu-ms/req")
	b.ReportMetric(ms(cpu.cli)/float64(len(lat)), "cli-cpu-ms/req")
	b.ReportMetric(cpu.otherPct(), "other-cpu-%")
	b.ReportMetric(float64(r.reconnects.Load()+r.disconnects.Load()-rec0), "reconnects")
	if lost > 0 {
		b.Logf("DISTORTED: %d requests lost with their connection (no sample)", lost)
	}
	b.Logf("%d samples, %d viewers; p50 of the first %d requests of a sweep (short pending list) %.2f ms, of the last %d (list up to %d) %.2f ms; deny-all until every viewer saw OFF_STAGE (untimed): %v",
		len(lat), len(r.viewers), k, ms(first), k, len(r.viewers), ms(last), denyAll)
	if t := r.trouble(); t != "" {
		b.Logf("connection trouble: %s", t)
	}
}

// sweep makes every viewer request the stage, one after another, and
// returns per request the time until the host's newStageRequest and until
// the call returned. isolated waits before each request until every client
// has applied the room's last event.
func sweep(ctx context.Context, r *room, isolated bool) (lat, calls []time.Duration, lost int, err error) {
	for len(r.newReq) > 0 {
		<-r.newReq
	}
	r.sampling.Store(true)
	defer r.sampling.Store(false)
	lat = make([]time.Duration, 0, len(r.viewers))
	calls = make([]time.Duration, 0, len(r.viewers))
	wait := time.NewTimer(time.Hour)
	defer wait.Stop()
	for i, v := range r.viewers {
		if isolated {
			if _, err := r.settleEvery(ctx, 2*time.Millisecond); err != nil {
				return nil, nil, lost, err
			}
		}
		uid := r.ids[i]
		start := time.Now()
		if err := v.Stage().RequestAccess(ctx); err != nil {
			if lostCall(err) {
				lost++ // the connection dropped: no sample; see reconnects
				continue
			}
			return nil, nil, lost, fmt.Errorf("viewer %d requestAccess: %w", i, err)
		}
		calls = append(calls, time.Since(start))
		wait.Reset(10 * time.Second)
	await:
		for {
			select {
			case ev := <-r.newReq:
				if ev.userID == uid {
					lat = append(lat, ev.at.Sub(start))
					break await
				}
			case <-wait.C:
				return nil, nil, lost, fmt.Errorf("viewer %d: the host saw no newStageRequest for it within 10s", i)
			case <-ctx.Done():
				return nil, nil, lost, ctx.Err()
			}
		}
	}
	return lat, calls, lost, nil
}

// BenchmarkRequestStorm: all N viewers call RequestAccess at once; once the
// host's pending list holds all N (GrantAccess sends the statuses the host
// saw) the host grants all N in one call; then it kicks them back off
// (untimed).
//
//	storm-ms           release of the N concurrent calls → the host's list
//	                   has N entries (stageAccessRequestUpdate)
//	req-call-p50-ms,   the viewers' RequestAccess calls during the storm
//	req-call-max-ms
//	grant-call-ms      GrantAccess(N ids) called → returned to the host
//	grant-p50-ms       GrantAccess called → the median viewer's
//	                   stageStatusUpdate(ACCEPTED)
//	grant-all-ms       GrantAccess called → the last viewer's ACCEPTED
//	storm-srv-cpu-ms,  CPU the server process and this process (the N+1
//	storm-cli-cpu-ms   clients) used during the storm (until the host had
//	                   all N and every call returned); grant-…-cpu-ms the
//	                   same for the grant (until the last ACCEPTED)
//	other-cpu-%, reconnects as in BenchmarkRequestLatency
//
// ns/op is one storm plus one grant (without the setup and the kick).
func BenchmarkRequestStorm(b *testing.B) {
	skipUnlessBench(b)
	r := sharedRoom(b)
	n := len(r.viewers)
	rec0 := r.reconnects.Load() + r.disconnects.Load()
	var storm, grantCall, grantMid, grantAll, kickAll []time.Duration
	var reqCalls []time.Duration
	var stormCPU, grantCPU phaseCPU
	retried := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := ready(ctx, r); err != nil {
			cancel()
			b.Fatal(err)
		}
		b.StartTimer()

		w := &pendingWait{n: n, done: make(chan struct{})}
		r.pend.Store(w)
		release := make(chan struct{})
		durs := make([]time.Duration, n)
		callErrs := make([]error, n)
		var errs errCounter
		var wg, parked sync.WaitGroup
		for j, v := range r.viewers {
			wg.Add(1)
			parked.Add(1)
			go func() {
				defer wg.Done()
				parked.Done()
				<-release
				s := time.Now()
				err := v.Stage().RequestAccess(ctx)
				durs[j] = time.Since(s)
				errs.add(err)
				callErrs[j] = err
			}()
		}
		parked.Wait()
		ph := startPhase(r, "storm")
		t0 := time.Now()
		close(release)
		wg.Wait()
		// A call lost with its connection (the server closed the socket:
		// send queue overflow 4032, or no pong in time) is retried once the
		// client has resynced; anything else is a failure.
		for j, err := range callErrs {
			if err == nil {
				continue
			}
			if !lostCall(err) {
				cancel()
				b.Fatalf("storm: viewer %d: %v (rate limited: %d calls)", j, err, errs.count(protocol.CodeRateLimited))
			}
			tries, err := r.ensureRequested(ctx, j)
			retried += tries
			if err != nil {
				cancel()
				b.Fatalf("storm: viewer %d: %v", j, err)
			}
		}
		select {
		case <-w.done:
		case <-ctx.Done():
			cancel()
			b.Fatalf("storm: the host's list never reached %d (has %d)", n, len(r.host.Requests()))
		}
		sc := ph.end()
		r.pend.Store(nil)
		storm = append(storm, w.at.Sub(t0))
		reqCalls = append(reqCalls, durs...)
		stormCPU.add(sc)

		ph = startPhase(r, "grant")
		g, err := r.hostBatch(ctx, r.host.Stage().GrantAccess, r.ids, stage.Accepted)
		gc := ph.end()
		b.StopTimer()
		grantCPU.add(gc)
		if err != nil {
			cancel()
			b.Fatalf("grant all: %v", err)
		}
		grantCall, grantMid, grantAll = append(grantCall, g.call), append(grantMid, g.p50), append(grantAll, g.all)

		if _, err := r.settle(ctx); err != nil {
			cancel()
			b.Fatal(err)
		}
		k, err := r.hostBatch(ctx, r.host.Stage().Kick, r.ids, stage.OffStage)
		if err != nil {
			cancel()
			b.Fatalf("kick all: %v", err)
		}
		kickAll = append(kickAll, k.all.Round(time.Millisecond))
		cancel()
	}
	b.ReportMetric(ms(percentile(storm, 0.5)), "storm-ms")
	b.ReportMetric(ms(percentile(reqCalls, 0.5)), "req-call-p50-ms")
	b.ReportMetric(ms(percentile(reqCalls, 1)), "req-call-max-ms")
	b.ReportMetric(ms(percentile(grantCall, 0.5)), "grant-call-ms")
	b.ReportMetric(ms(percentile(grantMid, 0.5)), "grant-p50-ms")
	b.ReportMetric(ms(percentile(grantAll, 0.5)), "grant-all-ms")
	b.ReportMetric(ms(stormCPU.srv)/float64(b.N), "storm-srv-cpu-ms")
	b.ReportMetric(ms(stormCPU.cli)/float64(b.N), "storm-cli-cpu-ms")
	b.ReportMetric(ms(grantCPU.srv)/float64(b.N), "grant-srv-cpu-ms")
	b.ReportMetric(ms(grantCPU.cli)/float64(b.N), "grant-cli-cpu-ms")
	all := stormCPU
	all.add(grantCPU)
	b.ReportMetric(all.otherPct(), "other-cpu-%")
	b.ReportMetric(float64(r.reconnects.Load()+r.disconnects.Load()-rec0), "reconnects")
	if retried > 0 {
		b.Logf("DISTORTED: %d storm requests were lost with their connection and retried after the client resynced", retried)
	}
	b.Logf("%d viewers; per iteration: storm %v; grant call %v, all ACCEPTED %v; kick-all until every viewer saw OFF_STAGE %v",
		n, storm, grantCall, grantAll, kickAll)
	if t := r.trouble(); t != "" {
		b.Logf("connection trouble: %s", t)
	}
}
