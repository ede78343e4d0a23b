// Package config loads the server's configuration files. Today that is the
// presets file: a JSON array of presets that add to, or override, the
// contract's built-in presets.
//
//	[
//	  {"name": "panelist", "stage_enabled": true, "stage_access": "ALLOWED", "accept_stage_requests": false},
//	  {"name": "webinar_viewer", "stage_enabled": true, "stage_access": "NOT_ALLOWED"}
//	]
//
// Every entry needs a name and a stage_access; stage_enabled and
// accept_stage_requests default to false. RealtimeKit's screen-share fields
// are optional: "media": {"screenshare": {"can_produce": "NOT_ALLOWED"}}
// (default: as stage_access) and "max_screenshare_count" (default 1). Unknown fields, duplicate names and
// anything stage.Preset.Validate refuses are errors.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/stagekit/stagekit/stage"
)

// MaxPresetsFileBytes bounds the presets file.
const MaxPresetsFileBytes = 1 << 20

// Presets is the server's set of presets, by name; safe for concurrent use.
// The server keeps it equal to the stored presets (server/app).
type Presets struct {
	mu     sync.RWMutex
	byName map[string]stage.Preset
}

// BuiltinPresets returns the contract's built-in presets only.
func BuiltinPresets() *Presets {
	return &Presets{byName: stage.BuiltinPresets()}
}

// IsBuiltin reports whether name is a built-in preset (never deleted).
func IsBuiltin(name string) bool {
	_, ok := stage.BuiltinPresets()[name]
	return ok
}

// Set adds or replaces a preset.
func (p *Presets) Set(pr stage.Preset) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byName[pr.Name] = pr
}

// Delete removes a preset; false when there was none.
func (p *Presets) Delete(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.byName[name]
	delete(p.byName, name)
	return ok
}

// LoadPresets returns the built-in presets overlaid with those in file. An
// empty file name means the built-ins only.
func LoadPresets(file string) (*Presets, error) {
	if file == "" {
		return BuiltinPresets(), nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("presets file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPresetsFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("presets file %s: %w", file, err)
	}
	if len(data) > MaxPresetsFileBytes {
		return nil, fmt.Errorf("presets file %s: larger than %d bytes", file, MaxPresetsFileBytes)
	}
	p, err := ParsePresets(data)
	if err != nil {
		return nil, fmt.Errorf("presets file %s: %w", file, err)
	}
	return p, nil
}

// ParsePresets returns the built-in presets overlaid with the JSON array data.
func ParsePresets(data []byte) (*Presets, error) {
	// Syntax first, over the whole input, so that a syntax error can be
	// placed; the stream below then meets no syntax errors.
	var whole any
	if err := json.Unmarshal(data, &whole); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("%s: invalid JSON: %v", position(data, syn.Offset-1), syn)
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, ok := whole.([]any); !ok {
		return nil, fmt.Errorf("want a JSON array of presets, got %s", kindOf(whole))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the '['
		return nil, err
	}
	p := BuiltinPresets()
	seen := map[string]bool{}
	for i := 1; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("preset #%d: %w", i, err)
		}
		at := position(data, dec.InputOffset()-int64(len(raw)))
		pr, err := ParsePreset(raw)
		if err != nil {
			return nil, fmt.Errorf("preset #%d (%s): %w", i, at, err)
		}
		if seen[pr.Name] {
			return nil, fmt.Errorf("preset #%d (%s): name %q appears twice", i, at, pr.Name)
		}
		seen[pr.Name] = true
		p.byName[pr.Name] = pr
	}
	return p, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// explain rewords a type error of a preset object.
func explain(err error) error {
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) {
		return err // e.g. `json: unknown field "x"`
	}
	if typ.Field == "" {
		return fmt.Errorf("want an object, got %s", typ.Value)
	}
	return fmt.Errorf("field %q: want a JSON %s, got %s", lastField(typ.Field), jsonKind(typ), typ.Value)
}

