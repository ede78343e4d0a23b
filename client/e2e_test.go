//go:build !js

package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// user is a connected, joined client with a record of its events.
type user struct {
	t  *testing.T
	id string
	m  *client.Meeting

	mu     sync.Mutex
	events []client.Event
	signal chan struct{}
}

type room struct {
	t   *testing.T
	srv *testserver.Server
	mid string
}

func newRoom(t *testing.T, grace time.Duration) *room {
	t.Helper()
	srv := testserver.Start(t, grace)
	mid, err := testserver.CreateMeeting(srv.URL, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	return &room{t: t, srv: srv, mid: mid}
}

func (r *room) add(name, preset string) testserver.Participant {
	r.t.Helper()
	p, err := testserver.AddParticipant(r.srv.URL, r.mid, name, preset)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *room) connect(p testserver.Participant) *user {
	r.t.Helper()
	m, err := client.Init(context.Background(), client.Options{BaseURI: r.srv.URL, AuthToken: p.Token, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		r.t.Fatalf("init %s: %v", p.Name, err)
	}
	u := &user{t: r.t, id: p.ID, m: m, signal: make(chan struct{}, 1)}
	m.On(func(e client.Event) {
		u.mu.Lock()
		u.events = append(u.events, e)
		u.mu.Unlock()
		select {
		case u.signal <- struct{}{}:
		default:
		}
	})
	if err := m.Join(context.Background()); err != nil {
		r.t.Fatalf("join %s: %v", p.Name, err)
	}
	r.t.Cleanup(m.Close)
	return u
}

// join adds a participant with preset and connects it.
func (r *room) join(name, preset string) *user { return r.connect(r.add(name, preset)) }

// waitFor waits until an event named name has arrived and returns the first
// one not yet consumed by an earlier waitFor.
func (u *user) waitFor(name string) client.Event {
	u.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		u.mu.Lock()
		for i, e := range u.events {
			if e.Name == name {
				u.events = append(u.events[:i:i], u.events[i+1:]...)
				u.mu.Unlock()
				return e
			}
		}
		u.mu.Unlock()
		select {
		case <-u.signal:
		case <-deadline:
			u.t.Fatalf("%s: no %q event; have %v", u.id, name, u.names())
		}
	}
}

func (u *user) has(name string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, e := range u.events {
		if e.Name == name {
			return true
		}
	}
	return false
}

func (u *user) names() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, e := range u.events {
		out = append(out, e.String())
	}
	return out
}

func (u *user) status() stage.Status { return u.m.Stage().Status() }

