//go:build !js

package media

// Benchmarks of the server's media path, driven by native clients. The
// server runs in a child process (this test binary re-executed with
// STAGEKIT_MEDIA_CHILD_SERVER=1: server/app with the SFU on loopback), so
// that its CPU time is its own; it reports getrusage and the SFU's counters
// on request over stdin/stdout. The clients (a publisher, the subscribers)
// are real client.Meetings with Sessions in the benchmark process.
//
//	go test -run='^$' -bench=. -benchtime=1x ./client/media
//
// BenchmarkServerCPUPerPacket  server CPU per forwarded RTP packet, one
//                              publisher, STAGEKIT_MEDIA_SUBS subscribers
//                              (default 200)
// BenchmarkKickToLastPacket    kick call → last packet of the kicked
//                              publisher received by any subscriber
//
// They print figures and never fail because the machine is slow; they fail
// when something does not work (a client cannot join, media does not flow,
// a packet written after the kick committed is received).
//
// Environment: STAGEKIT_MEDIA_SUBS (200), STAGEKIT_MEDIA_PACKETS (1000
// measured packets), STAGEKIT_MEDIA_RATE (100 packets/s), STAGEKIT_MEDIA_IDLE
// (3s idle baseline), STAGEKIT_MEDIA_KICK_SUBS (subscriber counts, "20,200"),
// STAGEKIT_MEDIA_KICK_RUNS (10), STAGEKIT_MEDIA_CPUPROFILE (a file for the
// server's CPU profile over the measured window of the CPU benchmark).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/sfu"
	"github.com/stagekit/stagekit/stage"
)

const childEnv = "STAGEKIT_MEDIA_CHILD_SERVER"

// childServer is the child process: the real server with the SFU on
// loopback. It prints "URL <base>" and then answers each "stats" line on
// stdin with "STATS <cpu ns> <packets in> <copies out> <bytes out>
// <dropped> <subscriptions> <shed> <retransmits>"; it exits when stdin closes.
func childServer() int {
	dir, err := os.MkdirTemp("", "stagekit-media-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	a, err := app.New(app.Config{APIKey: testserver.APIKey, DataDir: dir, Grace: 30 * time.Second,
		Logger: testLogger(), MediaConfig: sfu.Config{SettingEngine: Loopback, UDPListen: os.Getenv("STAGEKIT_MEDIA_UDP")}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s := a.SFU()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go a.Serve(ln)
	fmt.Printf("URL http://%s\n", ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	var prof *os.File
	for sc.Scan() {
		switch cmd, arg, _ := strings.Cut(sc.Text(), " "); cmd {
		case "stats":
			st := s.Stats()
			fmt.Printf("STATS %d %d %d %d %d %d %d %d %d\n", cpuTime().Nanoseconds(), st.PacketsIn, st.PacketsOut, st.BytesOut, st.PacketsDropped, st.Subscriptions, st.PacketsShed, st.Retransmits, userTime().Nanoseconds())
		case "profile": // start a CPU profile into the file arg
			if prof, err = os.Create(arg); err == nil {
				err = pprof.StartCPUProfile(prof)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
			}
		case "heap": // the heap profile (with what was allocated so far) into the file arg
			f, err := os.Create(arg)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "heap:", err)
			}
		case "profile-stop":
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
				prof = nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.Shutdown(ctx)
	return 0
}

// child is the server process.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	url string
	mu  sync.Mutex
}

type childStats struct {
	cpu, user                                  time.Duration // all CPU, user CPU
	in, out, bytes, dropped, shed, retransmits uint64
	subscriptions                              int
}

func startChild(tb testing.TB) *child {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	tb.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	if !c.out.Scan() {
		tb.Fatalf("the server process did not start: %v", c.out.Err())
	}
	url, ok := strings.CutPrefix(c.out.Text(), "URL ")
	if !ok {
		tb.Fatalf("the server process said %q", c.out.Text())
	}
	c.url = url
	return c
}

// command sends the child a line that has no answer.
func (c *child) command(tb testing.TB, line string) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		tb.Fatal(err)
	}
}

