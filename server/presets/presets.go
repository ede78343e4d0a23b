// Package presets holds the server's presets: the contract's built-ins plus
// any read from a JSON configuration file.
package presets

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/stagekit/stagekit/stage"
)

// Registry maps preset names to presets. It is read-only after Load.
type Registry struct {
	byName map[string]stage.Preset
}

// Load returns the built-in presets, overlaid with those in file (if any).
// The file is a JSON array of {"name", "stage_enabled", "stage_access",
// "accept_stage_requests"} objects.
func Load(file string) (*Registry, error) {
	r := &Registry{byName: stage.BuiltinPresets()}
	if file == "" {
		return r, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("presets file: %w", err)
	}
	var list []stage.Preset
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("presets file %s: %w", file, err)
	}
	for _, p := range list {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("presets file %s: %w", file, err)
		}
		r.byName[p.Name] = p
	}
	return r, nil
}

// Get returns the named preset.
func (r *Registry) Get(name string) (stage.Preset, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// All returns every preset sorted by name.
func (r *Registry) All() []stage.Preset {
	out := make([]stage.Preset, 0, len(r.byName))
	for _, p := range r.byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
