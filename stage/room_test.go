package stage_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

// Short names for the statuses, causes and codes the tables are written in.
const (
	off = stage.OffStage
	req = stage.Requested
	acc = stage.Accepted
	on  = stage.OnStage

	cRequest = stage.CauseRequest
	cCancel  = stage.CauseCancel
	cGrant   = stage.CauseGrant
	cInvite  = stage.CauseInvite
	cDeny    = stage.CauseDeny
	cKick    = stage.CauseKick
	cJoin    = stage.CauseJoin
	cLeave   = stage.CauseLeave

	e2001 = stage.CodePermissionDenied
	e2003 = stage.CodeStageDisabled
	e2005 = stage.CodeNotInRoom
	e2006 = stage.CodeBadStatus
	e2101 = stage.CodeUnknownUser
	e2102 = stage.CodeEmptyBatch
	e2103 = stage.CodeBatchTooLarge
	e2104 = stage.CodeAlreadyInRoom
	e2105 = stage.CodeBadExpect
	e2106 = stage.CodeScreenshareLimit
)

const (
	host   = stage.PresetWebinarHost
	viewer = stage.PresetWebinarViewer
	live   = stage.PresetLivestreamViewer
	group  = stage.PresetGroupCallParticipant
)

var builtins = stage.BuiltinPresets()

// clock hands out strictly increasing request times.
type clock struct{ now int64 }

func (c *clock) tick() int64 { c.now += 1000; return c.now }

// fixture is a room plus the clock its requests are stamped with.
type fixture struct {
	t    *testing.T
	r    *stage.Room
	c    *clock
	host string // the user the fixture acts as when it needs a host
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, r: stage.NewRoom(), c: &clock{now: 1_700_000_000_000}, host: "fixture-host"}
	f.enter(f.host, host)
	return f
}

func (f *fixture) enter(id, preset string) stage.Member {
	f.t.Helper()
	p, ok := builtins[preset]
	if !ok {
		f.t.Fatalf("no built-in preset %q", preset)
	}
	m, err := f.r.Enter(stage.Member{UserID: id, PeerID: "peer-" + id, Name: "Name " + id, Preset: p})
	if err != nil {
		f.t.Fatalf("Enter(%s): %v", id, err)
	}
	return m
}

func (f *fixture) apply(kind stage.Kind, actor string, targets ...string) stage.Result {
	f.t.Helper()
	res, err := f.r.Apply(stage.Action{Kind: kind, Actor: actor, Targets: targets, At: f.c.tick()})
	if err != nil {
		f.t.Fatalf("setup %s by %s %v: %v", kind, actor, targets, err)
	}
	return res
}

// put enters id with preset and drives it, through ordinary actions, to want.
func (f *fixture) put(id, preset string, want stage.Status) {
	f.t.Helper()
	f.enter(id, preset)
	switch {
	case preset == host && want == acc:
	case preset == host && want == on:
		f.apply(stage.ActJoin, id)
	case preset == viewer && want == off:
	case preset == viewer && want == req:
		f.apply(stage.ActRequest, id)
	case preset == viewer && want == acc:
		f.apply(stage.ActRequest, id)
		f.apply(stage.ActGrant, f.host, id)
	case preset == viewer && want == on:
		f.apply(stage.ActRequest, id)
		f.apply(stage.ActGrant, f.host, id)
		f.apply(stage.ActJoin, id)
	case (preset == live || preset == group) && want == off:
	default:
		f.t.Fatalf("put: %s cannot hold %s", preset, want)
	}
	if m, _ := f.r.Member(id); m.Status != want {
		f.t.Fatalf("put: %s is %s, want %s", id, m.Status, want)
	}
}

// change is the Change expected for id's move, with the audience's view of
// it worked out from id's preset (the rule itself is tested in
// TestVisibility).
func (f *fixture) change(id string, from, to stage.Status, cause stage.Cause) stage.Change {
	f.t.Helper()
	m, ok := f.r.Member(id)
	if !ok {
		f.t.Fatalf("%s is not in the room", id)
	}
	before, after := m, m
	before.Status, after.Status = from, to
	return stage.Change{UserID: id, PeerID: "peer-" + id, From: from, To: to, Cause: cause,
		InViewBefore: before.InView(), InViewAfter: after.InView()}
}

func (f *fixture) status(id string) stage.Status {
	f.t.Helper()
	m, ok := f.r.Member(id)
	if !ok {
		f.t.Fatalf("%s is not in the room", id)
	}
	return m.Status
}

// state is a deep copy of everything the room shows.
type state struct {
	Members []stage.Member
	Pending []stage.Member
	Shares  []stage.Member
}

func snap(r *stage.Room) state { return state{r.Members(), r.Pending(), r.Screenshares()} }

