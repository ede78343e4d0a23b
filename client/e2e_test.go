//go:build !js

package client_test

// End-to-end tests: the real server (server/app: REST, SQLite, JWT,
// signaling) runs in-process on 127.0.0.1, meetings and participants are
// made through its REST API with the admin key, and native clients talk to
// it over real WebSockets. Network failures are made with a TCP proxy
// between the clients and the server that can cut connections and refuse
// new ones. Waits are on events (with a deadline), never on sleeps.

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

const deadline = 10 * time.Second

var ctx = context.Background()

// room is a server with one meeting.
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

// init connects p, through a proxy of its own, without joining.
func (r *room) init(p testserver.Participant) *user {
	r.t.Helper()
	px := testserver.StartProxy(r.t, strings.TrimPrefix(r.srv.URL, "http://"))
	m, err := client.Init(ctx, client.Options{BaseURI: px.URL(), AuthToken: p.Token,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		r.t.Fatalf("init %s: %v", p.Name, err)
	}
	u := &user{t: r.t, name: p.Name, id: p.ID, m: m, px: px, signal: make(chan struct{}, 1)}
	m.On(u.record)
	r.t.Cleanup(func() {
		m.Close()
		select {
		case <-m.Done():
		case <-time.After(deadline):
			r.t.Errorf("%s: reader goroutine still running after Close", p.Name)
		}
	})
	return u
}

// connect connects and joins p.
func (r *room) connect(p testserver.Participant) *user {
	r.t.Helper()
	u := r.init(p)
	if err := u.m.Join(ctx); err != nil {
		r.t.Fatalf("join %s: %v", p.Name, err)
	}
	return u
}

// join adds a participant with preset, connects and joins it.
func (r *room) join(name, preset string) *user { return r.connect(r.add(name, preset)) }

// user is a client with a record of its events.
type user struct {
	t    *testing.T
	name string
	id   string
	m    *client.Meeting
	px   *testserver.Proxy // between this client and the server

	count atomic.Int64 // the last participantCount

	mu     sync.Mutex
	events []client.Event
	next   int // events before it were consumed by waitFor
	signal chan struct{}
}

func (u *user) record(e client.Event) {
	if e.Name == client.EventParticipantCount {
		// The count comes on its own clock (debounced by the server); the
		// tests of the event lists leave it out, TestParticipantCount
		// follows it.
		u.count.Store(int64(e.Count))
		return
	}
	u.mu.Lock()
	u.events = append(u.events, e)
	u.mu.Unlock()
	select {
	case u.signal <- struct{}{}:
	default:
	}
}

// until waits until cond holds, re-checking it after each event of u (the
// client's state only changes before an event is emitted).
func (u *user) until(what string, cond func() bool) {
	u.t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for !cond() {
		select {
		case <-u.signal:
		case <-timer.C:
			u.t.Fatalf("%s: waited in vain for %s; events %v", u.name, what, u.all())
		}
	}
}

// waitFor returns the first unconsumed event named name, waiting for it, and
// consumes everything up to it.
func (u *user) waitFor(name string) client.Event {
	u.t.Helper()
	var ev client.Event
	u.until(name, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		for i := u.next; i < len(u.events); i++ {
			if u.events[i].Name == name {
				ev, u.next = u.events[i], i+1
				return true
			}
		}
		return false
	})
	return ev
}

// since returns the events from mark on (mark is from u.mark()).
func (u *user) since(mark int) []client.Event {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]client.Event(nil), u.events[mark:]...)
}

// mark is the position of the next event; waitFor looks only from there on.
func (u *user) mark() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.next = len(u.events)
	return u.next
}

func (u *user) all() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, len(u.events))
	for i, e := range u.events {
		out[i] = e.String()
	}
	return out
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

func (u *user) status() stage.Status { return u.m.Stage().Status() }

// view is the status u has for other ("" if u does not know other).
func (u *user) view(other *user) stage.Status {
	if u == other {
		return u.status()
	}
	for _, p := range u.m.Participants() {
		if p.UserID == other.id {
			return p.StageStatus
		}
	}
	return ""
}

// agree waits until every user who may see v (stage.Sees) sees it with
// status want, and checks that the others do not see it at all.
func agree(t *testing.T, all []*user, v *user, want stage.Status) {
	t.Helper()
	vm := v.member()
	vm.Status = want
	for _, u := range all {
		if !stage.Sees(u.member(), vm) {
			u.until(v.name+" out of view", func() bool { return u.view(v) == "" })
			continue
		}
		u.until(v.name+" "+string(want), func() bool { return u.view(v) == want })
	}
}

// member is u as the stage rules see it.
func (u *user) member() stage.Member {
	self := u.m.Self()
	return stage.Member{UserID: self.UserID, Preset: stage.BuiltinPresets()[self.PresetName], Status: self.StageStatus}
}

// settle settles every user (before marks that follow a wait on state).
func settle(all ...*user) {
	for _, u := range all {
		u.settle()
	}
}

// settle makes a round trip to the server: the reader emits the events of
// everything it received before the answer, so after settle the events of
// the state u shows are all recorded. (The state is updated just before its
// events are emitted; a wait on the state alone could see it first.)
func (u *user) settle() {
	u.t.Helper()
	if _, err := u.m.Stage().GetAccessRequests(ctx); err != nil && client.CodeOf(err) != 2001 {
		u.t.Fatalf("%s: settle: %v", u.name, err)
	}
}

