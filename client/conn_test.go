package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Ordering, resync, answers, reconnects and local refusals, through the real
// reader over an in-memory transport.

func TestGapResyncsAndReplaysBufferedEvents(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	seq := uint64(5)
	room := protocol.Snapshot{Self: me, Participants: []protocol.Participant{part("h", "ph", stage.Accepted)}}
	n.snap = func() protocol.Snapshot { s := room; s.Seq = seq; return s }
	m, rec := start(t, n, true)
	rec.take()
	fc := n.last()

	// Event 6 is lost; 7 arrives. The client must not apply 7 on top of a
	// state that misses 6: it asks for a snapshot and keeps 7 and 8 aside.
	n.set(func() {
		seq = 7
		room.Self.StageStatus = stage.Accepted // 6 and 7: invited
		room.Participants = []protocol.Participant{part("h", "ph", stage.OnStage)}
	})
	fc.push(stageEvent(7, change("h", "ph", stage.Accepted, stage.OnStage, stage.CauseJoin)))
	fc.push(stageEvent(8, change("v", "pv", stage.Accepted, stage.OnStage, stage.CauseJoin)))
	fc.push(stageEvent(7, change("h", "ph", stage.Accepted, stage.OnStage, stage.CauseJoin))) // stale duplicate
	evs := rec.waitN(4)
	barrier(t, m)
	if got := len(fc.sentOf(protocol.TypeSnapshot)); got != 1 {
		t.Fatalf("%d snapshot requests, want 1", got)
	}
	if more := rec.take(); len(more) != 0 {
		t.Fatalf("more events %v", more)
	}
	wantNames(t, evs, EventParticipantStageStatusUpdate, EventAcceptPresentRequests, EventStageStatusUpdate, EventStageStatusUpdate)
	if evs[0].Seq != 7 || evs[2].Status != stage.Accepted || evs[3].Seq != 8 || evs[3].Status != stage.OnStage {
		t.Fatalf("events %v", evs)
	}
	if m.Seq() != 8 || m.Stage().Status() != stage.OnStage {
		t.Fatalf("after resync seq %d status %s", m.Seq(), m.Stage().Status())
	}
}

func TestEventsBeforeTheJoinAnswerAreKept(t *testing.T) {
	me := part("h", "ph", stage.Accepted)
	n := newFakeNet(t, me, hostPerms)
	// The room moves between the snapshot and its delivery: event 4 comes
	// first on the socket, then the answer with the snapshot at 3.
	n.onJoin = func(fc *fakeConn, msg protocol.ClientMessage) {
		ev := stageEvent(4, change("v", "pv", stage.OffStage, stage.Requested, stage.CauseRequest))
		ev.RequestsAdded = []protocol.StageRequest{req("v", "pv", 1)}
		fc.push(ev)
		snap := protocol.Snapshot{Seq: 3, Self: me, Participants: []protocol.Participant{part("v", "pv", stage.OffStage)}}
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: 3, Snapshot: &snap})
	}
	m, rec := start(t, n, true)
	evs := rec.take()
	wantNames(t, evs, EventRoomJoined, EventParticipantStageStatusUpdate, EventNewStageRequest, EventStageAccessRequestUpdate)
	if m.Seq() != 4 || len(m.Requests()) != 1 || m.Participants()[0].StageStatus != stage.Requested {
		t.Fatalf("seq %d requests %v participants %v", m.Seq(), m.Requests(), m.Participants())
	}
}

func TestAnswerAheadOfEventsWaitsForResync(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	seq, status := uint64(2), stage.OffStage
	n.snap = func() protocol.Snapshot {
		s := protocol.Snapshot{Seq: seq, Self: me}
		s.Self.StageStatus = status
		return s
	}
	// The server answers the request at seq 3 without the event: the answer
	// must not resolve before the state shows REQUESTED.
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		seq, status = 3, stage.Requested
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: 3, Status: stage.Requested})
	}
	m, rec := start(t, n, true)
	rec.take()
	if err := m.Stage().RequestAccess(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Stage().Status() != stage.Requested || m.Seq() != 3 {
		t.Fatalf("returned with status %s seq %d", m.Stage().Status(), m.Seq())
	}
	wantNames(t, rec.take(), EventStageStatusUpdate)
	if len(n.last().sentOf(protocol.TypeSnapshot)) != 1 {
		t.Fatal("no resync")
	}
}