func (c *child) stats(tb testing.TB) childStats {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.in, "stats\n"); err != nil {
		tb.Fatal(err)
	}
	if !c.out.Scan() {
		tb.Fatalf("no stats from the server process: %v", c.out.Err())
	}
	f := strings.Fields(c.out.Text())
	if len(f) != 10 || f[0] != "STATS" {
		tb.Fatalf("bad stats line %q", c.out.Text())
	}
	n := make([]uint64, 9)
	for i := range n {
		n[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	return childStats{cpu: time.Duration(n[0]), in: n[1], out: n[2], bytes: n[3], dropped: n[4], subscriptions: int(n[5]), shed: n[6], retransmits: n[7], user: time.Duration(n[8])}
}

// joinMany adds and connects n viewers, at most conc at a time.
func (r *room) joinMany(tb testing.TB, prefix string, n, conc int) []*user {
	tb.Helper()
	users := make([]*user, n)
	inParallel(tb, n, conc, func(i int) error {
		p, err := testserver.AddParticipant(r.url, r.mid, fmt.Sprintf("%s%d", prefix, i), presetViewer)
		if err == nil {
			users[i], err = r.connect(p, false)
		}
		return err
	})
	return users
}

// inParallel runs fn(0) … fn(n-1), at most conc at a time, and fails tb
// with the first error.
func inParallel(tb testing.TB, n, conc int, fn func(i int) error) {
	tb.Helper()
	errs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("%d of %d: %v", i, n, err)
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkServerCPUPerPacket: one publisher (a raw RTP publisher, 1,000-
// byte payloads) and N subscribers, every one a client.Meeting with a
// Session (ICE, DTLS, SRTP, pion's default interceptors on both sides).
// Once all receive, the publisher pauses and the server's idle CPU is
// measured; then it sends a fixed number of packets at a fixed rate and the
// server's CPU over that window is divided by the packets it received
// (cpu-us/pkt-in) and by the copies it handed to subscribers
// (cpu-ns/copy); net-* subtract the idle rate (RTCP reports, ICE
// keepalives, WebSocket pings of N+1 clients).
func BenchmarkServerCPUPerPacket(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy")
	}
	nSubs := envInt("STAGEKIT_MEDIA_SUBS", 200)
	packets := envInt("STAGEKIT_MEDIA_PACKETS", 1000)
	rate := envInt("STAGEKIT_MEDIA_RATE", 100)
	idle := envDuration("STAGEKIT_MEDIA_IDLE", 3*time.Second)
	b.Run(fmt.Sprintf("subs=%d", nSubs), func(b *testing.B) {
		benchCPU(b, nSubs, packets, rate, idle)
	})
}

func benchCPU(b *testing.B, nSubs, packets, rate int, idle time.Duration) {
	ch := startChild(b)
	r := newRoomAt(b, ch.url)
	host := r.join("host", presetHost)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := host.m.Stage().Join(ctx); err != nil {
		b.Fatal(err)
	}
	// A slow trickle while the subscribers join: the server knows a
	// published track only once its first packet arrived.
	rp, err := offerRawSize(ctx, r.api, host.m, 50*time.Millisecond, 1000)
	if err != nil {
		b.Fatal(err)
	}
	defer rp.close()
	rp.waitUp(b)
	hp := host.peerID()

	start := time.Now()
	subs := r.joinMany(b, "sub", nSubs, 8)
	for _, s := range subs {
		s.waitMedia("the host's packets", func() bool {
			live := s.s.LiveTracksFrom(hp)
			return len(live) == 1 && live[0].Packets() >= 3
		})
	}
	setup := time.Since(start)
	rp.stopLoop()
	<-time.After(time.Second) // let the last copies and renegotiations settle

	i0, t0 := ch.stats(b), time.Now()
	<-time.After(idle)
	i1, t1 := ch.stats(b), time.Now()
	idleRate := float64(i1.cpu-i0.cpu) / float64(t1.Sub(t0))

	recv0 := received(subs, hp)
	profile := os.Getenv("STAGEKIT_MEDIA_CPUPROFILE")
	if profile != "" {
		ch.command(b, "profile "+profile)
	}
	a0, ta := ch.stats(b), time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for range packets {
		<-tick.C
		rp.writeFrame()
	}
	tick.Stop()
	// The server forwards a packet when it reads it; wait until it has read
	// them all (bounded: a packet lost on loopback is not waited for).
	var a1 childStats
	for wait := time.Now().Add(2 * time.Second); ; {
		a1 = ch.stats(b)
		if a1.in-a0.in >= uint64(packets) || time.Now().After(wait) {
			break
		}
		<-time.After(20 * time.Millisecond)
	}
	tb := time.Now()
	recv1 := received(subs, hp)
	if profile != "" {
		ch.command(b, "profile-stop")
	}

	in, out := a1.in-a0.in, a1.out-a0.out
	if in == 0 || out == 0 {
		b.Fatalf("the server forwarded nothing: in %d, out %d", in, out)
	}
	window := tb.Sub(ta)
	cpu := a1.cpu - a0.cpu
	netCPU := float64(cpu) - idleRate*float64(window)
	b.ReportMetric(float64(cpu.Microseconds())/float64(in), "cpu-us/pkt-in")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(out), "cpu-ns/copy")
	b.ReportMetric(netCPU/1e3/float64(in), "net-cpu-us/pkt-in")
	b.ReportMetric(netCPU/float64(out), "net-cpu-ns/copy")
	b.ReportMetric(100*float64(recv1-recv0)/float64(uint64(packets)*uint64(nSubs)), "delivered-%")
	b.Logf("%d subscribers set up in %v; idle server CPU %.1f%% of a core; %d packets at %d/s in %v: %d in, %d copies (%d subscriptions), server CPU %v (%.1f%% of a core), %d received by subscribers",
		nSubs, setup.Round(time.Millisecond), 100*idleRate, packets, rate, window.Round(time.Millisecond),
		in, out, a1.subscriptions, cpu.Round(time.Millisecond), 100*float64(cpu)/float64(window), recv1-recv0)
	b.Logf("per incoming packet: %.0f us (net of idle %.0f us); per forwarded copy: %.2f us (net %.2f us)",
		float64(cpu.Nanoseconds())/1e3/float64(in), netCPU/1e3/float64(in), float64(cpu.Nanoseconds())/1e3/float64(out), netCPU/1e3/float64(out))
}

func received(subs []*user, peerID string) uint64 {
	var n uint64
	for _, s := range subs {
		p, _ := s.s.ReceivedFrom(peerID)
		n += p
	}
	return n
}

// BenchmarkKickToLastPacket: a viewer is brought on stage (request, grant,
// join), publishes with a raw publisher that ignores the kick and writes a
// stamped packet every interval, and the host kicks it once every
// subscriber receives it. The figure (p50-ms, max-ms) is the time from the
// kick call to the last packet of the viewer that any subscriber receives,
// over several runs; it includes the subscribers' own receive delay (all of
// them share the benchmark process). sent-* is the time from the kick call
// to the write time of that last received packet: how long the server went
// on forwarding new packets. kick-rtt is the kick call's own duration. A
// packet written after the kick call returned and received by anyone fails
// the benchmark.
func BenchmarkKickToLastPacket(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy")
	}
	runs := envInt("STAGEKIT_MEDIA_KICK_RUNS", 10)
	counts := []int{20, 200}
	if v := os.Getenv("STAGEKIT_MEDIA_KICK_SUBS"); v != "" {
		counts = nil
		for f := range strings.SplitSeq(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				counts = append(counts, n)
			}
		}
	}
	for _, n := range counts {
		// The publisher's rate gives the figure's resolution; with many
		// subscribers it is lower so that two cores keep up.
		interval := 2 * time.Millisecond
		if n > 50 {
			interval = 10 * time.Millisecond
		}
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) { benchKick(b, n, runs, interval) })
	}
}