func wantCode(t *testing.T, err error, code stage.Code) *stage.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want code %d", code)
	}
	var se *stage.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %T %v, want *stage.Error", err, err)
	}
	if se.Code != code {
		t.Fatalf("code = %d (%v), want %d", se.Code, err, code)
	}
	if !strings.HasPrefix(err.Error(), fmt.Sprintf("[ERR%d] ", code)) {
		t.Fatalf("message %q does not start with [ERR%d]", err.Error(), code)
	}
	return se
}

// The actions of the matrix. grant, deny and kick name the user under test as
// the target (the actor is a host); grantBy, denyBy and kickBy make the user
// under test the actor on a target for whom the action is valid.
const (
	aRequest = "request"
	aCancel  = "cancel"
	aJoin    = "join"
	aLeave   = "leave"
	aGrant   = "grant"
	aDeny    = "deny"
	aKick    = "kick"
	aGrantBy = "grantBy"
	aDenyBy  = "denyBy"
	aKickBy  = "kickBy"
)

// matrixRow is one (preset, status, action) cell. On success the user whose
// status the action moves (the user under test, or for *By rows the target)
// goes from its status to `to` with `cause` (cause "" means the call is
// accepted but changes nothing); otherwise the call fails with code.
type matrixRow struct {
	preset string
	from   stage.Status
	action string
	to     stage.Status
	cause  stage.Cause
	code   stage.Code
	// pend and added are the Result's PendingChanged and RequestAdded.
	pend, added bool
}

func ok(to stage.Status, cause stage.Cause, pend, added bool) matrixRow {
	return matrixRow{to: to, cause: cause, pend: pend, added: added}
}

func fail(code stage.Code) matrixRow { return matrixRow{code: code} }

// matrix is written out cell by cell; nothing here is derived from the rules.
var matrix = func() []matrixRow {
	type cell struct {
		preset string
		from   stage.Status
		action string
		want   matrixRow
	}
	cells := []cell{
		// webinar_host: ALLOWED, accepts requests; holds only ACCEPTED or ON_STAGE.
		{host, acc, aRequest, ok(acc, "", false, false)}, // already allowed: nothing queued
		{host, acc, aCancel, fail(e2006)},
		{host, acc, aJoin, ok(on, cJoin, false, false)},
		{host, acc, aLeave, fail(e2006)}, // an ALLOWED user has no invitation to decline
		{host, acc, aGrant, fail(e2006)},
		{host, acc, aDeny, fail(e2006)},
		{host, acc, aKick, fail(e2006)}, // already at its resting status
		{host, acc, aGrantBy, ok(acc, cGrant, true, false)},
		{host, acc, aDenyBy, ok(off, cDeny, true, false)},
		{host, acc, aKickBy, ok(off, cKick, false, false)},

		{host, on, aRequest, fail(e2006)},
		{host, on, aCancel, fail(e2006)},
		{host, on, aJoin, fail(e2006)},
		{host, on, aLeave, ok(acc, cLeave, false, false)},
		{host, on, aGrant, fail(e2006)},
		{host, on, aDeny, fail(e2006)},
		{host, on, aKick, ok(acc, cKick, false, false)}, // ALLOWED users return to ACCEPTED
		{host, on, aGrantBy, ok(acc, cGrant, true, false)},
		{host, on, aDenyBy, ok(off, cDeny, true, false)},
		{host, on, aKickBy, ok(off, cKick, false, false)},

		// webinar_viewer: CAN_REQUEST; every status is reachable.
		{viewer, off, aRequest, ok(req, cRequest, true, true)},
		{viewer, off, aCancel, fail(e2006)},
		{viewer, off, aJoin, fail(e2006)},
		{viewer, off, aLeave, fail(e2006)},
		{viewer, off, aGrant, ok(acc, cInvite, false, false)}, // invitation
		{viewer, off, aDeny, fail(e2006)},
		{viewer, off, aKick, fail(e2006)},
		{viewer, off, aGrantBy, fail(e2001)},
		{viewer, off, aDenyBy, fail(e2001)},
		{viewer, off, aKickBy, fail(e2001)},

		{viewer, req, aRequest, fail(e2006)},
		{viewer, req, aCancel, ok(off, cCancel, true, false)},
		{viewer, req, aJoin, fail(e2006)},
		{viewer, req, aLeave, fail(e2006)},
		{viewer, req, aGrant, ok(acc, cGrant, true, false)},
		{viewer, req, aDeny, ok(off, cDeny, true, false)},
		{viewer, req, aKick, fail(e2006)},
		{viewer, req, aGrantBy, fail(e2001)},
		{viewer, req, aDenyBy, fail(e2001)},
		{viewer, req, aKickBy, fail(e2001)},

		{viewer, acc, aRequest, fail(e2006)},
		{viewer, acc, aCancel, fail(e2006)},
		{viewer, acc, aJoin, ok(on, cJoin, false, false)},
		{viewer, acc, aLeave, ok(off, cLeave, false, false)}, // declines
		{viewer, acc, aGrant, fail(e2006)},
		{viewer, acc, aDeny, fail(e2006)},
		{viewer, acc, aKick, ok(off, cKick, false, false)},
		{viewer, acc, aGrantBy, fail(e2001)},
		{viewer, acc, aDenyBy, fail(e2001)},
		{viewer, acc, aKickBy, fail(e2001)},

		{viewer, on, aRequest, fail(e2006)},
		{viewer, on, aCancel, fail(e2006)},
		{viewer, on, aJoin, fail(e2006)},
		{viewer, on, aLeave, ok(off, cLeave, false, false)},
		{viewer, on, aGrant, fail(e2006)},
		{viewer, on, aDeny, fail(e2006)},
		{viewer, on, aKick, ok(off, cKick, false, false)},
		{viewer, on, aGrantBy, fail(e2001)},
		{viewer, on, aDenyBy, fail(e2001)},
		{viewer, on, aKickBy, fail(e2001)},

		// livestream_viewer: NOT_ALLOWED; only ever OFF_STAGE.
		{live, off, aRequest, fail(e2001)},
		{live, off, aCancel, fail(e2006)},
		{live, off, aJoin, fail(e2006)},
		{live, off, aLeave, fail(e2006)},
		{live, off, aGrant, fail(e2001)}, // may never be invited
		{live, off, aDeny, fail(e2006)},
		{live, off, aKick, fail(e2006)},
		{live, off, aGrantBy, fail(e2001)},
		{live, off, aDenyBy, fail(e2001)},
		{live, off, aKickBy, fail(e2001)},

		// group_call_participant: stage disabled; only ever OFF_STAGE.
		{group, off, aRequest, fail(e2003)},
		{group, off, aCancel, fail(e2003)},
		{group, off, aJoin, fail(e2003)},
		{group, off, aLeave, fail(e2003)},
		{group, off, aGrant, fail(e2003)},
		{group, off, aDeny, fail(e2003)},
		{group, off, aKick, fail(e2003)},
		{group, off, aGrantBy, fail(e2001)}, // no accept_stage_requests
		{group, off, aDenyBy, fail(e2001)},
		{group, off, aKickBy, fail(e2001)},
	}
	rows := make([]matrixRow, len(cells))
	for i, c := range cells {
		rows[i] = c.want
		rows[i].preset, rows[i].from, rows[i].action = c.preset, c.from, c.action
	}
	return rows
}()

