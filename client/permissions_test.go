//go:build !js

package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// TestPermissionsUpdate: an admin changes a preset over REST while its
// users are in the room; the SDK takes the new permissions (and the status
// the preset moved it to) from the server, emits permissionsUpdate, and
// resyncs who it sees.
func TestPermissionsUpdate(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host := r.join("Host", stage.PresetWebinarHost)
	viewer := r.join("Viewer", stage.PresetWebinarViewer)
	must(t, viewer.m.Stage().RequestAccess(ctx))
	host.until("the request", func() bool { return len(host.m.Requests()) == 1 })

	// Viewers become ALLOWED on stage: the requester is ACCEPTED, and the
	// host still sees it.
	body := map[string]any{"name": stage.PresetWebinarViewer, "stage_enabled": true, "stage_access": "ALLOWED", "view_type": "LIVESTREAM"}
	if err := testserver.Do(r.srv.URL, "PUT", "/v1/presets/"+stage.PresetWebinarViewer, body, 200, nil); err != nil {
		t.Fatal(err)
	}
	viewer.waitFor("permissionsUpdate")
	if p := viewer.m.Self().Permissions; p.StageAccess != stage.Allowed || p.ViewType != stage.ViewLivestream {
		t.Fatalf("permissions after the update %+v", p)
	}
	viewer.until("ACCEPTED", func() bool { return viewer.status() == acc })
	host.until("the viewer ACCEPTED", func() bool { return host.view(viewer) == acc && len(host.m.Requests()) == 0 })
}
