//go:build !linux

package udpread

import (
	"net"
	"net/netip"
)

// Reader is Go's own read where no raw one is written.
type Reader struct{ conn *net.UDPConn }

// New returns conn's reader.
func New(conn *net.UDPConn) *Reader { return &Reader{conn: conn} }

// ReadFromUDPAddrPort is conn's.
func (r *Reader) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return r.conn.ReadFromUDPAddrPort(b)
}
