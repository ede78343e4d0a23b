package stage_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

func TestProduceAccess(t *testing.T) {
	statuses := []stage.Status{stage.OffStage, stage.Requested, stage.Accepted, stage.OnStage}
	tests := []struct {
		preset       stage.Access
		stageEnabled bool
		want         [4]stage.Access // by statuses
	}{
		{stage.CanRequest, true, [4]stage.Access{stage.CanRequest, stage.CanRequest, stage.Allowed, stage.Allowed}},
		{stage.Allowed, true, [4]stage.Access{stage.NotAllowed, stage.NotAllowed, stage.Allowed, stage.Allowed}},
		{stage.NotAllowed, true, [4]stage.Access{stage.NotAllowed, stage.NotAllowed, stage.NotAllowed, stage.NotAllowed}},
		{stage.Allowed, false, [4]stage.Access{stage.Allowed, stage.Allowed, stage.Allowed, stage.Allowed}},
		{stage.CanRequest, false, [4]stage.Access{stage.CanRequest, stage.CanRequest, stage.CanRequest, stage.CanRequest}},
	}
	for _, tt := range tests {
		for i, st := range statuses {
			if got := stage.ProduceAccess(tt.preset, tt.stageEnabled, st); got != tt.want[i] {
				t.Errorf("ProduceAccess(%s, stage %v, %s) = %s, want %s", tt.preset, tt.stageEnabled, st, got, tt.want[i])
			}
		}
	}
}

func TestScreenshareAccessAndLimit(t *testing.T) {
	presets := stage.BuiltinPresets()
	tests := []struct {
		p         stage.Permissions
		access    stage.Access
		limit     int
		mediaWant stage.Access
	}{
		{presets[stage.PresetWebinarHost].Permissions, stage.Allowed, 1, stage.Allowed},
		{presets[stage.PresetWebinarViewer].Permissions, stage.CanRequest, 1, stage.CanRequest},
		{presets[stage.PresetLivestreamViewer].Permissions, stage.NotAllowed, 1, stage.NotAllowed},
		{presets[stage.PresetGroupCallParticipant].Permissions, stage.NotAllowed, 1, stage.NotAllowed},
		{stage.Permissions{StageEnabled: true, StageAccess: stage.CanRequest,
			Media: stage.Media{Screenshare: stage.MediaKind{CanProduce: stage.NotAllowed}}, MaxScreenshareCount: 3},
			stage.NotAllowed, 3, stage.CanRequest},
	}
	for i, tt := range tests {
		if got := tt.p.ScreenshareAccess(); got != tt.access {
			t.Errorf("#%d ScreenshareAccess = %s, want %s", i, got, tt.access)
		}
		if got := tt.p.ScreenshareLimit(); got != tt.limit {
			t.Errorf("#%d ScreenshareLimit = %d, want %d", i, got, tt.limit)
		}
		if got := tt.p.MediaAccess(); got != tt.mediaWant {
			t.Errorf("#%d MediaAccess = %s, want %s", i, got, tt.mediaWant)
		}
	}
}

func TestAdmitScreenshare(t *testing.T) {
	host := stage.BuiltinPresets()[stage.PresetWebinarHost].Permissions
	viewer := stage.BuiltinPresets()[stage.PresetWebinarViewer].Permissions
	noShare := viewer
	noShare.Media.Screenshare.CanProduce = stage.NotAllowed
	two := host
	two.MaxScreenshareCount = 2
	tests := []struct {
		name   string
		p      stage.Permissions
		status stage.Status
		active int
		want   stage.Code // 0: admitted
	}{
		{"host on stage", host, stage.OnStage, 0, 0},
		{"viewer on stage", viewer, stage.OnStage, 0, 0},
		{"host accepted, not on stage", host, stage.Accepted, 0, stage.CodeBadStatus},
		{"viewer off stage", viewer, stage.OffStage, 0, stage.CodeBadStatus},
		{"viewer requested", viewer, stage.Requested, 0, stage.CodeBadStatus},
		{"preset forbids", noShare, stage.OnStage, 0, stage.CodePermissionDenied},
		{"livestream viewer", stage.BuiltinPresets()[stage.PresetLivestreamViewer].Permissions, stage.OnStage, 0, stage.CodePermissionDenied},
		{"limit reached", host, stage.OnStage, 1, stage.CodeScreenshareLimit},
		{"limit 2, one active", two, stage.OnStage, 1, 0},
		{"limit 2, two active", two, stage.OnStage, 2, stage.CodeScreenshareLimit},
	}
	for _, tt := range tests {
		err := stage.AdmitScreenshare(tt.p, tt.status, tt.active)
		if got := stage.CodeOf(err); got != tt.want {
			t.Errorf("%s: AdmitScreenshare = %v (code %d), want code %d", tt.name, err, got, tt.want)
		}
	}
}

