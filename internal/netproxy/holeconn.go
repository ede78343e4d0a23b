package netproxy

import (
	"net"
	"sync/atomic"
)

// HoleConn is a UDP socket that can drop everything, both ways: a media
// link black-holed under the ICE agent that uses it (as a pion UDP mux).
type HoleConn struct {
	net.PacketConn
	hole atomic.Bool
}

// BlackHole drops (true) or passes (false) every datagram from now on.
func (c *HoleConn) BlackHole(on bool) { c.hole.Store(on) }

// ReadFrom reads the next datagram that arrives while the hole is open.
func (c *HoleConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.hole.Load() {
			return n, addr, err
		}
	}
}

// WriteTo sends b, or drops it while the link is black-holed.
func (c *HoleConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.hole.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}
