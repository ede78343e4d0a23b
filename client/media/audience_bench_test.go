//go:build linux

package media

// BenchmarkAudience: one node forwarding presenters to a media audience.
// The server is a child process (as in BenchmarkServerCPUPerPacket); the
// audience is lean viewers in this process: each is a real client.Meeting
// with a real media Session (pion: ICE, DTLS, the subscribe connection), but
// its UDP socket is polled in batches (recvmmsg every 5 ms, outside Go's
// netpoller) and RTP packets are counted from their clear headers and
// dropped before pion would decrypt them (SRTP leaves the header in the
// clear), so that a thousand of them fit beside the server on this machine. Every 10th viewer passes its RTP on to pion,
// which decrypts it: those check that the payloads arrive intact.
//
// The presenters send VP8-looking video (1,200-byte payloads, 200 packets/s,
// 8 packets a frame, a keyframe every 2 s and on request) and Opus-looking
// audio (160 bytes, 50/s), each packet's RTP timestamp the wall clock when
// it was sent; the kernel's receive timestamp of each copy (SO_TIMESTAMPNS)
// gives its forward latency, whenever the viewer gets to read it.
//
//	go test -run='^$' -bench=Audience -benchtime=1x ./client/media
//
// Environment: STAGEKIT_AUDIENCE (the runs, PRESENTERSxVIEWERS,
// "1x50,1x300,1x1000,3x300"), STAGEKIT_AUDIENCE_SECONDS (measured
// seconds, 10), STAGEKIT_AUDIENCE_IDLE (idle baseline, 3s), and CPU
// profiles of the server: STAGEKIT_MEDIA_CPUPROFILE (the load),
// STAGEKIT_MEDIA_IDLEPROFILE (idle), STAGEKIT_MEDIA_JOINPROFILE (the
// viewers' joins; with the server's allocations before and after them in
// FILE.heap0 and FILE.heap1: go tool pprof -sample_index=alloc_space
// -diff_base FILE.heap0 FILE.heap1).

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"golang.org/x/sys/unix"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
)

func BenchmarkAudience(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy")
	}
	runs := os.Getenv("STAGEKIT_AUDIENCE")
	if runs == "" {
		runs = "1x50,1x300,1x1000,3x300"
	}
	secs := envInt("STAGEKIT_AUDIENCE_SECONDS", 10)
	idle := envDuration("STAGEKIT_AUDIENCE_IDLE", 3*time.Second)
	for _, f := range strings.Split(runs, ",") {
		ps, vs, ok := strings.Cut(strings.TrimSpace(f), "x")
		if !ok {
			ps, vs = "1", ps
		}
		presenters, err1 := strconv.Atoi(ps)
		viewers, err2 := strconv.Atoi(vs)
		if err1 != nil || err2 != nil || presenters < 1 || viewers < 1 {
			b.Fatalf("STAGEKIT_AUDIENCE: %q is not PRESENTERSxVIEWERS", f)
		}
		b.Run(fmt.Sprintf("presenters=%d/viewers=%d", presenters, viewers), func(b *testing.B) {
			benchAudience(b, presenters, viewers, time.Duration(secs)*time.Second, idle)
		})
	}
}

// Rates of a presenter.
const (
	audVideoPPS, audVideoBytes = 200, 1200
	audAudioPPS, audAudioBytes = 50, 160
	audFramePackets            = 8
	audKeyframeEvery           = 50 // frames
)