// The room's screen-share slots: claimed by members on stage whose preset
// allows it, up to the claimer's max_screenshare_count counting the others'
// slots; kept by a claim again; ended by a release, by leaving ON_STAGE
// (leave, kick, a preset that cannot hold it) and by exit; never restored.
// Every refusal is coded and changes nothing.
func TestRoomScreenshare(t *testing.T) {
	two := builtins[host]
	two.Name, two.MaxScreenshareCount = "two_shares", 2
	noShare := builtins[host]
	noShare.Name, noShare.Media.Screenshare.CanProduce = "no_share", stage.NotAllowed
	type step struct {
		op   string // claim, release, leave, kick, exit; preset: the user's preset edited (its stage kept); unstaged: edited to no stage
		user string
		want stage.Code // claim: the refusal, 0 admitted; release: 1 if it held a slot
	}
	tests := []struct {
		name   string
		steps  []step
		shares []string // holders after the steps, in entry order
	}{
		{"one share", []step{{"claim", "h1", 0}}, []string{"h1"}},
		{"a claim again keeps the slot", []step{{"claim", "h1", 0}, {"claim", "h1", 0}, {"claim", "h2", e2106}}, []string{"h1"}},
		{"the limit counts the others' slots", []step{{"claim", "h1", 0}, {"claim", "h2", e2106}, {"claim", "v1", e2106}}, []string{"h1"}},
		{"release frees the slot", []step{{"claim", "h1", 0}, {"release", "h1", 1}, {"release", "h1", 0}, {"claim", "h2", 0}}, []string{"h2"}},
		{"the claimer's preset sets the limit", []step{{"claim", "h1", 0}, {"claim", "t1", 0}, {"claim", "t2", e2106}, {"claim", "h2", e2106}}, []string{"h1", "t1"}},
		{"off stage", []step{{"claim", "acc", e2006}, {"claim", "v0", e2006}, {"claim", "req", e2006}}, nil},
		{"the preset forbids", []step{{"claim", "ns", e2001}, {"claim", "lv", e2001}}, nil},
		{"not in the room", []step{{"claim", "ghost", e2005}, {"release", "ghost", 0}}, nil},
		{"leaving the stage ends it", []step{{"claim", "h1", 0}, {"leave", "h1", 0}, {"claim", "h2", 0}, {"claim", "h1", e2006}}, []string{"h2"}},
		{"a kick ends it", []step{{"claim", "v1", 0}, {"kick", "v1", 0}, {"claim", "h1", 0}}, []string{"h1"}},
		{"exit ends it", []step{{"claim", "h1", 0}, {"exit", "h1", 0}, {"claim", "h2", 0}}, []string{"h2"}},
		{"a preset change that keeps the stage keeps it", []step{{"claim", "h1", 0}, {"preset", "h1", 0}, {"claim", "h2", e2106}}, []string{"h1"}},
		{"a preset change off the stage ends it", []step{{"claim", "t1", 0}, {"unstaged", "t1", 0}, {"claim", "h1", 0}}, []string{"h1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.put("h1", host, on)
			f.put("h2", host, on)
			f.put("v1", viewer, on)
			f.put("v0", viewer, off)
			f.put("req", viewer, req)
			f.put("acc", host, acc)
			f.put("lv", live, off)
			for _, id := range []string{"t1", "t2"} {
				if _, err := f.r.Enter(stage.Member{UserID: id, PeerID: "peer-" + id, Preset: two}); err != nil {
					t.Fatal(err)
				}
				f.apply(stage.ActJoin, id)
			}
			if _, err := f.r.Enter(stage.Member{UserID: "ns", PeerID: "peer-ns", Preset: noShare}); err != nil {
				t.Fatal(err)
			}
			f.apply(stage.ActJoin, "ns")
			for _, s := range tt.steps {
				before := snap(f.r)
				switch s.op {
				case "claim":
					err := f.r.ClaimScreenshare(s.user)
					if got := stage.CodeOf(err); got != s.want || (err != nil) != (s.want != 0) {
						t.Fatalf("ClaimScreenshare(%s) = %v, want code %d", s.user, err, s.want)
					}
					if err != nil && !reflect.DeepEqual(before, snap(f.r)) {
						t.Fatalf("refused ClaimScreenshare(%s) changed the room", s.user)
					}
				case "release":
					if got := f.r.ReleaseScreenshare(s.user); got != (s.want == 1) {
						t.Fatalf("ReleaseScreenshare(%s) = %v, want %v", s.user, got, s.want == 1)
					}
				case "leave":
					f.apply(stage.ActLeave, s.user)
				case "kick":
					f.apply(stage.ActKick, f.host, s.user)
				case "exit":
					if _, _, err := f.r.Exit(s.user); err != nil {
						t.Fatal(err)
					}
				case "preset", "unstaged":
					m, _ := f.r.Member(s.user)
					edited := m.Preset // the same name: every member holding it gets the edit
					edited.Media.Video.CanProduce = stage.NotAllowed
					edited.StageEnabled = s.op == "preset"
					f.r.SetPreset(edited, f.c.tick())
				}
			}
			if got := ids(f.r.Screenshares()); !slices.Equal(got, tt.shares) {
				t.Fatalf("shares %q, want %q", got, tt.shares)
			}
			// Not durable: a restored room holds none.
			re := stage.NewRoom()
			for _, m := range f.r.Members() {
				if m.Durable() {
					re.Restore(m)
				}
			}
			if n := len(re.Screenshares()); n != 0 {
				t.Fatalf("a restored room holds %d shares", n)
			}
		})
	}
}

