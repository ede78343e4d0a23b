package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/signal"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

// presetSync is how often a server re-reads the stored presets, so that a
// change made through another node of a cluster reaches this one's rooms.
const presetSync = 2 * time.Second

// seedPresets stores the presets the server starts with (built-ins and the
// presets file) that the store lacks, then makes the store's presets the
// server's: the database is where presets live; the file only seeds it.
func seedPresets(ctx context.Context, st store.Store, presets *config.Presets, log *slog.Logger) error {
	for _, p := range presets.All() {
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err := st.PutPreset(ctx, p.Name, body, true); err != nil {
			return err
		}
	}
	_, err := loadPresets(ctx, st, presets, log)
	return err
}

// loadPresets makes presets equal to the stored ones and returns those
// that changed (added or different); presets no longer stored are dropped.
func loadPresets(ctx context.Context, st store.Store, presets *config.Presets, log *slog.Logger) ([]stage.Preset, error) {
	stored, err := st.ListPresets(ctx)
	if err != nil {
		return nil, err
	}
	var changed []stage.Preset
	keep := map[string]bool{}
	for _, sp := range stored {
		p, err := config.ParsePreset(sp.Body)
		if err != nil {
			log.Error("stored preset ignored", "preset", sp.Name, "err", err)
			continue
		}
		keep[p.Name] = true
		if old, ok := presets.Get(p.Name); !ok || old != p {
			presets.Set(p)
			changed = append(changed, p)
		}
	}
	for _, p := range presets.All() {
		if !keep[p.Name] {
			presets.Delete(p.Name)
		}
	}
	return changed, nil
}

// presetKeeper applies preset changes: the server's presets and the live
// rooms. It is the REST API's rest.PresetSink, and it follows the store for
// changes made on other nodes.
type presetKeeper struct {
	store   store.Store
	presets *config.Presets
	hub     *signal.Hub
	log     *slog.Logger
	mu      sync.Mutex // one application at a time, in order
	stop    chan struct{}
	done    chan struct{}
}

func (k *presetKeeper) PresetChanged(p stage.Preset) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.presets.Get(p.Name); ok && old == p {
		return // applied already (follow read it first), or no change
	}
	k.presets.Set(p)
	k.hub.UpdatePreset(p)
}

func (k *presetKeeper) PresetDeleted(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.presets.Delete(name)
}

// follow re-reads the stored presets every presetSync until close.
func (k *presetKeeper) follow() {
	defer close(k.done)
	t := time.NewTicker(presetSync)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		k.mu.Lock()
		changed, err := loadPresets(ctx, k.store, k.presets, k.log)
		for _, p := range changed {
			k.hub.UpdatePreset(p)
		}
		k.mu.Unlock()
		cancel()
		if err != nil {
			k.log.Warn("reading the stored presets failed", "err", err)
		}
	}
}

func (k *presetKeeper) close() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
		<-k.done
	}
}