// TestMatrixComplete checks that the matrix has exactly one row for every
// reachable (preset, status) pair and every action.
func TestMatrixComplete(t *testing.T) {
	reachable := map[string][]stage.Status{
		host:   {acc, on},
		viewer: {off, req, acc, on},
		live:   {off},
		group:  {off},
	}
	actions := []string{aRequest, aCancel, aJoin, aLeave, aGrant, aDeny, aKick, aGrantBy, aDenyBy, aKickBy}
	seen := map[string]int{}
	for _, row := range matrix {
		seen[fmt.Sprint(row.preset, row.from, row.action)]++
	}
	n := 0
	for p, sts := range reachable {
		for _, s := range sts {
			for _, a := range actions {
				n++
				if k := fmt.Sprint(p, s, a); seen[k] != 1 {
					t.Errorf("matrix has %d rows for %s %s %s, want 1", seen[k], p, s, a)
				}
			}
		}
	}
	if len(matrix) != n {
		t.Errorf("matrix has %d rows, want %d", len(matrix), n)
	}
}

func TestMatrix(t *testing.T) {
	for _, row := range matrix {
		name := fmt.Sprintf("%s/%s/%s", row.preset, row.from, row.action)
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			// Others in the room, so that the action has something to
			// leave untouched and the pending list is not trivially empty.
			f.put("early-requester", viewer, req)
			f.put("bystander", viewer, on)
			f.put("u", row.preset, row.from)
			f.put("late-requester", viewer, req)

			// The action and the user whose status it moves.
			var a stage.Action
			moved := "u"
			switch row.action {
			case aRequest, aCancel, aJoin, aLeave:
				a = stage.Action{Kind: stage.Kind(row.action), Actor: "u"}
			case aGrant, aDeny, aKick:
				a = stage.Action{Kind: stage.Kind(row.action), Actor: f.host, Targets: []string{"u"}}
			case aGrantBy, aDenyBy:
				f.put("t", viewer, req)
				kind := stage.ActGrant
				if row.action == aDenyBy {
					kind = stage.ActDeny
				}
				a = stage.Action{Kind: kind, Actor: "u", Targets: []string{"t"}}
				moved = "t"
			case aKickBy:
				f.put("t", viewer, on)
				a = stage.Action{Kind: stage.ActKick, Actor: "u", Targets: []string{"t"}}
				moved = "t"
			default:
				t.Fatalf("unknown action %q", row.action)
			}
			a.At = f.c.tick()

			before := snap(f.r)
			movedFrom := f.status(moved)
			res, err := f.r.Apply(a)
			after := snap(f.r)

			if row.code != 0 {
				se := wantCode(t, err, row.code)
				if !reflect.DeepEqual(res, stage.Result{}) {
					t.Errorf("refused action returned %+v", res)
				}
				if !reflect.DeepEqual(before, after) {
					t.Errorf("refused action changed the room:\nbefore %+v\nafter  %+v", before, after)
				}
				// A refusal about a batch's target names it; a refusal
				// about the actor names nobody.
				var wantIDs []string
				if a.Actor != "u" {
					wantIDs = []string{"u"}
				}
				if !slices.Equal(se.UserIDs, wantIDs) {
					t.Errorf("error names %q, want %q", se.UserIDs, wantIDs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got := f.status(moved); got != row.to {
				t.Errorf("%s status = %s, want %s", moved, got, row.to)
			}
			var wantChanges []stage.Change
			if row.cause != "" {
				wantChanges = []stage.Change{f.change(moved, movedFrom, row.to, row.cause)}
			}
			if !reflect.DeepEqual(res.Changes, wantChanges) {
				t.Errorf("changes = %+v, want %+v", res.Changes, wantChanges)
			}
			if res.PendingChanged != row.pend || res.RequestAdded != row.added {
				t.Errorf("PendingChanged, RequestAdded = %v, %v; want %v, %v", res.PendingChanged, res.RequestAdded, row.pend, row.added)
			}
			// Nobody else moved.
			for i, m := range after.Members {
				if m.UserID != moved && m.Status != before.Members[i].Status {
					t.Errorf("%s moved from %s to %s", m.UserID, before.Members[i].Status, m.Status)
				}
			}
			// The pending list: the other requesters in the order they
			// asked; u in its place if it still requests, last if it just
			// asked; t (asked last) gone once granted or denied.
			wantPending := []string{"early-requester", "late-requester"}
			if moved == "u" && row.to == req {
				wantPending = []string{"early-requester", "late-requester", "u"}
			}
			if got := ids(after.Pending); !slices.Equal(got, wantPending) {
				t.Errorf("pending = %q, want %q", got, wantPending)
			}
			if m, _ := f.r.Member(moved); (m.RequestedAt != 0) != (m.Status == req) {
				t.Errorf("%s: RequestedAt %d with status %s", moved, m.RequestedAt, m.Status)
			}
			if row.action == aRequest && row.to == req {
				if m, _ := f.r.Member("u"); m.RequestedAt != a.At {
					t.Errorf("RequestedAt = %d, want %d", m.RequestedAt, a.At)
				}
			}
		})
	}
}

func ids(ms []stage.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.UserID)
	}
	return out
}

