package signal

import "sync"

// sendQueue is a connection's FIFO of encoded frames. It grows on demand up
// to max, so an idle connection holds no preallocated buffer (a channel of
// 1,024 slots cost 24 KB per connection).
type sendQueue struct {
	mu    sync.Mutex
	items [][]byte
	max   int
	ready chan struct{} // signalled when the queue goes from empty to not
}

func newSendQueue(max int) *sendQueue {
	return &sendQueue{max: max, ready: make(chan struct{}, 1)}
}

// push appends b; false when the queue is full.
func (q *sendQueue) push(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.max {
		return false
	}
	q.items = append(q.items, b)
	if len(q.items) == 1 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// pop takes the oldest frame; false when the queue is empty.
func (q *sendQueue) pop() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	b := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil // let the drained backing array go
	}
	return b, true
}

func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
