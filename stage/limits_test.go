package stage_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

func TestAdminActions(t *testing.T) {
	f := newFixture(t)
	f.put("v1", viewer, req)
	f.put("v2", viewer, off)
	f.put("v3", viewer, on)
	f.put("l1", live, off)
	admin := func(kind stage.Kind, targets ...string) (stage.Result, error) {
		return f.r.Apply(stage.Action{Kind: kind, Actor: "api", Admin: true, Targets: targets, At: f.c.tick()})
	}
	// The admin needs no place in the room and has a host's rights.
	res, err := admin(stage.ActGrant, "v1", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 2 || res.Changes[0].Cause != cGrant || res.Changes[1].Cause != cInvite || !res.PendingChanged {
		t.Fatalf("grant = %+v", res)
	}
	// All or none: one NOT_ALLOWED target refuses the whole batch.
	before := snap(f.r)
	_, err = admin(stage.ActKick, "v3", "ghost")
	if se := wantCode(t, err, e2101); !reflect.DeepEqual(se.UserIDs, []string{"ghost"}) {
		t.Fatalf("unknown ids = %v", se.UserIDs)
	}
	_, err = admin(stage.ActGrant, "l1")
	wantCode(t, err, e2001)
	if !reflect.DeepEqual(before, snap(f.r)) {
		t.Fatal("a refused admin action changed the room")
	}
	if _, err := admin(stage.ActKick, "v3", "v1"); err != nil {
		t.Fatal(err)
	}
	if f.status("v3") != off || f.status("v1") != off {
		t.Fatalf("after kick: v3 %s, v1 %s", f.status("v3"), f.status("v1"))
	}
	// Only grant, deny and kick are the admin's.
	for _, k := range []stage.Kind{stage.ActRequest, stage.ActJoin, stage.ActLeave, stage.ActCancel} {
		_, err := admin(k)
		wantCode(t, err, e2006)
	}
}

func TestMaxOnStage(t *testing.T) {
	f := newFixture(t)
	f.r.SetLimits(stage.Limits{MaxOnStage: 2})
	f.put("v1", viewer, req)
	f.put("v2", viewer, req)
	f.put("v3", viewer, req)
	// A batch beyond the limit is refused whole.
	before := snap(f.r)
	_, err := f.r.Apply(stage.Action{Kind: stage.ActGrant, Actor: f.host, Targets: []string{"v1", "v2", "v3"}, At: f.c.tick()})
	wantCode(t, err, stage.CodeStageFull)
	if !reflect.DeepEqual(before, snap(f.r)) {
		t.Fatal("a refused grant changed the room")
	}
	f.apply(stage.ActGrant, f.host, "v1", "v2") // two seats: invited ones count
	if f.r.Seats() != 2 {
		t.Fatalf("seats = %d, want 2", f.r.Seats())
	}
	f.apply(stage.ActJoin, "v1") // an invited user's seat is already counted
	_, err = f.r.Apply(stage.Action{Kind: stage.ActJoin, Actor: f.host, At: f.c.tick()})
	wantCode(t, err, stage.CodeStageFull) // the host would be the third
	f.apply(stage.ActLeave, "v2")         // declines: the seat is free
	f.apply(stage.ActJoin, f.host)
	if f.r.Seats() != 2 {
		t.Fatalf("seats = %d, want 2", f.r.Seats())
	}
	// Exits free seats too.
	if _, _, err := f.r.Exit("v1"); err != nil {
		t.Fatal(err)
	}
	f.apply(stage.ActGrant, f.host, "v3")
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	f.r.SetLimits(stage.Limits{RequestTTL: 5000, InviteTTL: 3000})
	f.put("v1", viewer, req) // requested at T1
	t1 := f.c.now
	f.put("v2", viewer, off)
	f.apply(stage.ActGrant, f.host, "v2") // invited at T2
	t2 := f.c.now
	if got, want := f.r.NextExpiry(), t2+3000; got != want {
		t.Fatalf("NextExpiry = %d, want %d (the invitation)", got, want)
	}
	if res := f.r.Expire(t2 + 2999); len(res.Changes) != 0 {
		t.Fatalf("expired early: %+v", res)
	}
	res := f.r.Expire(t1 + 5000)
	want := []stage.Change{f.change("v2", acc, off, stage.CauseExpire), f.change("v1", req, off, stage.CauseExpire)}
	if !reflect.DeepEqual(res.Changes, want) || !res.PendingChanged {
		t.Fatalf("Expire = %+v, want %+v", res, want)
	}
	if f.r.NextExpiry() != 0 || f.r.Seats() != 0 || f.r.PendingLen() != 0 {
		t.Fatalf("after expiry: next %d, seats %d, pending %d", f.r.NextExpiry(), f.r.Seats(), f.r.PendingLen())
	}
	// A user who joined in time holds no invitation any more.
	f.apply(stage.ActGrant, f.host, "v2")
	f.apply(stage.ActJoin, "v2")
	if res := f.r.Expire(f.c.now + 1e9); len(res.Changes) != 0 {
		t.Fatalf("expired a user on stage: %+v", res)
	}
}

// FuzzLimits drives a room with limits through admin and user actions and
// expiries, and checks after each step that the seats are counted right,
// that nothing over its timeout survives an Expire, and that refusals
// change nothing.
func FuzzLimits(f *testing.F) {
	f.Add([]byte{2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{1, 3, 10, 3, 11, 0, 21, 2, 22, 40, 9, 9, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		r := stage.NewRoom()
		limits := stage.Limits{MaxOnStage: int(data[0] % 4), RequestTTL: int64(data[0]/4%4) * 1000, InviteTTL: int64(data[0]/16%4) * 1000}
		r.SetLimits(limits)
		users := []string{"h", "v0", "v1", "v2", "v3"}
		p := stage.BuiltinPresets()
		r.Enter(stage.Member{UserID: "h", PeerID: "ph", Preset: p[host]})
		for _, u := range users[1:] {
			r.Enter(stage.Member{UserID: u, PeerID: "p" + u, Preset: p[viewer]})
		}
		now := int64(1_000_000)
		kinds := []stage.Kind{stage.ActRequest, stage.ActCancel, stage.ActGrant, stage.ActDeny, stage.ActKick, stage.ActJoin, stage.ActLeave}
		for i, b := range data[1:] {
			now += int64(b%8) * 400
			before := snap(r)
			seatsBefore := r.Seats()
			var err error
			desc := ""
			switch {
			case b%9 == 7 && b&0x40 != 0:
				// The viewers' preset changes under them.
				access := []stage.Access{stage.Allowed, stage.CanRequest, stage.NotAllowed}[int(b>>4)%3]
				np := stage.Preset{Name: viewer, Permissions: stage.Permissions{StageEnabled: b&0x20 == 0, StageAccess: access, HiddenParticipant: b&0x80 != 0}}
				res, _ := r.SetPreset(np, now)
				desc = fmt.Sprintf("SetPreset(%+v) -> %d changes", np, len(res.Changes))
				for _, m := range r.Members() {
					if !m.Preset.Holds(m.Status) {
						t.Fatalf("step %d %s: %s holds %s", i, desc, m.UserID, m.Status)
					}
				}
			case b%9 == 8:
				res := r.Expire(now)
				desc = fmt.Sprintf("Expire(%d) -> %d changes", now, len(res.Changes))
				for _, m := range r.Members() {
					if limits.RequestTTL > 0 && m.Status == stage.Requested && now >= m.RequestedAt+limits.RequestTTL {
						t.Fatalf("step %d %s: %s's request outlived its timeout", i, desc, m.UserID)
					}
					if limits.InviteTTL > 0 && m.AcceptedAt > 0 && now >= m.AcceptedAt+limits.InviteTTL {
						t.Fatalf("step %d %s: %s's invitation outlived its timeout", i, desc, m.UserID)
					}
				}
			default:
				a := stage.Action{Kind: kinds[int(b/9)%len(kinds)], Actor: users[int(b)%len(users)], At: now, Admin: b&0x80 != 0}
				if a.Kind == stage.ActGrant || a.Kind == stage.ActDeny || a.Kind == stage.ActKick {
					a.Targets = []string{users[1+int(b/3)%4], users[1+int(b/5)%4]}
				}
				desc = fmt.Sprintf("%+v", a)
				_, err = r.Apply(a)
				if err != nil && !reflect.DeepEqual(before, snap(r)) {
					t.Fatalf("step %d %s: refused (%v) but changed the room", i, desc, err)
				}
				if err == nil && limits.MaxOnStage > 0 && r.Seats() > max(limits.MaxOnStage, seatsBefore) {
					t.Fatalf("step %d %s: %d seats taken, limit %d", i, desc, r.Seats(), limits.MaxOnStage)
				}
			}
			seats := 0
			for _, m := range r.Members() {
				invited := m.Status == stage.Accepted && !(m.Preset.StageEnabled && m.Preset.StageAccess == stage.Allowed)
				if m.Status == stage.OnStage || invited {
					seats++
				}
				if invited != (m.AcceptedAt > 0) {
					t.Fatalf("step %d %s: %s is %s with acceptedAt %d", i, desc, m.UserID, m.Status, m.AcceptedAt)
				}
			}
			if seats != r.Seats() {
				t.Fatalf("step %d %s: Seats() = %d, counted %d", i, desc, r.Seats(), seats)
			}
			hidden := 0
			for _, m := range r.Members() {
				if m.Preset.HiddenParticipant {
					hidden++
				}
			}
			if r.Count() != r.Len()-hidden {
				t.Fatalf("step %d %s: Count() = %d with %d hidden of %d", i, desc, r.Count(), hidden, r.Len())
			}
		}
	})
}

func TestSetPreset(t *testing.T) {
	f := newFixture(t)
	f.put("v1", viewer, req)
	f.put("v2", viewer, on)
	f.put("v3", viewer, off)
	// Viewers lose the stage: the requester and the one on stage go back
	// OFF_STAGE, the one off stage keeps its status.
	noStage := stage.Preset{Name: viewer, Permissions: stage.Permissions{StageEnabled: true, StageAccess: stage.NotAllowed}}
	res, ids := f.r.SetPreset(noStage, f.c.tick())
	if !reflect.DeepEqual(ids, []string{"v1", "v2", "v3"}) || !res.PendingChanged || len(res.Changes) != 2 {
		t.Fatalf("SetPreset = %+v, %v", res, ids)
	}
	if ch := res.Changes[1]; ch.UserID != "v2" || ch.From != on || ch.To != off || ch.Cause != stage.CausePreset || !ch.InViewBefore || ch.InViewAfter {
		t.Fatalf("v2's change %+v", ch)
	}
	if f.r.PendingLen() != 0 || f.r.Seats() != 0 || len(f.r.InView()) != 1 { // the host only
		t.Fatalf("after: pending %d seats %d in view %d", f.r.PendingLen(), f.r.Seats(), len(f.r.InView()))
	}
	// Allowed on stage: every viewer is ACCEPTED and in view.
	allowed := stage.Preset{Name: viewer, Permissions: stage.Permissions{StageEnabled: true, StageAccess: stage.Allowed}}
	res, _ = f.r.SetPreset(allowed, f.c.tick())
	if len(res.Changes) != 3 || f.status("v3") != acc || len(f.r.InView()) != 4 {
		t.Fatalf("allowed: %+v, in view %d", res, len(f.r.InView()))
	}
	// Hidden: out of every list but one's own, and out of the count.
	hidden := allowed
	hidden.HiddenParticipant = true
	f.r.SetPreset(hidden, f.c.tick())
	if f.r.Count() != 1 || len(f.r.VisibleTo(f.host)) != 1 || len(f.r.VisibleTo("v1")) != 2 || len(f.r.InView()) != 1 {
		t.Fatalf("hidden: count %d, host sees %d, v1 sees %d", f.r.Count(), len(f.r.VisibleTo(f.host)), len(f.r.VisibleTo("v1")))
	}
	if _, _, err := f.r.Exit("v1"); err != nil || f.r.Count() != 1 || f.r.Len() != 3 {
		t.Fatalf("exit of a hidden member: count %d len %d", f.r.Count(), f.r.Len())
	}
}

func TestPresetValidation(t *testing.T) {
	ok := stage.Preset{Name: "p", Permissions: stage.Permissions{StageAccess: stage.CanRequest}, ViewType: stage.ViewLivestream}
	ok.Media.Video.CanProduce = stage.NotAllowed
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.MayProduce("video") || !ok.MayProduce("audio") || ok.MayProduce("smell") {
		t.Fatal("MayProduce")
	}
	bad := ok
	bad.ViewType = "THEATRE"
	if bad.Validate() == nil {
		t.Fatal("a bad view_type passed")
	}
	bad = ok
	bad.Media.Audio.CanProduce = "MAYBE"
	if bad.Validate() == nil {
		t.Fatal("can_produce MAYBE passed")
	}
	fine := ok
	fine.Media.Audio.CanProduce = stage.CanRequest // RealtimeKit's: allowed once accepted on stage
	if err := fine.Validate(); err != nil {
		t.Fatalf("can_produce CAN_REQUEST: %v", err)
	}
	if (stage.Preset{Permissions: stage.Permissions{StageEnabled: true}}).View() != stage.ViewWebinar || (stage.Preset{}).View() != stage.ViewGroupCall {
		t.Fatal("View defaults")
	}
}
