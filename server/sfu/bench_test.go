package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/internal/pionlog"
	"github.com/stagekit/stagekit/protocol"
)

// BenchmarkFanout measures the server's per-packet forwarding path,
// source.forward, for one published VP8 track and N subscribers whose
// subscribe PCs are real pion connections (ICE, DTLS, SRTP) set up by the
// SFU itself. The subscribers' client side then
// stops reading its shared UDP socket, so that the machine's CPU is the
// server's alone: every copy is still encrypted and sent with one sendto on
// loopback, and the kernel drops it at the full socket buffer. (A loopback
// sendto costs more than one leaving through a NIC: it runs the receive
// path too. See the report in the package's commit for the figures.)
//
// ns/op is per incoming packet fanned out to N; ns/copy divides it by N;
// cpu-ns/op is the process's CPU time (user+sys, all threads) per incoming
// packet, which includes what pion does in background goroutines.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 200} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) { benchFanout(b, n, 0) })
	}
}

// BenchmarkFanoutPaced is BenchmarkFanout's 10 subscribers, each with a
// pacer set to an estimate (as a viewer of a simulcast track has; the
// sink subscribers send no TWCC reports, so the benchmark sets it):
// tokens, an estimate no copy waits for (the common case: a lock and the
// bucket's arithmetic a copy); queued, one every copy waits for (the
// benchmark forwards far faster than 1 Mbit/s: each copy is queued, and
// most go ahead of the pace from the full queue, the worst case).
//
//	go test -run='^$' -bench=FanoutPaced -benchtime=20000x ./server/sfu
func BenchmarkFanoutPaced(b *testing.B) {
	for _, c := range []struct {
		name     string
		estimate float64
	}{{"tokens", 1e12}, {"queued", 1e6}} {
		b.Run(c.name, func(b *testing.B) { benchFanout(b, 10, c.estimate) })
	}
}

