package stage_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

// The fuzz input is a program over a pool of fuzzUsers users:
//
//	op%10 in 0,1: Enter  user preset
//	op%10 == 2:   Exit   user            (user%7 == 6: "ghost", who never enters)
//	op%10 == 8:   ClaimScreenshare   user
//	op%10 == 9:   ReleaseScreenshare user
//	otherwise:    Apply  kind actor [count targets... expectMode expects...]
//
// The bracketed part follows only for grant, deny and kick. A count byte of
// 0xff names stage.MaxBatch+1 users; otherwise count%8 targets follow, each
// a user, an unknown id or "". expectMode%4: 0 no Expect, 1 one status byte
// per target, 2 the targets' current statuses, 3 a length mismatch.

const fuzzUsers = 6

var fuzzKinds = []stage.Kind{stage.ActRequest, stage.ActCancel, stage.ActGrant, stage.ActDeny, stage.ActKick, stage.ActJoin, stage.ActLeave, "bogus"}

const (
	kRequest = iota
	kCancel
	kGrant
	kDeny
	kKick
	kJoin
	kLeave
	kBogus
)

// fuzzPresets: the four built-ins first (indexes 0-3: host, viewer,
// livestream viewer, group call), then every other combination of the four
// permissions.
var fuzzPresets = func() []stage.Preset {
	b := stage.BuiltinPresets()
	out := []stage.Preset{b[host], b[viewer], b[live], b[group]}
	for _, enabled := range []bool{true, false} {
		for _, access := range []stage.Access{stage.Allowed, stage.CanRequest, stage.NotAllowed} {
			for _, accept := range []bool{true, false} {
				for _, all := range []bool{false, true} {
					p := stage.Permissions{StageEnabled: enabled, StageAccess: access, AcceptStageRequests: accept, SeeAllParticipants: all}
					if !slices.ContainsFunc(out, func(q stage.Preset) bool { return q.Permissions == p }) {
						out = append(out, stage.Preset{Name: fmt.Sprintf("custom_%v_%s_%v_%v", enabled, access, accept, all), Permissions: p})
					}
				}
			}
		}
	}
	// Screen share: two slots, and none allowed.
	two := b[host]
	two.Name, two.MaxScreenshareCount = "two_shares", 2
	noShare := b[host]
	noShare.Name, noShare.Media.Screenshare.CanProduce = "no_share", stage.NotAllowed
	return append(out, two, noShare)
}()

var fuzzExpect = []stage.Status{"", stage.OffStage, stage.Requested, stage.Accepted, stage.OnStage}

var stageCodes = map[stage.Code]bool{
	stage.CodePermissionDenied: true, stage.CodeStageDisabled: true, stage.CodeNotInRoom: true,
	stage.CodeBadStatus: true, stage.CodeUnknownUser: true, stage.CodeEmptyBatch: true,
	stage.CodeBatchTooLarge: true, stage.CodeAlreadyInRoom: true, stage.CodeBadExpect: true,
	stage.CodeScreenshareLimit: true,
}

func fuzzUser(b byte) string {
	if int(b)%(fuzzUsers+1) == fuzzUsers {
		return "ghost"
	}
	return fmt.Sprintf("u%d", int(b)%(fuzzUsers+1))
}

func fuzzTarget(b byte) string {
	switch n := int(b) % (fuzzUsers + 2); n {
	case fuzzUsers:
		return "ghost"
	case fuzzUsers + 1:
		return ""
	default:
		return fmt.Sprintf("u%d", n)
	}
}

// script builds seed programs.
type script []byte

func (s *script) enter(user, preset int) *script {
	*s = append(*s, 0, byte(user), byte(preset))
	return s
}

func (s *script) exit(user int) *script { *s = append(*s, 2, byte(user)); return s }

func (s *script) act(kind, actor int, targets ...int) *script {
	*s = append(*s, 3, byte(kind), byte(actor))
	if kind == kGrant || kind == kDeny || kind == kKick {
		*s = append(*s, byte(len(targets)))
		for _, t := range targets {
			*s = append(*s, byte(t))
		}
		*s = append(*s, 0)
	}
	return s
}