func TestReconnectResyncs(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	var mu sync.Mutex
	room := protocol.Snapshot{Seq: 1, Self: me, Participants: []protocol.Participant{part("h", "ph", stage.Accepted)}}
	n.snap = func() protocol.Snapshot { mu.Lock(); defer mu.Unlock(); return room }
	inFlight := make(chan struct{}, 1)
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		switch msg.Type {
		case protocol.TypeStageRequest:
			// The server commits the request, then the connection drops
			// before the answer.
			mu.Lock()
			room.Seq, room.Self.StageStatus = 2, stage.Requested
			mu.Unlock()
			inFlight <- struct{}{}
		case protocol.TypeStageRequests:
			fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
		}
	}
	m, rec := start(t, n, true)
	rec.take()
	first := n.last()

	errc := make(chan error, 1)
	go func() { errc <- m.Stage().RequestAccess(context.Background()) }()
	<-inFlight
	// While away: the host granted, one participant left, another joined.
	mu.Lock()
	room.Seq, room.Self.StageStatus = 5, stage.Accepted
	room.Participants = []protocol.Participant{part("x", "px", stage.OffStage)}
	mu.Unlock()
	first.shut(-1, "") // network failure: no close code

	wantCode(t, <-errc, CodeDisconnected)
	evs := rec.waitFor(EventReconnected)
	// The client never saw its request committed (the answer was lost), so
	// OFF_STAGE → ACCEPTED in the room reads as an invitation.
	wantNames(t, evs, EventReconnecting, EventParticipantLeft, EventParticipantJoined,
		EventAcceptPresentRequests, EventStageStatusUpdate, EventReconnected)
	if m.Stage().Status() != stage.Accepted || m.Seq() != 5 || !m.Self().RoomJoined {
		t.Fatalf("after reconnect: %+v seq %d", m.Self(), m.Seq())
	}
	second := n.last()
	if second == first || len(second.sentOf(protocol.TypeHello)) != 1 || len(second.sentOf(protocol.TypeJoin)) != 1 {
		t.Fatal("no new hello and join")
	}
	// Calls go to the new connection.
	barrier(t, m)
	if len(second.sentOf(protocol.TypeStageRequests)) != 1 {
		t.Fatal("call did not use the new connection")
	}
}

func TestReconnectWaitsAndCallsFailMeanwhile(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	m, rec := start(t, n, true)
	rec.take()
	n.set(func() { n.refuse = errors.New("connection refused") })
	n.last().shut(1001, "going away")
	rec.waitFor(EventReconnecting)
	wantCode(t, m.Stage().RequestAccess(context.Background()), CodeDisconnected)
	if !m.Self().RoomJoined {
		t.Fatal("still in the room (grace) while reconnecting")
	}
	n.set(func() { n.refuse = nil })
	evs := rec.waitFor(EventReconnected)
	wantNames(t, evs, EventReconnected) // nothing changed meanwhile
	barrier(t, m)
}

func TestNonFatalCloseCodesReconnect(t *testing.T) {
	for _, code := range []int{1001, 1006, 1011, protocol.CodeRateLimited, protocol.CodeSlowConsumer} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
			_, rec := start(t, n, true)
			n.last().shut(code, "x")
			rec.waitFor(EventReconnected)
		})
	}
}

func TestFatalCloseDisconnects(t *testing.T) {
	for _, code := range []int{protocol.CodeReplaced, protocol.CodeRemoved, protocol.CodeTokenRevoked, protocol.CodeTokenExpired, protocol.CodeTokenInvalid} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
			m, rec := start(t, n, true)
			rec.take()
			n.last().shut(code, "bye")
			evs := rec.waitFor(EventDisconnected)
			wantNames(t, evs, EventDisconnected)
			if CodeOf(evs[0].Err) != code || !strings.Contains(evs[0].Err.Error(), "bye") {
				t.Fatalf("disconnected with %v", evs[0].Err)
			}
			<-m.Done()
			n.mu.Lock()
			dials := len(n.conns)
			n.mu.Unlock()
			if dials != 1 {
				t.Fatalf("%d dials after a fatal close", dials)
			}
			if m.Self().RoomJoined {
				t.Fatal("still joined")
			}
			wantCode(t, m.Stage().RequestAccess(context.Background()), CodeClosed)
		})
	}
}

