package signal

import (
	"fmt"
	"testing"
)

func TestSendQueue(t *testing.T) {
	q := newSendQueue(3)
	if _, ok := q.pop(); ok {
		t.Fatal("pop from an empty queue")
	}
	for i := 0; i < 3; i++ {
		if !q.push([]byte(fmt.Sprint(i))) {
			t.Fatalf("push %d refused below max", i)
		}
	}
	if q.push([]byte("x")) {
		t.Fatal("push beyond max accepted")
	}
	select {
	case <-q.ready:
	default:
		t.Fatal("no ready signal after the first push")
	}
	for i := 0; i < 3; i++ {
		b, ok := q.pop()
		if !ok || string(b) != fmt.Sprint(i) {
			t.Fatalf("pop %d = %q, %v", i, b, ok)
		}
	}
	if q.len() != 0 || q.items != nil {
		t.Fatal("drained queue keeps its array")
	}
	q.push([]byte("again"))
	select {
	case <-q.ready:
	default:
		t.Fatal("no ready signal after refilling")
	}
}
