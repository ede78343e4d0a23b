//go:build linux

package main

import (
	"net"
	"sync"
)

// proxy forwards one client's TCP connections to the server, on loopback.
// It can cut them (a hard cut: both ends see the connection close), refuse
// new ones (down) and black-hole them: while hole is set, nothing is
// forwarded either way, on open connections as on new ones, as when a
// network path silently drops packets (TCP retransmits, so what was held
// arrives once the path is back, unless an end gave up first).
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	down   bool
	hole   bool
	gen    int // incremented by cut: held chunks of cut connections are dropped
	closed bool
	conns  map[net.Conn]struct{}
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	return p, nil
}

// URL is the proxy's base URL for the client.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
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
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		gen := p.gen
		p.mu.Unlock()
		go p.pipe(c, s, gen)
		go p.pipe(s, c, gen)
	}
}

func (p *proxy) pipe(dst, src net.Conn, gen int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.hole && !p.closed && p.gen == gen {
				p.cond.Wait()
			}
			stop := p.closed || p.gen != gen
			p.mu.Unlock()
			if stop {
				break
			}
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

// cut closes every forwarded connection at once; what a black hole held
// for them is dropped.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	for c := range p.conns {
		c.Close()
	}
	p.cond.Broadcast()
}

// setDown makes new connections fail (closed at once) while true.
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// setHole starts (true) or ends (false) a black hole.
func (p *proxy) setHole(hole bool) {
	p.mu.Lock()
	p.hole = hole
	p.cond.Broadcast()
	p.mu.Unlock()
}

// restore ends every fault: no black hole, new connections accepted.
func (p *proxy) restore() {
	p.setDown(false)
	p.setHole(false)
}

// conns is the number of forwarded connections (two sockets each).
func (p *proxy) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.cut()
}