func TestRevokedWhileAwayDisconnects(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	m, rec := start(t, n, true)
	rec.take()
	n.set(func() { n.helloErr = protocol.NewError(protocol.CodeTokenRevoked, "participant no longer exists") })
	n.last().shut(-1, "")
	evs := rec.waitFor(EventDisconnected)
	wantNames(t, evs, EventReconnecting, EventDisconnected)
	wantCode(t, evs[1].Err, protocol.CodeTokenRevoked)
	<-m.Done()
}

func TestCloseStopsReconnecting(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	m, rec := start(t, n, true)
	n.set(func() { n.refuse = errors.New("refused") })
	n.last().shut(-1, "")
	rec.waitFor(EventReconnecting)
	m.Close()
	select {
	case <-m.Done():
	case <-time.After(waitTimeout):
		t.Fatal("reconnect loop survived Close")
	}
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("events after Close: %v", evs)
	}
}

func TestCloseWithoutJoinAndLeave(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	m, rec := start(t, n, true)
	rec.take()
	pending := make(chan protocol.ClientMessage, 1)
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		if msg.Type == protocol.TypeStageRequest {
			pending <- msg
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- m.Stage().RequestAccess(context.Background()) }()
	<-pending
	if err := m.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-errc, CodeClosed) // in flight when the connection closed
	wantNames(t, rec.take(), EventRoomLeft)
	<-m.Done()
	if m.Self().RoomJoined || len(n.last().sentOf(protocol.TypeLeave)) != 1 {
		t.Fatal("leave not sent or still joined")
	}
	wantCode(t, m.Leave(context.Background()), CodeClosed)
	wantCode(t, m.Join(context.Background()), CodeClosed)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.conns) != 1 {
		t.Fatal("reconnected after leave")
	}
}

func TestLocalRefusalsSendNothing(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	m, _ := start(t, n, false)
	ctx := context.Background()
	s := m.Stage()
	for name, err := range map[string]error{
		"request": s.RequestAccess(ctx), "cancel": s.CancelRequestAccess(ctx),
		"grant": s.GrantAccess(ctx, []string{"x"}), "deny": s.DenyAccess(ctx, []string{"x"}),
		"kick": s.Kick(ctx, []string{"x"}), "join": s.Join(ctx), "leave": s.Leave(ctx),
	} {
		if CodeOf(err) != CodeNotJoined || !strings.HasPrefix(err.Error(), "[ERR2005] ") {
			t.Errorf("%s before join: %v", name, err)
		}
	}
	if _, err := s.GetAccessRequests(ctx); CodeOf(err) != CodeNotJoined {
		t.Errorf("getAccessRequests before join: %v", err)
	}
	if _, err := m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeMediaOffer}); CodeOf(err) != CodeNotJoined {
		t.Errorf("media before join: %v", err)
	}
	if _, err := m.SendMedia(ctx, protocol.ClientMessage{Type: protocol.TypeStageGrant}); CodeOf(err) != CodeBadArgs {
		t.Errorf("stage message through SendMedia: %v", err)
	}
	if err := m.Join(ctx); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", protocol.MaxFrameBytes)
	wantCode(t, s.GrantAccess(ctx, []string{huge}), CodeTooLarge)
	fc := n.last()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.sent) != 2 { // hello and join
		t.Fatalf("sent %d messages: %+v", len(fc.sent), fc.sent)
	}
}

