package signal

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// stuckSocket takes no frame: a Write waits until the socket is cut.
type stuckSocket struct {
	discard
	once sync.Once
	cut  chan struct{}
}

func (s *stuckSocket) Write(ctx context.Context, _ websocket.MessageType, _ []byte) error {
	select {
	case <-s.cut:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stuckSocket) CloseNow() error {
	s.once.Do(func() { close(s.cut) })
	return nil
}

// A frame's write carries no deadline of its own: the hub's pinger cuts a
// connection whose write has taken writeTimeout, and its writer ends.
func TestStuckWriteIsCut(t *testing.T) {
	h := NewHub(Config{Auth: &fakeAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h.writeTimeout = 100 * time.Millisecond
	t.Cleanup(h.Close)
	s := &stuckSocket{cut: make(chan struct{})}
	c := newConn(h, s)
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	h.pingOnce.Do(func() { go h.pingLoop() })
	start := time.Now()
	c.enqueue([]byte(`{"type":"event"}`))
	select {
	case <-c.writerDone:
	case <-time.After(waitTimeout):
		t.Fatal("a write that takes nothing was never cut")
	}
	if d := time.Since(start); d < h.writeTimeout {
		t.Fatalf("cut after %v, before the write timeout %v", d, h.writeTimeout)
	}
	if !c.isClosing() {
		t.Fatal("cut but not closing")
	}
}

// maskedFrame is a client's text frame.
func maskedFrame(payload []byte) []byte {
	key := [4]byte{1, 2, 3, 4}
	b := []byte{0x81}
	switch {
	case len(payload) < 126:
		b = append(b, 0x80|byte(len(payload)))
	default:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// readServerFrame reads one unmasked, unfragmented frame.
func readServerFrame(t *testing.T, br *bufio.Reader) []byte {
	t.Helper()
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		t.Fatal(err)
	}
	n := int(head[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	case 127:
		t.Fatal("frame too long for the test")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A client may send its hello in the same packet as its upgrade request
// (the bytes net/http has buffered past the request): the connection reads
// them first, then the socket. A client that waits for the upgrade, as all
// the other tests' do, is read from the socket directly.
func TestHelloWithTheUpgrade(t *testing.T) {
	e := newEnv(t)
	tok, uid := e.user(mid, "Early", stage.PresetWebinarViewer)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	hello, _ := json.Marshal(protocol.ClientMessage{V: protocol.Version, ID: 1, Type: protocol.TypeHello, Token: tok})
	join, _ := json.Marshal(protocol.ClientMessage{V: protocol.Version, ID: 2, Type: protocol.TypeJoin})
	req := "GET / HTTP/1.1\r\nHost: " + strings.TrimPrefix(e.srv.URL, "http://") + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	// The upgrade, the hello and the join in one write.
	if _, err := conn.Write(append(append([]byte(req), maskedFrame(hello)...), maskedFrame(join)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", res.Status)
	}
	var h, j protocol.ServerMessage
	if err := json.Unmarshal(readServerFrame(t, br), &h); err != nil || h.ID != 1 || h.Hello == nil || h.Hello.Self.UserID != uid {
		t.Fatalf("hello answer %+v (%v)", h, err)
	}
	if err := json.Unmarshal(readServerFrame(t, br), &j); err != nil || j.ID != 2 || j.Snapshot == nil || j.Snapshot.Self.UserID != uid {
		t.Fatalf("join answer %+v (%v)", j, err)
	}
}

// Connections that fall due for a ping in the same round (a join wave's,
// which joined within one round) are pinged pingChunk at a time with a
// pause between chunks, not all at once; every one of them is pinged.
func TestPingsArePaced(t *testing.T) {
	h := NewHub(Config{Auth: &fakeAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h.pingInterval = 50 * time.Millisecond
	t.Cleanup(h.Close)
	const n = 3*pingChunk + 5
	conns := make([]*conn, n)
	h.mu.Lock()
	for i := range conns {
		conns[i] = newConn(h, discard{}) // lastRead 0: quiet since ever
		h.conns[conns[i]] = struct{}{}
	}
	h.mu.Unlock()
	// A connection was pinged once its ping started: in flight, or
	// answered (its pong sets lastRead).
	pinged := func() int {
		k := 0
		for _, c := range conns {
			if c.pinging.Load() || c.lastRead.Load() != 0 {
				k++
			}
		}
		return k
	}
	var mu sync.Mutex
	var atPauses []int
	h.pacePings = func(time.Duration) bool {
		mu.Lock()
		atPauses = append(atPauses, pinged())
		mu.Unlock()
		return true
	}
	h.pingOnce.Do(func() { go h.pingLoop() })
	// The first round's pauses come before its last chunk's pings: all are
	// recorded once every connection was pinged.
	deadline := time.Now().Add(waitTimeout)
	for pinged() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections pinged", pinged(), n)
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	first := atPauses[:min(len(atPauses), n/pingChunk)]
	if len(first) < n/pingChunk {
		t.Fatalf("%d connections pinged with %d pauses between, want a pause after each %d", n, len(first), pingChunk)
	}
	for k, got := range first {
		if want := (k + 1) * pingChunk; got != want {
			t.Fatalf("pinged before each pause: %v, want %d before pause %d", first, want, k+1)
		}
	}
}