func benchAudience(b *testing.B, presenters, nViewers int, measure, idle time.Duration) {
	ch := startChild(b)
	r := newRoomAt(b, ch.url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lat := &latencies{}

	// Presenters on stage, sending slowly while the audience joins (the
	// server knows a track once its first packet arrived).
	var pubs []*stampedPub
	for i := range presenters {
		host := r.join(fmt.Sprintf("host%d", i), presetHost)
		if err := host.m.Stage().Join(ctx); err != nil {
			b.Fatal(err)
		}
		p, err := offerStamped(ctx, r.api, host.m)
		if err != nil {
			b.Fatal(err)
		}
		defer p.close()
		p.waitUp(b)
		p.run(10) // 10 ticks a second
		pubs = append(pubs, p)
	}

	// The viewers' participants are made over REST first, so that the
	// join figure is the connection's alone (signaling join, ICE, DTLS).
	people := make([]testserver.Participant, nViewers)
	inParallel(b, nViewers, 16, func(i int) (err error) {
		people[i], err = testserver.AddParticipant(r.url, r.mid, fmt.Sprintf("viewer%d", i), presetViewer)
		return err
	})
	joinProfile := os.Getenv("STAGEKIT_MEDIA_JOINPROFILE")
	if joinProfile != "" {
		ch.command(b, "heap "+joinProfile+".heap0")
		ch.command(b, "profile "+joinProfile)
	}
	s0, c0, t0 := ch.stats(b), cpuTime(), time.Now()
	viewers := joinLean(b, r, people, 16, lat)
	for _, v := range viewers {
		v.waitSSRCs(b, 2*presenters)
	}
	s1, c1, t1 := ch.stats(b), cpuTime(), time.Now()
	if joinProfile != "" {
		ch.command(b, "profile-stop")
		ch.command(b, "heap "+joinProfile+".heap1")
	}
	joinCPU := float64(s1.cpu-s0.cpu) / float64(nViewers)

	// Idle: everyone connected, nobody sending.
	for _, p := range pubs {
		p.run(0)
	}
	time.Sleep(time.Second)
	idleProfile := os.Getenv("STAGEKIT_MEDIA_IDLEPROFILE")
	if idleProfile != "" {
		ch.command(b, "profile "+idleProfile)
	}
	i0, ti0 := ch.stats(b), time.Now()
	time.Sleep(idle)
	i1, ti1 := ch.stats(b), time.Now()
	if idleProfile != "" {
		ch.command(b, "profile-stop")
	}
	idleRate := float64(i1.cpu-i0.cpu) / float64(ti1.Sub(ti0)) // CPU seconds per second
	idleUser := float64(i1.user-i0.user) / float64(ti1.Sub(ti0))

	// Load.
	for _, p := range pubs {
		p.run(audVideoPPS)
	}
	time.Sleep(time.Second) // the fan-out reaches its pace
	for _, v := range viewers {
		v.stats.reset()
	}
	lat.reset()
	profile := os.Getenv("STAGEKIT_MEDIA_CPUPROFILE")
	if profile != "" {
		ch.command(b, "profile "+profile)
	}
	sentCounts := func() (v, a uint64) {
		for _, p := range pubs {
			pv, pa := p.counts()
			v, a = v+pv, a+pa
		}
		return v, a
	}
	v0, au0 := sentCounts()
	lat.open(time.Now())
	a0, ca0, ta0 := ch.stats(b), cpuTime(), time.Now()
	time.Sleep(measure)
	a1, ca1, ta1 := ch.stats(b), cpuTime(), time.Now()
	lat.close(time.Now())
	v1, au1 := sentCounts()
	sentV, sentA := v1-v0, au1-au0
	if profile != "" {
		ch.command(b, "profile-stop")
	}
	time.Sleep(500 * time.Millisecond) // the copies in flight arrive
	for _, p := range pubs {
		p.run(0)
	}
	window := ta1.Sub(ta0)
	copies := a1.out - a0.out
	serverCPU := float64(a1.cpu - a0.cpu)
	netServer := serverCPU - idleRate*float64(window)
	// User CPU alone: the server's own code, without the kernel's share,
	// which on loopback includes the receivers' network path.
	netUser := float64(a1.user-a0.user) - idleUser*float64(window)
	clientCPU := float64(ca1 - ca0)
	lowV, lowA, sumV, sumA := 1.0, 1.0, 0.0, 0.0
	for _, v := range viewers {
		gv, ga := v.stats.inWindow()
		fv, fa := float64(gv)/float64(sentV), float64(ga)/float64(sentA)
		lowV, lowA = min(lowV, fv), min(lowA, fa)
		sumV += fv
		sumA += fa
	}
	p50, p99, pmax := lat.quantile(0.5), lat.quantile(0.99), lat.quantile(1)
	b.ReportMetric(netServer/float64(copies), "server-ns/copy")
	b.ReportMetric(netUser/float64(copies), "server-user-ns/copy")
	b.ReportMetric(serverCPU/float64(window), "server-cores")
	b.ReportMetric(clientCPU/float64(window), "client-cores")
	b.ReportMetric(100*lowV, "lowest-video-%")
	b.ReportMetric(100*lowA, "lowest-audio-%")
	b.ReportMetric(float64(p99)/1e6, "p99-ms")
	b.ReportMetric(idleRate*1e3/float64(nViewers)*1e3, "idle-us/viewer/s")
	b.ReportMetric(joinCPU/1e6, "join-server-ms/viewer")
	b.Logf("%d presenter(s), %d viewers: joined in %v (server CPU %.2f ms per viewer, clients %.2f ms); idle server %.3f ms/s per viewer",
		presenters, nViewers, t1.Sub(t0).Round(time.Millisecond), joinCPU/1e6, float64(c1-c0)/1e6/float64(nViewers), idleRate*1e3/float64(nViewers))
	b.Logf("load %v: sent %d video + %d audio packets; %d copies (%.0f/s); server %.2f cores (%.2f net of idle), %.2f µs per copy net of idle (user %.2f µs, kernel %.2f µs); load client %.2f cores",
		window.Round(time.Millisecond), sentV, sentA, copies, float64(copies)/window.Seconds(), serverCPU/float64(window), netServer/float64(window), netServer/1e3/float64(copies),
		netUser/1e3/float64(copies), (netServer-netUser)/1e3/float64(copies), clientCPU/float64(window))
	b.Logf("delivered: video lowest %.2f%% mean %.2f%%, audio lowest %.2f%% mean %.2f%%; forward latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; shed %d, retransmitted %d",
		100*lowV, 100*sumV/float64(len(viewers)), 100*lowA, 100*sumA/float64(len(viewers)), float64(p50)/1e6, float64(p99)/1e6, float64(pmax)/1e6, a1.shed-a0.shed, a1.retransmits-a0.retransmits)
	var bad uint64
	for _, v := range viewers {
		bad += v.badPayloads.Load()
	}
	if bad > 0 {
		b.Errorf("%d payloads arrived corrupted at the decrypting viewers", bad)
	}

	// Someone joins the stage while everyone watches.
	late := r.join("late", presetHost)
	for _, v := range viewers {
		v.stats.markKnown()
	}
	offers0 := 0
	for _, v := range viewers {
		offers0 += v.s.Offers()
	}
	j0, tj0 := ch.stats(b), time.Now()
	if err := late.m.Stage().Join(ctx); err != nil {
		b.Fatal(err)
	}
	lp, err := offerStamped(ctx, r.api, late.m)
	if err != nil {
		b.Fatal(err)
	}
	defer lp.close()
	lp.run(audVideoPPS)
	firsts := make([]time.Duration, 0, len(viewers))
	for _, v := range viewers {
		at := v.stats.waitNew(b, 30*time.Second)
		firsts = append(firsts, time.Duration(at-tj0.UnixNano()))
	}
	j1, tj1 := ch.stats(b), time.Now()
	lp.run(0)
	offers1 := 0
	for _, v := range viewers {
		offers1 += v.s.Offers()
	}
	slices.Sort(firsts)
	q := func(f float64) time.Duration { return firsts[min(len(firsts)-1, int(f*float64(len(firsts))))] }
	joinStageCPU := float64(j1.cpu-j0.cpu) - idleRate*float64(tj1.Sub(tj0))
	b.ReportMetric(float64(q(0.99))/1e6, "stage-join-first-pkt-p99-ms")
	b.ReportMetric(joinStageCPU/1e6/float64(nViewers), "stage-join-server-ms/viewer")
	b.Logf("stage join → the new presenter's first packet at every viewer: p50 %.0f ms, p99 %.0f ms, max %.0f ms; server CPU %.3f ms per viewer (net of idle, incl. forwarding the new presenter until the last viewer had it); subscribe offers during it: %d",
		float64(q(0.5))/1e6, float64(q(0.99))/1e6, float64(firsts[len(firsts)-1])/1e6, joinStageCPU/1e6/float64(nViewers), offers1-offers0)
}

// ---- the lean viewer ----

type leanViewer struct {
	m           *client.Meeting
	s           *Session
	conn        *leanConn
	stats       *leanStats
	badPayloads atomic.Uint64
}

// joinLean connects the participants as viewers, conc at a time; a poller
// per 64 reads their sockets.
func joinLean(tb testing.TB, r *room, people []testserver.Participant, conc int, lat *latencies) []*leanViewer {
	tb.Helper()
	n := len(people)
	stop := make(chan struct{})
	var pollers []*leanPoller
	var wgp sync.WaitGroup
	for range (n + 63) / 64 {
		p := newLeanPoller()
		pollers = append(pollers, p)
		wgp.Add(1)
		go func() {
			defer wgp.Done()
			p.run(stop)
		}()
	}
	tb.Cleanup(func() {
		close(stop)
		wgp.Wait()
	})
	out := make([]*leanViewer, n)
	inParallel(tb, n, conc, func(i int) (err error) {
		out[i], err = newLeanViewer(tb, r, people[i], i%10 == 0, lat, pollers[i/64])
		return err
	})
	return out
}

func newLeanViewer(tb testing.TB, r *room, p testserver.Participant, decrypt bool, lat *latencies, poller *leanPoller) (*leanViewer, error) {
	v := &leanViewer{stats: newLeanStats(lat)}
	var err error
	v.conn, err = newLeanConn(decrypt, v.stats)
	if err != nil {
		return nil, err
	}
	poller.add(v.conn)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	v.m, err = client.Init(ctx, client.Options{BaseURI: r.url, AuthToken: p.Token})
	if err != nil {
		v.conn.Close()
		return nil, err
	}
	o := Options{Loopback: true, Logger: testLogger(), SettingEngine: func(se *webrtc.SettingEngine) {
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, v.conn))
	}}
	if decrypt {
		o.OnPacket = func(_ *Track, pkt *rtp.Packet) {
			if !validPayload(pkt.PayloadType, pkt.Payload) {
				v.badPayloads.Add(1)
			}
		}
	}
	v.s, err = Attach(v.m, o)
	if err != nil {
		v.m.Close()
		v.conn.Close()
		return nil, err
	}
	tb.Cleanup(func() {
		v.s.Close()
		v.m.Close()
		v.conn.Close()
	})
	return v, v.m.Join(ctx)
}