// wantEvents checks the names (and for status events the status) of evs.
func wantEvents(t *testing.T, who string, evs []client.Event, want ...string) {
	t.Helper()
	got := make([]string, len(evs))
	for i, e := range evs {
		got[i] = e.Name
		if e.Status != "" {
			got[i] += ":" + string(e.Status)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s: events %v\nwant %v", who, got, want)
	}
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error = %v, want code %d", err, code)
	}
	if !strings.HasPrefix(e.Error(), "[ERR") {
		t.Fatalf("message %q", e.Error())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

const (
	off = stage.OffStage
	req = stage.Requested
	acc = stage.Accepted
	on  = stage.OnStage

	evStatus   = client.EventStageStatusUpdate
	evList     = client.EventStageAccessRequestUpdate
	evNew      = client.EventNewStageRequest
	evApproved = client.EventStageRequestApproved
	evRejected = client.EventStageRequestRejected
	evAccept   = client.EventAcceptPresentRequests
	evJoined   = client.EventParticipantJoined
	evLeft     = client.EventParticipantLeft
	evPeer     = client.EventParticipantStageStatusUpdate
	// evConnection: another participant started or stopped reconnecting.
	evConnection = client.EventParticipantConnection
)

func st(s stage.Status) string { return evStatus + ":" + string(s) }
func peer(s stage.Status) string {
	return evPeer + ":" + string(s)
}

func TestRequestGrantJoinKick(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	if host.status() != acc || viewer.status() != off {
		t.Fatalf("initial statuses host %s viewer %s", host.status(), viewer.status())
	}
	if e := host.waitFor(evJoined); e.Participant.UserID != viewer.id || e.Participant.StageStatus != off {
		t.Fatalf("host participantJoined %v", e)
	}
	if ps := viewer.m.Participants(); len(ps) != 1 || ps[0].UserID != host.id || ps[0].StageStatus != acc {
		t.Fatalf("viewer's participants %+v", ps)
	}
	self := viewer.m.Self()
	if !self.RoomJoined || self.UserID != viewer.id || self.Name != "Viewer" || self.PresetName != stage.PresetWebinarViewer ||
		self.PeerID == "" || self.PeerID != viewer.m.Stage().PeerID() || self.MeetingID != r.mid ||
		self.Permissions != (protocol.Permissions{StageEnabled: true, StageAccess: stage.CanRequest, ScreenshareAccess: stage.CanRequest, MaxScreenshareCount: 1,
			CanProduceAudio: stage.Allowed, CanProduceVideo: stage.Allowed, CanProduceScreenshare: stage.Allowed, ViewType: stage.ViewWebinar, VideoSimulcast: true}) ||
		self.MeetingTitle != "e2e" || self.StartedAt <= 0 || time.Since(time.UnixMilli(self.StartedAt)) > time.Minute {
		t.Fatalf("viewer self %+v", self)
	}

	// The request: the call returns with the local state and events updated.
	mv, mh := viewer.mark(), host.mark()
	must(t, viewer.m.Stage().RequestAccess(ctx))
	if viewer.status() != req {
		t.Fatalf("status right after requestAccess resolved: %s", viewer.status())
	}
	wantEvents(t, "viewer", viewer.since(mv), st(req))
	host.waitFor(evNew)
	host.waitFor(evList)
	evs := host.since(mh)
	wantEvents(t, "host", evs, peer(req), evNew, evList)
	if l := evs[2].Requests; len(l) != 1 || l[0].UserID != viewer.id || l[0].PeerID != self.PeerID || l[0].DisplayName != "Viewer" || l[0].RequestedAt == 0 {
		t.Fatalf("request list %+v", l)
	}
	if evs[1].Count != 1 {
		t.Fatalf("newStageRequest count %d", evs[1].Count)
	}
	reqs, err := host.m.Stage().GetAccessRequests(ctx)
	must(t, err)
	if len(reqs) != 1 || reqs[0] != evs[2].Requests[0] {
		t.Fatalf("getAccessRequests %+v", reqs)
	}
	if viewer.has(evList) || viewer.has(evNew) {
		t.Fatal("a viewer received the request list")
	}

	// The grant, as the documented snippet does it: everyone requesting.
	var ids []string
	for _, p := range host.m.Participants() {
		if p.StageStatus == req {
			ids = append(ids, p.UserID)
		}
	}
	mv, mh = viewer.mark(), host.mark()
	must(t, host.m.Stage().GrantAccess(ctx, ids))
	if host.view(viewer) != acc || len(host.m.Requests()) != 0 {
		t.Fatalf("host right after grant: viewer %s, requests %v", host.view(viewer), host.m.Requests())
	}
	wantEvents(t, "host", host.since(mh), peer(acc), evList)
	viewer.waitFor(evAccept)
	viewer.waitFor(evStatus)
	wantEvents(t, "viewer", viewer.since(mv), evApproved, evAccept, st(acc))

	mh = host.mark()
	must(t, viewer.m.Stage().Join(ctx))
	if viewer.status() != on {
		t.Fatal("viewer not ON_STAGE when stage.join resolved")
	}
	host.waitFor(evPeer)
	wantEvents(t, "host", host.since(mh), peer(on))

	mv = viewer.mark()
	must(t, host.m.Stage().Kick(ctx, []string{viewer.id}))
	if host.view(viewer) != off {
		t.Fatal("host does not see its kick")
	}
	viewer.waitFor(evStatus)
	wantEvents(t, "viewer", viewer.since(mv), st(off))

	// The host itself: ALLOWED users rest at ACCEPTED; its request queues
	// nothing.
	must(t, host.m.Stage().Join(ctx))
	must(t, host.m.Stage().Leave(ctx))
	if host.status() != acc {
		t.Fatalf("host after stage.leave %s", host.status())
	}
	mh = host.mark()
	must(t, host.m.Stage().RequestAccess(ctx))
	if host.status() != acc || len(host.since(mh)) != 0 {
		t.Fatalf("ALLOWED request: %s %v", host.status(), host.since(mh))
	}
	agree(t, []*user{host, viewer}, host, acc)
}

func TestInviteAndDecline(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	agree(t, []*user{host}, viewer, off)
	settle(host)

	mv := viewer.mark()
	must(t, host.m.Stage().GrantAccess(ctx, []string{viewer.id}))
	viewer.waitFor(evAccept)
	viewer.waitFor(evStatus)
	wantEvents(t, "viewer", viewer.since(mv), evAccept, st(acc)) // an invitation is not an approved request
	if host.has(evList) {
		t.Fatal("an invitation changed the request list")
	}
	mh := host.mark()
	must(t, viewer.m.Stage().Leave(ctx)) // declines
	if viewer.status() != off {
		t.Fatalf("declined: %s", viewer.status())
	}
	host.waitFor(evPeer)
	wantEvents(t, "host", host.since(mh), peer(off))
	wantCode(t, viewer.m.Stage().Leave(ctx), 2006)
}

func TestDenyAndCancel(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	all := []*user{host, viewer}

	must(t, viewer.m.Stage().RequestAccess(ctx))
	agree(t, all, viewer, req)
	settle(all...)
	mv, mh := viewer.mark(), host.mark()
	must(t, host.m.Stage().DenyAccess(ctx, []string{viewer.id}))
	wantEvents(t, "host", host.since(mh), peer(off), evList)
	viewer.waitFor(evRejected)
	viewer.waitFor(evStatus)
	wantEvents(t, "viewer", viewer.since(mv), evRejected, st(off))
	wantCode(t, host.m.Stage().DenyAccess(ctx, []string{viewer.id}), 2006)

	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	mv, mh = viewer.mark(), host.mark()
	must(t, viewer.m.Stage().CancelRequestAccess(ctx))
	if viewer.status() != off {
		t.Fatalf("after cancel %s", viewer.status())
	}
	wantEvents(t, "viewer", viewer.since(mv), st(off))
	host.waitFor(evList)
	wantEvents(t, "host", host.since(mh), peer(off), evList)
	if got, err := host.m.Stage().GetAccessRequests(ctx); err != nil || len(got) != 0 {
		t.Fatalf("list after cancel %+v %v", got, err)
	}
	// Nothing pending: cancelling again succeeds and changes nothing.
	mv, mh = viewer.mark(), host.mark()
	must(t, viewer.m.Stage().CancelRequestAccess(ctx))
	if viewer.status() != off || len(viewer.since(mv)) != 0 || len(host.since(mh)) != 0 {
		t.Fatalf("a second cancel: status %s, events %v / %v", viewer.status(), viewer.since(mv), host.since(mh))
	}
}

func TestRefusals(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	other := r.join("Other", stage.PresetWebinarViewer)
	lv := r.join("Livestream", stage.PresetLivestreamViewer)
	gc := r.join("Group", stage.PresetGroupCallParticipant)
	everyone := []*user{host, viewer, other, lv, gc}
	for _, u := range everyone {
		agree(t, everyone, u, u.status()) // everyone has seen everyone join
	}
	settle(everyone...)

	marks := map[*user]int{}
	for _, u := range []*user{host, viewer, other, lv, gc} {
		marks[u] = u.mark()
	}
	wantCode(t, viewer.m.Stage().GrantAccess(ctx, []string{other.id}), 2001)
	wantCode(t, viewer.m.Stage().DenyAccess(ctx, []string{other.id}), 2001)
	wantCode(t, viewer.m.Stage().Kick(ctx, []string{host.id}), 2001)
	_, err := viewer.m.Stage().GetAccessRequests(ctx)
	wantCode(t, err, 2001)
	wantCode(t, viewer.m.Stage().Join(ctx), 2006)
	must(t, viewer.m.Stage().CancelRequestAccess(ctx))         // nothing pending: a no-op, as in RealtimeKit
	wantCode(t, host.m.Stage().CancelRequestAccess(ctx), 2006) // ACCEPTED: nothing to cancel, and not OFF_STAGE
	wantCode(t, lv.m.Stage().RequestAccess(ctx), 2001)
	wantCode(t, gc.m.Stage().RequestAccess(ctx), 2003)
	wantCode(t, host.m.Stage().GrantAccess(ctx, []string{lv.id}), 2001)
	wantCode(t, host.m.Stage().Kick(ctx, []string{viewer.id}), 2006)
	wantCode(t, host.m.Stage().GrantAccess(ctx, []string{}), 2102)

	// A batch with one unknown id changes nothing and names it.
	must(t, other.m.Stage().RequestAccess(ctx))
	agree(t, []*user{host}, other, req)
	err = host.m.Stage().GrantAccess(ctx, []string{other.id, "ghost"})
	wantCode(t, err, 2101)
	if e := err.(*client.Error); len(e.UserIDs) != 1 || e.UserIDs[0] != "ghost" || !strings.Contains(e.Error(), "ghost") {
		t.Fatalf("error %v names %v", e, e.UserIDs)
	}
	if other.status() != req || host.view(other) != req {
		t.Fatal("a refused batch was partly applied")
	}
	// Too large for a frame: refused before sending.
	wantCode(t, host.m.Stage().GrantAccess(ctx, []string{strings.Repeat("x", protocol.MaxFrameBytes)}), 4003)

	// Refusals change nothing and emit nothing (other's request aside).
	for u, mark := range marks {
		for _, e := range u.since(mark) {
			aboutOther := (e.Participant != nil && e.Participant.UserID == other.id) ||
				(u == other && e.Name == evStatus) || (u == host && (e.Name == evList || e.Name == evNew))
			if !aboutOther {
				t.Fatalf("%s: refusals emitted %v", u.name, e)
			}
		}
	}
	if viewer.status() != off || lv.status() != off || gc.status() != off || host.status() != acc {
		t.Fatal("a refusal changed a status")
	}

	// Not joined yet: refused locally, nothing is sent.
	late := r.init(r.add("Late", stage.PresetWebinarViewer))
	before := r.srv.App.Hub().Stats().MessagesIn
	wantCode(t, late.m.Stage().RequestAccess(ctx), 2005)
	wantCode(t, late.m.Stage().GrantAccess(ctx, []string{viewer.id}), 2005)
	_, err = late.m.Stage().GetAccessRequests(ctx)
	wantCode(t, err, 2005)
	if after := r.srv.App.Hub().Stats().MessagesIn; after != before {
		t.Fatalf("the server received %d messages from refusals made before join", after-before)
	}
}

// Races whose crossing is forced: the loser's client is held back by its
// network (the proxy holds what the server sends it) so it acts on a view
// the room has already moved past. Every race ends in one outcome, the
// loser's call fails with 2006, and every client agrees on the result.
func TestCrossingActionsLoseWith2006(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	h1 := r.join("Host1", stage.PresetWebinarHost)
	h2 := r.join("Host2", stage.PresetWebinarHost)
	v := r.join("Viewer", stage.PresetWebinarViewer)
	all := []*user{h1, h2, v}

	// slow runs act as u while u cannot hear the server, then lets it hear.
	slow := func(u *user, first func(), act func() error) error {
		u.px.Hold(true)
		first() // committed by the server; u does not know yet
		n := u.px.Sent()
		errc := make(chan error, 1)
		go func() { errc <- act() }()
		u.px.WaitSent(n) // u's request is on its way, built on its old view
		u.px.Hold(false)
		return <-errc
	}

	cases := []struct {
		name   string
		loser  *user
		winner func() error
		late   func() error
		want   stage.Status
	}{
		{"cancel, then a grant meant for the request", h1,
			func() error { return v.m.Stage().CancelRequestAccess(ctx) },
			func() error { return h1.m.Stage().GrantAccess(ctx, []string{v.id}) }, off},
		{"grant, then the requester's cancel", v,
			func() error { return h1.m.Stage().GrantAccess(ctx, []string{v.id}) },
			func() error { return v.m.Stage().CancelRequestAccess(ctx) }, acc},
		{"two hosts grant the same request", h2,
			func() error { return h1.m.Stage().GrantAccess(ctx, []string{v.id}) },
			func() error { return h2.m.Stage().GrantAccess(ctx, []string{v.id}) }, acc},
		{"deny, then another host's grant", h2,
			func() error { return h1.m.Stage().DenyAccess(ctx, []string{v.id}) },
			func() error { return h2.m.Stage().GrantAccess(ctx, []string{v.id}) }, off},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			must(t, v.m.Stage().RequestAccess(ctx))
			agree(t, all, v, req)
			err := slow(c.loser, func() { must(t, c.winner()) }, c.late)
			wantCode(t, err, 2006)
			agree(t, all, v, c.want)
			for _, h := range []*user{h1, h2} {
				h.until("empty list", func() bool { return len(h.m.Requests()) == 0 })
			}
			if c.want == acc {
				must(t, v.m.Stage().Leave(ctx)) // declines
				agree(t, all, v, off)
			}
		})
	}
}

