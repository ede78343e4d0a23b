package signal

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Count broadcasts go out a chunk at a time, in order: every connection
// ends with the last count, none gets an older count after a newer one,
// and a broadcast replaced while going out is not finished (its
// connections get the newer frame instead).
func TestCountFan(t *testing.T) {
	conns := make([]*conn, 3*countChunk+10)
	for i := range conns {
		conns[i] = &conn{}
	}
	var mu sync.Mutex
	got := map[*conn][]string{}
	started, sent := make(chan struct{}), make(chan struct{})
	var first sync.Once
	f := &countFan{deliver: func(c *conn, frame []byte) {
		first.Do(func() { close(started); <-sent }) // the first broadcast is going out while the others are sent
		mu.Lock()
		got[c] = append(got[c], string(frame))
		mu.Unlock()
	}}
	const broadcasts = 5
	f.send([]byte("0"), conns)
	<-started
	for i := 1; i < broadcasts; i++ {
		f.send([]byte(fmt.Sprint(i)), conns)
	}
	close(sent)
	for {
		f.mu.Lock()
		done := !f.running
		f.mu.Unlock()
		if done {
			break
		}
		time.Sleep(time.Millisecond)
	}
	last := fmt.Sprint(broadcasts - 1)
	total := 0
	for _, c := range conns {
		frames := got[c]
		total += len(frames)
		if len(frames) == 0 || frames[len(frames)-1] != last {
			t.Fatalf("a connection got %v, want the last count %s at the end", frames, last)
		}
		for i := 1; i < len(frames); i++ {
			if frames[i] <= frames[i-1] {
				t.Fatalf("a connection got %v: not in order", frames)
			}
		}
	}
	// The first broadcast's first chunk, then the last broadcast to all:
	// those in between were replaced before they went out.
	if want := countChunk + len(conns); total != want {
		t.Errorf("%d frames, want %d", total, want)
	}
}