func TestTimeoutsAndCancellation(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	got := make(chan protocol.ClientMessage, 4)
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		if msg.Type == protocol.TypeStageRequests {
			fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
			return
		}
		got <- msg // and never answer
		// ...but the socket is alive: other frames keep coming.
		go fc.push(protocol.ServerMessage{Type: protocol.TypeEvent, Event: protocol.EventCount, Count: 2})
	}
	m, err := newMeeting(Options{BaseURI: "http://x", AuthToken: "t", RequestTimeout: 50 * time.Millisecond}, n.dial)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, m.Stage().RequestAccess(context.Background()), CodeTimeout)
	<-got

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Stage().Join(ctx) }()
	abandoned := <-got
	cancel()
	err = <-errc
	wantCode(t, err, CodeTimeout)
	if !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("cancellation reads %q", err)
	}
	// A late answer to an abandoned call is dropped; the connection lives on
	// (a caller giving up does not close the socket).
	n.last().push(protocol.ServerMessage{Type: protocol.TypeResult, ID: abandoned.ID})
	barrier(t, m)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.conns) != 1 {
		t.Fatal("the connection was replaced")
	}
}

// A request that times out on a socket from which nothing at all came
// since it was sent means the socket is dead: the client drops it and
// reconnects (emitting reconnecting) instead of keeping it.
func TestTimeoutOnASilentSocketReconnects(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {} // silence
	m, err := newMeeting(Options{BaseURI: "http://x", AuthToken: "t", RequestTimeout: 50 * time.Millisecond,
		PingInterval: -1, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}, n.dial)
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, m)
	if err := m.open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.take()
	wantCode(t, m.Stage().RequestAccess(context.Background()), CodeTimeout)
	rec.waitFor(EventReconnecting)
	rec.waitFor(EventReconnected)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.conns) != 2 {
		t.Fatalf("%d connections, want a new one after the dead one", len(n.conns))
	}
}

// A server that goes silent (a black hole: no FIN, no RST) is noticed by
// the client's pings: it reconnects within PingInterval + PingTimeout.
func TestSilentServerIsNoticed(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	var pings atomic.Int64
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		if msg.Type == protocol.TypePing && pings.Add(1) > 1 {
			return // the second ping gets no answer: the network went dark
		}
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
	}
	m, err := newMeeting(Options{BaseURI: "http://x", AuthToken: "t", PingInterval: 30 * time.Millisecond,
		AudiencePingInterval: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}, n.dial)
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, m)
	if err := m.open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec.waitFor(EventReconnecting)
	if took := time.Since(start); pings.Load() < 2 || took > 2*time.Second {
		t.Fatalf("reconnecting after %v and %d pings", took, pings.Load())
	}
	rec.waitFor(EventReconnected)
}