// actExpect is a grant, deny or kick with one expected status per target
// (indexes into fuzzExpect).
func (s *script) actExpect(kind, actor int, targets, expect []int) *script {
	*s = append(*s, 3, byte(kind), byte(actor), byte(len(targets)))
	for _, t := range targets {
		*s = append(*s, byte(t))
	}
	*s = append(*s, 1)
	for _, e := range expect {
		*s = append(*s, byte(e))
	}
	return s
}

func (s *script) claim(user int) *script   { *s = append(*s, 8, byte(user)); return s }
func (s *script) release(user int) *script { *s = append(*s, 9, byte(user)); return s }

func (s *script) raw(b ...byte) *script { *s = append(*s, b...); return s }

func fuzzSeeds() [][]byte {
	const h, v, l, g = 0, 1, 2, 3 // presets
	var seeds []script
	add := func(s *script) { seeds = append(seeds, *s) }

	// The main story: request, grant, join, kick, request again, exit.
	add(new(script).enter(0, h).enter(1, v).act(kRequest, 1).act(kGrant, 0, 1).act(kJoin, 1).
		act(kKick, 0, 1).act(kRequest, 1).exit(1))
	// Invitation, declined then accepted; leave.
	add(new(script).enter(0, h).enter(1, v).act(kGrant, 0, 1).act(kLeave, 1).act(kGrant, 0, 1).
		act(kJoin, 1).act(kLeave, 1))
	// Hosts: request is a no-op, join, leave, kick each other.
	add(new(script).enter(0, h).enter(1, h).act(kRequest, 1).act(kJoin, 1).act(kKick, 0, 1).
		act(kJoin, 0).act(kLeave, 0).act(kKick, 1, 0))
	// Every action by every built-in preset.
	all := new(script).enter(0, h).enter(1, v).enter(2, l).enter(3, g)
	for actor := range 4 {
		for kind := range len(fuzzKinds) {
			all.act(kind, actor, 1, 2, 3)
		}
	}
	add(all)
	// A queue: requests in an order, cancel, re-request, exit, grant/deny.
	add(new(script).enter(0, h).enter(1, v).enter(2, v).enter(3, v).enter(4, v).
		act(kRequest, 3).act(kRequest, 1).act(kRequest, 4).act(kRequest, 2).act(kCancel, 1).
		act(kRequest, 1).exit(4).act(kGrant, 0, 2, 2, 1).act(kDeny, 0, 3).enter(4, v).act(kRequest, 4))
	// Batches refused: unknown ids, "", a bad status, empty, too large.
	add(new(script).enter(0, h).enter(1, v).enter(2, v).act(kRequest, 1).
		act(kGrant, 0, 1, fuzzUsers).act(kGrant, 0, 1, fuzzUsers+1).act(kDeny, 0, 1, 2).act(kKick, 0).
		raw(3, kGrant, 0, 0xff))
	// A grant overtaken by a cancel (expect REQUESTED), a stale kick.
	add(new(script).enter(0, h).enter(1, v).act(kRequest, 1).act(kCancel, 1).
		actExpect(kGrant, 0, []int{1}, []int{2}).act(kGrant, 0, 1).act(kJoin, 1).
		actExpect(kKick, 0, []int{1}, []int{3}).raw(3, kKick, 0, 1, 1, 2))
	// Single refusals: kick of a requester, grant of a NOT_ALLOWED user,
	// an ALLOWED user leaving from ACCEPTED, deny of a non-requester.
	add(new(script).enter(0, h).enter(1, v).enter(2, l).enter(3, v).act(kRequest, 1).act(kKick, 0, 1).
		act(kGrant, 0, 2).act(kLeave, 0).act(kDeny, 0, 3).act(kKick, 0, 0).act(kCancel, 3).act(kJoin, 3))
	// Actors who are not in the room; double enter; exit of a stranger.
	add(new(script).act(kRequest, 1).enter(1, v).enter(1, h).exit(fuzzUsers).exit(2).act(kGrant, fuzzUsers, 1).
		exit(1).act(kRequest, 1))
	// Custom presets: ALLOWED without accepting, CAN_REQUEST moderators.
	var custom script
	for u := range fuzzUsers {
		custom.enter(u, 4+u)
	}
	for u := range fuzzUsers {
		custom.act(kRequest, u).act(kGrant, u, 0, 1, 2, 3, 4, 5).act(kJoin, u).act(kKick, u, (u+1)%fuzzUsers).act(kLeave, u)
	}
	add(&custom)
	// Screen shares: the limit, a release, leaving the stage, a kick, an
	// exit; two slots for the "two_shares" preset, none for "no_share".
	two, noShare := len(fuzzPresets)-2, len(fuzzPresets)-1
	add(new(script).enter(0, h).enter(1, h).enter(2, v).enter(3, two).enter(4, noShare).enter(5, two).
		act(kJoin, 0).act(kJoin, 1).claim(2).claim(0).claim(1).claim(0).act(kJoin, 3).claim(3).act(kJoin, 5).claim(5).
		release(0).claim(5).claim(1).act(kLeave, 1).claim(3).act(kJoin, 4).claim(4).
		act(kRequest, 2).act(kGrant, 0, 2).act(kJoin, 2).claim(2).act(kKick, 0, 3).claim(2).exit(5).claim(2).release(fuzzUsers))
	add(new(script))

	out := make([][]byte, len(seeds))
	for i, s := range seeds {
		out[i] = []byte(s)
	}
	return out
}