func TestActorNotInRoom(t *testing.T) {
	kinds := []stage.Kind{stage.ActRequest, stage.ActCancel, stage.ActGrant, stage.ActDeny, stage.ActKick, stage.ActJoin, stage.ActLeave, "bogus"}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			f := newFixture(t)
			f.put("v", viewer, req)
			f.put("gone", viewer, req)
			if _, _, err := f.r.Exit("gone"); err != nil {
				t.Fatal(err)
			}
			for _, actor := range []string{"stranger", "gone", ""} {
				before := snap(f.r)
				res, err := f.r.Apply(stage.Action{Kind: kind, Actor: actor, Targets: []string{"v"}, At: f.c.tick()})
				wantCode(t, err, e2005)
				if !reflect.DeepEqual(res, stage.Result{}) || !reflect.DeepEqual(before, snap(f.r)) {
					t.Errorf("actor %q: refused action changed something", actor)
				}
			}
		})
	}
}

func TestEnterExit(t *testing.T) {
	r := stage.NewRoom()
	cases := []struct {
		id, preset string
		want       stage.Status
	}{
		{"h", host, acc},
		{"v", viewer, off},
		{"l", live, off},
		{"g", group, off},
	}
	for _, c := range cases {
		// Enter ignores the status and request time it is handed.
		m, err := r.Enter(stage.Member{UserID: c.id, PeerID: "p" + c.id, Name: c.id, Preset: builtins[c.preset], Status: on, RequestedAt: 42})
		if err != nil {
			t.Fatalf("Enter(%s): %v", c.id, err)
		}
		want := stage.Member{UserID: c.id, PeerID: "p" + c.id, Name: c.id, Preset: builtins[c.preset], Status: c.want}
		if m != want {
			t.Errorf("Enter(%s) = %+v, want %+v", c.id, m, want)
		}
		if got, _ := r.Member(c.id); got != want {
			t.Errorf("Member(%s) = %+v, want %+v", c.id, got, want)
		}
	}
	if r.Len() != 4 {
		t.Errorf("Len = %d, want 4", r.Len())
	}
	if got := ids(r.Members()); !slices.Equal(got, []string{"h", "v", "l", "g"}) {
		t.Errorf("Members order = %q", got)
	}

	before := snap(r)
	_, err := r.Enter(stage.Member{UserID: "v", Preset: builtins[host]})
	wantCode(t, err, e2104)
	if !reflect.DeepEqual(before, snap(r)) {
		t.Error("refused Enter changed the room")
	}

	_, _, err = r.Exit("nobody")
	wantCode(t, err, e2005)
	if !reflect.DeepEqual(before, snap(r)) {
		t.Error("refused Exit changed the room")
	}

	// Returned members are copies.
	ms := r.Members()
	ms[0].Status = off
	if m, _ := r.Member("h"); m.Status != acc {
		t.Error("Members returned a member that aliases the room")
	}

	m, res, err := r.Exit("l")
	if err != nil || m.UserID != "l" || !reflect.DeepEqual(res, stage.Result{}) {
		t.Errorf("Exit(l) = %+v, %+v, %v", m, res, err)
	}
	if _, in := r.Member("l"); in || r.Len() != 3 {
		t.Error("l still in the room")
	}
	if got := ids(r.Members()); !slices.Equal(got, []string{"h", "v", "g"}) {
		t.Errorf("Members order after exit = %q", got)
	}
	// Re-entering puts the user last, at its initial status.
	if _, err := r.Enter(stage.Member{UserID: "l", Preset: builtins[viewer]}); err != nil {
		t.Fatal(err)
	}
	if got := ids(r.Members()); !slices.Equal(got, []string{"h", "v", "g", "l"}) {
		t.Errorf("Members order after re-entry = %q", got)
	}
}

