//go:build linux

package udpread

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reader reads with recvfrom as a raw system call (the socket is
// non-blocking, so it never blocks; the runtime's poller waits for the
// next datagram as before).
type Reader struct {
	conn *net.UDPConn
	raw  syscall.RawConn
	sa   unix.RawSockaddrAny
}

// New returns conn's reader.
func New(conn *net.UDPConn) *Reader {
	raw, err := conn.SyscallConn()
	if err != nil {
		return &Reader{conn: conn}
	}
	return &Reader{conn: conn, raw: raw}
}

// ReadFromUDPAddrPort is conn's, for one goroutine at a time.
func (r *Reader) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if r.raw == nil {
		return r.conn.ReadFromUDPAddrPort(b)
	}
	if len(b) == 0 {
		return 0, netip.AddrPort{}, nil
	}
	var n int
	var errno syscall.Errno
	err := r.raw.Read(func(fd uintptr) bool {
		for {
			salen := uint32(unsafe.Sizeof(r.sa))
			got, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
				0, uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&salen)))
			switch e {
			case unix.EINTR:
				continue // as Go's read: at once (the poller is edge-triggered)
			case unix.EAGAIN:
				return false // the poller waits for the next one
			}
			n, errno = int(got), e
			return true
		}
	})
	if err == nil && errno != 0 {
		err = &net.OpError{Op: "read", Net: "udp", Err: errno}
	}
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return n, r.from(), nil
}

// from is the address recvfrom filled in.
func (r *Reader) from() netip.AddrPort {
	switch r.sa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	return netip.AddrPort{}
}
