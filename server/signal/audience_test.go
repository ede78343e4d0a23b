package signal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

// A storm of requests reaches a host in a few batch frames, every event in
// it once and in order (checkSeqs at cleanup), and the viewers' own answers
// are never held back.
func TestHostEventsCoalesced(t *testing.T) {
	const n = 100
	e := newEnv(t, func(c *Config) { c.HostTick = 200 * time.Millisecond })
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	viewers := make([]*tclient, n)
	for i := range viewers {
		viewers[i], _ = e.join(mid, fmt.Sprintf("V%03d", i), stage.PresetWebinarViewer)
	}
	host.waitUntil("every join", func() bool { return countEvents(host.log, protocol.EventParticipantJoined) == n })
	b0 := host.batches.Load()
	frames0 := len(host.frames())

	var wg sync.WaitGroup
	for _, v := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := v.call(act(protocol.TypeStageRequest)); r.Type != protocol.TypeResult {
				t.Errorf("%s: %s", v.name, r.raw)
			}
		}()
	}
	wg.Wait()
	host.waitUntil("every request", func() bool { return countEvents(host.log, protocol.EventStage) == n })
	batches := host.batches.Load() - b0
	var added []string
	for _, m := range host.frames()[frames0:] {
		for _, r := range m.RequestsAdded {
			added = append(added, r.UserID)
		}
	}
	if len(added) != n {
		t.Fatalf("host got %d requests added, want %d", len(added), n)
	}
	// The first event of the storm goes out alone; the rest wait for the
	// tick(s) and travel in batches.
	if batches < 1 || batches > 10 {
		t.Fatalf("%d requests reached the host in %d batch frames", n, batches)
	}
	// The order of the list is the room's order.
	list := host.ok(protocol.ClientMessage{Type: protocol.TypeStageRequests}).Requests
	var want []string
	for _, r := range list {
		want = append(want, r.UserID)
	}
	if !slices.Equal(added, want) {
		t.Fatalf("deltas in order %q, list %q", added, want)
	}
}

// An answer to a host is never sent ahead of the events it implies: the
// host's waiting events go out first.
func TestHostAnswerFlushesItsEvents(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HostTick = time.Hour }) // the tick never ends by itself
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	a, asnap := e.join(mid, "A", stage.PresetWebinarViewer)
	b, bsnap := e.join(mid, "B", stage.PresetWebinarViewer)
	host.nextEvent() // A joined: sent at once, opens the tick
	a.ok(act(protocol.TypeStageRequest))
	b.ok(act(protocol.TypeStageRequest))
	// B's join and both requests wait in the host's queue.
	if n := countEvents(host.log, protocol.EventStage); n != 0 {
		t.Fatalf("host got %d stage events before the tick ended", n)
	}
	res := host.ok(act(protocol.TypeStageGrant, asnap.Self.UserID, bsnap.Self.UserID))
	idx := host.index(func(m msg) bool { return m.Type == protocol.TypeResult && m.ID == res.ID })
	var before []string
	for _, m := range host.frames()[:idx] {
		if m.Event == protocol.EventStage {
			for _, ch := range m.Changes {
				before = append(before, string(ch.Cause))
			}
		}
	}
	if !slices.Equal(before, []string{"request", "request", "grant", "grant"}) || res.Seq != host.lastSeq() {
		t.Fatalf("before the grant's answer (seq %d) the host had %q (last seq %d)", res.Seq, before, host.lastSeq())
	}
}

func countEvents(log []msg, event string) int {
	n := 0
	for _, m := range log {
		if m.Type == protocol.TypeEvent && m.Event == event {
			n++
		}
	}
	return n
}

// The participant count reaches everyone, the audience too, at most about
// once per interval however many join.
func TestParticipantCount(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CountInterval = 150 * time.Millisecond })
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	viewer, _ := e.join(mid, "Viewer", stage.PresetWebinarViewer)
	for i := 0; i < 20; i++ {
		e.join(mid, fmt.Sprintf("Late%02d", i), stage.PresetWebinarViewer)
	}
	for _, c := range []*tclient{host, viewer} {
		c.waitUntil("the count 22", func() bool {
			for i := len(c.log) - 1; i >= 0; i-- {
				if m := c.log[i]; m.Event == protocol.EventCount {
					return m.Count == 22
				}
			}
			return false
		})
		if n := countEvents(c.frames(), protocol.EventCount); n > 4 {
			t.Errorf("%s got %d count events for 21 joins", c.name, n)
		}
	}
	// The viewer saw none of the joins themselves.
	if n := countEvents(viewer.frames(), protocol.EventParticipantJoined); n != 0 {
		t.Fatalf("the viewer got %d participantJoined for other viewers", n)
	}
}

// recorder is a socket that keeps what is written to it.
type recorder struct {
	discard
	mu     sync.Mutex
	frames [][]byte
}

func (r *recorder) Write(_ context.Context, _ websocket.MessageType, b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, append([]byte(nil), b...))
	return nil
}