func TestPresetValidateScreenshare(t *testing.T) {
	ok := stage.Preset{Name: "p", Permissions: stage.Permissions{StageEnabled: true, StageAccess: stage.Allowed, MaxScreenshareCount: 2,
		Media: stage.Media{Screenshare: stage.MediaKind{CanProduce: stage.NotAllowed}}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid preset refused: %v", err)
	}
	bad := ok
	bad.Media.Screenshare.CanProduce = "MAYBE"
	if err := bad.Validate(); err == nil {
		t.Error("can_produce MAYBE accepted")
	}
	for _, n := range []int{-1, stage.MaxScreenshareCount + 1} {
		bad := ok
		bad.MaxScreenshareCount = n
		if err := bad.Validate(); err == nil {
			t.Errorf("max_screenshare_count %d accepted", n)
		}
	}
}

// Camera video is three simulcast layers unless the preset's
// media.video.simulcast is false.
func TestVideoSimulcast(t *testing.T) {
	no, yes := false, true
	for _, tc := range []struct {
		set  *bool
		want bool
	}{{nil, true}, {&yes, true}, {&no, false}} {
		p := stage.Permissions{Media: stage.Media{Video: stage.MediaKind{Simulcast: tc.set}}}
		if got := p.VideoSimulcast(); got != tc.want {
			t.Errorf("simulcast %v: VideoSimulcast() = %v, want %v", tc.set, got, tc.want)
		}
	}
}
