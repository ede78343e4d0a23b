package signal

import (
	"sync"
	"time"
)

// A count broadcast is a frame to every connection of the room on this
// node: sent at once, tens of thousands of writer goroutines became
// runnable together (and the clients' reads with them), and whatever else
// the machine had to do waited behind them. In the 30,000-viewer benchmark
// the slowest request → host of a run started within 30 ms of the room's
// last count broadcast (639 ms). The count is not urgent, so countFan
// queues it a chunk of connections at a time, with a pause between chunks
// in which other goroutines run: 10,000 connections take 0.8 s.
const (
	countChunk = 256
	countPause = 20 * time.Millisecond
)

// countFan sends one room's count frames on this node, one broadcast at a
// time and in order: a connection never gets an older count after a newer
// one. A newer broadcast replaces one still going out (its connections
// all get the newer frame).
type countFan struct {
	// deliver queues a frame to a connection (conn.enqueue; tests record).
	deliver func(c *conn, frame []byte)

	mu      sync.Mutex
	frame   []byte
	conns   []*conn
	pending bool
	running bool
}

// send has conns get frame, after the frames of earlier sends.
func (f *countFan) send(frame []byte, conns []*conn) {
	f.mu.Lock()
	f.frame, f.conns, f.pending = frame, conns, true
	start := !f.running
	f.running = true
	f.mu.Unlock()
	if start {
		go f.run()
	}
}

func (f *countFan) run() {
	for {
		f.mu.Lock()
		if !f.pending {
			f.running = false
			f.mu.Unlock()
			return
		}
		frame, conns := f.frame, f.conns
		f.frame, f.conns, f.pending = nil, nil, false
		f.mu.Unlock()
		for len(conns) > 0 {
			n := min(len(conns), countChunk)
			for _, c := range conns[:n] {
				f.deliver(c, frame)
			}
			conns = conns[n:]
			if len(conns) == 0 {
				break
			}
			time.Sleep(countPause)
			f.mu.Lock()
			newer := f.pending
			f.mu.Unlock()
			if newer {
				break // the newer broadcast goes to everyone
			}
		}
	}
}

func enqueueFrame(c *conn, frame []byte) { c.enqueue(frame) }
