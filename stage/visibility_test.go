package stage_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

// TestVisibility is the "who sees whom" rule over every built-in viewer
// preset, subject preset and status the subject can hold.
func TestVisibility(t *testing.T) {
	b := stage.BuiltinPresets()
	panelist := stage.Preset{Name: "panelist", Permissions: stage.Permissions{StageEnabled: true, StageAccess: stage.Allowed}}
	small := stage.Preset{Name: "small_meeting", Permissions: stage.Permissions{StageEnabled: true, StageAccess: stage.CanRequest, SeeAllParticipants: true}}
	type subject struct {
		preset stage.Preset
		status stage.Status
	}
	subjects := []subject{
		{b[host], acc}, {b[host], on},
		{panelist, acc}, {panelist, on},
		{b[viewer], off}, {b[viewer], req}, {b[viewer], acc}, {b[viewer], on},
		{b[live], off}, {b[group], off},
	}
	// inView: the subjects the audience sees, by index into subjects.
	inView := []bool{true, true, true, true, false, false, false, true, false, false}
	cases := []struct {
		viewer   stage.Preset
		everyone bool
	}{
		{b[host], true},    // hosts accept requests: they see the whole room
		{small, true},      // widened by SeeAllParticipants
		{b[group], true},   // group calls: everyone sees everyone
		{panelist, false},  // on stage but no host: the audience's view
		{b[viewer], false}, // the audience
		{b[live], false},   // the audience
	}
	for _, c := range cases {
		for i, s := range subjects {
			name := fmt.Sprintf("%s sees %s %s", c.viewer.Name, s.preset.Name, s.status)
			viewer := stage.Member{UserID: "v", Preset: c.viewer, Status: c.viewer.InitialStatus()}
			subj := stage.Member{UserID: "s", Preset: s.preset, Status: s.status}
			if got := subj.InView(); got != inView[i] {
				t.Errorf("%s: InView = %v, want %v", name, got, inView[i])
			}
			want := c.everyone || inView[i]
			if got := stage.Sees(viewer, subj); got != want {
				t.Errorf("%s: Sees = %v, want %v", name, got, want)
			}
		}
		self := stage.Member{UserID: "v", Preset: c.viewer, Status: off}
		if !stage.Sees(self, self) {
			t.Errorf("%s does not see itself", c.viewer.Name)
		}
	}
}

// TestVisibleTo: a viewer's list is the stage and the ALLOWED users plus
// itself, in entry order, and follows each move on and off stage; a host's
// list is everyone.
func TestVisibleTo(t *testing.T) {
	f := newFixture(t) // fixture-host (webinar_host) entered first
	f.put("a", viewer, off)
	f.put("b", viewer, req)
	f.put("c", viewer, on)
	f.put("d", live, off)
	check := func(who string, want ...string) {
		t.Helper()
		if got := ids(f.r.VisibleTo(who)); !slices.Equal(got, want) {
			t.Errorf("VisibleTo(%s) = %q, want %q", who, got, want)
		}
	}
	check(f.host, f.host, "a", "b", "c", "d")
	check("a", f.host, "a", "c")
	check("b", f.host, "b", "c")
	check("d", f.host, "c", "d")
	check("c", f.host, "c")
	if got := ids(f.r.InView()); !slices.Equal(got, []string{f.host, "c"}) {
		t.Errorf("InView = %q", got)
	}
	// b comes on stage: everyone sees b, in entry order (before c).
	f.apply(stage.ActGrant, f.host, "b")
	check("a", f.host, "a", "c")
	f.apply(stage.ActJoin, "b")
	check("a", f.host, "a", "b", "c")
	// c is kicked: out of the audience's view, still in the host's.
	f.apply(stage.ActKick, f.host, "c")
	check("a", f.host, "a", "b")
	check("c", f.host, "b", "c")
	check(f.host, f.host, "a", "b", "c", "d")
	// b leaves the room while on stage.
	if _, _, err := f.r.Exit("b"); err != nil {
		t.Fatal(err)
	}
	check("a", f.host, "a")
	if got := f.r.VisibleTo("nobody"); got != nil {
		t.Errorf("VisibleTo(unknown) = %v", got)
	}
}

// Restore brings back what a restart must keep: statuses the preset may
// hold, the pending list in the order restored, nothing else.
func TestRestore(t *testing.T) {
	b := stage.BuiltinPresets()
	r := stage.NewRoom()
	ok := []stage.Member{
		{UserID: "h", PeerID: "ph", Preset: b[host], Status: on},
		{UserID: "a", PeerID: "pa", Preset: b[viewer], Status: req, RequestedAt: 20},
		{UserID: "b", PeerID: "pb", Preset: b[viewer], Status: req, RequestedAt: 10}, // restored after a: stays after it
		{UserID: "c", PeerID: "pc", Preset: b[viewer], Status: acc},
	}
	for _, m := range ok {
		if !m.Durable() && m.Preset.Name != host {
			t.Fatalf("%s %s is not durable", m.Preset.Name, m.Status)
		}
		if _, err := r.Restore(m); err != nil {
			t.Fatalf("Restore(%+v): %v", m, err)
		}
	}
	if got := ids(r.Pending()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("pending %q, want the restore order", got)
	}
	if got := ids(r.InView()); !slices.Equal(got, []string{"h"}) {
		t.Fatalf("in view %q", got)
	}
	bad := []stage.Member{
		{UserID: "h", Preset: b[host], Status: acc},                   // already in
		{UserID: "x", Preset: b[host], Status: off},                   // ALLOWED never OFF_STAGE
		{UserID: "x", Preset: b[live], Status: req, RequestedAt: 1},   // NOT_ALLOWED never requests
		{UserID: "x", Preset: b[group], Status: acc},                  // stage disabled
		{UserID: "x", Preset: b[viewer], Status: req},                 // a request needs its time
		{UserID: "x", Preset: b[viewer], Status: acc, RequestedAt: 5}, // only requests have one
		{UserID: "x", Preset: b[viewer], Status: "BOGUS"},
	}
	before := snap(r)
	for _, m := range bad {
		if _, err := r.Restore(m); err == nil {
			t.Errorf("Restore(%+v) accepted", m)
		}
	}
	if !reflect.DeepEqual(before, snap(r)) {
		t.Fatal("a refused Restore changed the room")
	}
	// The restored room goes on as any other.
	if _, err := r.Apply(stage.Action{Kind: stage.ActGrant, Actor: "h", Targets: []string{"b"}, At: 30}); err != nil {
		t.Fatal(err)
	}
	if got := ids(r.Pending()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("pending after grant %q", got)
	}
	for _, p := range b {
		if (stage.Member{Preset: p, Status: p.InitialStatus()}).Durable() {
			t.Errorf("%s: the initial status is durable", p.Name)
		}
	}
}
