package signal

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/protocol"
)

func TestSendQueue(t *testing.T) {
	q := newSendQueue(3, 1<<20)
	if _, ok := q.pop(); ok {
		t.Fatal("pop from an empty queue")
	}
	for i := 0; i < 3; i++ {
		ok, start := q.push([]byte(fmt.Sprint(i)))
		if !ok {
			t.Fatalf("push %d refused below max", i)
		}
		if start != (i == 0) {
			t.Fatalf("push %d: start a writer = %v", i, start)
		}
	}
	if ok, _ := q.push([]byte("x")); ok {
		t.Fatal("push beyond max accepted")
	}
	for i := 0; i < 3; i++ {
		b, ok := q.popOrRelease()
		if !ok || string(b) != fmt.Sprint(i) {
			t.Fatalf("pop %d = %q, %v", i, b, ok)
		}
	}
	if _, ok := q.popOrRelease(); ok {
		t.Fatal("pop from a drained queue")
	}
	if q.len() != 0 || q.items != nil || q.bytes != 0 {
		t.Fatal("drained queue keeps its array or bytes")
	}
	// The writer released the queue: the next push must start one.
	if ok, start := q.push([]byte("again")); !ok || !start {
		t.Fatalf("push after release: ok %v start %v", ok, start)
	}
	if q.claim() {
		t.Fatal("claimed a queue that has a writer")
	}
}

// The byte bound refuses what would pass it, all or nothing, but an empty
// queue takes any one burst (a large snapshot must reach a reading client).
func TestSendQueueBytes(t *testing.T) {
	q := newSendQueue(100, 10)
	big := []byte(strings.Repeat("s", 25))
	if ok, _ := q.push(big, big); !ok {
		t.Fatal("an empty queue refused one burst over the byte bound")
	}
	if ok, _ := q.push([]byte("x")); ok {
		t.Fatal("push over the byte bound accepted")
	}
	q.pop()
	q.pop()
	ok1, _ := q.push([]byte("12345"), []byte("6789"))
	ok2, _ := q.push([]byte("ab"))
	if !ok1 || ok2 || q.len() != 2 {
		t.Fatalf("bound not kept: %d queued, %d bytes", q.len(), q.bytes)
	}
	if q.pushDeferred([]byte("ab")) {
		t.Fatal("deferred push over the byte bound accepted")
	}
}

// Deferred frames go out in order before anything pushed after them, one as
// it is and several as batch frames no larger than about PartBytes.
func TestSendQueueDeferred(t *testing.T) {
	q := newSendQueue(10_000, 64<<20)
	q.pushDeferred([]byte(`{"type":"event","seq":1}`))
	if q.len() != 1 {
		t.Fatal("deferred frame not counted")
	}
	if _, ok := q.pop(); ok {
		t.Fatal("a deferred frame was popped before a flush")
	}
	q.push([]byte(`{"type":"result","id":1}`))
	if b, _ := q.pop(); string(b) != `{"type":"event","seq":1}` {
		t.Fatalf("first out %s, want the deferred event as it is", b)
	}
	if b, _ := q.pop(); string(b) != `{"type":"result","id":1}` {
		t.Fatalf("then %s", b)
	}

	// 3,000 events of ~100 bytes: split into batches under PartBytes, the
	// events all there, in order.
	pad := strings.Repeat("x", 80)
	for i := 1; i <= 3000; i++ {
		q.pushDeferred([]byte(fmt.Sprintf(`{"type":"event","seq":%d,"event":"%s"}`, i, pad)))
	}
	q.flush()
	var seqs []uint64
	frames := 0
	for b, ok := q.pop(); ok; b, ok = q.pop() {
		frames++
		if len(b) > protocol.PartBytes {
			t.Fatalf("batch of %d bytes exceeds %d", len(b), protocol.PartBytes)
		}
		var m protocol.ServerMessage
		if err := json.Unmarshal(b, &m); err != nil || m.Type != protocol.TypeBatch {
			t.Fatalf("frame %d is not a batch: %v %.80s", frames, err, b)
		}
		for _, ev := range m.Events {
			seqs = append(seqs, ev.Seq)
		}
	}
	if len(seqs) != 3000 || frames < 4 || frames > 8 {
		t.Fatalf("%d events in %d frames", len(seqs), frames)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, s)
		}
	}
	if q.bytes != 0 {
		t.Fatalf("%d bytes counted after draining", q.bytes)
	}
}
