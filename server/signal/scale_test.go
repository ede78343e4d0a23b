package signal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mailru/easyjson"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

// Many real clients: concurrent requests end in one order everyone agrees
// on, and one batch grant reaches the host as one event and each viewer as
// its own change. A viewer receives nothing of the other viewers' requests:
// its frames are its own answers and events and the participant count.
// BenchmarkFanout measures a 1,000-connection room.
func TestManyClients(t *testing.T) {
	n := 200
	switch {
	case testing.Short():
		n = 30
	case raceEnabled:
		n = 60 // the race detector makes every frame many times dearer
	}
	e := newEnv(t)
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	viewers := make([]*tclient, n)
	ids := make([]string, n)
	for i := range viewers {
		var snap protocol.Snapshot
		viewers[i], snap = e.join(mid, fmt.Sprintf("V%04d", i), stage.PresetWebinarViewer)
		ids[i] = snap.Self.UserID
	}
	start := time.Now()
	var wg sync.WaitGroup
	reqIDs := make([]uint64, n)
	for i, v := range viewers {
		wg.Add(1)
		go func() { defer wg.Done(); reqIDs[i] = v.send(act(protocol.TypeStageRequest)) }()
	}
	wg.Wait()
	for i, v := range viewers {
		if r := v.reply(reqIDs[i]); r.Type != protocol.TypeResult || r.Status != stage.Requested {
			t.Fatalf("%s: %s", v.name, r.raw)
		}
	}
	list := host.ok(protocol.ClientMessage{Type: protocol.TypeStageRequests}).Requests
	if len(list) != n {
		t.Fatalf("%d requests, want %d", len(list), n)
	}
	for i := 1; i < len(list); i++ {
		if list[i].RequestedAt < list[i-1].RequestedAt {
			t.Fatal("requests not oldest first")
		}
	}
	host.ok(act(protocol.TypeStageGrant, ids...))
	host.waitUntil("the grant event", func() bool {
		for _, m := range host.log {
			if m.Type == protocol.TypeEvent && len(m.Changes) > 0 && m.Changes[0].Cause == stage.CauseGrant {
				if len(m.Changes) != n || len(m.RequestsRemoved) != n {
					t.Errorf("host: grant event with %d changes, %d requests removed", len(m.Changes), len(m.RequestsRemoved))
				}
				return true
			}
		}
		return false
	})
	for i, v := range viewers {
		v.waitUntil("its grant", func() bool {
			for _, m := range v.log {
				if m.Type == protocol.TypeEvent && len(m.Changes) > 0 && m.Changes[0].Cause == stage.CauseGrant {
					if len(m.Changes) != 1 || m.Changes[0].UserID != ids[i] {
						t.Errorf("%s: grant event %s", v.name, m.raw)
					}
					return true
				}
			}
			return false
		})
		for _, m := range v.frames() {
			if m.Type != protocol.TypeEvent || m.Event == protocol.EventCount {
				continue
			}
			if len(m.Changes) != 1 || m.Changes[0].UserID != ids[i] {
				t.Fatalf("%s received an event about someone else: %s", v.name, m.raw)
			}
		}
	}
	t.Logf("%d clients: %d requests, list and batch grant delivered in %v", n, n, time.Since(start))
	sameOrder(t, append([]*tclient{host}, viewers...)...)
	for _, m := range e.hub.RoomMembers(mid) {
		if m.UserID != "u-host" && m.Status != stage.Accepted {
			t.Fatalf("%s is %s", m.UserID, m.Status)
		}
	}
}

// BenchmarkFanout measures one committed stage action in a room of 1,000
// attached connections (10 of them hosts): apply, encode per audience,
// queue to whoever may see it, answer the actor; the sockets discard what
// they are given. Half the actions (requests, cancels) are private to the
// actor and the hosts; public is a viewer going on and off stage, which
// everyone sees.
func BenchmarkFanout(b *testing.B) {
	for _, public := range []bool{false, true} {
		b.Run(map[bool]string{false: "private", true: "public"}[public], func(b *testing.B) { benchFanout(b, public) })
	}
}

