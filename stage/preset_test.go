package stage_test

import (
	"strings"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

func TestBuiltinPresets(t *testing.T) {
	want := map[string]stage.Permissions{
		"webinar_host":           {StageEnabled: true, StageAccess: "ALLOWED", AcceptStageRequests: true},
		"webinar_presenter":      {StageEnabled: true, StageAccess: "ALLOWED", AcceptStageRequests: true},
		"webinar_viewer":         {StageEnabled: true, StageAccess: "CAN_REQUEST", AcceptStageRequests: false},
		"livestream_viewer":      {StageEnabled: true, StageAccess: "NOT_ALLOWED", AcceptStageRequests: false},
		"group_call_participant": {StageEnabled: false, StageAccess: "NOT_ALLOWED", AcceptStageRequests: false, SeeAllParticipants: true},
	}
	got := stage.BuiltinPresets()
	if len(got) != len(want) {
		t.Errorf("%d built-in presets, want %d", len(got), len(want))
	}
	for name, perms := range want {
		p, ok := got[name]
		if !ok {
			t.Errorf("no built-in %q", name)
			continue
		}
		if p.Name != name || p.Permissions != perms {
			t.Errorf("%s = %+v, want %+v", name, p, perms)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", name, err)
		}
	}
	// Each call returns a fresh map.
	got[stage.PresetWebinarHost] = stage.Preset{}
	if stage.BuiltinPresets()[stage.PresetWebinarHost].Name != stage.PresetWebinarHost {
		t.Error("BuiltinPresets returns a shared map")
	}
}

func TestInitialStatus(t *testing.T) {
	cases := []struct {
		enabled bool
		access  stage.Access
		accept  bool
		want    stage.Status
	}{
		{true, stage.Allowed, true, stage.Accepted},
		{true, stage.Allowed, false, stage.Accepted},
		{true, stage.CanRequest, true, stage.OffStage},
		{true, stage.CanRequest, false, stage.OffStage},
		{true, stage.NotAllowed, true, stage.OffStage},
		{true, stage.NotAllowed, false, stage.OffStage},
		{false, stage.Allowed, true, stage.OffStage},
		{false, stage.Allowed, false, stage.OffStage},
		{false, stage.CanRequest, false, stage.OffStage},
		{false, stage.NotAllowed, false, stage.OffStage},
	}
	for _, c := range cases {
		p := stage.Permissions{StageEnabled: c.enabled, StageAccess: c.access, AcceptStageRequests: c.accept}
		if got := p.InitialStatus(); got != c.want {
			t.Errorf("%+v: InitialStatus = %s, want %s", p, got, c.want)
		}
	}
}

func TestPresetValidate(t *testing.T) {
	cases := []struct {
		name   string
		access stage.Access
		errHas string // "" for valid
	}{
		{"webinar_host", stage.Allowed, ""},
		{"a", stage.CanRequest, ""},
		{"0", stage.NotAllowed, ""},
		{"x-y_z9", stage.NotAllowed, ""},
		{strings.Repeat("a", 64), stage.Allowed, ""},
		{strings.Repeat("a", 65), stage.Allowed, "preset name"},
		{"", stage.Allowed, "preset name"},
		{"_host", stage.Allowed, "preset name"},
		{"-host", stage.Allowed, "preset name"},
		{"Host", stage.Allowed, "preset name"},
		{"web host", stage.Allowed, "preset name"},
		{"host\n", stage.Allowed, "preset name"},
		{"héte", stage.Allowed, "preset name"},
		{"host", "", "stage_access"},
		{"host", "allowed", "stage_access"},
		{"host", "DENIED", "stage_access"},
	}
	for _, c := range cases {
		err := stage.Preset{Name: c.name, Permissions: stage.Permissions{StageEnabled: true, StageAccess: c.access}}.Validate()
		switch {
		case c.errHas == "" && err != nil:
			t.Errorf("Validate(%q, %q) = %v, want nil", c.name, c.access, err)
		case c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)):
			t.Errorf("Validate(%q, %q) = %v, want an error about %s", c.name, c.access, err, c.errHas)
		}
	}
}

func TestValid(t *testing.T) {
	statuses := map[stage.Status]bool{
		"OFF_STAGE": true, "REQUESTED_TO_JOIN_STAGE": true, "ACCEPTED_TO_JOIN_STAGE": true, "ON_STAGE": true,
		"": false, "off_stage": false, "REQUESTED": false, "ACCEPTED": false,
	}
	for s, want := range statuses {
		if s.Valid() != want {
			t.Errorf("Status(%q).Valid() = %v", s, !want)
		}
	}
	access := map[stage.Access]bool{
		"ALLOWED": true, "CAN_REQUEST": true, "NOT_ALLOWED": true,
		"": false, "allowed": false, "CAN-REQUEST": false,
	}
	for a, want := range access {
		if a.Valid() != want {
			t.Errorf("Access(%q).Valid() = %v", a, !want)
		}
	}
}
