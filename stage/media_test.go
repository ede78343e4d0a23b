package stage_test

import (
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
