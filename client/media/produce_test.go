//go:build !js

package media

import (
	"net/http"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/testserver"
)

// TestPresetForbidsAKind: a host whose preset says media.video.can_produce
// NOT_ALLOWED publishes audio and video in one offer; the media server
// forwards its audio and never its video.
func TestPresetForbidsAKind(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	preset := map[string]any{"name": "radio_host", "permissions": map[string]any{"stage_enabled": true, "stage_access": "ALLOWED",
		"accept_stage_requests": true, "media": map[string]any{"video": map[string]any{"can_produce": "NOT_ALLOWED"}}}}
	if err := testserver.Do(r.url, "POST", "/v1/presets", preset, http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	host := r.join("host", "radio_host")
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	video, _ := publishAV(t, ctx, host)
	hp := host.peerID()
	// Both tracks were offered together: by the time the audio has flowed
	// for a while, a forwarded video would have arrived too.
	viewer.waitMedia("the host's audio", func() bool {
		for _, tr := range viewer.s.LiveTracksFrom(hp) {
			if tr.Info.Kind == "audio" && tr.Packets() >= 100 {
				return true
			}
		}
		return false
	})
	for _, tr := range viewer.s.TracksFrom(hp) {
		if tr.Info.Kind != "audio" {
			t.Fatalf("the viewer receives the host's %s, which its preset may not produce", tr.Info.Kind)
		}
	}
	if video.Frames() == 0 {
		t.Fatal("the host's video source sent nothing: the test proves nothing")
	}
}