func (v *leanViewer) waitSSRCs(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for v.stats.ssrcs() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("a viewer receives %d streams after 60s, want %d", v.stats.ssrcs(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leanConn is a viewer's UDP socket as pion's ICE mux sees it. The socket
// is not in Go's netpoller: a leanPoller drains it with recvmmsg every
// pollInterval, so no packet wakes a thread and the viewers cost the
// machine (and, on loopback, the server's sendto) as little as a receiver
// can. RTP is counted from its clear header with its kernel receive time
// and dropped (or passed on, for a decrypting viewer); everything else
// (STUN, DTLS, RTCP) is queued for pion.
type leanConn struct {
	fd      int
	addr    *net.UDPAddr
	decrypt bool
	stats   *leanStats
	in      chan []byte // for pion
	done    chan struct{}
	once    sync.Once
}

func newLeanConn(decrypt bool, st *leanStats) (*leanConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	c := &leanConn{fd: fd, decrypt: decrypt, stats: st, in: make(chan []byte, 256), done: make(chan struct{})}
	err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	var sa unix.Sockaddr
	if err == nil {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.addr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}
	return c, nil
}

func (c *leanConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case b := <-c.in:
		return copy(p, b[6:]), &net.UDPAddr{IP: net.IPv4(b[0], b[1], b[2], b[3]), Port: int(binary.BigEndian.Uint16(b[4:]))}, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *leanConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua.IP.To4() == nil {
		return 0, fmt.Errorf("lean conn: cannot send to %v", addr)
	}
	sa := &unix.SockaddrInet4{Port: ua.Port}
	copy(sa.Addr[:], ua.IP.To4())
	if err := unix.Sendto(c.fd, p, 0, sa); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *leanConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// release closes the socket once the poller no longer reads it.
func (c *leanConn) release()                         { unix.Close(c.fd) }
func (c *leanConn) LocalAddr() net.Addr              { return c.addr }
func (c *leanConn) SetDeadline(time.Time) error      { return nil }
func (c *leanConn) SetReadDeadline(time.Time) error  { return nil }
func (c *leanConn) SetWriteDeadline(time.Time) error { return nil }

// leanPoller drains a group of viewers' sockets every pollInterval.
type leanPoller struct {
	mu    sync.Mutex
	conns []*leanConn
	msgs  [32]mmsghdr
	iov   [32]unix.Iovec
	names [32]unix.RawSockaddrInet4
	bufs  [32][1500]byte
	oob   [32][64]byte
}

const pollInterval = 5 * time.Millisecond

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func newLeanPoller() *leanPoller {
	p := &leanPoller{}
	for i := range p.msgs {
		p.iov[i].Base = &p.bufs[i][0]
		p.iov[i].SetLen(len(p.bufs[i]))
		h := &p.msgs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&p.names[i]))
		h.Iov = &p.iov[i]
		h.SetIovlen(1)
		h.Control = &p.oob[i][0]
	}
	return p
}

func (p *leanPoller) add(c *leanConn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *leanPoller) run(stop <-chan struct{}) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			p.mu.Lock()
			for _, c := range p.conns {
				c.release()
			}
			p.mu.Unlock()
			return
		case <-t.C:
		}
		p.mu.Lock()
		conns := p.conns
		p.mu.Unlock()
		for _, c := range conns {
			p.drain(c)
		}
	}
}

