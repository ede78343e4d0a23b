package testserver

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards one client's TCP connections to the server. It can cut
// them and refuse new ones (a network failure), and hold what the server
// sends (a slow network) while counting what the client sends.
type Proxy struct {
	tb     testing.TB
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	down   bool
	held   bool
	up     int // chunks forwarded client → server
	upSig  chan struct{}
	conns  map[net.Conn]struct{}
	closed bool
}

// StartProxy listens on loopback and forwards to target (host:port) until tb ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{tb: tb, ln: ln, target: target, conns: map[net.Conn]struct{}{}, upSig: make(chan struct{}, 1)}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		p.cond.Broadcast()
		p.mu.Unlock()
		p.Cut()
	})
	return p
}

// URL is the proxy's base URL for the client.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, s, true)
		go p.pipe(s, c, false)
	}
}

func (p *Proxy) pipe(dst, src net.Conn, downstream bool) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for downstream && p.held && !p.closed {
				p.cond.Wait()
			}
			if !downstream {
				p.up++
				select {
				case p.upSig <- struct{}{}:
				default:
				}
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every forwarded connection.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// SetDown makes new connections fail (while true).
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// Hold holds (true) or releases (false) what the server sends the client.
func (p *Proxy) Hold(h bool) {
	p.mu.Lock()
	p.held = h
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Sent is the number of chunks the client has sent so far.
func (p *Proxy) Sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// WaitSent waits until the client has sent more than n chunks.
func (p *Proxy) WaitSent(n int) {
	p.tb.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for p.Sent() <= n {
		select {
		case <-p.upSig:
		case <-timer.C:
			p.tb.Fatal("the client sent nothing")
		}
	}
}