func TestInviteAndDecline(t *testing.T) {
	f := newFixture(t)
	f.put("v", viewer, off)
	res := f.apply(stage.ActGrant, f.host, "v")
	want := stage.Result{Changes: []stage.Change{{UserID: "v", PeerID: "peer-v", From: off, To: acc, Cause: cInvite}}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("invite = %+v, want %+v", res, want)
	}
	// Declining the invitation.
	res = f.apply(stage.ActLeave, "v")
	want = stage.Result{Changes: []stage.Change{f.change("v", acc, off, cLeave)}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("decline = %+v, want %+v", res, want)
	}
	// Invited again, the user accepts and joins.
	f.apply(stage.ActGrant, f.host, "v")
	res = f.apply(stage.ActJoin, "v")
	want = stage.Result{Changes: []stage.Change{f.change("v", acc, on, cJoin)}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("join = %+v, want %+v", res, want)
	}
}

func TestAllowedRequestIsANoOp(t *testing.T) {
	f := newFixture(t)
	f.put("h2", host, acc)
	before := snap(f.r)
	res, err := f.r.Apply(stage.Action{Kind: stage.ActRequest, Actor: "h2", At: f.c.tick()})
	if err != nil {
		t.Fatalf("request by ALLOWED user: %v", err)
	}
	if !reflect.DeepEqual(res, stage.Result{}) {
		t.Errorf("result = %+v, want nothing", res)
	}
	if !reflect.DeepEqual(before, snap(f.r)) || len(f.r.Pending()) != 0 {
		t.Error("request by ALLOWED user changed the room")
	}
	if f.status("h2") != acc {
		t.Errorf("status = %s", f.status("h2"))
	}
}

func TestKickAllowedOnStage(t *testing.T) {
	f := newFixture(t)
	f.put("h2", host, on)
	res := f.apply(stage.ActKick, f.host, "h2")
	want := stage.Result{Changes: []stage.Change{f.change("h2", on, acc, cKick)}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("kick = %+v, want %+v", res, want)
	}
	// A host may kick itself off stage, and rejoin.
	f.apply(stage.ActJoin, f.host)
	f.apply(stage.ActKick, f.host, f.host)
	if s := f.status(f.host); s != acc {
		t.Errorf("host after self-kick: %s", s)
	}
	f.apply(stage.ActJoin, f.host)
}