func (p *leanPoller) drain(c *leanConn) {
	for {
		for i := range p.msgs {
			h := &p.msgs[i].hdr
			h.Namelen = unix.SizeofSockaddrInet4
			h.SetControllen(len(p.oob[i]))
			h.Flags = 0
		}
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&p.msgs[0])), uintptr(len(p.msgs)), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 || r == 0 {
			return
		}
		n := int(r)
		for i := range n {
			b := p.bufs[i][:p.msgs[i].n]
			at := kernelTime(p.oob[i][:p.msgs[i].hdr.Controllen])
			// RFC 7983: 128-191 is RTP or RTCP; RTCP has PT 192-223.
			if len(b) >= 12 && b[0] >= 128 && b[0] <= 191 && (b[1] < 192 || b[1] > 223) {
				c.stats.onRTP(b, at)
				if !c.decrypt {
					continue
				}
			}
			q := make([]byte, 6+len(b))
			name := &p.names[i]
			copy(q, name.Addr[:])
			binary.BigEndian.PutUint16(q[4:], binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&name.Port))[:]))
			copy(q[6:], b)
			select {
			case c.in <- q:
			default: // pion is behind: dropped, as a full socket would
			}
		}
		if n < len(p.msgs) {
			return
		}
	}
}

func kernelTime(oob []byte) int64 {
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, c := range cmsgs {
			if c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SO_TIMESTAMPNS && len(c.Data) >= 16 {
				return int64(binary.NativeEndian.Uint64(c.Data))*1e9 + int64(binary.NativeEndian.Uint64(c.Data[8:]))
			}
		}
	}
	return time.Now().UnixNano()
}

