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
	}, sleep: func(time.Duration) {}}
	const broadcasts = 5
	f.send([]byte("0"), conns, time.Second)
	<-started
	for i := 1; i < broadcasts; i++ {
		f.send([]byte(fmt.Sprint(i)), conns, time.Second)
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

// A broadcast goes out countChunk connections at a time, the pauses
// between chunks spread evenly over the span it was given: a large room's
// count fills no moment of the machine.
func TestCountFanSpread(t *testing.T) {
	const span = 5 * time.Second
	conns := make([]*conn, 10*countChunk+1)
	for i := range conns {
		conns[i] = &conn{}
	}
	var mu sync.Mutex
	var chunks []int // frames delivered between pauses
	var pauses []time.Duration
	delivered := 0
	done := make(chan struct{})
	f := &countFan{
		deliver: func(*conn, []byte) {
			mu.Lock()
			delivered++
			if delivered == len(conns) {
				chunks = append(chunks, delivered)
				close(done)
			}
			mu.Unlock()
		},
		sleep: func(d time.Duration) {
			mu.Lock()
			chunks = append(chunks, delivered)
			pauses = append(pauses, d)
			mu.Unlock()
		},
	}
	f.send([]byte("1"), conns, span)
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := (len(conns) + countChunk - 1) / countChunk
	if len(chunks) != want {
		t.Fatalf("%d chunks, want %d", len(chunks), want)
	}
	for k, n := range chunks {
		if prev := k * countChunk; n-prev > countChunk || n-prev <= 0 {
			t.Fatalf("delivered before each pause %v: chunk %d has %d, want at most %d", chunks, k, n-prev, countChunk)
		}
	}
	// want-1 pauses of span/want: the last chunk goes out within the span.
	if len(pauses) != want-1 {
		t.Fatalf("%d pauses, want %d", len(pauses), want-1)
	}
	for _, d := range pauses {
		if d != span/time.Duration(want) {
			t.Fatalf("pauses %v, want each %v", pauses, span/time.Duration(want))
		}
	}
}