func TestConcurrentCallsAreMatchedByID(t *testing.T) {
	n := newFakeNet(t, part("h", "ph", stage.Accepted), hostPerms)
	const calls = 64
	var mu sync.Mutex
	var waiting []protocol.ClientMessage
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		mu.Lock()
		waiting = append(waiting, msg)
		ready := len(waiting) == calls
		mu.Unlock()
		if !ready {
			return
		}
		// Answer all of them, last first, each naming its own id.
		for i := len(waiting) - 1; i >= 0; i-- {
			w := waiting[i]
			fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: w.ID,
				Requests: []protocol.StageRequest{{DisplayName: fmt.Sprint(w.ID)}}})
		}
	}
	m, _ := start(t, n, true)
	var wg sync.WaitGroup
	got := make([]string, calls)
	errs := make([]error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reqs, err := m.Stage().GetAccessRequests(context.Background())
			errs[i] = err
			if err == nil {
				got[i] = reqs[0].DisplayName
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range calls {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[got[i]] {
			t.Fatalf("answer %s delivered twice", got[i])
		}
		seen[got[i]] = true
	}
	ids := map[uint64]bool{}
	for _, w := range waiting {
		if ids[w.ID] {
			t.Fatalf("id %d reused", w.ID)
		}
		ids[w.ID] = true
	}
}

func TestInitFailures(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	n.helloErr = protocol.NewError(protocol.CodeTokenExpired, "token expired")
	m, err := newMeeting(Options{BaseURI: "http://x", AuthToken: "t"}, n.dial)
	if err != nil {
		t.Fatal(err)
	}
	err = m.open(context.Background())
	if CodeOf(err) != protocol.CodeTokenExpired || err.Error() != "[ERR4012] token expired" {
		t.Fatalf("open: %v", err)
	}

	n.helloErr, n.refuse = nil, errors.New("refused")
	m, _ = newMeeting(Options{BaseURI: "http://x", AuthToken: "t"}, n.dial)
	wantCode(t, m.open(context.Background()), CodeUnreachable)

	_, err = newMeeting(Options{BaseURI: "http://x"}, n.dial)
	wantCode(t, err, CodeTokenMissing)
	for _, bad := range []string{"", "ftp://x", "x", "/relative", "http://"} {
		_, err = newMeeting(Options{BaseURI: bad, AuthToken: "t"}, n.dial)
		wantCode(t, err, CodeBadArgs)
	}
	for in, want := range map[string]string{
		"http://h:1":         "ws://h:1/v1/ws",
		"https://h/":         "wss://h/v1/ws",
		"https://h/prefix/":  "wss://h/prefix/v1/ws",
		"ws://h:2?x=1#frag":  "ws://h:2/v1/ws",
		"wss://h.example:44": "wss://h.example:44/v1/ws",
	} {
		if got, err := socketURL(in); err != nil || got != want {
			t.Errorf("socketURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestListeners(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	m, _ := start(t, n, true)
	var order []string
	remove1 := m.On(func(e Event) { order = append(order, "1:"+e.Name) })
	m.On(func(e Event) { panic("a listener bug") })
	m.On(func(e Event) {
		order = append(order, "3:"+e.Name)
		if m.Stage().Status() != e.Status { // state already shows the event
			order = append(order, "stale")
		}
	})
	fc := n.last()
	fc.push(stageEvent(2, change("v", "pv", stage.OffStage, stage.Requested, stage.CauseRequest)))
	barrier(t, m)
	remove1()
	remove1() // twice is harmless
	fc.push(stageEvent(3, change("v", "pv", stage.Requested, stage.OffStage, stage.CauseCancel)))
	barrier(t, m)
	want := []string{"1:stageStatusUpdate", "3:stageStatusUpdate", "3:stageStatusUpdate"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("listener calls %v, want %v", order, want)
	}
}

// joinedForProbe is a meeting on n, joined, that pings only when told
// (closed when the test ends).
func joinedForProbe(t *testing.T, n *fakeNet) (*Meeting, *recorder) {
	t.Helper()
	m, err := newMeeting(Options{BaseURI: "http://x", AuthToken: "t", PingInterval: -1}, n.dial)
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, m)
	if err := m.open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, rec
}

// Probe on a connection that went silent (the network under it changed):
// a second socket to the node opens while the ping waits, and the meeting
// moves to it without waiting for the ping's deadline, rejoining there.
func TestProbeMovesToANewSocketWhenTheOldIsSilent(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	var silent atomic.Bool
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		n.mu.Lock()
		first := fc == n.conns[0]
		n.mu.Unlock()
		if first && silent.Load() {
			return // the old socket's network is gone
		}
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
	}
	m, rec := joinedForProbe(t, n)
	rec.take()
	silent.Store(true)
	time.Sleep(2 * probeGrace) // the connection has not spoken lately
	// A deadline the test would not wait for: the probe must not need it.
	err := m.Probe(time.Hour)
	if code := CodeOf(err); code != CodeDisconnected {
		t.Fatalf("Probe: %v (code %d), want the old connection dropped (%d)", err, code, CodeDisconnected)
	}
	rec.waitFor(EventReconnected)
	n.mu.Lock()
	conns := len(n.conns)
	second := n.conns[1]
	n.mu.Unlock()
	if conns != 2 {
		t.Fatalf("%d connections, want the probe's socket used for the reconnect", conns)
	}
	if len(second.sentOf(protocol.TypeHello)) != 1 || len(second.sentOf(protocol.TypeJoin)) != 1 {
		t.Fatalf("the new socket carried %v, want a hello and a rejoin", second.sent)
	}
	if err := m.Ping(context.Background()); err != nil {
		t.Fatalf("ping after the move: %v", err)
	}
}

// Probe on a live connection: the ping is answered, and the socket opened
// meanwhile is closed without a word (the server never sees a hello).
func TestProbeKeepsALiveConnection(t *testing.T) {
	n := newFakeNet(t, part("v", "pv", stage.OffStage), viewerPerms)
	n.onRequest = func(fc *fakeConn, msg protocol.ClientMessage) {
		fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID})
	}
	m, rec := joinedForProbe(t, n)
	for range 5 {
		time.Sleep(2 * probeGrace) // the connection has not spoken lately: a spare socket is opened
		if err := m.Probe(time.Hour); err != nil {
			t.Fatalf("Probe: %v", err)
		}
	}
	// The probes' sockets close once they are no longer needed.
	deadline := time.Now().Add(waitTimeout)
	for {
		n.mu.Lock()
		open, spoke, conns := 0, 0, len(n.conns)
		for _, fc := range n.conns[1:] {
			select {
			case <-fc.closed:
			default:
				open++
			}
			fc.mu.Lock()
			spoke += len(fc.sent)
			fc.mu.Unlock()
		}
		n.mu.Unlock()
		if spoke > 0 {
			t.Fatalf("the probes' sockets carried %d messages", spoke)
		}
		if open == 0 && conns == 6 {
			break // the meeting's and a spare per probe, all closed
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, %d probe sockets still open; want 6, none", conns, open)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if evs := rec.take(); slices.ContainsFunc(evs, func(e Event) bool { return e.Name == EventReconnecting }) {
		t.Fatal("a live connection was dropped")
	}
}

// A join the server refuses because the room moved to another node (a
// cluster's owner died mid-join: 4051 and a close), or whose connection
// drops before the answer, is joined again on the meeting's next
// connection: the page's join() succeeds.
func TestJoinInterruptedJoinsAgain(t *testing.T) {
	for name, interrupt := range map[string]func(fc *fakeConn, msg protocol.ClientMessage){
		"moved": func(fc *fakeConn, msg protocol.ClientMessage) {
			moved := protocol.NewError(protocol.CodeRoomMoved, "the room moved to another node; reconnect")
			fc.push(protocol.ServerMessage{Type: protocol.TypeError, ID: msg.ID, Error: moved})
			fc.shut(protocol.CodeRoomMoved, moved.Message)
		},
		"dropped": func(fc *fakeConn, msg protocol.ClientMessage) { fc.shut(1006, "") },
	} {
		t.Run(name, func(t *testing.T) {
			me := part("v", "pv", stage.OffStage)
			n := newFakeNet(t, me, viewerPerms)
			var joins int
			n.set(func() {
				n.onJoin = func(fc *fakeConn, msg protocol.ClientMessage) {
					n.mu.Lock()
					joins++
					first := joins == 1
					n.mu.Unlock()
					if first {
						interrupt(fc, msg)
						return
					}
					s := n.snap()
					fc.push(protocol.ServerMessage{Type: protocol.TypeResult, ID: msg.ID, Seq: s.Seq, Snapshot: &s})
				}
			})
			m, rec := start(t, n, false)
			if err := m.Join(context.Background()); err != nil {
				t.Fatalf("join: %v", err)
			}
			if !m.Self().RoomJoined {
				t.Error("not in the room after join")
			}
			n.mu.Lock()
			got, dials := joins, len(n.dials)
			n.mu.Unlock()
			if got != 2 || dials != 2 {
				t.Errorf("%d joins over %d connections, want 2 over 2", got, dials)
			}
			rec.waitFor(EventRoomJoined)
		})
	}
}

// A node closing the connection because the user's preset changed (4033)
// is reconnected to at once, and the new hello's permissions are told as
// a permissions update.
func TestPresetChangedReconnectsAndTells(t *testing.T) {
	me := part("v", "pv", stage.OffStage)
	n := newFakeNet(t, me, viewerPerms)
	m, rec := startWith(t, n, true, Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	rec.take()
	n.set(func() { n.perms = hostPerms })
	n.last().shut(protocol.CodePresetChanged, "the preset changed; reconnect")
	rec.waitFor(EventPermissionsUpdate)
	if got := m.Self().Permissions; got != hostPerms {
		t.Fatalf("permissions %+v, want %+v", got, hostPerms)
	}
	rec.waitFor(EventReconnected) // rejoined with its place
	barrier(t, m)
}