// leanStats counts what a viewer receives: per SSRC, and the packets sent
// inside the measured window (by the send time in their RTP timestamp).
type leanStats struct {
	lat *latencies

	mu     sync.Mutex
	seen   map[uint32]bool // SSRCs that carried packets
	known  map[uint32]bool // SSRCs seen before markKnown
	newAt  int64           // kernel time of the first packet on an SSRC not known
	video  atomic.Uint64   // in the window
	audio  atomic.Uint64
	notify chan struct{}
}

func newLeanStats(lat *latencies) *leanStats {
	return &leanStats{lat: lat, seen: map[uint32]bool{}, notify: make(chan struct{}, 1)}
}

func (s *leanStats) onRTP(b []byte, at int64) {
	ssrc := binary.BigEndian.Uint32(b[8:])
	s.mu.Lock()
	if !s.seen[ssrc] {
		s.seen[ssrc] = true
		if s.known != nil && !s.known[ssrc] && s.newAt == 0 {
			s.newAt = at
			poke(s.notify)
		}
	}
	s.mu.Unlock()
	pt := b[1] & 0x7f
	clock := uint32(90000)
	if pt == 111 {
		clock = 48000
	}
	sent := sendTime(binary.BigEndian.Uint32(b[4:]), clock, at)
	if !s.lat.add(sent, at) {
		return
	}
	if pt == 111 {
		s.audio.Add(1)
	} else {
		s.video.Add(1)
	}
}

