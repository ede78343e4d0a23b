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
// queues it a chunk of connections at a time, spread over half the room's
// count interval (countInterval): the next broadcast comes after a whole
// one. The chunks are small, since each makes as many writer goroutines
// runnable at once and a stage action's reader that wakes behind them
// waits for them all; and spread out, since three nodes each writing
// 10,000 frames in 0.8 s (256 every 20 ms) filled this 2-core machine
// with their writes and the clients' reads: requests → host during a
// broadcast took 13–24 ms against 3–4 ms outside.
const countChunk = 32

// countFan sends one room's count frames on this node, one broadcast at a
// time and in order: a connection never gets an older count after a newer
// one. A newer broadcast replaces one still going out (its connections
// all get the newer frame).
type countFan struct {
	// deliver queues a frame to a connection (conn.enqueue; tests record).
	deliver func(c *conn, frame []byte)
	// sleep pauses between chunks (time.Sleep; tests record).
	sleep func(time.Duration)

	mu      sync.Mutex
	frame   []byte
	conns   []*conn
	span    time.Duration
	pending bool
	running bool
}

// send has conns get frame, after the frames of earlier sends, spread
// over span.
func (f *countFan) send(frame []byte, conns []*conn, span time.Duration) {
	f.mu.Lock()
	f.frame, f.conns, f.span, f.pending = frame, conns, span, true
	start := !f.running
	f.running = true
	f.mu.Unlock()
	if start {
		go f.run()
	}
}

func (f *countFan) run() {
	sleep := f.sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	for {
		f.mu.Lock()
		if !f.pending {
			f.running = false
			f.mu.Unlock()
			return
		}
		frame, conns, span := f.frame, f.conns, f.span
		f.frame, f.conns, f.pending = nil, nil, false
		f.mu.Unlock()
		pause := span / time.Duration(max(1, (len(conns)+countChunk-1)/countChunk))
		for len(conns) > 0 {
			n := min(len(conns), countChunk)
			for _, c := range conns[:n] {
				f.deliver(c, frame)
			}
			conns = conns[n:]
			if len(conns) == 0 {
				break
			}
			sleep(pause)
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