func (r *recorder) take(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		r.mu.Lock()
		got := len(r.frames)
		r.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames written, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.frames
	r.frames = nil
	return out
}

// A host's snapshot of a room too large for one frame (3,000 participants
// with long names, 3,000 pending requests) comes in part frames, each under
// the frame limit, that add up to the whole room in order; so does
// stage.requests. The audience's snapshot stays small.
func TestLargeSnapshotInParts(t *testing.T) {
	const n = 3000
	h := NewHub(Config{Auth: &fakeAuth{}, HostTick: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := newRoom(h, mid, 0)
	presets := stage.BuiltinPresets()
	long := strings.Repeat("n", 200)
	join := func(uid string, p stage.Preset) (*conn, *recorder) {
		rec := &recorder{}
		c := newConn(h, rec)
		c.id = auth.Identity{MeetingID: mid, UserID: uid, Name: long + uid, Preset: p}
		c.peerID = "p-" + uid
		if !r.join(c, 1) {
			t.Fatal("room dropped")
		}
		return c, rec
	}
	for i := 0; i < n; i++ {
		c, rec := join(fmt.Sprintf("v%04d", i), presets[stage.PresetWebinarViewer])
		r.apply(c, protocol.ClientMessage{ID: 2}, stage.ActRequest)
		rec.take(t, 3) // snapshot, own event, result
	}
	host, rec := join("host", presets[stage.PresetWebinarHost])
	snap, parts := reassemble(t, rec.take(t, 1+2*n/partItems))
	if parts < 2 {
		t.Fatalf("a %d-participant snapshot came in %d parts", n, parts)
	}
	if len(snap.Participants) != n || len(snap.Requests) != n || snap.Count != n+1 {
		t.Fatalf("snapshot: %d participants, %d requests, count %d", len(snap.Participants), len(snap.Requests), snap.Count)
	}
	for i, p := range snap.Participants {
		if want := fmt.Sprintf("v%04d", i); p.UserID != want || snap.Requests[i].UserID != want {
			t.Fatalf("entry %d: %s / %s, want %s (join and request order)", i, p.UserID, snap.Requests[i].UserID, want)
		}
	}
	r.requests(host, 9)
	got, _ := reassemble(t, rec.take(t, n/partItems+1))
	if len(got.Requests) != n {
		t.Fatalf("stage.requests: %d", len(got.Requests))
	}
	// A viewer's snapshot lists the host only.
	_, vrec := join("late", presets[stage.PresetWebinarViewer])
	vsnap, vparts := reassemble(t, vrec.take(t, 1))
	if vparts != 0 || len(vsnap.Participants) != 1 || vsnap.Participants[0].UserID != "host" {
		t.Fatalf("viewer snapshot %+v in %d parts", vsnap.Participants, vparts)
	}
}

// reassemble decodes part frames and the result that ends them.
func reassemble(t *testing.T, frames [][]byte) (protocol.Snapshot, int) {
	t.Helper()
	var snap protocol.Snapshot
	parts := 0
	for _, b := range frames {
		if len(b) > protocol.MaxFrameBytes {
			t.Fatalf("frame of %d bytes", len(b))
		}
		var m protocol.ServerMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case protocol.TypePart:
			parts++
			snap.Participants = append(snap.Participants, m.Participants...)
			snap.Requests = append(snap.Requests, m.Requests...)
		case protocol.TypeResult:
			if m.Snapshot != nil {
				last := *m.Snapshot
				last.Participants = append(snap.Participants, last.Participants...)
				last.Requests = append(snap.Requests, last.Requests...)
				return last, parts
			}
			snap.Requests = append(snap.Requests, m.Requests...)
			return snap, parts
		}
	}
	t.Fatal("no result after the parts")
	return snap, parts
}

// A client that asks for snapshots faster than a resync needs them is
// refused (4020) instead of costing the server a snapshot each time.
func TestSnapshotRequestsLimited(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateLimit = 1e6 })
	c, _ := e.join(mid, "Greedy", stage.PresetWebinarHost)
	ids := make([]uint64, 20)
	for i := range ids {
		ids[i] = c.send(protocol.ClientMessage{Type: protocol.TypeSnapshot})
	}
	limited := 0
	for _, id := range ids {
		if r := c.reply(id); r.Type == protocol.TypeError {
			wantError(t, "snapshot", r, protocol.CodeRateLimited)
			limited++
		}
	}
	if limited < 10 {
		t.Fatalf("%d of 20 snapshot requests refused", limited)
	}
}

// The count's interval grows with the room beyond countFanout (a frame per
// participant per broadcast), up to maxCountStretch times the base.
func TestCountInterval(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, time.Second}, {2000, time.Second}, {2001, 2 * time.Second}, {10000, 5 * time.Second},
		{30000, 10 * time.Second}, {1000000, 10 * time.Second}} {
		if got := countInterval(time.Second, c.n); got != c.want {
			t.Errorf("countInterval(1s, %d) = %v, want %v", c.n, got, c.want)
		}
	}
}
