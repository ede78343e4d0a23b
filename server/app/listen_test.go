//go:build linux

package app_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/stagekit/stagekit/server/app"
)

// The connections ListenAndServe accepts have no TCP keep-alive (see
// app.Listen): its socket options cost system calls per connection, and the
// hub's pings and the HTTP idle timeout already end dead connections.
func TestListenWithoutKeepAlive(t *testing.T) {
	ln, err := app.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	var gerr error
	if err := raw.Control(func(fd uintptr) { on, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if on != 0 {
		t.Fatalf("SO_KEEPALIVE %d on an accepted connection", on)
	}
}
