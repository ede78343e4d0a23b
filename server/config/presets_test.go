package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

func TestBuiltins(t *testing.T) {
	p, err := LoadPresets("")
	if err != nil {
		t.Fatal(err)
	}
	want := stage.BuiltinPresets()
	if len(p.All()) != len(want) {
		t.Fatalf("%d presets, want %d", len(p.All()), len(want))
	}
	for name, w := range want {
		got, ok := p.Get(name)
		if !ok || got != w {
			t.Errorf("Get(%q) = %+v, %v; want %+v", name, got, ok, w)
		}
	}
	if _, ok := p.Get("nope"); ok {
		t.Error("Get(unknown) found something")
	}
	names := p.Names()
	if !reflect.DeepEqual(names, []string{"group_call_participant", "livestream_viewer", "webinar_host", "webinar_presenter", "webinar_viewer"}) {
		t.Errorf("Names() = %v", names)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "presets.json")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadAddsAndOverrides(t *testing.T) {
	f := writeFile(t, `[
  {"name": "panelist", "stage_enabled": true, "stage_access": "ALLOWED", "accept_stage_requests": false},
  {"name": "webinar_viewer", "stage_enabled": true, "stage_access": "NOT_ALLOWED"},
  {"name": "quiet", "stage_access": "CAN_REQUEST"},
  {"name": "presenter", "stage_enabled": true, "stage_access": "CAN_REQUEST", "max_screenshare_count": 2, "media": {"screenshare": {"can_produce": "NOT_ALLOWED"}}}
]`)
	p, err := LoadPresets(f)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, want stage.Permissions) {
		t.Helper()
		got, ok := p.Get(name)
		if !ok || got != (stage.Preset{Name: name, Permissions: want}) {
			t.Errorf("Get(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	check("panelist", stage.Permissions{StageEnabled: true, StageAccess: stage.Allowed})
	check("webinar_viewer", stage.Permissions{StageEnabled: true, StageAccess: stage.NotAllowed}) // overridden
	check("quiet", stage.Permissions{StageAccess: stage.CanRequest})                              // defaults false
	check("presenter", stage.Permissions{StageEnabled: true, StageAccess: stage.CanRequest, MaxScreenshareCount: 2,
		Media: stage.Media{Screenshare: stage.MediaKind{CanProduce: stage.NotAllowed}}})
	check("webinar_host", stage.Permissions{StageEnabled: true, StageAccess: stage.Allowed, AcceptStageRequests: true})
	if n := len(p.All()); n != 8 { // 5 built-in (webinar_viewer overridden), 3 new
		t.Errorf("%d presets, want 8", n)
	}
	all := p.All()
	for i := 1; i < len(all); i++ {
		if all[i-1].Name >= all[i].Name {
			t.Errorf("All() not sorted: %q before %q", all[i-1].Name, all[i].Name)
		}
	}
	// Loading a file does not change the built-ins of other registries.
	if got, _ := BuiltinPresets().Get("webinar_viewer"); got.StageAccess != stage.CanRequest {
		t.Error("an override leaked into the built-ins")
	}
}

func TestEmptyArray(t *testing.T) {
	p, err := LoadPresets(writeFile(t, " [ ] \n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.All()) != 5 {
		t.Errorf("%d presets, want the 5 built-ins", len(p.All()))
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, content string
		want          []string // substrings of the error
	}{
		{"empty file", "", []string{"invalid JSON", "unexpected end"}},
		{"not JSON", "hello", []string{"invalid JSON", "line 1"}},
		{"object", `{"name":"x"}`, []string{"want a JSON array", "object"}},
		{"null", `null`, []string{"want a JSON array", "null"}},
		{"number element", "[\n  1\n]", []string{"preset #1", "line 2, column 3", "want an object", "number"}},
		{"unterminated", `[{"name":"a","stage_access":"ALLOWED"}`, []string{"unexpected end"}},
		{"syntax error on line 3", "[\n {\"name\": \"a\", \"stage_access\": \"ALLOWED\"},\n {\"name\": }\n]", []string{"line 3", "invalid JSON"}},
		{"unknown field", `[{"name":"a","stage_access":"ALLOWED","stage_acess":"x"}]`, []string{"preset #1", `unknown field "stage_acess"`}},
		{"wrong type", "[\n{\"name\":\"a\",\"stage_access\":\"ALLOWED\",\"stage_enabled\":\"yes\"}]", []string{"preset #1", "line 2", `"stage_enabled"`, "boolean"}},
		{"missing name", `[{"stage_access":"ALLOWED"}]`, []string{"preset #1", "preset name"}},
		{"bad name", `[{"name":"Has Space","stage_access":"ALLOWED"}]`, []string{"preset #1", "Has Space"}},
		{"missing access", `[{"name":"a","stage_enabled":true}]`, []string{"preset #1", "stage_access"}},
		{"bad access", `[{"name":"a","stage_access":"MAYBE"}]`, []string{"MAYBE"}},
		{"bad screenshare access", `[{"name":"a","stage_access":"ALLOWED","media":{"screenshare":{"can_produce":"YES"}}}]`, []string{"media.screenshare.can_produce", "YES"}},
		{"simulcast on audio", `[{"name":"a","stage_access":"ALLOWED","media":{"audio":{"simulcast":false}}}]`, []string{"media.audio.simulcast", "only media.video"}},
		{"simulcast not a boolean", `[{"name":"a","stage_access":"ALLOWED","media":{"video":{"simulcast":"no"}}}]`, []string{"simulcast"}},
		{"bad screenshare count", `[{"name":"a","stage_access":"ALLOWED","max_screenshare_count":-1}]`, []string{"max_screenshare_count"}},
		{"unknown media field", `[{"name":"a","stage_access":"ALLOWED","media":{"screenshare":{"can_consume":"ALLOWED"}}}]`, []string{`unknown field "can_consume"`}},
		{"duplicate", `[{"name":"a","stage_access":"ALLOWED"},{"name":"a","stage_access":"NOT_ALLOWED"}]`, []string{"preset #2", `"a" appears twice`}},
		{"trailing data", `[] []`, []string{"line 1, column 4", "after top-level value"}},
		{"second element bad", `[{"name":"a","stage_access":"ALLOWED"}, {"name":"b","stage_access":""}]`, []string{"preset #2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := writeFile(t, c.content)
			p, err := LoadPresets(f)
			if err == nil {
				t.Fatalf("LoadPresets succeeded: %v", p.Names())
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, f) {
				t.Errorf("error %q does not name the file", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestMissingAndHugeFiles(t *testing.T) {
	if _, err := LoadPresets(filepath.Join(t.TempDir(), "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing file: %v", err)
	}
	big := "[" + strings.Repeat(" ", MaxPresetsFileBytes) + "]"
	if _, err := LoadPresets(writeFile(t, big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
	if _, err := LoadPresets(t.TempDir()); err == nil {
		t.Error("a directory loaded as presets")
	}
}

// TestParsePresetShapes: the file's flat shape and RealtimeKit's REST shape
// give the same preset; both moderator names map to one permission.
func TestParsePresetShapes(t *testing.T) {
	flat := `{"name":"panel","stage_enabled":true,"stage_access":"ALLOWED","can_accept_production_requests":true,
		"hidden_participant":true,"view_type":"AUDIO_ROOM","media":{"video":{"can_produce":"NOT_ALLOWED"}}}`
	nested := `{"name":"panel","config":{"view_type":"AUDIO_ROOM"},"permissions":{"stage_enabled":true,"stage_access":"ALLOWED",
		"accept_stage_requests":true,"hidden_participant":true,"media":{"video":{"can_produce":"NOT_ALLOWED"}}}}`
	a, err := ParsePreset([]byte(flat))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParsePreset([]byte(nested))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || !a.AcceptStageRequests || !a.HiddenParticipant || a.View() != stage.ViewAudioRoom || a.MayProduce("video") || !a.MayProduce("audio") {
		t.Fatalf("flat %+v\nnested %+v", a, b)
	}
	for _, bad := range []string{
		`{"name":"p","stage_access":"ALLOWED","accept_stage_requests":true,"can_accept_production_requests":false}`,
		`{"name":"p","permissions":{"stage_access":"ALLOWED"},"stage_enabled":true}`,
		`{"name":"p","permissions":{"stage_access":"ALLOWED","nope":1}}`,
		`{"name":"p","config":{"view_type":"X"},"permissions":{"stage_access":"ALLOWED"}}`,
		`{"name":"p","stage_access":"ALLOWED","media":{"audio":{"can_produce":"MAYBE"}}}`,
		`{"name":"","stage_access":"ALLOWED"}`, `[]`, `null`, `{"name":"p"}`,
	} {
		if _, err := ParsePreset([]byte(bad)); err == nil {
			t.Errorf("ParsePreset(%s) passed", bad)
		}
	}
}

// FuzzParsePreset: any input is a valid preset or an error, never a panic.
func FuzzParsePreset(f *testing.F) {
	f.Add([]byte(`{"name":"a","stage_access":"ALLOWED"}`))
	f.Add([]byte(`{"name":"b","config":{"view_type":"WEBINAR"},"permissions":{"stage_access":"CAN_REQUEST","media":{"audio":{"can_produce":"ALLOWED"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePreset(data)
		if err == nil && p.Validate() != nil {
			t.Fatalf("ParsePreset(%q) = %+v, which does not validate", data, p)
		}
	})
}
