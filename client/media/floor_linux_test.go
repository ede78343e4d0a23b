//go:build linux

package media

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
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

// BenchmarkSendFloorNoReceiver is the send alone: the same datagrams sent
// to an address whose packets nftables drops on output, so neither a
// device nor a receiver runs; what is left is the system call and UDP/IP
// output, what a send costs at least on this machine whatever the network.
// It runs in a network namespace of its own thread (root and nft needed;
// skipped otherwise).
func BenchmarkSendFloorNoReceiver(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (a network namespace and an nftables rule)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("needs nft")
	}
	const size = 1040
	res := make(chan [2]float64, 1)
	go func() {
		// This thread gets a network namespace of its own; locked, it
		// ends with the goroutine and never runs other code.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			b.Error(err)
			res <- [2]float64{}
			return
		}
		for _, args := range [][]string{
			{"ip", "link", "set", "lo", "up"},
			{"ip", "route", "add", "10.213.0.0/24", "dev", "lo"},
			{"nft", "add table inet floor"},
			{"nft", "add chain inet floor out { type filter hook output priority 0; }"},
			{"nft", "add rule inet floor out ip daddr 10.213.0.2 drop"},
		} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				b.Errorf("%v: %v %s", args, err, out)
				res <- [2]float64{}
				return
			}
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
		if err != nil {
			b.Error(err)
			res <- [2]float64{}
			return
		}
		defer syscall.Close(fd)
		payload := make([]byte, size)
		n := max(b.N, 100000)
		cpu0, start := threadCPU(), time.Now()
		for i := range n {
			to := &syscall.SockaddrInet4{Addr: [4]byte{10, 213, 0, 2}, Port: 40000 + i%200}
			if err := syscall.Sendto(fd, payload, 0, to); err != nil && err != syscall.EPERM { // EPERM: dropped, as meant
				b.Error(err)
				break
			}
		}
		res <- [2]float64{float64(time.Since(start).Nanoseconds()) / float64(n), float64((threadCPU() - cpu0).Nanoseconds()) / float64(n)}
	}()
	r := <-res
	b.ReportMetric(r[0], "ns/op")
	b.ReportMetric(r[1], "thread-cpu-ns/send")
}
