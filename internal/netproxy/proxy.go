// Package netproxy is a TCP proxy on loopback that fails the way networks
// do, for the tests, the benchmarks and the soak: it cuts connections,
// refuses new ones, holds what the server sends, or black-holes both
// directions. It forwards one client's connections to one target.
package netproxy

import (
	"net"
	"sync"
)

// Proxy forwards connections to a target until Close.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	down   bool // refuse new connections
	held   bool // hold what the server sends
	hole   bool // hold both directions
	gen    int  // incremented by Cut: held chunks of cut connections are dropped
	up     int  // chunks forwarded client → server
	upSig  chan struct{}
	conns  map[net.Conn]struct{}
	closed bool
}

// Start listens on 127.0.0.1 and forwards to target (host:port).
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, upSig: make(chan struct{}, 1)}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	return p, nil
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
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		gen := p.gen
		p.mu.Unlock()
		go p.pipe(c, s, true, gen)
		go p.pipe(s, c, false, gen)
	}
}

// pipe copies src to dst; downstream is the server → client direction.
func (p *Proxy) pipe(dst, src net.Conn, downstream bool, gen int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for (p.hole || (downstream && p.held)) && !p.closed && p.gen == gen {
				p.cond.Wait()
			}
			stop := p.closed || p.gen != gen
			if !downstream && !stop {
				p.up++
				select {
				case p.upSig <- struct{}{}:
				default:
				}
			}
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
	// A black hole holds an end's close too (its FIN is a packet like
	// another): the other end learns of it only once the path is back.
	p.mu.Lock()
	for p.hole && !p.closed && p.gen == gen {
		p.cond.Wait()
	}
	p.mu.Unlock()
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every forwarded connection at once (both ends see it close);
// what a hold or a black hole kept for them is dropped.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	for c := range p.conns {
		c.Close()
	}
	p.cond.Broadcast()
}

// SetDown makes new connections fail (closed at once) while true.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// Hold holds (true) or releases (false) what the server sends the client,
// as a slow or stalled network would.
func (p *Proxy) Hold(h bool) { p.set(&p.held, h) }

// BlackHole holds (true) or releases (false) both directions, on open
// connections as on new ones, an end's close included: a path that
// silently drops packets (TCP retransmits, so what was held arrives once
// the path is back, unless an end gave up first).
func (p *Proxy) BlackHole(h bool) { p.set(&p.hole, h) }

func (p *Proxy) set(flag *bool, v bool) {
	p.mu.Lock()
	*flag = v
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Restore ends every fault: nothing held, new connections accepted.
func (p *Proxy) Restore() {
	p.SetDown(false)
	p.Hold(false)
	p.BlackHole(false)
}

// Open is the number of forwarded connections.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Sent is the number of chunks the client has sent so far; SentSignal
// receives (coalesced) after each.
func (p *Proxy) Sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// SentSignal is signalled after each chunk the client sends.
func (p *Proxy) SentSignal() <-chan struct{} { return p.upSig }

// Close stops listening and cuts every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.Cut()
}