// A grant crossing a cancel, on the wire: the host's grant was meant for the
// request it saw, so once the cancel is committed the grant is refused
// (2006) instead of turning into an invitation. Raw protocol, so the
// crossing is exact.
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
	viewer.waitFor(evStatus)
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
	rctx, cancel := context.WithTimeout(ctx, deadline)
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

// Unforced races, many rounds: whatever the timing, at most one call fails
// (with 2006) and every client agrees. Both calls succeed only when the
// grant was made on a view that already had the cancel: an invitation.
func TestRacesConverge(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	h1 := r.join("Host1", stage.PresetWebinarHost)
	h2 := r.join("Host2", stage.PresetWebinarHost)
	v := r.join("Viewer", stage.PresetWebinarViewer)
	all := []*user{h1, h2, v}
	agree(t, all, v, off)

	outcomes := map[string]int{}
	for round := range 30 {
		must(t, v.m.Stage().RequestAccess(ctx))
		agree(t, all, v, req) // hosts act on what they have seen
		mv := v.mark()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		run := func(i int, f func() error) {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; errs[i] = f() }()
		}
		twoHosts := round%2 == 0
		run(0, func() error { return h1.m.Stage().GrantAccess(ctx, []string{v.id}) })
		if twoHosts {
			run(1, func() error { return h2.m.Stage().GrantAccess(ctx, []string{v.id}) })
		} else {
			run(1, func() error { return v.m.Stage().CancelRequestAccess(ctx) })
		}
		close(start)
		wg.Wait()
		failed := 0
		for _, err := range errs {
			if err != nil {
				wantCode(t, err, 2006)
				failed++
			}
		}
		var want stage.Status
		switch {
		case failed == 1 && twoHosts:
			want, outcomes["two hosts"] = acc, outcomes["two hosts"]+1
		case failed == 1 && errs[1] != nil:
			want, outcomes["grant first"] = acc, outcomes["grant first"]+1
		case failed == 1:
			want, outcomes["cancel first, grant refused"] = off, outcomes["cancel first, grant refused"]+1
		case failed == 0 && !twoHosts:
			// The host saw the cancel before it granted: an invitation.
			want, outcomes["cancel seen, then invited"] = acc, outcomes["cancel seen, then invited"]+1
			v.waitFor(evAccept)
			v.waitFor(evStatus)
			for _, e := range v.since(mv) {
				if e.Name == evApproved {
					t.Fatalf("round %d: both succeeded but the request was approved: %v", round, v.since(mv))
				}
			}
		default:
			t.Fatalf("round %d: %d calls failed (%v)", round, failed, errs)
		}
		agree(t, all, v, want)
		for _, h := range []*user{h1, h2} {
			h.until("empty list", func() bool { return len(h.m.Requests()) == 0 })
		}
		if want == acc {
			must(t, v.m.Stage().Leave(ctx)) // declines
		}
		agree(t, all, v, off)
	}
	t.Logf("outcomes: %v", outcomes)
}