// fuzzModel is what the test tracks independently of the room.
type fuzzModel struct {
	order   []string // members in the order they entered
	pending []string // requesters in the order their requests were applied
	reqAt   map[string]int64
	prev    map[string]stage.Status // status after the previous step
	preset  map[string]stage.Preset
}

func FuzzRoom(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := stage.NewRoom()
		m := &fuzzModel{reqAt: map[string]int64{}, prev: map[string]stage.Status{}, preset: map[string]stage.Preset{}}
		pos := 0
		next := func() byte {
			if pos >= len(data) {
				pos++
				return 0
			}
			b := data[pos]
			pos++
			return b
		}
		for step := 0; pos < len(data); step++ {
			before := snap(r)
			var desc string
			switch op := next() % 10; op {
			case 0, 1:
				id, p := fmt.Sprintf("u%d", int(next())%fuzzUsers), fuzzPresets[int(next())%len(fuzzPresets)]
				desc = fmt.Sprintf("Enter(%s, %s)", id, p.Name)
				checkEnter(t, desc, r, m, before, id, p)
			case 2:
				id := fuzzUser(next())
				desc = fmt.Sprintf("Exit(%s)", id)
				checkExit(t, desc, r, m, before, id)
			case 8:
				id := fuzzUser(next())
				desc = fmt.Sprintf("ClaimScreenshare(%s)", id)
				checkClaim(t, desc, r, m, before, id)
			case 9:
				id := fuzzUser(next())
				desc = fmt.Sprintf("ReleaseScreenshare(%s)", id)
				held := slices.ContainsFunc(before.Shares, func(x stage.Member) bool { return x.UserID == id })
				if got := r.ReleaseScreenshare(id); got != held {
					t.Fatalf("%s = %v, held %v", desc, got, held)
				}
				if after := snap(r); !reflect.DeepEqual(after.Members, before.Members) || !reflect.DeepEqual(after.Pending, before.Pending) ||
					slices.ContainsFunc(after.Shares, func(x stage.Member) bool { return x.UserID == id }) || len(after.Shares) != len(before.Shares)-boolInt(held) {
					t.Fatalf("%s: changed more than the user's slot", desc)
				}
			default:
				a := stage.Action{Kind: fuzzKinds[int(next())%len(fuzzKinds)], Actor: fuzzUser(next()), At: int64(1_000_000 + step)}
				if a.Kind == stage.ActGrant || a.Kind == stage.ActDeny || a.Kind == stage.ActKick {
					c := next()
					n := int(c) % 8
					if c == 0xff {
						n = stage.MaxBatch + 1
					}
					for i := 0; i < n; i++ {
						if c == 0xff {
							a.Targets = append(a.Targets, fmt.Sprintf("u%d", i%fuzzUsers))
						} else {
							a.Targets = append(a.Targets, fuzzTarget(next()))
						}
					}
					switch next() % 4 {
					case 1:
						for range a.Targets {
							a.Expect = append(a.Expect, fuzzExpect[int(next())%len(fuzzExpect)])
						}
					case 2:
						for _, id := range a.Targets {
							mb, _ := r.Member(id)
							a.Expect = append(a.Expect, mb.Status) // "" for unknown ids
						}
					case 3:
						a.Expect = make([]stage.Status, len(a.Targets)+1)
					}
				}
				desc = fmt.Sprintf("Apply(%s by %s, targets %d %.40q, expect %.40q)", a.Kind, a.Actor, len(a.Targets), a.Targets, a.Expect)
				checkApply(t, desc, r, m, before, a)
			}
			checkInvariants(t, desc, r, m)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkClaim: a claim is admitted exactly when the rule says so (the
// member ON_STAGE, its preset allowing it, fewer slots held by others than
// its limit), adds the member's slot and nothing else; a refusal is coded
// and changes nothing.
func checkClaim(t *testing.T, desc string, r *stage.Room, m *fuzzModel, before state, id string) {
	t.Helper()
	err := r.ClaimScreenshare(id)
	after := snap(r)
	held := slices.ContainsFunc(before.Shares, func(x stage.Member) bool { return x.UserID == id })
	var want stage.Code
	if i := slices.Index(m.order, id); i < 0 {
		want = stage.CodeNotInRoom
	} else if !held {
		want = stage.CodeOf(stage.AdmitScreenshare(before.Members[i].Preset.Permissions, before.Members[i].Status, len(before.Shares)))
	}
	if got := stage.CodeOf(err); got != want || (err != nil) != (want != 0) {
		t.Fatalf("%s = %v, want code %d", desc, err, want)
	}
	if err != nil && !stageCodes[stage.CodeOf(err)] {
		t.Fatalf("%s: error %v has no documented code", desc, err)
	}
	if !reflect.DeepEqual(after.Members, before.Members) || !reflect.DeepEqual(after.Pending, before.Pending) {
		t.Fatalf("%s: changed more than the slots", desc)
	}
	wantShares := len(before.Shares)
	if err == nil && !held {
		wantShares++
	}
	if len(after.Shares) != wantShares || (err == nil && !slices.ContainsFunc(after.Shares, func(x stage.Member) bool { return x.UserID == id })) {
		t.Fatalf("%s: shares %q -> %q", desc, ids(before.Shares), ids(after.Shares))
	}
}

func checkEnter(t *testing.T, desc string, r *stage.Room, m *fuzzModel, before state, id string, p stage.Preset) {
	t.Helper()
	got, err := r.Enter(stage.Member{UserID: id, PeerID: "peer-" + id, Name: id, Preset: p, Status: stage.OnStage, RequestedAt: 7})
	if slices.Contains(m.order, id) {
		if stage.CodeOf(err) != stage.CodeAlreadyInRoom {
			t.Fatalf("%s: err = %v, want 2104", desc, err)
		}
		if !reflect.DeepEqual(before, snap(r)) {
			t.Fatalf("%s: refused Enter changed the room", desc)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", desc, err)
	}
	want := stage.Member{UserID: id, PeerID: "peer-" + id, Name: id, Preset: p, Status: p.InitialStatus()}
	if got != want {
		t.Fatalf("%s = %+v, want %+v", desc, got, want)
	}
	if got.Status == stage.OnStage {
		t.Fatalf("%s: entered ON_STAGE", desc)
	}
	if !reflect.DeepEqual(snap(r).Members, append(before.Members, want)) || !reflect.DeepEqual(before.Pending, snap(r).Pending) {
		t.Fatalf("%s: room after Enter is not the room before plus the member", desc)
	}
	m.order = append(m.order, id)
	m.preset[id] = p
	m.prev[id] = got.Status
}

func checkExit(t *testing.T, desc string, r *stage.Room, m *fuzzModel, before state, id string) {
	t.Helper()
	got, res, err := r.Exit(id)
	i := slices.Index(m.order, id)
	if i < 0 {
		if stage.CodeOf(err) != stage.CodeNotInRoom {
			t.Fatalf("%s: err = %v, want 2005", desc, err)
		}
		if !reflect.DeepEqual(before, snap(r)) || !reflect.DeepEqual(res, stage.Result{}) {
			t.Fatalf("%s: refused Exit changed something", desc)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", desc, err)
	}
	if got != before.Members[i] {
		t.Fatalf("%s returned %+v, want %+v", desc, got, before.Members[i])
	}
	wasPending := slices.Contains(m.pending, id)
	if !reflect.DeepEqual(res, stage.Result{PendingChanged: wasPending}) {
		t.Fatalf("%s: result %+v, want PendingChanged=%v only", desc, res, wasPending)
	}
	wantMembers := slices.Delete(slices.Clone(before.Members), i, i+1)
	if !reflect.DeepEqual(r.Members(), wantMembers) {
		t.Fatalf("%s: members after Exit are not the members before minus the user", desc)
	}
	m.order = slices.Delete(m.order, i, i+1)
	if wasPending {
		m.pending = slices.DeleteFunc(m.pending, func(s string) bool { return s == id })
	}
	delete(m.prev, id)
	delete(m.preset, id)
	delete(m.reqAt, id)
}

// causes lists, for each action, the causes its changes may carry and the
// (from, to) moves each cause may make.
var causes = map[stage.Kind]map[stage.Cause][][2]stage.Status{
	stage.ActRequest: {stage.CauseRequest: {{off, req}}},
	stage.ActCancel:  {stage.CauseCancel: {{req, off}}},
	stage.ActGrant:   {stage.CauseGrant: {{req, acc}}, stage.CauseInvite: {{off, acc}}},
	stage.ActDeny:    {stage.CauseDeny: {{req, off}}},
	stage.ActKick:    {stage.CauseKick: {{on, off}, {acc, off}, {on, acc}}},
	stage.ActJoin:    {stage.CauseJoin: {{acc, on}}},
	stage.ActLeave:   {stage.CauseLeave: {{on, off}, {acc, off}, {on, acc}}},
}

func checkApply(t *testing.T, desc string, r *stage.Room, m *fuzzModel, before state, a stage.Action) {
	t.Helper()
	res, err := r.Apply(a)
	after := snap(r)
	if err != nil {
		if code := stage.CodeOf(err); !stageCodes[code] {
			t.Fatalf("%s: error %v has no documented code", desc, err)
		}
		if !reflect.DeepEqual(res, stage.Result{}) {
			t.Fatalf("%s: refused with %v but returned %+v", desc, err, res)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("%s: refused with %v but changed the room:\nbefore %+v\nafter  %+v", desc, err, before, after)
		}
		return
	}
	if !slices.Contains(m.order, a.Actor) {
		t.Fatalf("%s: applied for an actor not in the room", desc)
	}
	if len(after.Members) != len(before.Members) {
		t.Fatalf("%s: Apply changed who is in the room", desc)
	}
	changed := map[string]stage.Change{}
	for _, c := range res.Changes {
		if _, dup := changed[c.UserID]; dup {
			t.Fatalf("%s: %s changed twice: %+v", desc, c.UserID, res.Changes)
		}
		changed[c.UserID] = c
		moves, ok := causes[a.Kind][c.Cause]
		if !ok || !slices.Contains(moves, [2]stage.Status{c.From, c.To}) {
			t.Fatalf("%s: change %+v does not fit the action", desc, c)
		}
		if mb, _ := r.Member(c.UserID); c.InViewAfter != mb.InView() {
			t.Fatalf("%s: change %+v: InViewAfter, but the member is %+v", desc, c, mb)
		}
		if c.InViewBefore != (stage.Member{Preset: m.preset[c.UserID], Status: c.From}).InView() {
			t.Fatalf("%s: change %+v: InViewBefore does not match its From", desc, c)
		}
		if c.To == stage.OnStage && (c.From != stage.Accepted || c.Cause != stage.CauseJoin) {
			t.Fatalf("%s: %+v reaches ON_STAGE other than by joining from ACCEPTED", desc, c)
		}
	}
	for i, b := range before.Members {
		aft := after.Members[i]
		if aft.UserID != b.UserID {
			t.Fatalf("%s: member order changed", desc)
		}
		c, ok := changed[b.UserID]
		if !ok {
			if aft != b {
				t.Fatalf("%s: %s changed without a Change: %+v -> %+v", desc, b.UserID, b, aft)
			}
			continue
		}
		if c.From != b.Status || c.To != aft.Status || c.PeerID != b.PeerID {
			t.Fatalf("%s: change %+v does not match before %s after %s", desc, c, b.Status, aft.Status)
		}
		if aft.UserID != b.UserID || aft.PeerID != b.PeerID || aft.Name != b.Name || aft.Preset != b.Preset {
			t.Fatalf("%s: %s changed more than its status", desc, b.UserID)
		}
		delete(changed, b.UserID)
	}
	if len(changed) > 0 {
		t.Fatalf("%s: changes for users not in the room: %+v", desc, changed)
	}

	switch a.Kind {
	case stage.ActGrant, stage.ActDeny, stage.ActKick:
		// Whole: every distinct target moved, once; nobody else did.
		var want []string
		for _, id := range a.Targets {
			if !slices.Contains(want, id) {
				want = append(want, id)
			}
		}
		var got []string
		for _, c := range res.Changes {
			got = append(got, c.UserID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: changed %q, want every target once: %q", desc, got, want)
		}
	default:
		if len(res.Changes) > 1 || (len(res.Changes) == 1 && res.Changes[0].UserID != a.Actor) {
			t.Fatalf("%s: a self action changed %+v", desc, res.Changes)
		}
		if len(res.Changes) == 0 {
			// The only accepted no-op: an ALLOWED user asking while ACCEPTED.
			actor, _ := r.Member(a.Actor)
			if a.Kind != stage.ActRequest || actor.Preset.StageAccess != stage.Allowed || actor.Status != stage.Accepted {
				t.Fatalf("%s: accepted without any change", desc)
			}
		}
	}

	// Update the model's pending list in the order the changes were applied.
	added := false
	for _, c := range res.Changes {
		if c.From == stage.Requested {
			m.pending = slices.DeleteFunc(m.pending, func(s string) bool { return s == c.UserID })
			delete(m.reqAt, c.UserID)
		}
		if c.To == stage.Requested {
			m.pending = append(m.pending, c.UserID)
			m.reqAt[c.UserID] = a.At
			added = true
		}
	}
	if res.RequestAdded != added {
		t.Fatalf("%s: RequestAdded = %v, want %v", desc, res.RequestAdded, added)
	}
	if pendingChanged := !reflect.DeepEqual(ids(before.Pending), ids(after.Pending)); res.PendingChanged != pendingChanged {
		t.Fatalf("%s: PendingChanged = %v, but the list went %q -> %q", desc, res.PendingChanged, ids(before.Pending), ids(after.Pending))
	}
}

func checkInvariants(t *testing.T, desc string, r *stage.Room, m *fuzzModel) {
	t.Helper()
	members := r.Members()
	if got := ids(members); !slices.Equal(got, m.order) {
		t.Fatalf("after %s: members %q, want %q in entry order", desc, got, m.order)
	}
	if r.Len() != len(members) {
		t.Fatalf("after %s: Len %d, %d members", desc, r.Len(), len(members))
	}
	var requesting []string
	for _, mb := range members {
		p := mb.Preset.Permissions
		if mb.Preset != m.preset[mb.UserID] {
			t.Fatalf("after %s: %s preset changed", desc, mb.UserID)
		}
		if got, ok := r.Member(mb.UserID); !ok || got != mb {
			t.Fatalf("after %s: Member(%s) = %+v, Members has %+v", desc, mb.UserID, got, mb)
		}
		switch {
		case !mb.Status.Valid():
			t.Fatalf("after %s: %s has status %q", desc, mb.UserID, mb.Status)
		case (!p.StageEnabled || p.StageAccess == stage.NotAllowed) && mb.Status != stage.OffStage:
			t.Fatalf("after %s: %s (%s) left OFF_STAGE: %s", desc, mb.UserID, mb.Preset.Name, mb.Status)
		case p.StageEnabled && p.StageAccess == stage.Allowed && mb.Status != stage.Accepted && mb.Status != stage.OnStage:
			t.Fatalf("after %s: ALLOWED %s is %s", desc, mb.UserID, mb.Status)
		}
		prev := m.prev[mb.UserID]
		if mb.Status == stage.OnStage && prev != stage.OnStage && prev != stage.Accepted {
			t.Fatalf("after %s: %s went ON_STAGE from %s", desc, mb.UserID, prev)
		}
		m.prev[mb.UserID] = mb.Status
		if mb.Status == stage.Requested {
			requesting = append(requesting, mb.UserID)
			if mb.RequestedAt == 0 || mb.RequestedAt != m.reqAt[mb.UserID] {
				t.Fatalf("after %s: %s RequestedAt %d, requested at %d", desc, mb.UserID, mb.RequestedAt, m.reqAt[mb.UserID])
			}
		} else if mb.RequestedAt != 0 {
			t.Fatalf("after %s: %s is %s with RequestedAt %d", desc, mb.UserID, mb.Status, mb.RequestedAt)
		}
	}
	// Screen shares: each holder is a member ON_STAGE whose preset may
	// share, and the slots never exceed the largest limit among them (each
	// was admitted below its own limit, and slots only end since).
	shares := r.Screenshares()
	limit := 0
	for _, sh := range shares {
		mb, ok := r.Member(sh.UserID)
		if !ok || mb != sh || mb.Status != stage.OnStage || mb.Preset.ScreenshareAccess() == stage.NotAllowed {
			t.Fatalf("after %s: %s holds a screen-share slot as %+v (in the room: %v)", desc, sh.UserID, mb, ok)
		}
		limit = max(limit, mb.Preset.ScreenshareLimit())
	}
	if len(shares) > limit {
		t.Fatalf("after %s: %d screen shares, limit at most %d", desc, len(shares), limit)
	}
	// Who sees whom: the in-view list and each member's view follow the rule.
	var inView []string
	for _, mb := range members {
		if mb.InView() {
			inView = append(inView, mb.UserID)
		}
	}
	if got := ids(r.InView()); !slices.Equal(got, inView) {
		t.Fatalf("after %s: InView %q, want %q", desc, got, inView)
	}
	for _, viewer := range members {
		var want []string
		for _, mb := range members {
			if stage.Sees(viewer, mb) {
				want = append(want, mb.UserID)
			}
		}
		if got := ids(r.VisibleTo(viewer.UserID)); !slices.Equal(got, want) {
			t.Fatalf("after %s: VisibleTo(%s) = %q, want %q", desc, viewer.UserID, got, want)
		}
	}
	// A restart keeps what is durable: a room rebuilt with Restore from the
	// durable members (requests in request order) holds the same statuses
	// and the same pending list.
	re := stage.NewRoom()
	for _, mb := range append(slices.DeleteFunc(slices.Clone(members), func(x stage.Member) bool { return x.Status == stage.Requested }), r.Pending()...) {
		if !mb.Durable() {
			continue
		}
		if _, err := re.Restore(mb); err != nil {
			t.Fatalf("after %s: Restore(%+v): %v", desc, mb, err)
		}
	}
	for _, mb := range members {
		got, ok := re.Member(mb.UserID)
		if mb.Durable() != ok || (ok && got != mb) {
			t.Fatalf("after %s: restored %+v (%v), had %+v", desc, got, ok, mb)
		}
	}
	if !slices.Equal(ids(re.Pending()), ids(r.Pending())) {
		t.Fatalf("after %s: restored pending %q, had %q", desc, ids(re.Pending()), ids(r.Pending()))
	}
	if r.PendingLen() != len(m.pending) {
		t.Fatalf("after %s: PendingLen %d, want %d", desc, r.PendingLen(), len(m.pending))
	}
	pending := r.Pending()
	if got := ids(pending); !slices.Equal(got, m.pending) {
		t.Fatalf("after %s: Pending %q, want %q (request order)", desc, got, m.pending)
	}
	slices.Sort(requesting)
	sorted := slices.Sorted(slices.Values(ids(pending)))
	if !slices.Equal(requesting, sorted) {
		t.Fatalf("after %s: REQUESTED members %q, pending %q", desc, requesting, sorted)
	}
	for _, p := range pending {
		if p.Status != stage.Requested || p.RequestedAt == 0 {
			t.Fatalf("after %s: pending %+v", desc, p)
		}
	}
}