func (s *leanStats) ssrcs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *leanStats) reset() { s.video.Store(0); s.audio.Store(0) }

func (s *leanStats) inWindow() (video, audio uint64) { return s.video.Load(), s.audio.Load() }

func (s *leanStats) markKnown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known = map[uint32]bool{}
	for k := range s.seen {
		s.known[k] = true
	}
	s.newAt = 0
}

// waitNew returns the kernel time of the first packet on a new SSRC.
func (s *leanStats) waitNew(tb testing.TB, timeout time.Duration) int64 {
	tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		at := s.newAt
		s.mu.Unlock()
		if at != 0 {
			return at
		}
		select {
		case <-s.notify:
		case <-t.C:
			tb.Fatalf("a viewer got no packet of the new presenter in %v", timeout)
		}
	}
}

// rtpTicks is t (unix nanos) in RTP timestamp units of clock.
func rtpTicks(t int64, clock uint32) uint32 {
	return uint32(uint64(t/1e9)*uint64(clock) + uint64(t%1e9)*uint64(clock)/1e9)
}

// sendTime recovers the send time a timestamp carries, from a time after
// it (the arrival).
func sendTime(ts, clock uint32, arrival int64) int64 {
	back := rtpTicks(arrival, clock) - ts
	return arrival - int64(uint64(back)*1e9/uint64(clock))
}

// latencies is a histogram of forward latencies (0.1 ms buckets up to 10 s)
// of the packets sent inside a window, shared by every viewer.
type latencies struct {
	from, to atomic.Int64 // the window, unix nanos of the send time
	buckets  [100001]atomic.Uint64
}

func (l *latencies) open(t time.Time)  { l.from.Store(t.UnixNano()); l.to.Store(1<<62 - 1) }
func (l *latencies) close(t time.Time) { l.to.Store(t.UnixNano()) }

func (l *latencies) reset() {
	l.from.Store(1<<62 - 1)
	for i := range l.buckets {
		l.buckets[i].Store(0)
	}
}

// add records a packet sent at sent and received at at; false if it was
// sent outside the window.
func (l *latencies) add(sent, at int64) bool {
	if sent < l.from.Load() || sent >= l.to.Load() {
		return false
	}
	i := min(max(at-sent, 0)/100_000, int64(len(l.buckets)-1))
	l.buckets[i].Add(1)
	return true
}

func (l *latencies) quantile(q float64) time.Duration {
	var total uint64
	for i := range l.buckets {
		total += l.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var acc uint64
	for i := range l.buckets {
		acc += l.buckets[i].Load()
		if acc >= want && acc > 0 {
			return time.Duration(i+1) * 100 * time.Microsecond
		}
	}
	return time.Duration(len(l.buckets)) * 100 * time.Microsecond
}

// ---- the stamped presenter ----

// stampedPub publishes video and audio of raw RTP whose timestamps are the
// wall clock at sending, at a rate set by run.
type stampedPub struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticRTP
	up           chan struct{}
	upOnce       sync.Once
	keyReq       atomic.Bool
	rate         chan int
	done         chan struct{}
	wg           sync.WaitGroup
	sentV, sentA atomic.Uint64
}

