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

	"github.com/stagekit/stagekit/stage"
)

// MaxPresetsFileBytes bounds the presets file.
const MaxPresetsFileBytes = 1 << 20

// Presets is the server's read-only set of presets, by name.
type Presets struct {
	byName map[string]stage.Preset
}

// BuiltinPresets returns the contract's built-in presets only.
func BuiltinPresets() *Presets {
	return &Presets{byName: stage.BuiltinPresets()}
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
		var pr stage.Preset
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&pr); err != nil {
			return nil, fmt.Errorf("preset #%d (%s): %w", i, at, explain(err))
		}
		// A missing name or stage_access is left empty, which Validate refuses.
		if err := pr.Validate(); err != nil {
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
	pr, ok := p.byName[name]
	return pr, ok
}

// All returns every preset, sorted by name.
func (p *Presets) All() []stage.Preset {
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
