//go:build !js

package media

import (
	"slices"
	"testing"
)

// A camera gets as many simulcast layers as Chromium sends for its size,
// the highest ones.
func TestLayersFor(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want string
	}{{1280, 720, "qhf"}, {960, 540, "qhf"}, {0, 0, "qhf"}, {640, 480, "hf"}, {480, 270, "hf"}, {320, 240, ""}, {160, 120, ""}} {
		got := ""
		for _, l := range layersFor(tc.w, tc.h) {
			got += l.RID
		}
		if got != tc.want {
			t.Errorf("layersFor(%d, %d) = %q, want %q", tc.w, tc.h, got, tc.want)
		}
	}
}

// A simulcast sender's encodings for the track it sends: a track smaller
// than the sender was made for sends its layers on the lowest encodings,
// at the sizes and rates of the top layers, and stops the others, so that
// what Chromium sends does not depend on which layers are paused; one of
// those watched keeps the top encoding the track allows going.
func TestFitLayers(t *testing.T) {
	qhf, hf := []string{"q", "h", "f"}, []string{"h", "f"}
	type enc = layerEncoding
	q := func(active bool) enc { return enc{active, 4, 150_000} }
	h := func(active bool) enc { return enc{active, 2, 500_000} }
	f := func(active bool) enc { return enc{active, 1, 1_500_000} }
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
		{"640×480 on three: q and h carry h and f", qhf, 640, 480, "", []enc{h(true), f(true), f(false)}},
		{"640×480 on three, q paused", qhf, 640, 480, "q", []enc{h(false), f(true), f(false)}},
		{"640×480 on three, q and h paused, f watched", qhf, 640, 480, "qh", []enc{h(false), f(true), f(false)}},
		{"640×480 on three, all paused", qhf, 640, 480, "qhf", []enc{h(false), f(false), f(false)}},
		{"320×240 on three: q carries f", qhf, 320, 240, "", []enc{f(true), h(false), f(false)}},
		{"320×240 on three, q and h paused, f watched", qhf, 320, 240, "qh", []enc{f(true), h(false), f(false)}},
		{"320×240 on three, q watched", qhf, 320, 240, "hf", []enc{f(true), h(false), f(false)}},
		{"320×240 on three, nothing watched", qhf, 320, 240, "qhf", []enc{f(false), h(false), f(false)}},
		{"640×480 on two: as made", hf, 640, 480, "", []enc{h(true), f(true)}},
		{"720p on two: as made", hf, 1280, 720, "h", []enc{h(false), f(true)}},
		{"320×240 on two: h carries f", hf, 320, 240, "h", []enc{f(true), f(false)}},
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