func benchFanout(b *testing.B, public bool) {
	h := NewHub(Config{Auth: &fakeAuth{}, SendQueue: 1 << 16, HostTick: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := newRoom(h, "bench", 0)
	presets := stage.BuiltinPresets()
	var conns []*conn
	for i := 0; i < 1000; i++ {
		p := presets[stage.PresetWebinarViewer]
		if i < 10 {
			p = presets[stage.PresetWebinarHost]
		}
		c := newConn(h, discard{})
		c.id = auth.Identity{MeetingID: "bench", UserID: fmt.Sprintf("u%d", i), Name: fmt.Sprintf("User %d", i), Preset: p}
		c.peerID = fmt.Sprintf("p%d", i)
		if !r.join(c, 1) {
			b.Fatal("join failed")
		}
		conns = append(conns, c)
	}
	actor := conns[500]
	if public {
		r.apply(actor, protocol.ClientMessage{ID: 1}, stage.ActRequest)
		r.apply(conns[0], protocol.ClientMessage{ID: 2, UserIDs: []string{actor.id.UserID}}, stage.ActGrant)
	}
	kinds := map[bool][2]stage.Kind{false: {stage.ActRequest, stage.ActCancel}, true: {stage.ActJoin, stage.ActLeave}}[public]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.apply(actor, protocol.ClientMessage{ID: uint64(i + 3)}, kinds[i%2])
		if public && i%2 == 1 {
			// Declined back to OFF_STAGE: invite again (a host action,
			// private) so the next join is possible.
			r.apply(conns[0], protocol.ClientMessage{ID: uint64(i + 3), UserIDs: []string{actor.id.UserID}}, stage.ActGrant)
		}
	}
	b.StopTimer()
	for _, c := range conns {
		if c.isClosing() {
			b.Fatalf("%s was closed", c.id.UserID)
		}
	}
}

// discard is a socket that takes every frame.
type discard struct{}

func (discard) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	<-ctx.Done()
	return 0, nil, ctx.Err()
}
func (discard) Write(context.Context, websocket.MessageType, []byte) error { return nil }
func (discard) Ping(context.Context) error                                 { return nil }
func (discard) Close(websocket.StatusCode, string) error                   { return nil }
func (discard) CloseNow() error                                            { return nil }

// BenchmarkEdgeBatchJoins is an owner's part of a join wave through an
// edge: per iteration one batch of edgeBatchBench viewers' joins, decoded
// from the wire, run (the stage log's events, the host's events, one
// commit of the in-memory store and of the recorded streams) and answered
// on the wire, with a host attached here. It leaves out what crosses
// processes (the HTTP call, PostgreSQL, Redis): the allocations and CPU
// of the owner's own code per batch.
func BenchmarkEdgeBatchJoins(b *testing.B) {
	const edgeBatchBench = 16
	h := NewHub(Config{Auth: &fakeAuth{}, SendQueue: 1 << 16, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Placement: &placement{epoch: 7, owners: map[string]string{}}, Stage: &fencedStage{fence: map[string]int64{}},
		Edges: &EdgeConfig{Streams: &recordedStreams{}, Key: "k", Self: "http://this:1"}})
	defer h.Close()
	r := h.room("bench")
	if r == nil {
		b.Fatal("no room")
	}
	host := newConn(h, discard{})
	host.id = auth.Identity{MeetingID: "bench", UserID: "host", Name: "Host", Preset: stage.BuiltinPresets()[stage.PresetWebinarHost]}
	host.peerID = "p-host"
	if !r.join(host, 1) {
		b.Fatal("the host's join failed")
	}
	viewer := stage.BuiltinPresets()[stage.PresetWebinarViewer]
	body := func(i int) []byte {
		calls := make([]edgeCall, edgeBatchBench)
		for k := range calls {
			uid := fmt.Sprintf("v%d-%d", i, k)
			id := auth.Identity{MeetingID: "bench", UserID: uid, Name: "Viewer " + uid, Preset: viewer}
			calls[k] = edgeCall{Op: "join", User: uid, Ident: &id, PeerID: "p-" + uid}
		}
		wire, err := easyjson.Marshal(edgeCall{Op: "batch", Meeting: "bench", Node: "http://edge:1", User: calls[0].User, Calls: calls})
		if err != nil {
			b.Fatal(err)
		}
		return wire
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = body(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, edgeCallPath, bytes.NewReader(bodies[i]))
		req.Header.Set("X-Stagekit-Node-Key", "k")
		w := httptest.NewRecorder()
		h.ServeEdgeCall(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("answered %d", w.Code)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*edgeBatchBench)/1e3, "µs/join")
}