// peerStatus is the status u sees for other.
func (u *user) peerStatus(other *user) stage.Status {
	for _, p := range u.m.Participants() {
		if p.UserID == other.id {
			return p.StageStatus
		}
	}
	return ""
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var eb *protocol.ErrorBody
	if !errors.As(err, &eb) || eb.Code != code {
		t.Fatalf("error = %v, want code %d", err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var ctx = context.Background()

func TestHostViewerFlow(t *testing.T) {
	r := newRoom(t, time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	if got := host.status(); got != stage.Accepted {
		t.Fatalf("host starts %s, want ACCEPTED", got)
	}
	if got := viewer.status(); got != stage.OffStage {
		t.Fatalf("viewer starts %s", got)
	}
	host.waitFor(client.EventParticipantJoined)

	must(t, viewer.m.Stage().RequestAccess(ctx))
	if got := viewer.status(); got != stage.Requested {
		t.Fatalf("after request: local status %s already updated? want REQUESTED", got)
	}
	if e := viewer.waitFor(client.EventStageStatusUpdate); e.Status != stage.Requested {
		t.Fatalf("viewer stageStatusUpdate %s", e.Status)
	}
	if e := host.waitFor(client.EventNewStageRequest); e.Count != 1 {
		t.Fatalf("newStageRequest count %d", e.Count)
	}
	upd := host.waitFor(client.EventStageAccessRequestUpdate)
	if len(upd.Requests) != 1 || upd.Requests[0].UserID != viewer.id || upd.Requests[0].RequestedAt == 0 || upd.Requests[0].DisplayName != "Viewer" {
		t.Fatalf("request list %+v", upd.Requests)
	}
	reqs, err := host.m.Stage().GetAccessRequests(ctx)
	must(t, err)
	if len(reqs) != 1 || reqs[0].UserID != viewer.id {
		t.Fatalf("getAccessRequests %+v", reqs)
	}
	if viewer.has(client.EventStageAccessRequestUpdate) || viewer.has(client.EventNewStageRequest) {
		t.Fatal("a viewer received the request list")
	}
	_, err = viewer.m.Stage().GetAccessRequests(ctx)
	wantCode(t, err, 2001)

	// The documented grant: everyone the host sees.
	var ids []string
	for _, p := range host.m.Participants() {
		if p.StageStatus == stage.Requested {
			ids = append(ids, p.UserID)
		}
	}
	must(t, host.m.Stage().GrantAccess(ctx, ids))
	if got := host.peerStatus(viewer); got != stage.Accepted {
		t.Fatalf("host sees viewer %s right after grant", got)
	}
	viewer.waitFor(client.EventStageRequestApproved)
	viewer.waitFor(client.EventAcceptPresentRequests)
	if upd := host.waitFor(client.EventStageAccessRequestUpdate); len(upd.Requests) != 0 {
		t.Fatalf("list after grant %+v", upd.Requests)
	}

	must(t, viewer.m.Stage().Join(ctx))
	if viewer.status() != stage.OnStage {
		t.Fatal("viewer not ON_STAGE after join resolved")
	}
	if e := host.waitFor(client.EventParticipantStageStatusUpdate); e.Participant.UserID != viewer.id {
		t.Fatalf("participant event for %s", e.Participant.UserID)
	}

	must(t, host.m.Stage().Kick(ctx, []string{viewer.id}))
	if host.peerStatus(viewer) != stage.OffStage {
		t.Fatal("host does not see the kick")
	}
	deadline := time.Now().Add(5 * time.Second)
	for viewer.status() != stage.OffStage && time.Now().Before(deadline) {
		viewer.waitFor(client.EventStageStatusUpdate)
	}
	if viewer.status() != stage.OffStage {
		t.Fatalf("viewer after kick %s", viewer.status())
	}

	// Host on stage and off: ALLOWED users rest at ACCEPTED.
	must(t, host.m.Stage().Join(ctx))
	must(t, host.m.Stage().Leave(ctx))
	if host.status() != stage.Accepted {
		t.Fatalf("host after leave %s", host.status())
	}
	// An ALLOWED user's request resolves with ACCEPTED and queues nothing.
	must(t, host.m.Stage().RequestAccess(ctx))
	if host.status() != stage.Accepted {
		t.Fatalf("host request: %s", host.status())
	}
}

func TestInviteDeclineDenyCancel(t *testing.T) {
	r := newRoom(t, time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)

	must(t, host.m.Stage().GrantAccess(ctx, []string{viewer.id}))
	viewer.waitFor(client.EventAcceptPresentRequests)
	waitAgree(t, []*user{host, viewer}, viewer, stage.Accepted)
	if viewer.has(client.EventStageRequestApproved) {
		t.Fatal("an invitation is not an approved request")
	}
	if viewer.status() != stage.Accepted {
		t.Fatalf("invited viewer %s", viewer.status())
	}
	must(t, viewer.m.Stage().Leave(ctx)) // declines
	if viewer.status() != stage.OffStage {
		t.Fatalf("declined viewer %s", viewer.status())
	}

	must(t, viewer.m.Stage().RequestAccess(ctx))
	waitAgree(t, []*user{host, viewer}, viewer, stage.Requested)
	must(t, host.m.Stage().DenyAccess(ctx, []string{viewer.id}))
	viewer.waitFor(client.EventStageRequestRejected)
	if viewer.status() != stage.OffStage {
		t.Fatalf("denied viewer %s", viewer.status())
	}

	must(t, viewer.m.Stage().RequestAccess(ctx))
	must(t, viewer.m.Stage().CancelRequestAccess(ctx))
	if got, _ := host.m.Stage().GetAccessRequests(ctx); len(got) != 0 {
		t.Fatalf("list after cancel %+v", got)
	}
	wantCode(t, viewer.m.Stage().CancelRequestAccess(ctx), 2006)
}

func TestRefusals(t *testing.T) {
	r := newRoom(t, time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	other := r.join("Other", stage.PresetWebinarViewer)
	lv := r.join("Livestream", stage.PresetLivestreamViewer)
	gc := r.join("Group", stage.PresetGroupCallParticipant)

	wantCode(t, viewer.m.Stage().GrantAccess(ctx, []string{other.id}), 2001)
	wantCode(t, viewer.m.Stage().DenyAccess(ctx, []string{other.id}), 2001)
	wantCode(t, viewer.m.Stage().Kick(ctx, []string{host.id}), 2001)
	wantCode(t, viewer.m.Stage().Join(ctx), 2006)
	wantCode(t, lv.m.Stage().RequestAccess(ctx), 2001)
	wantCode(t, gc.m.Stage().RequestAccess(ctx), 2003)
	wantCode(t, host.m.Stage().GrantAccess(ctx, []string{lv.id}), 2001)
	wantCode(t, host.m.Stage().GrantAccess(ctx, []string{"nobody"}), 2101)

	// A batch with one bad id changes nothing.
	must(t, other.m.Stage().RequestAccess(ctx))
	err := host.m.Stage().GrantAccess(ctx, []string{other.id, "ghost"})
	wantCode(t, err, 2101)
	if eb := err.(*protocol.ErrorBody); len(eb.UserIDs) != 1 || eb.UserIDs[0] != "ghost" {
		t.Fatalf("error names %v", eb.UserIDs)
	}
	if other.status() != stage.Requested {
		t.Fatalf("partial batch applied: %s", other.status())
	}

	// Not joined yet: refused locally.
	p := r.add("Late", stage.PresetWebinarViewer)
	m, err := client.Init(ctx, client.Options{BaseURI: r.srv.URL, AuthToken: p.Token})
	must(t, err)
	defer m.Close()
	wantCode(t, m.Stage().RequestAccess(ctx), 2005)
}

// Races end in one outcome that every client agrees on.
func TestRacesConverge(t *testing.T) {
	r := newRoom(t, time.Second)
	h1 := r.join("Host1", stage.PresetWebinarHost)
	h2 := r.join("Host2", stage.PresetWebinarHost)
	v := r.join("Viewer", stage.PresetWebinarViewer)
	all := []*user{h1, h2, v}

	for round := 0; round < 20; round++ {
		must(t, v.m.Stage().RequestAccess(ctx))
		waitAgree(t, all, v, stage.Requested) // hosts act on what they have seen
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		if round%2 == 0 { // two hosts grant the same user
			go func() { defer wg.Done(); errs[0] = h1.m.Stage().GrantAccess(ctx, []string{v.id}) }()
			go func() { defer wg.Done(); errs[1] = h2.m.Stage().GrantAccess(ctx, []string{v.id}) }()
		} else { // a grant crosses a cancel
			go func() { defer wg.Done(); errs[0] = h1.m.Stage().GrantAccess(ctx, []string{v.id}) }()
			go func() { defer wg.Done(); errs[1] = v.m.Stage().CancelRequestAccess(ctx) }()
		}
		wg.Wait()
		failed := 0
		for _, err := range errs {
			if err != nil {
				wantCode(t, err, 2006)
				failed++
			}
		}
		// Two grants: exactly one wins. A grant and a cancel: exactly one
		// wins, unless the host saw the cancel before its grant left, which
		// makes the grant an invitation (TestGrantCrossingCancelIsRefused
		// pins the crossing case exactly).
		if failed > 1 || (round%2 == 0 && failed != 1) {
			t.Fatalf("round %d: %d calls failed (%v)", round, failed, errs)
		}
		// Everyone agrees, once each has processed the same sequence.
		want := stage.Accepted
		if round%2 == 1 && errs[0] != nil {
			want = stage.OffStage // the cancel won
		}
		waitAgree(t, all, v, want)
		if want == stage.Accepted {
			must(t, v.m.Stage().Leave(ctx))
		}
		waitAgree(t, all, v, stage.OffStage)
	}
}

// A grant crossing a cancel: the host's grant was meant for the request it
// saw, so once the cancel is committed the grant is refused (2006) instead
// of turning into an invitation. Raw protocol, so the crossing is exact.
func TestGrantCrossingCancelIsRefused(t *testing.T) {
	r := newRoom(t, time.Second)
	hostP := r.add("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	host := dialRaw(t, r.srv.URL, hostP.Token)
	host.send(t, protocol.ClientMessage{Type: protocol.TypeJoin})

	must(t, viewer.m.Stage().RequestAccess(ctx))
	must(t, viewer.m.Stage().CancelRequestAccess(ctx)) // committed first
	res := host.send(t, protocol.ClientMessage{Type: protocol.TypeStageGrant, UserIDs: []string{viewer.id},
		Expect: []stage.Status{stage.Requested}}) // sent before the host saw the cancel
	if res.Error == nil || res.Error.Code != 2006 {
		t.Fatalf("crossing grant answered %+v, want 2006", res)
	}
	if viewer.status() != stage.OffStage {
		t.Fatalf("viewer %s after a refused grant", viewer.status())
	}
	// The same grant without an expectation is an invitation.
	res = host.send(t, protocol.ClientMessage{Type: protocol.TypeStageGrant, UserIDs: []string{viewer.id}})
	if res.Error != nil {
		t.Fatalf("invitation refused: %v", res.Error)
	}
	viewer.waitFor(client.EventAcceptPresentRequests)
}

// rawConn speaks the wire protocol directly, skipping the SDK.
type rawConn struct {
	ws   *websocket.Conn
	next uint64
}

func dialRaw(t *testing.T, baseURL, token string) *rawConn {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/v1/ws", nil)
	must(t, err)
	t.Cleanup(func() { ws.CloseNow() })
	c := &rawConn{ws: ws}
	if res := c.send(t, protocol.ClientMessage{Type: protocol.TypeHello, Token: token}); res.Error != nil {
		t.Fatal(res.Error)
	}
	return c
}

// send writes msg and returns its answer, skipping events.
func (c *rawConn) send(t *testing.T, msg protocol.ClientMessage) protocol.ServerMessage {
	t.Helper()
	c.next++
	msg.V, msg.ID = protocol.Version, c.next
	b, _ := json.Marshal(msg)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	must(t, c.ws.Write(rctx, websocket.MessageText, b))
	for {
		_, data, err := c.ws.Read(rctx)
		must(t, err)
		var res protocol.ServerMessage
		must(t, json.Unmarshal(data, &res))
		if res.ID == msg.ID && (res.Type == protocol.TypeResult || res.Type == protocol.TypeError) {
			return res
		}
	}
}

func waitAgree(t *testing.T, all []*user, v *user, want stage.Status) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ok := v.status() == want
		for _, u := range all {
			if u != v && u.peerStatus(v) != want {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("clients disagree on %s: want %s", v.id, want)
}

func TestReconnectKeepsPendingRequestWithinGrace(t *testing.T) {
	r := newRoom(t, 2*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	p := r.add("Viewer", stage.PresetWebinarViewer)
	viewer := r.connect(p)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(client.EventNewStageRequest)
	peer := viewer.m.Stage().PeerID()

	// The process dies; a new one comes back with the same token in time.
	viewer.m.Close()
	back := r.connect(p)
	if back.status() != stage.Requested {
		t.Fatalf("status after reconnect %s, want REQUESTED", back.status())
	}
	if back.m.Stage().PeerID() != peer {
		t.Fatal("peer id changed within the grace period")
	}
	reqs, err := host.m.Stage().GetAccessRequests(ctx)
	must(t, err)
	if len(reqs) != 1 || reqs[0].UserID != p.ID {
		t.Fatalf("requests after reconnect %+v", reqs)
	}
	if host.has(client.EventParticipantLeft) {
		t.Fatal("host saw the viewer leave during grace")
	}
}

func TestAutomaticReconnectResyncs(t *testing.T) {
	r := newRoom(t, 3*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))

	// The server drops the viewer's socket (as a network failure would), and
	// the host grants while it is away: the viewer must learn it on resync.
	r.srv.App.Hub().DropConnection(r.mid, viewer.id)
	viewer.waitFor(client.EventReconnecting)
	must(t, host.m.Stage().GrantAccess(ctx, []string{viewer.id}))
	viewer.waitFor(client.EventReconnected)
	if viewer.status() != stage.Accepted {
		t.Fatalf("after resync %s", viewer.status())
	}
	if e := viewer.waitFor(client.EventStageStatusUpdate); e.Status != stage.Requested {
		// first update was the request itself
		t.Fatalf("first status update %s", e.Status)
	}
	if e := viewer.waitFor(client.EventStageStatusUpdate); e.Status != stage.Accepted {
		t.Fatalf("resync status update %s", e.Status)
	}
	must(t, viewer.m.Stage().Join(ctx))
}

func TestGraceExpiryWithdrawsRequest(t *testing.T) {
	r := newRoom(t, 300*time.Millisecond)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(client.EventStageAccessRequestUpdate)
	viewer.m.Close()
	if e := host.waitFor(client.EventParticipantLeft); e.Participant.UserID != viewer.id {
		t.Fatalf("left: %s", e.Participant.UserID)
	}
	if upd := host.waitFor(client.EventStageAccessRequestUpdate); len(upd.Requests) != 0 {
		t.Fatalf("list after grace %+v", upd.Requests)
	}
}

func TestInitErrors(t *testing.T) {
	r := newRoom(t, time.Second)
	p := r.add("Gone", stage.PresetWebinarViewer)
	cases := map[string]struct {
		uri, token string
		code       int
	}{
		"missing token": {r.srv.URL, "", protocol.CodeTokenMissing},
		"garbage token": {r.srv.URL, "not-a-jwt", protocol.CodeTokenInvalid},
		"unreachable":   {"http://127.0.0.1:1", p.Token, protocol.CodeUnreachable},
		"bad base uri":  {"ftp://x", p.Token, protocol.CodeBadArgs},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := client.Init(ctx, client.Options{BaseURI: c.uri, AuthToken: c.token})
			wantCode(t, err, c.code)
		})
	}
	t.Run("deleted participant", func(t *testing.T) {
		must(t, testserver.Do(r.srv.URL, "DELETE", "/v1/meetings/"+r.mid+"/participants/"+p.ID, nil, 200, nil))
		_, err := client.Init(ctx, client.Options{BaseURI: r.srv.URL, AuthToken: p.Token})
		wantCode(t, err, protocol.CodeTokenRevoked)
	})
	t.Run("expired token", func(t *testing.T) {
		q := r.add("Expired", stage.PresetWebinarViewer)
		au := r.srv.App.Auth()
		au.SetClock(func() time.Time { return time.Now().Add(-48 * time.Hour) })
		tok, err := au.Issue(r.mid, q.ID)
		au.SetClock(time.Now)
		must(t, err)
		_, err = client.Init(ctx, client.Options{BaseURI: r.srv.URL, AuthToken: tok})
		wantCode(t, err, protocol.CodeTokenExpired)
	})
}

func TestDeletedParticipantIsRemovedFromRoom(t *testing.T) {
	r := newRoom(t, time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, testserver.Do(r.srv.URL, "DELETE", "/v1/meetings/"+r.mid+"/participants/"+viewer.id, nil, 200, nil))
	host.waitFor(client.EventParticipantLeft)
	e := viewer.waitFor(client.EventDisconnected)
	var eb *protocol.ErrorBody
	if !errors.As(e.Err, &eb) || eb.Code != protocol.CodeRemoved {
		t.Fatalf("disconnected with %v", e.Err)
	}
}