func offerStamped(ctx context.Context, api *webrtc.API, m *client.Meeting) (*stampedPub, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		return nil, err
	}
	p := &stampedPub{pc: pc, up: make(chan struct{}), rate: make(chan int, 1), done: make(chan struct{})}
	if p.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "stamped"); err != nil {
		return nil, err
	}
	if p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "stamped"); err != nil {
		return nil, err
	}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{p.video, p.audio} {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			pc.Close()
			return nil, err
		}
		go func() {
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if _, ok := pk.(*rtcp.PictureLossIndication); ok {
						p.keyReq.Store(true)
					}
				}
			}
		}()
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			p.upOnce.Do(func() { close(p.up) })
		}
	})
	if err := offerPublishPC(ctx, pc, m); err != nil {
		return nil, err
	}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

func (p *stampedPub) waitUp(tb testing.TB) {
	tb.Helper()
	select {
	case <-p.up:
	case <-time.After(deadline):
		tb.Fatal("the presenter's publish connection did not come up")
	}
}

// run sets the video packet rate (audio follows at a quarter); 0 stops.
func (p *stampedPub) run(videoPPS int) {
	select {
	case <-p.rate:
	default:
	}
	p.rate <- videoPPS
}

func (p *stampedPub) counts() (video, audio uint64) { return p.sentV.Load(), p.sentA.Load() }

func (p *stampedPub) close() {
	close(p.done)
	p.wg.Wait()
	p.pc.Close()
}

func (p *stampedPub) loop() {
	defer p.wg.Done()
	video := make([]byte, audVideoBytes)
	audio := make([]byte, audAudioBytes)
	var vpkt, apkt rtp.Packet
	vpkt.Version, vpkt.PayloadType, vpkt.SSRC = 2, 96, 1
	apkt.Version, apkt.PayloadType, apkt.SSRC = 2, 111, 2
	var tick *time.Ticker
	var tc <-chan time.Time
	var i, frame int
	for {
		select {
		case <-p.done:
			if tick != nil {
				tick.Stop()
			}
			return
		case r := <-p.rate:
			if tick != nil {
				tick.Stop()
				tick, tc = nil, nil
			}
			if r > 0 {
				tick = time.NewTicker(time.Second / time.Duration(r))
				tc = tick.C
			}
			continue
		case <-tc:
		}
		now := time.Now().UnixNano()
		start := i%audFramePackets == 0
		if start {
			frame++
		}
		key := start && (frame%audKeyframeEvery == 1 || p.keyReq.Swap(false))
		fillStamped(video, i, start, key)
		vpkt.SequenceNumber, vpkt.Timestamp, vpkt.Marker = uint16(i), rtpTicks(now, 90000), i%audFramePackets == audFramePackets-1
		vpkt.Payload = video
		if p.video.WriteRTP(&vpkt) == nil {
			p.sentV.Add(1)
		}
		if i%(audVideoPPS/audAudioPPS) == 0 {
			fillStamped(audio, i, false, false)
			apkt.SequenceNumber, apkt.Timestamp = uint16(i/4), rtpTicks(now, 48000)
			apkt.Payload = audio
			if p.audio.WriteRTP(&apkt) == nil {
				p.sentA.Add(1)
			}
		}
		i++
	}
}

// fillStamped writes a payload a decrypting viewer can check: a VP8
// payload descriptor (start of a frame or not) and frame tag (keyframe or
// not), the packet index, and bytes that follow from it.
func fillStamped(b []byte, i int, start, key bool) {
	b[0] = 0x00
	if start {
		b[0] = 0x10
	}
	b[1] = 0x01
	if key {
		b[1] = 0x00
	}
	binary.BigEndian.PutUint32(b[2:], uint32(i))
	for j := 6; j < len(b); j++ {
		b[j] = byte(i + j)
	}
}

func validPayload(pt uint8, b []byte) bool {
	if len(b) < 6 {
		return false
	}
	i := int(binary.BigEndian.Uint32(b[2:]))
	for j := 6; j < len(b); j++ {
		if b[j] != byte(i+j) {
			return false
		}
	}
	return len(b) == audVideoBytes || len(b) == audAudioBytes
}
