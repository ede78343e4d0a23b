package netlab_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/netlab"
)

// TestMain doubles as the process a test runs inside a lab: with
// NETLAB_HELPER set it sends what the variable says and exits.
func TestMain(m *testing.M) {
	switch os.Getenv("NETLAB_HELPER") {
	case "":
		os.Exit(m.Run())
	case "udp":
		c, err := net.Dial("udp", os.Getenv("NETLAB_TARGET"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		n, _ := strconv.Atoi(os.Getenv("NETLAB_COUNT"))
		prefix := []byte{}
		if p := os.Getenv("NETLAB_PREFIX"); p != "" {
			b, _ := strconv.Atoi(p)
			prefix = []byte{byte(b)}
		}
		for i := range n {
			_, _ = c.Write(append(prefix, strconv.Itoa(i)...))
			time.Sleep(200 * time.Microsecond)
		}
	case "tcp":
		c, err := net.Dial("tcp", os.Getenv("NETLAB_TARGET"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		n, _ := strconv.Atoi(os.Getenv("NETLAB_COUNT"))
		if _, err := c.Write(bytes.Repeat([]byte{'x'}, n)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = c.Close()
	}
	os.Exit(0)
}

// sendUDP runs a sender of count datagrams in the lab and returns how many
// the host received and from which address.
func sendUDP(t *testing.T, l *netlab.Lab, count int) (int, string) {
	t.Helper()
	return sendUDPWith(t, l, count, -1)
}

// sendUDPWith is sendUDP with each datagram's first byte first (none if
// negative).
func sendUDPWith(t *testing.T, l *netlab.Lab, count, first int) (int, string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", l.HostAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	type result struct {
		got  int
		from string
	}
	res := make(chan result, 1)
	var sent atomic.Bool
	go func() { // read while the sender sends: the socket buffer is small
		var r result
		buf := make([]byte, 64)
		for {
			_ = pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				if sent.Load() { // and nothing came for 300 ms since
					res <- r
					return
				}
				continue
			}
			r.got++
			r.from = addr.(*net.UDPAddr).IP.String()
		}
	}()
	cmd := l.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETLAB_HELPER=udp", "NETLAB_TARGET="+pc.LocalAddr().String(), "NETLAB_COUNT="+strconv.Itoa(count))
	if first >= 0 {
		cmd.Env = append(cmd.Env, "NETLAB_PREFIX="+strconv.Itoa(first))
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal("sender:", err)
	}
	sent.Store(true)
	r := <-res
	return r.got, r.from
}

func TestLossBlackHoleReaddress(t *testing.T) {
	l := netlab.New(t)
	const count = 400
	if got, from := sendUDP(t, l, count); got != count {
		t.Fatalf("clean link: %d of %d datagrams arrived", got, count)
	} else if addr, _ := l.Addr(); from != addr {
		t.Fatalf("datagrams came from %s, the lab's address is %s", from, addr)
	}

	if err := l.Loss(netlab.Up, 30); err != nil {
		t.Fatal(err)
	}
	// 30% loss of 400: 280 expected, the bounds are > 8 standard deviations away.
	if got, _ := sendUDP(t, l, count); got < 200 || got > 360 {
		t.Fatalf("30%% loss: %d of %d arrived", got, count)
	} else {
		t.Logf("30%% loss: %d of %d arrived", got, count)
	}
	if err := l.Loss(netlab.Up, 0); err != nil {
		t.Fatal(err)
	}

	if err := l.Loss(netlab.Up, 100); err != nil {
		t.Fatal(err)
	}
	if got, _ := sendUDP(t, l, 50); got != 0 {
		t.Fatalf("100%% loss: %d datagrams arrived", got)
	}
	if err := l.Loss(netlab.Up, 0); err != nil {
		t.Fatal(err)
	}

	// The DTLS filter: by the first byte (RFC 7983), DTLS dropped, STUN,
	// SRTP and anything else passing.
	if err := l.DropDTLS(true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		first int
		want  int
	}{{22, 0}, {20, 0}, {63, 0}, {0, 50}, {1, 50}, {19, 50}, {64, 50}, {128, 50}} {
		if got, _ := sendUDPWith(t, l, 50, tc.first); got != tc.want {
			t.Errorf("DTLS dropped, first byte %d: %d of 50 arrived, want %d", tc.first, got, tc.want)
		}
	}
	if err := l.DropDTLS(false); err != nil {
		t.Fatal(err)
	}
	if got, _ := sendUDPWith(t, l, 50, 22); got != 50 {
		t.Fatalf("DTLS passing again: %d of 50 arrived", got)
	}

	if err := l.BlackHole(true); err != nil {
		t.Fatal(err)
	}
	if got, _ := sendUDP(t, l, 50); got != 0 {
		t.Fatalf("black hole: %d datagrams arrived", got)
	}
	if err := l.BlackHole(false); err != nil {
		t.Fatal(err)
	}

	addr, err := l.Readdress()
	if err != nil {
		t.Fatal(err)
	}
	if got, from := sendUDP(t, l, 50); got != 50 || from != addr {
		t.Fatalf("after readdress to %s: %d of 50 arrived, from %s", addr, got, from)
	}
}

// TestShape sends 250 kB up a 1 Mbit/s link: it cannot take less than 2 s
// (a slow machine only makes it longer).
func TestShape(t *testing.T) {
	l := netlab.New(t)
	if err := l.Shape(netlab.Up, "1mbit"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", l.HostAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 250_000
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()
	start := time.Now()
	cmd := l.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NETLAB_HELPER=tcp", "NETLAB_TARGET="+ln.Addr().String(), "NETLAB_COUNT="+strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal("sender:", err)
	}
	n := <-done
	took := time.Since(start)
	if n != size {
		t.Fatalf("received %d of %d bytes", n, size)
	}
	if took < 1500*time.Millisecond {
		t.Fatalf("250 kB over a 1 Mbit/s link took %v: not shaped", took)
	}
	t.Logf("250 kB over a 1 Mbit/s link: %v (%.0f kbit/s)", took, float64(size*8)/took.Seconds()/1000)
}