// position gives the line and column (both from 1) of data[offset].
func position(data []byte, offset int64) string {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// lastField drops the Go names of embedded structs from a field path
// ("Permissions.stage_enabled").
func lastField(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func jsonKind(typ *json.UnmarshalTypeError) string {
	switch typ.Type.Kind().String() {
	case "bool":
		return "boolean"
	case "string":
		return "string"
	}
	return typ.Type.String()
}

// Get returns the named preset.
func (p *Presets) Get(name string) (stage.Preset, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pr, ok := p.byName[name]
	return pr, ok
}

// All returns every preset, sorted by name.
func (p *Presets) All() []stage.Preset {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]stage.Preset, 0, len(p.byName))
	for _, pr := range p.byName {
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns every preset name, sorted.
func (p *Presets) Names() []string {
	all := p.All()
	out := make([]string, len(all))
	for i, pr := range all {
		out[i] = pr.Name
	}
	return out
}

// presetFields are a preset's permissions, in RealtimeKit's names;
// can_accept_production_requests (RealtimeKit's webinar guide) is another
// name for accept_stage_requests.
type presetFields struct {
	StageEnabled                *bool        `json:"stage_enabled"`
	StageAccess                 stage.Access `json:"stage_access"`
	AcceptStageRequests         *bool        `json:"accept_stage_requests"`
	CanAcceptProductionRequests *bool        `json:"can_accept_production_requests"`
	SeeAllParticipants          bool         `json:"see_all_participants"`
	HiddenParticipant           bool         `json:"hidden_participant"`
	Media                       stage.Media  `json:"media"`
	// RealtimeKit keeps it in a preset's config; the presets file takes it
	// beside the rest.
	MaxScreenshareCount int `json:"max_screenshare_count"`
}

// ParsePreset reads one preset, in either shape: the presets file's flat
// object ({"name", "stage_access", …, "view_type"}) or RealtimeKit's REST
// shape ({"name", "config": {"view_type"}, "permissions": {…}}). Unknown
// fields are refused; the result is validated.
func ParsePreset(data []byte) (stage.Preset, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		if err == nil {
			err = errors.New("want an object")
		}
		return stage.Preset{}, explain(err)
	}
	var pr stage.Preset
	var fields presetFields
	decode := func(raw []byte, v any) error {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		return explain(d.Decode(v))
	}
	if perms, nested := top["permissions"]; nested {
		var shape struct {
			Name        string          `json:"name"`
			Config      json.RawMessage `json:"config"`
			Permissions json.RawMessage `json:"permissions"`
		}
		if err := decode(data, &shape); err != nil {
			return pr, err
		}
		if err := decode(perms, &fields); err != nil {
			return pr, fmt.Errorf("permissions: %w", err)
		}
		pr.Name = shape.Name
		if len(shape.Config) > 0 {
			var cfg struct {
				ViewType            stage.ViewType `json:"view_type"`
				MaxScreenshareCount int            `json:"max_screenshare_count"`
			}
			if err := decode(shape.Config, &cfg); err != nil {
				return pr, fmt.Errorf("config: %w", err)
			}
			pr.ViewType = cfg.ViewType
			if cfg.MaxScreenshareCount != 0 {
				fields.MaxScreenshareCount = cfg.MaxScreenshareCount
			}
		}
	} else {
		var flat struct {
			Name     string         `json:"name"`
			ViewType stage.ViewType `json:"view_type"`
			presetFields
		}
		if err := decode(data, &flat); err != nil {
			return pr, err
		}
		pr.Name, pr.ViewType, fields = flat.Name, flat.ViewType, flat.presetFields
	}
	a, b := fields.AcceptStageRequests, fields.CanAcceptProductionRequests
	if a != nil && b != nil && *a != *b {
		return pr, errors.New("accept_stage_requests and can_accept_production_requests name one permission and disagree")
	}
	if a == nil {
		a = b
	}
	pr.Permissions = stage.Permissions{StageEnabled: fields.StageEnabled != nil && *fields.StageEnabled, StageAccess: fields.StageAccess,
		AcceptStageRequests: a != nil && *a, SeeAllParticipants: fields.SeeAllParticipants, HiddenParticipant: fields.HiddenParticipant, Media: fields.Media,
		MaxScreenshareCount: fields.MaxScreenshareCount}
	// A missing name or stage_access is left empty, which Validate refuses.
	return pr, pr.Validate()
}