func benchKick(b *testing.B, nSubs, runs int, interval time.Duration) {
	ch := startChild(b)
	r := newRoomAt(b, ch.url)
	host := r.join("host", presetHost)
	guest := r.join("guest", presetViewer)
	subs := append([]*user{host}, r.joinMany(b, "sub", nSubs-1, 8)...)
	gp := guest.peerID()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var lat, sent, rtt, removal []time.Duration
	for run := range runs {
		bringOnStage(b, host, guest)
		rp, err := offerRaw(ctx, r.api, guest.m, interval)
		if err != nil {
			b.Fatalf("run %d: raw offer: %v", run, err)
		}
		rp.waitUp(b)
		for _, s := range subs {
			s.waitMedia("the guest's packets", func() bool {
				live := s.s.LiveTracksFrom(gp)
				return len(live) == 1 && live[0].Packets() >= 10
			})
		}
		t0 := time.Now()
		if err := host.m.Stage().Kick(ctx, []string{guest.id}); err != nil {
			b.Fatalf("run %d: kick: %v", run, err)
		}
		t1 := time.Now()
		for _, s := range subs {
			s.waitMedia("the guest's track removed", func() bool {
				_, listed := s.s.RemoteTracks()[gp]
				return !listed && len(s.s.LiveTracksFrom(gp)) == 0
			})
		}
		removal = append(removal, time.Since(t0))
		guest.until("OFF_STAGE", func() bool { return guest.m.Stage().Status() == stage.OffStage })
		var last, lastSent time.Time
		for _, s := range subs {
			rec := s.rec.get(gp)
			if rec.lastRecv.After(last) {
				last = rec.lastRecv
			}
			if rec.maxSent.After(lastSent) {
				lastSent = rec.maxSent
			}
		}
		if lastSent.After(t1) {
			b.Errorf("run %d: a packet written %v after the kick returned was received", run, lastSent.Sub(t1))
		}
		lat = append(lat, last.Sub(t0))
		sent = append(sent, lastSent.Sub(t0))
		rtt = append(rtt, t1.Sub(t0))
		rp.close()
	}
	round := func(ds []time.Duration) []time.Duration {
		out := make([]time.Duration, len(ds))
		for i, d := range ds {
			out[i] = d.Round(10 * time.Microsecond)
		}
		return out
	}
	b.Logf("%d subscribers, a packet every %v; per run, in order:\n"+
		"kick call → last packet received by any subscriber %v\n"+
		"kick call → write time of the last packet received %v\n"+
		"kick call %v\n"+
		"kick call → track gone at every subscriber %v",
		nSubs, interval, round(lat), round(sent), round(rtt), round(removal))
	slices.Sort(lat)
	slices.Sort(sent)
	slices.Sort(rtt)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(sent[len(sent)/2]), "sent-p50-ms")
	b.ReportMetric(ms(sent[len(sent)-1]), "sent-max-ms")
	b.ReportMetric(ms(rtt[len(rtt)/2]), "kick-rtt-p50-ms")
}
