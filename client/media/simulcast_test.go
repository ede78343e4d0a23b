//go:build !js

package media

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A camera gets as many simulcast layers as Chromium sends for its size,
// the highest ones, each at the rate of the camera layer of its own size.
func TestLayersFor(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want string
	}{
		{1280, 720, "q/4 150k, h/2 500k, f/1 1500k"},
		{960, 540, "q/4 150k, h/2 500k, f/1 1500k"},
		{0, 0, "q/4 150k, h/2 500k, f/1 1500k"},
		// 320×180 and 640×360: q's and h's sizes, and rates.
		{640, 360, "h/2 150k, f/1 500k"},
		{640, 480, "h/2 150k, f/1 500k"},
		{480, 270, "h/2 150k, f/1 500k"},
		{320, 240, ""},
		{160, 120, ""},
	} {
		var got []string
		for _, l := range layersFor(tc.w, tc.h) {
			got = append(got, fmt.Sprintf("%s/%g %dk", l.RID, l.ScaleDown, l.MaxBitrate/1000))
		}
		if s := strings.Join(got, ", "); s != tc.want {
			t.Errorf("layersFor(%d, %d) = %q, want %q", tc.w, tc.h, s, tc.want)
		}
	}
}

// A simulcast sender's encodings for the track it sends: a track smaller
// than the sender was made for sends its layers on the lowest encodings,
// at the sizes of the top layers and the rates of those sizes (a 640×360
// track's 320×180 layer at q's rate), and stops the others, so that what
// Chromium sends does not depend on which layers are paused; one of those
// watched keeps the top encoding the track allows going.
func TestFitLayers(t *testing.T) {
	qhf, hf := []string{"q", "h", "f"}, []string{"h", "f"}
	type enc = layerEncoding
	q := func(active bool) enc { return enc{active, 4, 150_000} }
	h := func(active bool) enc { return enc{active, 2, 500_000} }
	f := func(active bool) enc { return enc{active, 1, 1_500_000} }
	// A smaller track's layers: h's and f's sizes at q's and h's rates.
	h180 := func(active bool) enc { return enc{active, 2, 150_000} }
	f360 := func(active bool) enc { return enc{active, 1, 500_000} }
	f180 := func(active bool) enc { return enc{active, 1, 150_000} }
	for _, tc := range []struct {
		name   string
		rids   []string
		w, h   int
		paused string
		want   []enc
	}{
		{"720p: as made", qhf, 1280, 720, "", []enc{q(true), h(true), f(true)}},
		{"720p, q and h paused", qhf, 1280, 720, "qh", []enc{q(false), h(false), f(true)}},
		{"size unknown: as made", qhf, 0, 0, "h", []enc{q(true), h(false), f(true)}},
		{"640×360 on three: q and h carry 320×180 and 640×360 at q's and h's rates", qhf, 640, 360, "", []enc{h180(true), f360(true), f(false)}},
		{"640×480 on three: q and h carry h and f", qhf, 640, 480, "", []enc{h180(true), f360(true), f(false)}},
		{"640×480 on three, q paused", qhf, 640, 480, "q", []enc{h180(false), f360(true), f(false)}},
		{"640×480 on three, q and h paused, f watched", qhf, 640, 480, "qh", []enc{h180(false), f360(true), f(false)}},
		{"640×480 on three, all paused", qhf, 640, 480, "qhf", []enc{h180(false), f360(false), f(false)}},
		{"320×240 on three: q carries f", qhf, 320, 240, "", []enc{f180(true), h(false), f(false)}},
		{"320×240 on three, q and h paused, f watched", qhf, 320, 240, "qh", []enc{f180(true), h(false), f(false)}},
		{"320×240 on three, q watched", qhf, 320, 240, "hf", []enc{f180(true), h(false), f(false)}},
		{"320×240 on three, nothing watched", qhf, 320, 240, "qhf", []enc{f180(false), h(false), f(false)}},
		{"640×360 on two: as made", hf, 640, 360, "", []enc{h180(true), f360(true)}},
		{"640×480 on two: as made", hf, 640, 480, "", []enc{h180(true), f360(true)}},
		{"720p on two: the top two of three, at their rates", hf, 1280, 720, "h", []enc{h(false), f(true)}},
		{"320×240 on two: h carries f", hf, 320, 240, "h", []enc{f180(true), f(false)}},
		{"not the camera's rids", []string{"a", "b"}, 320, 240, "", nil},
		{"more rids than layers", []string{"x", "q", "h", "f"}, 320, 240, "", nil},
	} {
		paused := map[string]bool{}
		for _, r := range tc.paused {
			paused[string(r)] = true
		}
		if got := fitLayers(tc.rids, tc.w, tc.h, paused); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fitLayers = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A simulcast sender is fitted again when its track's size changes the
// number of encodings Chromium sends for it, and only then.
func TestLayerFitStale(t *testing.T) {
	for _, tc := range []struct {
		name string
		fit  layerFit
		w, h int
		want bool
	}{
		{"720p → 360p: two layers, not three", layerFit{3, 1280, 720}, 640, 360, true},
		{"360p → 720p: three again", layerFit{3, 640, 360}, 1280, 720, true},
		{"720p → 240p: one", layerFit{3, 1280, 720}, 320, 240, true},
		{"240p → 180p: one still", layerFit{3, 320, 240}, 320, 180, false},
		{"720p → 1080p: three still", layerFit{3, 1280, 720}, 1920, 1080, false},
		{"720p → 540p: three still", layerFit{3, 1280, 720}, 960, 540, false},
		{"540p → one pixel less wide: two", layerFit{3, 960, 540}, 959, 540, true},
		{"720p turned portrait", layerFit{3, 1280, 720}, 720, 1280, false},
		{"fitted unknown (as made), now 720p", layerFit{3, 0, 0}, 1280, 720, false},
		{"fitted unknown (as made), now 360p", layerFit{3, 0, 0}, 640, 360, true},
		{"unknown now: kept", layerFit{3, 1280, 720}, 0, 0, false},
		{"two encodings: 360p → 720p allows no more", layerFit{2, 640, 360}, 1280, 720, false},
		{"two encodings: 360p → 240p", layerFit{2, 640, 360}, 320, 240, true},
		{"one layer: never", layerFit{1, 1280, 720}, 320, 240, false},
		{"not simulcast: never", layerFit{}, 320, 240, false},
	} {
		if got := tc.fit.stale(tc.w, tc.h); got != tc.want {
			t.Errorf("%s: %+v.stale(%d, %d) = %v, want %v", tc.name, tc.fit, tc.w, tc.h, got, tc.want)
		}
	}
}
