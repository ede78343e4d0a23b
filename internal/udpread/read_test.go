package udpread

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestReader: what a Reader reads is Go's read: the datagram, its sender,
// a timeout at the deadline, net.ErrClosed once the socket is closed (what
// pion's mux goes by).
func TestReader(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := New(c)
	senders := make([]*net.UDPConn, 3)
	for i := range senders {
		if senders[i], err = net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
		defer senders[i].Close()
	}
	buf := make([]byte, 1500)
	for i, s := range senders {
		want := bytes.Repeat([]byte{byte(i + 1)}, 100*(i+1))
		if _, err := s.Write(want); err != nil {
			t.Fatal(err)
		}
		n, from, err := r.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("read %d bytes %x…, want %d of %x", n, buf[:1], len(want), want[:1])
		}
		if sender := s.LocalAddr().(*net.UDPAddr).AddrPort(); from != sender {
			t.Errorf("from %v, want %v", from, sender)
		}
	}
	// A datagram larger than the buffer is cut to it, as Go's read does.
	if _, err := senders[0].Write(make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := r.ReadFromUDPAddrPort(buf[:200]); err != nil || n != 200 {
		t.Errorf("read %d, %v; want 200 bytes", n, err)
	}
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.ReadFromUDPAddrPort(buf); !os.IsTimeout(err) {
		t.Errorf("past the deadline: %v, want a timeout", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := r.ReadFromUDPAddrPort(buf)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // usually waiting in the poller by then; either way it must end
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("closed: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read on a closed socket did not return")
	}
}