// requestingViewer makes a room (30 s grace) with a host and a viewer whose
// request to join the stage the host has seen.
func requestingViewer(t *testing.T) (r *room, host *user, p testserver.Participant, viewer *user) {
	t.Helper()
	r = newRoom(t, 30*time.Second)
	host = r.join("Host", stage.PresetWebinarHost)
	p = r.add("Viewer", stage.PresetWebinarViewer)
	viewer = r.connect(p)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	return r, host, p, viewer
}

// A new process of the same user (Close, then Init with the same token)
// within the grace period keeps its place: the pending request, the peer id.
// The server noticed the old process's end first (the host saw the user
// reconnecting before the new process started); the other order is
// TestNewProcessBeforeTheCloseReplaces.
func TestNewProcessWithinGraceKeepsRequest(t *testing.T) {
	r, host, p, viewer := requestingViewer(t)
	peerID := viewer.m.Stage().PeerID()

	mh := host.mark()
	viewer.m.Close() // the process dies
	if viewer.m.Self().RoomJoined {
		t.Fatal("RoomJoined after Close")
	}
	wantCode(t, viewer.m.Stage().RequestAccess(ctx), client.CodeClosed)
	// Only once the server has seen the close does the new process start:
	// before it, the new join would replace a connection the server still
	// holds, and nobody would see the user away.
	host.waitFor(evConnection)
	back := r.init(p)
	helloStatus := back.status() // the server may already say REQUESTED in hello
	must(t, back.m.Join(ctx))
	if helloStatus == req {
		wantEvents(t, "back", back.since(0), client.EventRoomJoined)
	} else {
		wantEvents(t, "back", back.since(0), st(req), client.EventRoomJoined)
	}
	if back.status() != req {
		t.Fatalf("status after join %s", back.status())
	}
	if back.m.Stage().PeerID() != peerID {
		t.Fatal("peer id changed within the grace period")
	}
	reqs, err := host.m.Stage().GetAccessRequests(ctx)
	must(t, err)
	if len(reqs) != 1 || reqs[0].UserID != p.ID {
		t.Fatalf("requests after reconnect %+v", reqs)
	}
	// The host saw it reconnecting and back; neither leave nor join.
	host.waitFor(evConnection)
	if evs := host.since(mh); len(evs) != 2 || evs[0].Name != client.EventParticipantConnection || !evs[0].Participant.Reconnecting ||
		evs[1].Name != client.EventParticipantConnection || evs[1].Participant.Reconnecting {
		t.Fatalf("host saw %v while the viewer came back", evs)
	}
	// The request is live: the host grants it.
	must(t, host.m.Stage().GrantAccess(ctx, []string{p.ID}))
	back.waitFor(evApproved)
	back.waitFor(evStatus)
}

