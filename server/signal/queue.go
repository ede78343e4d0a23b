package signal

import (
	"sync"

	"github.com/stagekit/stagekit/protocol"
)

// sendQueue is a connection's FIFO of encoded frames, bounded by count and
// by bytes. It grows on demand, so an idle connection holds no buffer (a
// channel of 1,024 slots cost 24 KB per connection).
//
// Deferred frames wait, in order, until flush or the next push, which first
// moves them into the queue as "batch" frames: this is how a watcher's
// events are coalesced, and why nothing pushed after an event can overtake
// it.
type sendQueue struct {
	mu         sync.Mutex
	items      [][]byte
	deferred   [][]byte
	deferBytes int // of deferred
	bytes      int // of items and deferred
	maxItems   int
	maxBytes   int
	// writing says a writer goroutine holds the queue: it runs only while
	// there is something to write, so an idle connection has none.
	writing bool
}

func newSendQueue(maxItems, maxBytes int) *sendQueue {
	return &sendQueue{maxItems: maxItems, maxBytes: maxBytes}
}

// fits says whether n more frames of size bytes may be queued. The deferred
// frames count as the one batch they will travel in. A queue holding
// nothing takes any one burst, so a snapshot larger than the bound still
// reaches a client that reads.
func (q *sendQueue) fits(n, size int) bool {
	if len(q.deferred) > 0 {
		n++
	}
	if len(q.items)+n > q.maxItems {
		return false
	}
	return q.bytes == 0 || q.bytes+size <= q.maxBytes
}

// push appends the frames, after any deferred ones; ok is false (and
// nothing queued) when they do not fit. start says the caller must start a
// writer: the queue had none.
func (q *sendQueue) push(frames ...[]byte) (ok, start bool) {
	size := 0
	for _, b := range frames {
		size += len(b)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.fits(len(frames), size) {
		return false, false
	}
	q.flushLocked()
	q.bytes += size
	q.appendLocked(frames...)
	return true, q.claimLocked()
}

// pushDeferred holds b until the next flush or push; false when it does not
// fit. A full batch's worth goes out without waiting for the flush.
func (q *sendQueue) pushDeferred(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(batchOpen)+len(batchClose)+q.deferBytes+len(q.deferred)+len(b) > protocol.PartBytes {
		q.flushLocked()
	}
	if !q.fits(0, len(b)) {
		return false
	}
	q.bytes += len(b)
	q.deferBytes += len(b)
	q.deferred = append(q.deferred, b)
	return true
}

// flush moves the deferred frames into the queue; start as for push.
func (q *sendQueue) flush() (start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.flushLocked()
	return q.claimLocked()
}

// claim makes the caller the writer unless one runs already.
func (q *sendQueue) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.writing {
		return false
	}
	q.writing = true
	return true
}

func (q *sendQueue) claimLocked() bool {
	if q.writing || len(q.items) == 0 {
		return false
	}
	q.writing = true
	return true
}

// flushLocked queues the deferred frames: one as it is, several as batch
// frames of about protocol.PartBytes each.
func (q *sendQueue) flushLocked() {
	d := q.deferred
	q.deferred, q.deferBytes = nil, 0
	if len(d) == 1 {
		q.appendLocked(d[0])
		return
	}
	for len(d) > 0 {
		n, size := 0, len(batchOpen)+len(batchClose)
		for n < len(d) && (n == 0 || size+len(d[n])+1 <= protocol.PartBytes) {
			size += len(d[n]) + 1
			n++
		}
		if n == 1 {
			q.appendLocked(d[0])
		} else {
			b := make([]byte, 0, size)
			b = append(b, batchOpen...)
			for i, f := range d[:n] {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, f...)
			}
			b = append(b, batchClose...)
			q.bytes += len(b) - totalLen(d[:n]) // the wrapper and commas
			q.appendLocked(b)
		}
		d = d[n:]
	}
}

const (
	batchOpen  = `{"type":"batch","events":[`
	batchClose = `]}`
)

func totalLen(frames [][]byte) int {
	n := 0
	for _, b := range frames {
		n += len(b)
	}
	return n
}

func (q *sendQueue) appendLocked(frames ...[]byte) {
	q.items = append(q.items, frames...)
}

// pop takes the oldest frame; false when the queue is empty.
func (q *sendQueue) pop() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.popLocked()
}

// popOrRelease is the writer's pop: on an empty queue it gives up the
// writer's role, in the same step, so that the next push starts a writer.
func (q *sendQueue) popOrRelease() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, ok := q.popLocked()
	if !ok {
		q.writing = false
	}
	return b, ok
}

func (q *sendQueue) popLocked() ([]byte, bool) {
	if len(q.items) == 0 {
		return nil, false
	}
	b := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	q.bytes -= len(b)
	if len(q.items) == 0 {
		q.items = nil // let the drained backing array go
	}
	return b, true
}

// len counts the queued frames and the deferred events.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) + len(q.deferred)
}
