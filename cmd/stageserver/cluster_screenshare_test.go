package main

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/client/media"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// newScreenTrack is a synthetic screen (VP8, 5 frames a second), stopped
// when the test ends.
func newScreenTrack(t *testing.T, id string) media.LocalTrack {
	t.Helper()
	s, err := media.NewSynthetic(media.SyntheticConfig{
		Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		ID:    id, StreamID: "stagekit", Interval: time.Second / 5, FrameBytes: 1000, KeyframeEvery: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return media.ScreenShare(s)
}

// sharesScreen reports whether u receives a live screen-share track from.
func (u *member) sharesScreen(from *member) bool {
	for _, tr := range u.s.LiveTracksFrom(from.m.Stage().PeerID()) {
		if tr.Info.Source == protocol.SourceScreenshare {
			return true
		}
	}
	return false
}

// The room's screen-share limit holds across nodes: two hosts on two
// edges (B and C) start sharing at once, with the built-in preset's
// max_screenshare_count of 1. Each edge's media server alone would admit
// its own (the other's share reaches it only later, relayed through the
// owner); the owner decides both claims in the room's one order instead:
// exactly one is admitted, the other is refused with 2106, and refused
// again while the first shares. Once the first stops, the second may
// share, and a viewer on the owner (A) sees it. After the owner's death
// the limit still holds: the second's edge claims its slot from the heir.
func TestClusterEdgesScreenshareLimit(t *testing.T) {
	c := newClusterWith(t, 3, 2*time.Second, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(a.url, "edges, screen share")
	if err != nil {
		t.Fatal(err)
	}
	viewer := c.join(mid, a, "Viewer", stage.PresetWebinarViewer)
	sharers := []*member{c.join(mid, b, "SharerB", stage.PresetWebinarHost), c.join(mid, cn, "SharerC", stage.PresetWebinarHost)}
	for _, nd := range []*clusterNode{b, cn} {
		if n := nd.metric(t, "stagekit_rooms"); n != 0 {
			t.Fatalf("node %s serves %v rooms; the room is A's", nd.id, n)
		}
	}
	ctx, cancel := ctxWait()
	defer cancel()
	screens := make([]media.LocalTrack, len(sharers))
	for i, s := range sharers {
		act(t, s.name+" joins the stage", s.m.Stage().Join(ctx))
		screens[i] = newScreenTrack(t, "screen-"+s.name)
	}

	errs := make([]error, len(sharers))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range sharers {
		wg.Go(func() {
			<-start
			errs[i] = s.s.Publish(ctx, screens[i])
		})
	}
	close(start)
	wg.Wait()
	admitted := -1
	for i, err := range errs {
		switch {
		case err == nil && admitted >= 0:
			t.Fatalf("both %s and %s were admitted to share with a limit of 1", sharers[admitted].name, sharers[i].name)
		case err == nil:
			admitted = i
		case client.CodeOf(err) != int(stage.CodeScreenshareLimit):
			t.Fatalf("%s shares: %v, want admitted or code %d", sharers[i].name, err, stage.CodeScreenshareLimit)
		}
	}
	if admitted < 0 {
		t.Fatalf("neither sharer was admitted: %v", errs)
	}
	first, second := sharers[admitted], sharers[1-admitted]
	eventually(t, "the viewer on the owner gets "+first.name+"'s screen", func() bool { return viewer.sharesScreen(first) })
	if err := second.s.Publish(ctx, screens[1-admitted]); client.CodeOf(err) != int(stage.CodeScreenshareLimit) {
		t.Fatalf("%s shares while %s does: %v, want code %d", second.name, first.name, err, stage.CodeScreenshareLimit)
	}
	if viewer.sharesScreen(second) {
		t.Fatalf("a refused share reached the viewer")
	}

	// The first stops (its publish connection closed): its edge gives the
	// slot back before its track leaves the owner, so once the viewer sees
	// the screen gone the second may share.
	first.s.Unpublish()
	eventually(t, first.name+"'s screen gone at the viewer", func() bool { return !viewer.sharesScreen(first) })
	if err := second.s.Publish(ctx, screens[1-admitted]); err != nil {
		t.Fatalf("%s shares after %s stopped: %v", second.name, first.name, err)
	}
	eventually(t, "the viewer on the owner gets "+second.name+"'s screen", func() bool { return viewer.sharesScreen(second) })
	if err := first.s.Publish(ctx, screens[admitted]); client.CodeOf(err) != int(stage.CodeScreenshareLimit) {
		t.Fatalf("%s shares again while %s does: %v, want code %d", first.name, second.name, err, stage.CodeScreenshareLimit)
	}
	if n := a.metric(t, "stagekit_screenshares"); n != 1 {
		t.Fatalf("the owner holds %v screen-share slots, want 1", n)
	}

	// The owner dies: its heir's stage starts without shares, and the
	// second's edge claims its slot again when it follows the new owner
	// (its share goes on, its socket kept). The first is still refused.
	a.signal(t, syscall.SIGKILL)
	eventually(t, "the new owner holds the second's slot", func() bool {
		return b.metric(t, "stagekit_screenshares")+cn.metric(t, "stagekit_screenshares") == 1
	})
	for {
		err := first.s.Publish(ctx, screens[admitted])
		if code := client.CodeOf(err); code == protocol.CodeRoomMoved && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond) // its edge still follows the dead owner
			continue
		} else if code != int(stage.CodeScreenshareLimit) {
			t.Fatalf("%s shares after the takeover while %s does: %v, want code %d", first.name, second.name, err, stage.CodeScreenshareLimit)
		}
		break
	}
}
