package rest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

// PresetSink is told of the presets the API stored, to apply them: to the
// server's presets and to the live rooms (a changed preset applies at once
// to the people holding it).
type PresetSink interface {
	PresetChanged(p stage.Preset)
	PresetDeleted(name string)
}

// readPreset parses a preset body: RealtimeKit's shape or the presets
// file's (config.ParsePreset).
func readPreset(w http.ResponseWriter, r *http.Request) (stage.Preset, error) {
	data, err := readRaw(w, r)
	if err != nil {
		return stage.Preset{}, err
	}
	p, err := config.ParsePreset(data)
	if err != nil {
		code := CodeInvalidField
		var syn *json.SyntaxError
		if errors.As(err, &syn) || strings.Contains(err.Error(), "want an object") {
			code = CodeMalformedBody
		}
		return p, fail(http.StatusBadRequest, code, "preset: %s", err)
	}
	return p, nil
}

func (a *API) storePreset(r *http.Request, p stage.Preset, onlyNew bool) (bool, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	return a.store.PutPreset(r.Context(), p.Name, body, onlyNew)
}

func (a *API) createPreset(w http.ResponseWriter, r *http.Request) error {
	p, err := readPreset(w, r)
	if err != nil {
		return err
	}
	if _, ok := a.presets.Get(p.Name); ok {
		return fail(http.StatusConflict, CodePresetExists, "preset %q exists already; PUT /v1/presets/%s updates it", p.Name, p.Name)
	}
	stored, err := a.storePreset(r, p, true)
	if err != nil {
		return err
	}
	if !stored {
		return fail(http.StatusConflict, CodePresetExists, "preset %q exists already", p.Name)
	}
	a.applyPreset(p)
	return writeData(w, http.StatusCreated, p)
}

// pathPreset is the preset the request's path names, or a 404.
func (a *API) pathPreset(r *http.Request) (stage.Preset, error) {
	name := r.PathValue("name")
	p, ok := a.presets.Get(name)
	if !ok {
		return p, fail(http.StatusNotFound, CodePresetNotFound, "no preset %q", truncate(name, 64))
	}
	return p, nil
}

func (a *API) getPreset(w http.ResponseWriter, r *http.Request) error {
	p, err := a.pathPreset(r)
	if err != nil {
		return err
	}
	return writeData(w, http.StatusOK, p)
}

// updatePreset replaces a preset; the people holding it get it at once.
func (a *API) updatePreset(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.pathPreset(r); err != nil {
		return err
	}
	name := r.PathValue("name")
	p, err := readPreset(w, r)
	if err != nil {
		return err
	}
	if p.Name != name {
		return fail(http.StatusBadRequest, CodeInvalidField, "name %q differs from the preset in the path, %q", truncate(p.Name, 64), name)
	}
	if _, err := a.storePreset(r, p, false); err != nil {
		return err
	}
	a.applyPreset(p)
	return writeData(w, http.StatusOK, p)
}

// deletePreset removes a preset: tokens of its participants stop
// authenticating (4013 at their next hello); live users keep it until then.
func (a *API) deletePreset(w http.ResponseWriter, r *http.Request) error {
	p, err := a.pathPreset(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if config.IsBuiltin(name) {
		return fail(http.StatusConflict, CodePresetInUse, "built-in preset %q cannot be deleted (PUT changes it)", name)
	}
	if err := a.store.DeletePreset(r.Context(), name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if a.presetSink != nil {
		a.presetSink.PresetDeleted(name)
	} else {
		a.presets.Delete(name)
	}
	return writeData(w, http.StatusOK, p)
}

func (a *API) applyPreset(p stage.Preset) {
	if a.presetSink != nil {
		a.presetSink.PresetChanged(p)
		return
	}
	a.presets.Set(p)
}
