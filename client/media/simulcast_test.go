//go:build !js

package media

import "testing"

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
