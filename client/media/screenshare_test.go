//go:build !js

package media

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// newScreen is a synthetic screen: VP8 at 5 frames a second, as
// RealtimeKit's default screen share.
func newScreen(t *testing.T) *Synthetic {
	t.Helper()
	s, err := NewSynthetic(SyntheticConfig{
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		ID:    "screen", StreamID: "stagekit", Interval: time.Second / 5, FrameBytes: 1000, KeyframeEvery: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// screenTracks lists the live tracks of peer that the server labels as a
// screen share, and the others.
func screenTracks(s *Session, peer string) (screen, other int) {
	for _, tr := range s.LiveTracksFrom(peer) {
		if tr.Info.Source == protocol.SourceScreenshare {
			screen++
		} else {
			other++
		}
	}
	return screen, other
}

// A host on stage shares its screen beside its camera: viewers receive both,
// the screen labelled as such. The room's max_screenshare_count (1 for the
// built-in presets) refuses a second sharer with 2106 while the first
// shares, and lets it share once the first stopped. Kicking the sharer
// stops its screen at every subscriber at once.
func TestScreenShare(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	host := r.join("host", presetHost)
	guest := r.join("guest", presetViewer)
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()

	camera := publishVideo(t, ctx, host)
	screen := newScreen(t)
	if err := host.s.Publish(ctx, camera, ScreenShare(screen)); err != nil {
		t.Fatalf("host shares: %v", err)
	}
	hp := host.peerID()
	for _, s := range []*user{guest, viewer} {
		s.waitMedia("the host's camera and screen", func() bool {
			sc, other := screenTracks(s.s, hp)
			return sc == 1 && other == 1
		})
	}

	// The guest, on stage, may share (its preset allows it once on stage),
	// but the room has its one share already.
	bringOnStage(t, host, guest)
	guestScreen := newScreen(t)
	err := guest.s.Publish(ctx, ScreenShare(guestScreen))
	if !codeIs(err, int(stage.CodeScreenshareLimit)) {
		t.Fatalf("second share: %v, want code %d", err, stage.CodeScreenshareLimit)
	}
	gp := guest.peerID()
	if sc, _ := screenTracks(viewer.s, gp); sc != 0 {
		t.Fatalf("the refused share reached the viewer")
	}
	// The host stops sharing (its camera stays); now the guest may.
	if err := host.s.Publish(ctx, camera); err != nil {
		t.Fatalf("host stops sharing: %v", err)
	}
	viewer.waitMedia("the host's screen gone, its camera kept", func() bool {
		sc, other := screenTracks(viewer.s, hp)
		return sc == 0 && other == 1
	})
	if err := guest.s.Publish(ctx, ScreenShare(guestScreen)); err != nil {
		t.Fatalf("the guest shares after the host stopped: %v", err)
	}
	viewer.waitMedia("the guest's screen with a keyframe", func() bool {
		sc, _ := screenTracks(viewer.s, gp)
		p, _ := viewer.s.ReceivedFrom(gp)
		return sc == 1 && p >= 5 && viewer.rec.get(gp).keyframes > 0
	})
	// Now the host may not share again.
	if err := host.s.Publish(ctx, camera, ScreenShare(screen)); !codeIs(err, int(stage.CodeScreenshareLimit)) {
		t.Fatalf("host shares while the guest does: %v, want code %d", err, stage.CodeScreenshareLimit)
	}

	// The host kicks the guest: its screen stops reaching the viewer.
	if err := host.m.Stage().Kick(ctx, []string{guest.id}); err != nil {
		t.Fatalf("kick: %v", err)
	}
	kicked := time.Now() // committed by the server before Kick returned
	viewer.waitMedia("the guest's screen removed", func() bool {
		_, listed := viewer.s.RemoteTracks()[gp]
		return !listed && len(viewer.s.LiveTracksFrom(gp)) == 0
	})
	if rec := viewer.rec.get(gp); rec.maxSent.After(kicked) {
		t.Errorf("the viewer received a screen packet written %v after the kick committed", rec.maxSent.Sub(kicked))
	}
	// With the sharer gone, the host may share again.
	if err := host.s.Publish(ctx, camera, ScreenShare(screen)); err != nil {
		t.Fatalf("host shares after the kick: %v", err)
	}
	viewer.waitMedia("the host's screen again", func() bool {
		sc, _ := screenTracks(viewer.s, hp)
		return sc == 1
	})

	// A sharer that closes its publish connection altogether (nothing left
	// to send) no longer counts: the viewer, on stage, may share.
	host.s.Unpublish()
	viewer.waitMedia("the host's tracks gone", func() bool { return len(viewer.s.LiveTracksFrom(hp)) == 0 })
	bringOnStage(t, host, viewer)
	if err := viewer.s.Publish(ctx, ScreenShare(newScreen(t))); err != nil {
		t.Fatalf("the viewer shares after the host's connection closed: %v", err)
	}
}

// A screen share offered by a user who is not ON_STAGE is refused and
// nothing is forwarded (the stage rule, before any media flows).
func TestScreenShareOffStage(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	host := r.join("host", presetHost)
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	if err := viewer.s.Publish(ctx, ScreenShare(newScreen(t))); !codeIs(err, protocol.CodeMediaRefused) {
		t.Fatalf("off-stage share: %v, want code %d", err, protocol.CodeMediaRefused)
	}
	if n := len(host.s.RemoteTracks()); n != 0 {
		t.Fatalf("host sees %d publishers", n)
	}
}