// A new process of the same user joins before the server has seen the old
// one's close (here a black hole holds it; on a loaded machine the new
// join can simply come first). The server replaces the old connection
// (4030) as for a second client, and the user keeps its place. It was never
// away as far as the server knew, so whoever sees it is told nothing: no
// participantConnection, neither at the join nor when the stale close
// arrives after it.
func TestNewProcessBeforeTheCloseReplaces(t *testing.T) {
	r, host, p, viewer := requestingViewer(t)
	peerID := viewer.m.Stage().PeerID()

	mh := host.mark()
	viewer.px.BlackHole(true)
	viewer.m.Close() // the process dies; the server hears nothing of it yet
	back := r.connect(p)
	if back.status() != req || back.m.Stage().PeerID() != peerID {
		t.Fatalf("after the new join: %s, peer id kept %v", back.status(), back.m.Stage().PeerID() == peerID)
	}
	// The host's own call is answered after whatever the join told it.
	hostSawNothing := func(when string) {
		t.Helper()
		reqs, err := host.m.Stage().GetAccessRequests(ctx)
		must(t, err)
		if len(reqs) != 1 || reqs[0].UserID != p.ID {
			t.Fatalf("requests %s: %+v", when, reqs)
		}
		if evs := host.since(mh); len(evs) != 0 {
			t.Fatalf("host saw %v %s", evs, when)
		}
	}
	hostSawNothing("after the new join")

	viewer.px.BlackHole(false) // the stale close reaches the server
	hub := r.srv.App.Hub()
	end := time.Now().Add(deadline)
	for hub.Stats().Connections != 2 { // the host's and the new process's
		if time.Now().After(end) {
			t.Fatalf("the old connection is still open: %+v", hub.Stats())
		}
		time.Sleep(10 * time.Millisecond) // polling an observable, not synchronising
	}
	hostSawNothing("after the old connection ended")

	must(t, host.m.Stage().GrantAccess(ctx, []string{p.ID}))
	back.waitFor(evApproved)
	back.waitFor(evStatus)
}

// The network fails; while the viewer is away the host grants its request
// and a co-host (in everyone's view) joins. The viewer reconnects by itself within the grace period
// and its resync emits what it missed.
func TestNetworkFailureReconnectsAndResyncs(t *testing.T) {
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	peerID := viewer.m.Stage().PeerID()
	mv := viewer.mark()

	viewer.px.SetDown(true)
	viewer.px.Cut()
	viewer.waitFor(client.EventReconnecting)
	wantCode(t, viewer.m.Stage().CancelRequestAccess(ctx), client.CodeDisconnected)
	if !viewer.m.Self().RoomJoined {
		t.Fatal("not in the room while reconnecting")
	}

	// While away.
	must(t, host.m.Stage().GrantAccess(ctx, []string{viewer.id}))
	late := r.join("Late", stage.PresetWebinarHost)
	host.waitFor(evJoined)
	viewer.px.SetDown(false)
	viewer.waitFor(client.EventReconnected)
	evs := viewer.since(mv)
	wantEvents(t, "viewer", evs, client.EventReconnecting, evJoined, evApproved, evAccept, st(acc), client.EventReconnected)
	if evs[1].Participant.UserID != late.id {
		t.Fatalf("joined %+v", evs[1].Participant)
	}
	if viewer.status() != acc || viewer.m.Stage().PeerID() != peerID || len(viewer.m.Participants()) != 2 {
		t.Fatalf("after resync: %+v %+v", viewer.m.Self(), viewer.m.Participants())
	}
	// Sequence numbers are per connection; what both see must agree.
	if viewer.view(late) != host.view(late) || viewer.view(host) != host.status() {
		t.Fatalf("viewer sees late %s host %s; host sees late %s, is %s", viewer.view(late), viewer.view(host), host.view(late), host.status())
	}
	if host.has(evLeft) {
		t.Fatal("host saw the viewer leave within grace")
	}
	// Back to normal.
	must(t, viewer.m.Stage().Join(ctx))
	agree(t, []*user{host, viewer, late}, viewer, on)
}