// benchFanout measures n subscribers' fan-out, their pacers set to
// estimate (bit/s) if not 0.
func benchFanout(b *testing.B, n int, estimate float64) {
	s, err := New(Config{SettingEngine: func(se *webrtc.SettingEngine) {
		loopback(se)
		// The cut-off subscribers never answer ICE checks again: keep the
		// server's side up for the benchmark's duration.
		se.SetICETimeouts(time.Minute, 2*time.Minute, 2*time.Second)
	}, GatherTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	host := joinClient(b, s, clientAPI(b), "bench", "host")
	s.SetPublishing("bench", "host", true)
	if err := host.publish(); err != nil {
		b.Fatal(err)
	}
	var src *source
	waitFor(b, flowTimeout, "the published track", func() bool {
		if srcs := s.tracksOf("bench", "host"); len(srcs) == 1 {
			src = srcs[0]
		}
		return src != nil
	})
	host.stopSending() // the benchmark feeds the fan-out itself

	subs, err := newSinkSubscribers(b, s, "bench", n)
	if err != nil {
		b.Fatal(err)
	}
	defer subs.close()
	waitFor(b, 60*time.Second, fmt.Sprintf("%d subscribers connected and bound", n), func() bool {
		slots := *src.slots.Load()
		if len(slots) != n {
			return false
		}
		for _, sl := range slots {
			if !sl.bound.Load() || !sl.p.sub.connected.Load() {
				return false
			}
		}
		return true
	})
	subs.cut()
	if estimate > 0 {
		for _, sl := range *src.slots.Load() {
			sl.p.sub.pace.setRate(estimate, time.Now().UnixNano())
		}
	}

	// A typical video packet, every one looking like a VP8 keyframe so
	// that the slots switch to the source at the first.
	p := &packet{size: 1100, pt: 96}
	p.payload = p.buf[:p.size]
	p.payload[0] = 0x10
	p.keyframe = true
	const warm = 50
	for i := range warm {
		p.seq = uint16(i)
		src.forward(p, time.Now().UnixNano())
	}
	out0, paced0 := s.stats.packetsOut.Load(), s.stats.paced.Load()
	runtime.GC()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.seq = uint16(warm + i)
		p.ts = uint32(i/5) * 3000
		p.marker = i%5 == 4
		src.forward(p, time.Now().UnixNano())
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if got := s.stats.packetsOut.Load() - out0; got != uint64(b.N*n) {
		b.Fatalf("copies %d, want %d", got, b.N*n)
	}
	perPkt := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perPkt/float64(n), "ns/copy")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/copy")
	if estimate > 0 {
		b.ReportMetric(float64(s.stats.paced.Load()-paced0)/float64(b.N*n), "queued/copy")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sinkSubscribers are light pion clients, each on a UDP socket of its own:
// they answer the SFU's subscribe offers and nothing else; cut stops reading
// the sockets.
type sinkSubscribers struct {
	stall     chan struct{} // closed by cut: every sink's reads stop
	stallOnce sync.Once
	conns     []*stallConn // a socket each: the server tells viewers apart by address
	apis      map[string]*webrtc.API
	s         *SFU
	msgs      chan sinkMsg
	done      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	pcs       []*webrtc.PeerConnection
	errs      atomic.Int64
}

type sinkMsg struct {
	meetingID, userID string
	sdp               string
}

type sinkSignaler struct {
	ss                *sinkSubscribers
	meetingID, userID string
}

func (g *sinkSignaler) SendOffer(sdp string, _ bool) {
	g.ss.msgs <- sinkMsg{meetingID: g.meetingID, userID: g.userID, sdp: sdp}
}
func (g *sinkSignaler) SendCandidate(string, protocol.ICECandidate) {}
func (g *sinkSignaler) SendTracks([]protocol.TrackInfo)             {}
func (g *sinkSignaler) SendLayers([]protocol.LayerID)               {}

func newSinkSubscribers(tb testing.TB, s *SFU, meetingID string, n int) (*sinkSubscribers, error) {
	ss := &sinkSubscribers{
		s: s, stall: make(chan struct{}), apis: map[string]*webrtc.API{},
		msgs: make(chan sinkMsg, n+16),
		done: make(chan struct{}),
	}
	for i := range n {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			ss.closeConns()
			return nil, err
		}
		conn := &stallConn{PacketConn: udp, stall: ss.stall, closed: make(chan struct{})}
		ss.conns = append(ss.conns, conn)
		ss.apis[fmt.Sprintf("sink%d", i)] = clientAPIWith(tb, func(se *webrtc.SettingEngine) {
			loopback(se)
			se.SetICEUDPMux(webrtc.NewICEUDPMux(pionlog.Factory{Log: slog.New(slog.DiscardHandler)}.NewLogger("mux"), conn))
		})
	}
	ss.wg.Add(1)
	go ss.run()
	for i := range n {
		sig := &sinkSignaler{ss: ss, meetingID: meetingID, userID: fmt.Sprintf("sink%d", i)}
		if _, err := s.Join(meetingID, sig.userID, fmt.Sprintf("sinkpeer%d", i), sig); err != nil {
			ss.close()
			return nil, err
		}
	}
	return ss, nil
}

// run answers offers, one at a time, with candidates in the answer.
func (ss *sinkSubscribers) run() {
	defer ss.wg.Done()
	pcs := map[string]*webrtc.PeerConnection{}
	for {
		select {
		case <-ss.done:
			return
		case m := <-ss.msgs:
			pc := pcs[m.userID]
			if pc == nil {
				var err error
				if pc, err = ss.apis[m.userID].NewPeerConnection(webrtc.Configuration{}); err != nil {
					ss.errs.Add(1)
					continue
				}
				pcs[m.userID] = pc
				ss.mu.Lock()
				ss.pcs = append(ss.pcs, pc)
				ss.mu.Unlock()
			}
			if err := ss.answer(pc, m); err != nil {
				ss.errs.Add(1)
			}
		}
	}
}

func (ss *sinkSubscribers) answer(pc *webrtc.PeerConnection, m sinkMsg) error {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.sdp}); err != nil {
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-time.After(2 * time.Second):
	}
	p := ss.s.Participant(m.meetingID, m.userID)
	if p == nil {
		return fmt.Errorf("no participant %s", m.userID)
	}
	return p.HandleSubscribeAnswer(pc.LocalDescription().SDP)
}