func TestExpect(t *testing.T) {
	cases := []struct {
		name    string
		kind    stage.Kind
		targets []string
		expect  []stage.Status
		code    stage.Code
		badIDs  []string
	}{
		{"matches", stage.ActGrant, []string{"r1", "o1"}, []stage.Status{req, off}, 0, nil},
		{"blank entries are not checked", stage.ActGrant, []string{"r1", "o1"}, []stage.Status{"", ""}, 0, nil},
		{"request cancelled before the grant", stage.ActGrant, []string{"r1", "o1"}, []stage.Status{req, req}, e2006, []string{"o1"}},
		{"both moved", stage.ActGrant, []string{"r1", "o1"}, []stage.Status{off, req}, e2006, []string{"r1", "o1"}},
		{"deny of a moved user", stage.ActDeny, []string{"r1"}, []stage.Status{off}, e2006, []string{"r1"}},
		{"kick of a moved user", stage.ActKick, []string{"s1"}, []stage.Status{acc}, e2006, []string{"s1"}},
		{"too few", stage.ActGrant, []string{"r1", "o1"}, []stage.Status{req}, e2105, nil},
		{"too many", stage.ActGrant, []string{"r1"}, []stage.Status{req, req}, e2105, nil},
		{"not a status", stage.ActGrant, []string{"r1"}, []stage.Status{"WAITING"}, e2006, []string{"r1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.put("r1", viewer, req)
			f.put("o1", viewer, off)
			f.put("s1", viewer, on)
			before := snap(f.r)
			res, err := f.r.Apply(stage.Action{Kind: c.kind, Actor: f.host, Targets: c.targets, Expect: c.expect, At: f.c.tick()})
			if c.code == 0 {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if len(res.Changes) != len(c.targets) {
					t.Errorf("changes = %+v", res.Changes)
				}
				return
			}
			se := wantCode(t, err, c.code)
			if !slices.Equal(se.UserIDs, c.badIDs) {
				t.Errorf("error names %q, want %q", se.UserIDs, c.badIDs)
			}
			if !reflect.DeepEqual(before, snap(f.r)) {
				t.Error("refused action changed the room")
			}
		})
	}
}

func TestUnknownKind(t *testing.T) {
	f := newFixture(t)
	before := snap(f.r)
	_, err := f.r.Apply(stage.Action{Kind: "promote", Actor: f.host})
	wantCode(t, err, e2006)
	if !reflect.DeepEqual(before, snap(f.r)) {
		t.Error("refused action changed the room")
	}
}

// batchRoom: the fixture host, requesters r1..r3 (in that order), invitee
// candidates o1 o2, on-stage viewers s1 s2, a livestream viewer l1 and a
// group-call participant g1.
func batchRoom(t *testing.T) *fixture {
	f := newFixture(t)
	f.put("r1", viewer, req)
	f.put("o1", viewer, off)
	f.put("s1", viewer, on)
	f.put("r2", viewer, req)
	f.put("l1", live, off)
	f.put("o2", viewer, off)
	f.put("g1", group, off)
	f.put("s2", viewer, on)
	f.put("r3", viewer, req)
	return f
}