// The connection fails while a call is in flight, after the server
// committed it: the call fails with 5002, and the resync shows the outcome.
func TestInFlightCallFailsAndResyncShowsOutcome(t *testing.T) {
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	host.waitFor(evJoined)
	mv := viewer.mark()
	viewer.px.Hold(true) // the answer will not get through
	n := viewer.px.Sent()
	errc := make(chan error, 1)
	go func() { errc <- viewer.m.Stage().RequestAccess(ctx) }()
	viewer.px.WaitSent(n)
	host.waitFor(evNew)
	host.waitFor(evList) // committed
	viewer.px.Cut()
	wantCode(t, <-errc, client.CodeDisconnected)
	viewer.px.Hold(false)
	viewer.waitFor(client.EventReconnected)
	wantEvents(t, "viewer", viewer.since(mv), client.EventReconnecting, st(req), client.EventReconnected)
	if viewer.status() != req {
		t.Fatalf("after resync %s", viewer.status())
	}
	must(t, viewer.m.Stage().CancelRequestAccess(ctx))
}

// The server cuts the socket (DropConnection): an ON_STAGE user comes back
// ON_STAGE with the same peer id, and nobody sees it leave.
func TestServerDropKeepsStage(t *testing.T) {
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	must(t, host.m.Stage().Join(ctx))
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	agree(t, []*user{viewer}, host, on)
	host.waitFor(evJoined)
	peerID := host.m.Stage().PeerID()
	mh := host.mark()
	r.srv.App.Hub().DropConnection(r.mid, host.id)
	host.waitFor(client.EventReconnected)
	wantEvents(t, "host", host.since(mh), client.EventReconnecting, client.EventReconnected)
	if host.status() != on || host.m.Stage().PeerID() != peerID {
		t.Fatalf("after reconnect %+v", host.m.Self())
	}
	if viewer.has(evLeft) || viewer.has(evPeer) {
		t.Fatalf("viewer saw %v", viewer.all())
	}
	must(t, host.m.Stage().Leave(ctx))
	agree(t, []*user{host, viewer}, host, acc)
}

// Away longer than the grace period: the server withdraws the request and
// hosts see the new list; when the network returns, the client comes back
// as a new peer, OFF_STAGE, and is told so (not "rejected").
func TestGraceExpiryWithdrawsRequest(t *testing.T) {
	r := newRoom(t, 300*time.Millisecond)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	peerID := viewer.m.Stage().PeerID()
	mv, mh := viewer.mark(), host.mark()

	viewer.px.SetDown(true)
	viewer.px.Cut()
	viewer.waitFor(client.EventReconnecting)
	if e := host.waitFor(evLeft); e.Participant.UserID != viewer.id {
		t.Fatalf("left: %+v", e.Participant)
	}
	if l := host.waitFor(evList); len(l.Requests) != 0 {
		t.Fatalf("list after grace %+v", l.Requests)
	}
	wantEvents(t, "host", host.since(mh), evConnection, evLeft, evList)

	viewer.px.SetDown(false)
	viewer.waitFor(client.EventReconnected)
	wantEvents(t, "viewer", viewer.since(mv), client.EventReconnecting, st(off), client.EventReconnected)
	if viewer.m.Stage().PeerID() == peerID {
		t.Fatal("same peer id after the grace period")
	}
	if e := host.waitFor(evJoined); e.Participant.UserID != viewer.id || e.Participant.StageStatus != off {
		t.Fatalf("host sees %+v", e.Participant)
	}
	if reqs, err := host.m.Stage().GetAccessRequests(ctx); err != nil || len(reqs) != 0 {
		t.Fatalf("requests %v %v", reqs, err)
	}
}

func TestLeave(t *testing.T) {
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	mv, mh := viewer.mark(), host.mark()
	must(t, viewer.m.Leave(ctx))
	wantEvents(t, "viewer", viewer.since(mv), client.EventRoomLeft)
	<-viewer.m.Done()
	host.waitFor(evList)
	wantEvents(t, "host", host.since(mh), evLeft, evList)
	wantCode(t, viewer.m.Stage().RequestAccess(ctx), client.CodeClosed)
	wantCode(t, viewer.m.Leave(ctx), client.CodeClosed)
}

func TestInitErrors(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	p := r.add("Gone", stage.PresetWebinarViewer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	closedAddr := "http://" + ln.Addr().String()
	ln.Close()
	cases := map[string]struct {
		uri, token string
		code       int
	}{
		"missing token": {r.srv.URL, "", client.CodeTokenMissing},
		"garbage token": {r.srv.URL, "not-a-jwt", protocol.CodeTokenInvalid},
		"unreachable":   {closedAddr, p.Token, client.CodeUnreachable},
		"bad base uri":  {"ftp://x", p.Token, client.CodeBadArgs},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := client.Init(ctx, client.Options{BaseURI: c.uri, AuthToken: c.token})
			wantCode(t, err, c.code)
		})
	}
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
	t.Run("deleted participant", func(t *testing.T) {
		must(t, testserver.Do(r.srv.URL, "DELETE", "/v1/meetings/"+r.mid+"/participants/"+p.ID, nil, 200, nil))
		_, err := client.Init(ctx, client.Options{BaseURI: r.srv.URL, AuthToken: p.Token})
		wantCode(t, err, protocol.CodeTokenRevoked)
	})
}

