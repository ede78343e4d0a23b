package netproxy

import (
	"net"
	"sync/atomic"
)

// HoleConn is a UDP socket that can drop everything, both ways: a media
// link black-holed under the ICE agent that uses it (as a pion UDP mux);
// or only its DTLS records: a middlebox that passes ICE's checks and drops
// the handshake.
type HoleConn struct {
	net.PacketConn
	hole    atomic.Bool
	dtls    atomic.Bool
	dropped atomic.Uint64 // DTLS records dropped
}

// BlackHole drops (true) or passes (false) every datagram from now on.
func (c *HoleConn) BlackHole(on bool) { c.hole.Store(on) }

// DropDTLS drops (true) or passes (false) the DTLS records from now on:
// datagrams whose first byte is 20-63 (RFC 7983). STUN (0-3) and SRTP
// (128-191) pass.
func (c *HoleConn) DropDTLS(on bool) { c.dtls.Store(on) }

// DTLSDropped is how many DTLS records DropDTLS dropped, both ways.
func (c *HoleConn) DTLSDropped() uint64 { return c.dropped.Load() }

func (c *HoleConn) drops(b []byte) bool {
	if c.hole.Load() {
		return true
	}
	if c.dtls.Load() && len(b) > 0 && b[0] >= 20 && b[0] <= 63 {
		c.dropped.Add(1)
		return true
	}
	return false
}

// ReadFrom reads the next datagram that is not dropped.
func (c *HoleConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.drops(b[:n]) {
			return n, addr, err
		}
	}
}

// WriteTo sends b, or drops it.
func (c *HoleConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.drops(b) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}