func TestBatches(t *testing.T) {
	type ch struct {
		id       string
		from, to stage.Status
		cause    stage.Cause
	}
	cases := []struct {
		name    string
		kind    stage.Kind
		targets []string
		// success
		changes []ch
		pending []string
		pend    bool
		// failure
		code   stage.Code
		badIDs []string
	}{
		{name: "grant all requesters", kind: stage.ActGrant, targets: []string{"r3", "r1", "r2"},
			changes: []ch{{"r3", req, acc, cGrant}, {"r1", req, acc, cGrant}, {"r2", req, acc, cGrant}}, pending: nil, pend: true},
		{name: "grant requesters and invite", kind: stage.ActGrant, targets: []string{"o2", "r2", "o1"},
			changes: []ch{{"o2", off, acc, cInvite}, {"r2", req, acc, cGrant}, {"o1", off, acc, cInvite}}, pending: []string{"r1", "r3"}, pend: true},
		{name: "invite only", kind: stage.ActGrant, targets: []string{"o1", "o2"},
			changes: []ch{{"o1", off, acc, cInvite}, {"o2", off, acc, cInvite}}, pending: []string{"r1", "r2", "r3"}, pend: false},
		{name: "duplicates are applied once", kind: stage.ActGrant, targets: []string{"r2", "r2", "o1", "r2", "o1"},
			changes: []ch{{"r2", req, acc, cGrant}, {"o1", off, acc, cInvite}}, pending: []string{"r1", "r3"}, pend: true},
		{name: "deny two", kind: stage.ActDeny, targets: []string{"r1", "r3", "r1"},
			changes: []ch{{"r1", req, off, cDeny}, {"r3", req, off, cDeny}}, pending: []string{"r2"}, pend: true},
		{name: "kick two", kind: stage.ActKick, targets: []string{"s2", "s1"},
			changes: []ch{{"s2", on, off, cKick}, {"s1", on, off, cKick}}, pending: []string{"r1", "r2", "r3"}, pend: false},

		{name: "one bad status spoils a grant", kind: stage.ActGrant, targets: []string{"r1", "o1", "s1", "r2"},
			code: e2006, badIDs: []string{"s1"}},
		{name: "bad statuses named in order", kind: stage.ActGrant, targets: []string{"s2", "r1", "s1", "s2"},
			code: e2006, badIDs: []string{"s2", "s1"}},
		{name: "one bad status spoils a deny", kind: stage.ActDeny, targets: []string{"r1", "r2", "o1"},
			code: e2006, badIDs: []string{"o1"}},
		{name: "one bad status spoils a kick", kind: stage.ActKick, targets: []string{"s1", "r3", "s2"},
			code: e2006, badIDs: []string{"r3"}},
		{name: "a NOT_ALLOWED target spoils a grant", kind: stage.ActGrant, targets: []string{"r1", "l1"},
			code: e2001, badIDs: []string{"l1"}},
		{name: "a stage-disabled target spoils a grant", kind: stage.ActGrant, targets: []string{"r1", "g1", "r2"},
			code: e2003, badIDs: []string{"g1"}},
		{name: "a stage-disabled target spoils a kick", kind: stage.ActKick, targets: []string{"s1", "g1"},
			code: e2003, badIDs: []string{"g1"}},
		// When targets fail for different reasons, the error carries the
		// first code of 2003, 2001, 2006 that applies and names its ids.
		{name: "mixed refusals: 2003 first", kind: stage.ActGrant, targets: []string{"s1", "l1", "g1"},
			code: e2003, badIDs: []string{"g1"}},
		{name: "mixed refusals: 2001 before 2006", kind: stage.ActGrant, targets: []string{"s1", "l1"},
			code: e2001, badIDs: []string{"l1"}},
		{name: "unknown id", kind: stage.ActGrant, targets: []string{"r1", "ghost"},
			code: e2101, badIDs: []string{"ghost"}},
		{name: "unknown ids named once, in order", kind: stage.ActDeny, targets: []string{"zed", "r1", "ghost", "zed", "s1"},
			code: e2101, badIDs: []string{"zed", "ghost"}},
		{name: "unknown ids come before status checks", kind: stage.ActKick, targets: []string{"r1", "ghost"},
			code: e2101, badIDs: []string{"ghost"}},
		{name: "empty id is unknown", kind: stage.ActKick, targets: []string{""},
			code: e2101, badIDs: []string{""}},
		{name: "empty grant", kind: stage.ActGrant, targets: nil, code: e2102},
		{name: "empty deny", kind: stage.ActDeny, targets: []string{}, code: e2102},
		{name: "empty kick", kind: stage.ActKick, targets: nil, code: e2102},
		{name: "too large grant", kind: stage.ActGrant, targets: repeat("r1", stage.MaxBatch+1), code: e2103},
		{name: "too large deny", kind: stage.ActDeny, targets: repeat("ghost", stage.MaxBatch+1), code: e2103},
		{name: "too large kick", kind: stage.ActKick, targets: repeat("s1", stage.MaxBatch+1), code: e2103},
		{name: "MaxBatch duplicates", kind: stage.ActGrant, targets: repeat("r1", stage.MaxBatch),
			changes: []ch{{"r1", req, acc, cGrant}}, pending: []string{"r2", "r3"}, pend: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := batchRoom(t)
			before := snap(f.r)
			res, err := f.r.Apply(stage.Action{Kind: c.kind, Actor: f.host, Targets: c.targets, At: f.c.tick()})
			if c.code != 0 {
				se := wantCode(t, err, c.code)
				if !slices.Equal(se.UserIDs, c.badIDs) {
					t.Errorf("error names %q, want %q", se.UserIDs, c.badIDs)
				}
				if !reflect.DeepEqual(res, stage.Result{}) || !reflect.DeepEqual(before, snap(f.r)) {
					t.Error("refused batch changed the room")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			var want []stage.Change
			for _, w := range c.changes {
				want = append(want, f.change(w.id, w.from, w.to, w.cause))
			}
			if !reflect.DeepEqual(res.Changes, want) {
				t.Errorf("changes = %+v\nwant %+v", res.Changes, want)
			}
			if res.PendingChanged != c.pend || res.RequestAdded {
				t.Errorf("PendingChanged, RequestAdded = %v, %v; want %v, false", res.PendingChanged, res.RequestAdded, c.pend)
			}
			if got := ids(f.r.Pending()); !slices.Equal(got, c.pending) {
				t.Errorf("pending = %q, want %q", got, c.pending)
			}
			for _, w := range c.changes {
				if s := f.status(w.id); s != w.to {
					t.Errorf("%s = %s, want %s", w.id, s, w.to)
				}
			}
		})
	}
}

func repeat(id string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = id
	}
	return out
}