// An admin deletes a connected participant: it is disconnected for good
// (4031) and does not reconnect; hosts see it leave with its request.
func TestRemovedParticipantIsDisconnected(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	mv, mh := viewer.mark(), host.mark()
	must(t, testserver.Do(r.srv.URL, "DELETE", "/v1/meetings/"+r.mid+"/participants/"+viewer.id, nil, 200, nil))
	e := viewer.waitFor(client.EventDisconnected)
	wantCode(t, e.Err, protocol.CodeRemoved)
	wantEvents(t, "viewer", viewer.since(mv), client.EventDisconnected)
	<-viewer.m.Done()
	host.waitFor(evList)
	wantEvents(t, "host", host.since(mh), evLeft, evList)
	if viewer.m.Self().RoomJoined {
		t.Fatal("still joined")
	}
	wantCode(t, viewer.m.Stage().CancelRequestAccess(ctx), client.CodeClosed)
}

// The same participant joins from a second client: the first is closed with
// 4030 and stays closed (no reconnect fight).
func TestReplacedElsewhere(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	p := r.add("Viewer", stage.PresetWebinarViewer)
	first := r.connect(p)
	must(t, first.m.Stage().RequestAccess(ctx))
	second := r.connect(p)
	e := first.waitFor(client.EventDisconnected)
	wantCode(t, e.Err, protocol.CodeReplaced)
	<-first.m.Done()
	if second.status() != req {
		t.Fatalf("second client's status %s", second.status())
	}
	must(t, second.m.Stage().CancelRequestAccess(ctx))
	if first.has(client.EventReconnecting) {
		t.Fatal("the replaced client tried to reconnect")
	}
}