// cut stops reading the subscribers' socket: from now on the server's
// packets die in the kernel.
func (ss *sinkSubscribers) cut() { ss.stallOnce.Do(func() { close(ss.stall) }) }

func (ss *sinkSubscribers) closeConns() {
	for _, c := range ss.conns {
		_ = c.Close()
	}
}

// stallConn is a PacketConn whose reads can be stopped (they block until
// Close) while the socket stays open.
type stallConn struct {
	net.PacketConn
	stall, closed chan struct{}
	closeOnce     sync.Once
}

func (c *stallConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case <-c.stall:
		<-c.closed
		return 0, nil, net.ErrClosed
	default:
	}
	return c.PacketConn.ReadFrom(b)
}

func (c *stallConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.PacketConn.Close()
}

func (ss *sinkSubscribers) close() {
	close(ss.done)
	ss.wg.Wait()
	ss.closeConns()
	ss.mu.Lock()
	pcs := ss.pcs
	ss.mu.Unlock()
	var wg sync.WaitGroup
	for _, pc := range pcs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = pc.Close() }()
	}
	wg.Wait()
}

// BenchmarkKickLatency measures, for a publisher sending 200 packets/s to 5
// subscribers, the time from SetPublishing(false) to:
//   - the last packet the SFU forwarded (kick-to-last-fwd-ms; ≤ 0 means
//     none after the call),
//   - the last packet any subscriber received (kick-to-last-rx-ms),
//   - every subscriber's track ended by renegotiation (kick-to-removed-ms);
//
// and post-kick-pkts-rx counts the packets the publisher sent after
// SetPublishing returned that any subscriber received (must be 0).
//
// Each iteration puts the publisher back on stage with a new publish PC.
// The metrics are the worst over the iterations.
func BenchmarkKickLatency(b *testing.B) {
	s, err := New(Config{SettingEngine: loopback, GatherTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	api := clientAPI(b)
	var viewers []*tclient
	for i := range 5 {
		viewers = append(viewers, joinClient(b, s, api, "kick", fmt.Sprintf("v%d", i)))
	}
	host := joinClient(b, s, api, "kick", "host")
	var worstFwd, worstRx, worstRemoved time.Duration
	var postKick int64 // packets sent after the kick that a viewer received
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s.SetPublishing("kick", "host", true)
		if err := host.publish(); err != nil {
			b.Fatal(err)
		}
		var src *source
		waitFor(b, flowTimeout, "the published track", func() bool {
			if srcs := s.tracksOf("kick", "host"); len(srcs) == 1 {
				src = srcs[0]
			}
			return src != nil
		})
		for _, v := range viewers {
			waitFor(b, flowTimeout, "viewers receiving", func() bool { return v.liveFrom(host.peerID) == 1 })
		}
		time.Sleep(100 * time.Millisecond)
		b.StartTimer()

		// Watch the forwarded counter from before the kick.
		var lastFwd atomic.Int64
		stopWatch := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			prev := src.forwarded.Load()
			for {
				select {
				case <-stopWatch:
					return
				default:
				}
				if cur := src.forwarded.Load(); cur != prev {
					prev = cur
					lastFwd.Store(time.Now().UnixNano())
				}
				runtime.Gosched()
			}
		}()
		time.Sleep(20 * time.Millisecond)
		kicked := time.Now()
		s.SetPublishing("kick", "host", false)
		seqAtKick := host.lastSeq.Load()
		for _, v := range viewers {
			waitFor(b, flowTimeout, "tracks removed", func() bool { return v.liveFrom(host.peerID) == 0 })
		}
		removed := time.Since(kicked)
		time.Sleep(200 * time.Millisecond)
		close(stopWatch)
		<-watched

		fwd := time.Duration(lastFwd.Load() - kicked.UnixNano())
		var rx time.Duration
		for _, v := range viewers {
			for _, rt := range v.tracksFrom(host.peerID) {
				if d := time.Duration(rt.last.Load() - kicked.UnixNano()); d > rx {
					rx = d
				}
			}
		}
		for _, v := range viewers {
			if seq := v.maxSeqFrom(host.peerID); seq > seqAtKick {
				postKick = max(postKick, seq-seqAtKick)
			}
		}
		worstFwd = max(worstFwd, fwd)
		worstRx = max(worstRx, rx)
		worstRemoved = max(worstRemoved, removed)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(worstFwd), "kick-to-last-fwd-ms")
	b.ReportMetric(ms(worstRx), "kick-to-last-rx-ms")
	b.ReportMetric(ms(worstRemoved), "kick-to-removed-ms")
	b.ReportMetric(float64(postKick), "post-kick-pkts-rx")
}