// TestBatchOfMaxBatch grants and kicks MaxBatch distinct users at once.
func TestBatchOfMaxBatch(t *testing.T) {
	f := newFixture(t)
	var all []string
	for i := range stage.MaxBatch {
		id := fmt.Sprintf("v%04d", i)
		f.enter(id, viewer)
		if i%2 == 0 {
			f.apply(stage.ActRequest, id)
		}
		all = append(all, id)
	}
	res := f.apply(stage.ActGrant, f.host, all...)
	if len(res.Changes) != stage.MaxBatch || !res.PendingChanged {
		t.Fatalf("grant: %d changes, PendingChanged %v", len(res.Changes), res.PendingChanged)
	}
	for i, c := range res.Changes {
		want := cInvite
		if i%2 == 0 {
			want = cGrant
		}
		if c.UserID != all[i] || c.Cause != want || c.To != acc {
			t.Fatalf("change %d = %+v", i, c)
		}
	}
	if len(f.r.Pending()) != 0 {
		t.Fatalf("pending = %d", len(f.r.Pending()))
	}
	// One more unknown id and the whole batch is refused.
	_, err := f.r.Apply(stage.Action{Kind: stage.ActKick, Actor: f.host, Targets: append(all[:stage.MaxBatch-1:stage.MaxBatch-1], "ghost")})
	se := wantCode(t, err, e2101)
	if !slices.Equal(se.UserIDs, []string{"ghost"}) {
		t.Errorf("names %q", se.UserIDs)
	}
	if !strings.HasSuffix(se.Error(), ": ghost") {
		t.Errorf("message %q", se.Error())
	}
	res = f.apply(stage.ActKick, f.host, all...)
	if len(res.Changes) != stage.MaxBatch || res.PendingChanged {
		t.Fatalf("kick: %d changes, PendingChanged %v", len(res.Changes), res.PendingChanged)
	}
}

func TestPendingOrder(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		f.enter(id, viewer)
	}
	at := map[string]int64{}
	request := func(id string) {
		t.Helper()
		res := f.apply(stage.ActRequest, id)
		at[id] = f.c.now
		if !res.PendingChanged || !res.RequestAdded {
			t.Fatalf("request %s: %+v", id, res)
		}
	}
	check := func(want ...string) {
		t.Helper()
		p := f.r.Pending()
		if got := ids(p); !slices.Equal(got, want) {
			t.Fatalf("pending = %q, want %q", got, want)
		}
		for _, m := range p {
			if m.Status != req || m.RequestedAt != at[m.UserID] {
				t.Errorf("%s: status %s RequestedAt %d, want %d", m.UserID, m.Status, m.RequestedAt, at[m.UserID])
			}
		}
	}

	// Requested in an order different from the entry order.
	request("c")
	request("a")
	request("e")
	request("b")
	check("c", "a", "e", "b")

	f.apply(stage.ActCancel, "a")
	check("c", "e", "b")
	if m, _ := f.r.Member("a"); m.RequestedAt != 0 {
		t.Errorf("cancelled request keeps RequestedAt %d", m.RequestedAt)
	}

	// A new request goes last, with its new time.
	request("a")
	check("c", "e", "b", "a")

	f.apply(stage.ActGrant, f.host, "e")
	check("c", "b", "a")
	if m, _ := f.r.Member("e"); m.RequestedAt != 0 {
		t.Errorf("granted request keeps RequestedAt %d", m.RequestedAt)
	}
	f.apply(stage.ActDeny, f.host, "a", "c")
	check("b")
	request("d")
	request("c")
	check("b", "d", "c")

	// A requester who leaves the meeting withdraws the request.
	m, res, err := f.r.Exit("d")
	if err != nil {
		t.Fatal(err)
	}
	if m.UserID != "d" || m.Status != req || m.RequestedAt != at["d"] {
		t.Errorf("Exit returned %+v", m)
	}
	if !reflect.DeepEqual(res, stage.Result{PendingChanged: true}) {
		t.Errorf("Exit of a requester = %+v, want PendingChanged only", res)
	}
	check("b", "c")

	// Exit of someone without a request leaves the list alone.
	_, res, err = f.r.Exit("e")
	if err != nil || res.PendingChanged {
		t.Errorf("Exit of a non-requester = %+v, %v", res, err)
	}
	check("b", "c")

	// Coming back: no request until asked again.
	f.enter("d", viewer)
	check("b", "c")
	request("d")
	check("b", "c", "d")
}

func TestErrorMessage(t *testing.T) {
	many := make([]string, 12)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	cases := []struct {
		err  *stage.Error
		want string
	}{
		{&stage.Error{Code: 2006, Message: "no"}, "[ERR2006] no"},
		{&stage.Error{Code: 2101, Message: "not in the room", UserIDs: []string{"a", "b"}}, "[ERR2101] not in the room: a, b"},
		{&stage.Error{Code: 2101, Message: "x", UserIDs: many}, "[ERR2101] x: u0, u1, u2, u3, u4, u5, u6, u7, u8, u9 and 2 more"},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
	wrapped := fmt.Errorf("apply: %w", &stage.Error{Code: 2003})
	if stage.CodeOf(wrapped) != 2003 {
		t.Errorf("CodeOf(wrapped) = %d", stage.CodeOf(wrapped))
	}
	if stage.CodeOf(errors.New("plain")) != 0 || stage.CodeOf(nil) != 0 {
		t.Error("CodeOf of a non-stage error is not 0")
	}
}
