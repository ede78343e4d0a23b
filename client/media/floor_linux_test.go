//go:build linux

package media

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoopbackSendFloor is the floor under the server's per-copy
// figure on this machine: one thread sends 1,040-byte UDP datagrams (a
// 1,000-byte payload with RTP and SRTP overhead) on 127.0.0.1 to 200
// sockets in turn, which other goroutines drain, and its own CPU time
// (RUSAGE_THREAD) is divided by the datagrams sent. On loopback a send
// also runs the receive path (IP, UDP, socket queue, waking the reader),
// which is charged to the sender.
func BenchmarkLoopbackSendFloor(b *testing.B) {
	const sinks, size = 200, 1040
	var wg sync.WaitGroup
	addrs := make([]netip.AddrPort, sinks)
	conns := make([]*net.UDPConn, sinks)
	for i := range sinks {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		addrs[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	payload := make([]byte, size)

	// At least 100,000 sends, so that -benchtime=1x gives a figure too.
	n := max(b.N, 100000)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		if _, err := src.WriteToUDPAddrPort(payload, addrs[i%sinks]); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/float64(n), "thread-cpu-ns/send")
}

// threadCPU is the calling thread's CPU time (user + system).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