// BenchmarkSubscriberList compares reading the fan-out list through the
// atomic pointer used by forward with an RWMutex-guarded slice, with every
// CPU reading at once (one read per forwarded packet).
func BenchmarkSubscriberList(b *testing.B) {
	list := make([]*slot, 200)
	b.Run("atomic", func(b *testing.B) {
		var p atomic.Pointer[[]*slot]
		p.Store(&list)
		b.RunParallel(func(pb *testing.PB) {
			n := 0
			for pb.Next() {
				n += len(*p.Load())
			}
			_ = n
		})
	})
	b.Run("rwmutex", func(b *testing.B) {
		var mu sync.RWMutex
		b.RunParallel(func(pb *testing.PB) {
			n := 0
			for pb.Next() {
				mu.RLock()
				n += len(list)
				mu.RUnlock()
			}
			_ = n
		})
	})
}

// BenchmarkFirstMedia measures how long a viewer waits for a presenter's
// first media: a new SFU each iteration, a viewer joins, a publisher
// connects its publish PC and sends 200 packets a second, and the time
// runs from the publish offer to the viewer's 20th packet (the publish
// PC's ICE and DTLS, the viewer's subscribe offer, its ICE and DTLS).
// The server listens on every address of the machine, as by default:
// each is a host candidate on its one socket.
//
//	go test -run='^$' -bench=FirstMedia -benchtime=300x ./server/sfu
//
// The metrics are the p50, p90, p99 and worst, in milliseconds.
func BenchmarkFirstMedia(b *testing.B) {
	waits := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		s, err := New(Config{SettingEngine: loopback, GatherTimeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		api := clientAPI(b)
		meet := fmt.Sprintf("first%d", i)
		viewer := joinClient(b, s, api, meet, "viewer")
		host := joinClient(b, s, api, meet, "host")
		s.SetPublishing(meet, "host", true)
		start := time.Now()
		if err := host.publish(); err != nil {
			b.Fatal(err)
		}
		waitFor(b, flowTimeout, "the viewer's first packets", func() bool { return viewer.packetsFrom(host.peerID) >= 20 })
		waits = append(waits, time.Since(start))
		viewer.close()
		host.close()
		s.Close()
	}
	slices.Sort(waits)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(waits[len(waits)/2]), "p50-ms")
	b.ReportMetric(ms(waits[len(waits)*9/10]), "p90-ms")
	b.ReportMetric(ms(waits[len(waits)*99/100]), "p99-ms")
	b.ReportMetric(ms(waits[len(waits)-1]), "max-ms")
}
