//go:build linux

package media

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/udpread"
)

// trickleEnv makes the test binary a trickle sender (trickleSend).
const trickleEnv = "STAGEKIT_TRICKLE_TO"

func init() {
	if to := os.Getenv(trickleEnv); to != "" {
		os.Exit(trickleSend(to))
	}
}

// trickleSend sends 80-byte datagrams to addr, evenly spaced, at
// STAGEKIT_TRICKLE_RATE a second, until killed.
func trickleSend(addr string) int {
	rate, err := strconv.Atoi(os.Getenv("STAGEKIT_TRICKLE_RATE"))
	if err != nil || rate <= 0 {
		return 2
	}
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return 1
	}
	b := make([]byte, 80)
	gap := time.Second / time.Duration(rate)
	next := time.Now()
	for {
		next = next.Add(gap)
		time.Sleep(time.Until(next))
		_, _ = c.Write(b)
	}
}

// BenchmarkTrickleReadFloor is the floor under the server's idle figure:
// what one datagram costs a Go process that reads a socket receiving a
// trickle of them (as an idle audience's reports and keepalives arrive,
// spread out), sent by another process. At such rates each datagram wakes
// the reader (epoll, the scheduler, a thread): the CPU per datagram is
// that wakeup, whatever the reader then does with it. reader=go reads with
// Go's ReadFromUDPAddrPort, reader=raw with internal/udpread (the server's
// shared socket), which does not wake the runtime's monitor thread.
//
//	go test -run='^$' -bench=TrickleReadFloor -benchtime=1x ./client/media
func BenchmarkTrickleReadFloor(b *testing.B) {
	for _, rate := range []int{500, 2000, 8000} {
		for _, reader := range []string{"go", "raw"} {
			b.Run("per-second="+strconv.Itoa(rate)+"/reader="+reader, func(b *testing.B) {
				trickleRead(b, rate, reader == "raw")
			})
		}
	}
}

func trickleRead(b *testing.B, rate int, raw bool) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var got atomic.Uint64
	read := c.ReadFromUDPAddrPort
	if raw {
		read = udpread.New(c).ReadFromUDPAddrPort
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), trickleEnv+"="+c.LocalAddr().String(), "STAGEKIT_TRICKLE_RATE="+strconv.Itoa(rate))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(time.Second)
	b.ResetTimer()
	var n uint64
	var cpu time.Duration
	for range b.N {
		n0, c0 := got.Load(), cpuTime()
		time.Sleep(5 * time.Second)
		n += got.Load() - n0
		cpu += cpuTime() - c0
	}
	if n == 0 {
		b.Fatal("nothing received")
	}
	b.ReportMetric(float64(n)/float64(b.N)/5, "datagrams/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/datagram")
}