func TestConcurrentCallsOnOneMeeting(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewers := make([]*user, 5)
	for i := range viewers {
		viewers[i] = r.join("V"+string(rune('a'+i)), stage.PresetWebinarViewer)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for _, v := range viewers {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- v.m.Stage().RequestAccess(ctx) }()
	}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := host.m.Stage().GetAccessRequests(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	host.until("5 requests", func() bool { return len(host.m.Requests()) == 5 })
	ids := make([]string, len(viewers))
	for i, v := range viewers {
		ids[i] = v.id
	}
	must(t, host.m.Stage().GrantAccess(ctx, ids))
	for _, v := range viewers {
		v.waitFor(evApproved)
		v.waitFor(evStatus)
	}
}

// A frame lost on the way (the server skips one of the viewer's sequence
// numbers): the viewer sees the gap at its next event, resyncs from a
// snapshot and ends where the room is, with the events the user would have
// seen.
func TestGapResyncsAgainstTheServer(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	mv := viewer.mark()
	seq := viewer.m.Seq()
	r.srv.App.Hub().SkipEvent(r.mid, viewer.id)
	must(t, host.m.Stage().GrantAccess(ctx, []string{viewer.id}))
	viewer.waitFor(evAccept)
	viewer.waitFor(evStatus)
	evs := viewer.since(mv)
	wantEvents(t, "viewer", evs, evApproved, evAccept, st(acc))
	if evs[0].Cause != "" {
		t.Fatalf("the status came from the event (%s), not from a resync", evs[0].Cause)
	}
	if viewer.status() != acc || viewer.m.Seq() != seq+2 {
		t.Fatalf("after the resync: %s at seq %d (was %d)", viewer.status(), viewer.m.Seq(), seq)
	}
	// The stream goes on from the snapshot.
	must(t, viewer.m.Stage().Join(ctx))
	agree(t, []*user{host, viewer}, viewer, on)
}

// The server restarts (a deploy: every socket closed with 1001) with users
// on stage and requests pending: the clients reconnect by themselves and
// find the stage as it was — the user on stage still on stage, the invited
// one still invited, the requests still pending in their order with their
// times — and the stage goes on from there.
func TestRestartKeepsTheStage(t *testing.T) {
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	star := r.join("Star", stage.PresetWebinarViewer)
	guest := r.join("Guest", stage.PresetWebinarViewer)
	first := r.join("First", stage.PresetWebinarViewer)
	second := r.join("Second", stage.PresetWebinarViewer)
	must(t, host.m.Stage().GrantAccess(ctx, []string{star.id, guest.id})) // invitations
	must(t, star.m.Stage().Join(ctx))
	must(t, host.m.Stage().Join(ctx))
	must(t, first.m.Stage().RequestAccess(ctx))
	must(t, second.m.Stage().RequestAccess(ctx))
	agree(t, []*user{host, star, guest, first, second}, second, req)
	before := host.m.Requests()
	peers := map[*user]string{}
	everyone := []*user{host, star, guest, first, second}
	for _, u := range everyone {
		peers[u] = u.m.Stage().PeerID()
		u.mark()
	}

	r.srv.Restart(t)
	for _, u := range everyone {
		u.waitFor(client.EventReconnected)
	}
	want := map[*user]stage.Status{host: on, star: on, guest: acc, first: req, second: req}
	for u, s := range want {
		if u.status() != s || u.m.Stage().PeerID() != peers[u] {
			t.Fatalf("%s after the restart: %s (peer %s), want %s (peer %s)", u.name, u.status(), u.m.Stage().PeerID(), s, peers[u])
		}
	}
	if got := host.m.Requests(); !reflect.DeepEqual(got, before) {
		t.Fatalf("pending after the restart %+v, want %+v (order and times kept)", got, before)
	}
	for _, u := range everyone {
		for _, v := range everyone {
			if vm := v.member(); stage.Sees(u.member(), vm) && u.view(v) != want[v] {
				t.Fatalf("%s sees %s as %s, want %s", u.name, v.name, u.view(v), want[v])
			}
		}
	}
	// The restarted stage goes on: the first request is granted before
	// the second, and the star can leave.
	must(t, host.m.Stage().GrantAccess(ctx, []string{first.id}))
	first.waitFor(evApproved)
	first.waitFor(evStatus)
	if got := host.m.Requests(); len(got) != 1 || got[0].UserID != second.id {
		t.Fatalf("pending after granting the first %+v", got)
	}
	must(t, star.m.Stage().Leave(ctx))
	agree(t, everyone, star, off)
}

// The network turns into a black hole (nothing arrives, no FIN, no RST):
// the client notices by its pings within about a second here, emits
// reconnecting, and once the network is back it is in the room again with
// its request still pending.
func TestBlackHoledConnectionIsNoticed(t *testing.T) {
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	p := r.add("Viewer", stage.PresetWebinarViewer)
	px := testserver.StartProxy(t, strings.TrimPrefix(r.srv.URL, "http://"))
	m, err := client.Init(ctx, client.Options{BaseURI: px.URL(), AuthToken: p.Token, RequestTimeout: time.Second,
		PingInterval: 200 * time.Millisecond, PingTimeout: 300 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v := &user{t: t, name: "Viewer", id: p.ID, m: m, px: px, signal: make(chan struct{}, 1)}
	m.On(v.record)
	must(t, m.Join(ctx))
	must(t, m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)

	px.Hold(true) // what the server sends no longer arrives
	start := time.Now()
	v.waitFor(client.EventReconnecting)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("noticed the dead connection after %v", took)
	}
	px.Hold(false)
	px.Cut() // the held socket is gone for good
	v.waitFor(client.EventReconnected)
	if v.status() != req {
		t.Fatalf("after the black hole: %s", v.status())
	}
	if got := host.m.Requests(); len(got) != 1 || got[0].UserID != p.ID {
		t.Fatalf("the host's list %+v", got)
	}
}

// The user's cancel is committed but its answer is lost with the
// connection: the resync finds the request gone and reports the new status,
// not a denial (nobody denied anything).
func TestLostCancelIsNoDenial(t *testing.T) {
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.waitFor(evNew)
	host.waitFor(evList)
	host.mark()
	mv := viewer.mark()
	viewer.px.Hold(true) // the answer will not get through
	n := viewer.px.Sent()
	errc := make(chan error, 1)
	go func() { errc <- viewer.m.Stage().CancelRequestAccess(ctx) }()
	viewer.px.WaitSent(n)
	host.waitFor(evList) // committed: the host's list is empty again
	viewer.px.Cut()
	wantCode(t, <-errc, client.CodeDisconnected)
	viewer.px.Hold(false)
	viewer.waitFor(client.EventReconnected)
	wantEvents(t, "viewer", viewer.since(mv), client.EventReconnecting, st(off), client.EventReconnected)
}

// RealtimeKit's customParticipantId (given when the participant is added)
// and isHost (its preset accepts stage requests) reach the others: in the
// hello, in the host's join event, and in the audience's introduction of a
// user coming on stage.
func TestCustomIDAndHostReachOthers(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	add := func(name, preset, custom string) testserver.Participant {
		var p testserver.Participant
		if err := testserver.Do(r.srv.URL, "POST", "/v1/meetings/"+r.mid+"/participants",
			map[string]string{"name": name, "preset_name": preset, "custom_participant_id": custom}, 201, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	host := r.connect(add("Host", stage.PresetWebinarHost, "crm-host"))
	watcher := r.join("Watcher", stage.PresetWebinarViewer)
	viewer := r.connect(add("Viewer", stage.PresetWebinarViewer, "crm-42"))
	if s := host.m.Self(); s.CustomParticipantID != "crm-host" || !s.IsHost {
		t.Fatalf("host's self %+v", s)
	}
	if s := viewer.m.Self(); s.CustomParticipantID != "crm-42" || s.IsHost {
		t.Fatalf("viewer's self %+v", s)
	}
	host.until("the viewer's join", func() bool {
		for _, p := range host.m.Participants() {
			if p.UserID == viewer.id {
				return p.CustomParticipantID == "crm-42" && !p.IsHost
			}
		}
		return false
	})
	for _, p := range watcher.m.Participants() {
		if p.UserID == host.id && (p.CustomParticipantID != "crm-host" || !p.IsHost) {
			t.Fatalf("the audience's view of the host %+v", p)
		}
	}
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.until("the request", func() bool {
		reqs, err := host.m.Stage().AccessRequests()
		return err == nil && len(reqs) == 1
	})
	must(t, host.m.Stage().GrantAccess(ctx, []string{viewer.id}))
	viewer.until("the grant", func() bool { return viewer.status() == stage.Accepted })
	must(t, viewer.m.Stage().Join(ctx))
	watcher.until("the viewer introduced on stage", func() bool {
		for _, p := range watcher.m.Participants() {
			if p.UserID == viewer.id {
				return p.CustomParticipantID == "crm-42" && p.StageStatus == stage.OnStage
			}
		}
		return false
	})
}

// RealtimeKit's setName before join: the join carries the name, the user and
// the others see it; bad names and a call after join are refused (4005)
// and change nothing.
func TestSetNameBeforeJoin(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.init(r.add("Viewer", stage.PresetWebinarViewer))
	for _, bad := range []string{"", "   ", strings.Repeat("x", protocol.MaxNameBytes+1)} {
		if err := viewer.m.SetName(bad); client.CodeOf(err) != protocol.CodeBadArgs {
			t.Fatalf("SetName(%d bytes): %v, want 4005", len(bad), err)
		}
	}
	must(t, viewer.m.SetName("Vera"))
	if n := viewer.m.Self().Name; n != "Vera" {
		t.Fatalf("self name before join %q", n)
	}
	must(t, viewer.m.Join(ctx))
	if n := viewer.m.Self().Name; n != "Vera" {
		t.Fatalf("self name after join %q (the snapshot's)", n)
	}
	host.until("the viewer, named Vera", func() bool {
		for _, p := range host.m.Participants() {
			if p.UserID == viewer.id {
				return p.Name == "Vera"
			}
		}
		return false
	})
	if err := viewer.m.SetName("Late"); client.CodeOf(err) != protocol.CodeBadArgs {
		t.Fatalf("SetName after join: %v, want 4005", err)
	}
	if n := viewer.m.Self().Name; n != "Vera" {
		t.Fatalf("self name after a refused SetName %q", n)
	}
}
