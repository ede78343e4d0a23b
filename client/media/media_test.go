//go:build !js

package media

import (
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// (a) A host on stage publishes audio and video; five viewers, three
// joined before the host published and two after, each receive both tracks
// with the host's peer and user id, and a keyframe.
func TestHostReachesViewers(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	host := r.join("host", presetHost)
	viewers := []*user{r.join("v1", presetViewer), r.join("v2", presetViewer), r.join("v3", presetViewer)}
	ctx, cancel := ctxDeadline()
	defer cancel()

	if st := host.m.Stage().Status(); st != stage.Accepted {
		t.Fatalf("host starts %s, want %s", st, stage.Accepted)
	}
	video, _ := publishAV(t, ctx, host)
	if !host.s.Publishing() {
		t.Fatal("Publishing() is false after Publish")
	}
	viewers = append(viewers, r.join("v4", presetViewer), r.join("v5", presetViewer))

	hp := host.peerID()
	for _, v := range viewers {
		v.waitMedia("the host's audio and video with a keyframe", func() bool {
			live := v.s.LiveTracksFrom(hp)
			if len(live) != 2 {
				return false
			}
			for _, tr := range live {
				if tr.Packets() < 30 {
					return false
				}
			}
			return v.rec.get(hp).keyframes > 0
		})
		kinds := map[string]int{}
		for _, tr := range v.s.TracksFrom(hp) {
			if tr.Info.PeerID != hp || tr.Info.UserID != host.id || tr.Remote.StreamID() != tr.Info.StreamID {
				t.Errorf("%s: track %+v (stream %q), want owner peer %q user %q", v.name, tr.Info, tr.Remote.StreamID(), hp, host.id)
			}
			if tr.Info.TrackID != tr.Remote.ID() {
				t.Errorf("%s: track info id %q, remote id %q", v.name, tr.Info.TrackID, tr.Remote.ID())
			}
			if tr.Bytes() < tr.Packets()*12 {
				t.Errorf("%s: %d bytes for %d packets", v.name, tr.Bytes(), tr.Packets())
			}
			kinds[tr.Info.Kind]++
		}
		if kinds["audio"] != 1 || kinds["video"] != 1 {
			t.Errorf("%s: received kinds %v, want one audio and one video", v.name, kinds)
		}
		rt := v.s.RemoteTracks()
		if len(rt) != 1 || len(rt[hp]) != 2 {
			t.Errorf("%s: track map %+v, want the host's two tracks only", v.name, rt)
		}
		if rec := v.rec.get(hp); rec.maxSent.IsZero() || rec.tracks != 2 {
			t.Errorf("%s: %d OnTrack calls (want 2), latest stamp %v", v.name, rec.tracks, rec.maxSent)
		}
	}
	if n := len(host.s.Tracks()); n != 0 {
		t.Errorf("the host receives %d tracks; its own must not come back", n)
	}
	if video.Frames() == 0 || video.Keyframes() == 0 {
		t.Errorf("video source: %d frames, %d keyframes", video.Frames(), video.Keyframes())
	}
}

// (b) A viewer requests, is granted, joins and publishes; the host kicks
// it: its packets stop reaching every subscriber and its track leaves
// their track maps, whether its client unpublishes (the session) or keeps
// sending (a raw publisher that ignores the kick).
func TestKickStopsForwarding(t *testing.T) {
	t.Run("session", func(t *testing.T) { testStops(t, false, kick) })
	t.Run("raw publisher ignoring the kick", func(t *testing.T) { testStops(t, true, kick) })
}

// (d) Leaving the stage, or the meeting, stops forwarding too.
func TestLeaveStopsForwarding(t *testing.T) {
	t.Run("stage leave, session", func(t *testing.T) { testStops(t, false, stageLeave) })
	t.Run("stage leave, raw publisher keeps sending", func(t *testing.T) { testStops(t, true, stageLeave) })
	t.Run("meeting leave, session", func(t *testing.T) { testStops(t, false, meetingLeave) })
}

type stopAction int

const (
	kick stopAction = iota
	stageLeave
	meetingLeave
)

func testStops(t *testing.T, raw bool, action stopAction) {
	r := newRoom(t, 5*time.Second)
	host := r.join("host", presetHost)
	guest := r.join("guest", presetViewer)
	subs := []*user{host, r.join("v1", presetViewer), r.join("v2", presetViewer), r.join("v3", presetViewer)}
	ctx, cancel := ctxDeadline()
	defer cancel()
	bringOnStage(t, host, guest)
	gp := guest.peerID()

	var rp *rawPub
	if raw {
		var err error
		if rp, err = offerRaw(ctx, r.api, guest.m, 5*time.Millisecond); err != nil {
			t.Fatalf("raw offer: %v", err)
		}
		defer rp.close()
		rp.waitUp(t)
	} else {
		video, err := NewSyntheticVideo()
		if err != nil {
			t.Fatal(err)
		}
		video.Start()
		defer video.Stop()
		if err := guest.s.Publish(ctx, video); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	for _, s := range subs {
		s.waitMedia("the guest's packets", func() bool {
			p, _ := s.s.ReceivedFrom(gp)
			return p >= 20 && len(s.s.RemoteTracks()[gp]) == 1
		})
	}

	switch action {
	case kick:
		if err := host.m.Stage().Kick(ctx, []string{guest.id}); err != nil {
			t.Fatalf("kick: %v", err)
		}
	case stageLeave:
		if err := guest.m.Stage().Leave(ctx); err != nil {
			t.Fatalf("stage leave: %v", err)
		}
	case meetingLeave:
		if err := guest.m.Leave(ctx); err != nil {
			t.Fatalf("leave: %v", err)
		}
	}
	stopped := time.Now() // the server committed the change before this
	if action != meetingLeave {
		guest.until("OFF_STAGE", func() bool { return guest.m.Stage().Status() == stage.OffStage })
	}

	// A drain window for packets already in flight, then nothing more may
	// arrive while the publisher goes on.
	const drain, window = 100 * time.Millisecond, 300 * time.Millisecond
	var sentAtStop int64
	if raw {
		sentAtStop = rp.attempts.Load()
	}
	<-time.After(drain)
	before := make([]uint64, len(subs))
	for i, s := range subs {
		before[i], _ = s.s.ReceivedFrom(gp)
	}
	<-time.After(window)
	if raw {
		// The raw client kept sending all along.
		rp.waitAttempts(t, sentAtStop+int64((drain+window)/rp.interval/2))
	}
	for i, s := range subs {
		if after, _ := s.s.ReceivedFrom(gp); after != before[i] {
			t.Errorf("%s: %d packets of the guest arrived after the drain window", s.name, after-before[i])
		}
	}
	for _, s := range subs {
		s.waitMedia("the guest's track removed", func() bool {
			_, listed := s.s.RemoteTracks()[gp]
			return !listed && len(s.s.LiveTracksFrom(gp)) == 0
		})
		rec := s.rec.get(gp)
		if rec.maxSent.After(stopped) {
			t.Errorf("%s received a packet written %v after the server committed the change", s.name, rec.maxSent.Sub(stopped))
		}
		if rec.packets == 0 {
			t.Errorf("%s: recorder saw no packet of the guest", s.name)
		}
	}
	if raw {
		t.Logf("raw publisher: %d packets tried after the change, %d written in all", rp.attempts.Load()-sentAtStop, rp.written.Load())
	} else {
		guest.waitMedia("the guest's session unpublished", func() bool { return !guest.s.Publishing() })
	}
}

// (c) A client that is not ON_STAGE and offers anyway is refused with 4040
// and nothing of it is forwarded, while the host's media flows.
func TestOfferRefusedOffStage(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	host := r.join("host", presetHost)
	guest := r.join("guest", presetViewer)
	outsider := r.join("outsider", "livestream_viewer") // NOT_ALLOWED
	watcher := r.join("watcher", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	if err := host.m.Stage().Join(ctx); err != nil {
		t.Fatal(err)
	}
	hv, err := NewSyntheticVideo()
	if err != nil {
		t.Fatal(err)
	}
	hv.Start()
	defer hv.Stop()
	if err := host.s.Publish(ctx, hv); err != nil {
		t.Fatal(err)
	}

	refused := func(who *user) {
		t.Helper()
		if rp, err := offerRaw(ctx, r.api, who.m, 5*time.Millisecond); !codeIs(err, protocol.CodeMediaRefused) {
			if rp != nil {
				rp.close()
			}
			t.Errorf("%s (%s): raw offer: %v, want 4040", who.name, who.m.Stage().Status(), err)
		}
		v, err := NewSyntheticVideo()
		if err != nil {
			t.Fatal(err)
		}
		v.Start()
		defer v.Stop()
		if err := who.s.Publish(ctx, v); !codeIs(err, protocol.CodeMediaRefused) {
			t.Errorf("%s (%s): Publish: %v, want 4040", who.name, who.m.Stage().Status(), err)
		}
		if who.s.Publishing() {
			t.Errorf("%s: Publishing() after a refused Publish", who.name)
		}
	}
	refused(guest) // OFF_STAGE
	refused(outsider)
	if err := guest.m.Stage().RequestAccess(ctx); err != nil {
		t.Fatal(err)
	}
	refused(guest) // REQUESTED
	host.until("the request", func() bool { return host.statusOf(guest.id) == stage.Requested })
	if err := host.m.Stage().GrantAccess(ctx, []string{guest.id}); err != nil {
		t.Fatal(err)
	}
	guest.until("the grant", func() bool { return guest.m.Stage().Status() == stage.Accepted })
	refused(guest) // ACCEPTED, not yet joined

	// The host's media flows meanwhile (the pipeline works), the refused
	// users' never.
	hp := host.peerID()
	watcher.waitMedia("60 packets of the host", func() bool {
		p, _ := watcher.s.ReceivedFrom(hp)
		return p >= 60
	})
	for _, s := range []*user{host, watcher, guest, outsider} {
		for _, who := range []*user{guest, outsider} {
			if s == who {
				continue
			}
			if n := len(s.s.TracksFrom(who.peerID())); n != 0 {
				t.Errorf("%s received %d tracks of %s", s.name, n, who.name)
			}
			if _, listed := s.s.RemoteTracks()[who.peerID()]; listed {
				t.Errorf("%s's track map lists %s", s.name, who.name)
			}
		}
	}
	if rt := watcher.s.RemoteTracks(); len(rt) != 1 {
		t.Errorf("watcher's track map %+v, want the host only", rt)
	}
}

// After a dropped signaling connection, within the grace period, the
// server keeps the user's media session (the rejoin asks it to): both of
// the user's peer connections restart ICE and keep their tracks, so the
// viewer receives the host on the track it had, and the host the guest.
func TestRepublishAfterReconnect(t *testing.T) {
	r := newRoom(t, 10*time.Second)
	host := r.joinWith("host", presetHost, true)
	guest := r.join("guest", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	if err := host.m.Stage().Join(ctx); err != nil {
		t.Fatal(err)
	}
	bringOnStage(t, host, guest)
	for _, u := range []*user{host, guest} {
		v, err := NewSyntheticVideo()
		if err != nil {
			t.Fatal(err)
		}
		v.Start()
		defer v.Stop()
		if err := u.s.Publish(ctx, v); err != nil {
			t.Fatalf("%s: publish: %v", u.name, err)
		}
	}
	hp, gp := host.peerID(), guest.peerID()
	guest.waitMedia("the host's track", func() bool {
		live := guest.s.LiveTracksFrom(hp)
		return len(live) == 1 && live[0].Packets() >= 20
	})
	host.waitMedia("the guest's track", func() bool {
		live := host.s.LiveTracksFrom(gp)
		return len(live) == 1 && live[0].Packets() >= 20
	})
	hostFirst := host.s.LiveTracksFrom(gp)[0]
	offers := host.s.Offers()

	reconnected := make(chan struct{}, 1)
	host.m.On(func(e client.Event) {
		if e.Name == client.EventReconnected {
			poke(reconnected)
		}
	})
	host.px.Cut()
	select {
	case <-reconnected:
	case <-time.After(deadline):
		t.Fatal("no reconnected event")
	}
	if host.m.Stage().PeerID() != hp || host.m.Stage().Status() != stage.OnStage {
		t.Fatalf("after reconnect: peer %q status %s", host.m.Stage().PeerID(), host.m.Stage().Status())
	}
	atReconnect, _ := guest.s.ReceivedFrom(hp)
	guest.waitMedia("the host's track flowing again", func() bool {
		live := guest.s.LiveTracksFrom(hp)
		got, _ := guest.s.ReceivedFrom(hp)
		return len(live) == 1 && got >= atReconnect+20
	})
	// The server kept the host's media session (the rejoin asked it to):
	// the subscribe connection restarted ICE and its track goes on.
	atHost := hostFirst.Packets()
	host.waitMedia("the guest's track on the same subscribe connection", func() bool {
		live := host.s.LiveTracksFrom(gp)
		return len(live) == 1 && live[0] == hostFirst && live[0].Packets() >= atHost+20
	})
	if !host.s.Publishing() {
		t.Error("the host's session is not publishing after the reconnect")
	}
	if n := len(guest.s.TracksFrom(hp)); n != 1 {
		t.Errorf("guest got %d tracks of the host, want the one it had", n)
	}
	if n := len(host.s.TracksFrom(gp)); n != 1 {
		t.Errorf("host got %d tracks of the guest, want the one it had", n)
	}
	if host.s.Offers() <= offers {
		t.Errorf("host answered no ICE restart offer after the reconnect")
	}
}

// A publish connection offered before an exit from ON_STAGE is dropped
// even when the status is back to ON_STAGE by the time the session looks
// (the server closed that connection at the exit); one offered after it is
// kept.
func TestStalePublishDropped(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	host := r.join("host", presetHost)
	ctx, cancel := ctxDeadline()
	defer cancel()
	v := publishVideo(t, ctx, host)
	// An exit the session counted but whose status it no longer sees.
	host.s.exits.Add(1)
	poke(host.s.ctlSig)
	host.waitMedia("the stale publish connection dropped", func() bool { return !host.s.Publishing() })
	if err := host.s.Publish(ctx, v); err != nil {
		t.Fatal(err)
	}
	// A status update to ON_STAGE again must not drop the new one.
	poke(host.s.ctlSig)
	viewer := r.join("viewer", presetViewer)
	viewer.waitMedia("the host's new track", func() bool {
		p, _ := viewer.s.ReceivedFrom(host.peerID())
		return p >= 10
	})
	if !host.s.Publishing() {
		t.Error("the new publish connection was dropped")
	}
}

// With no time to gather, the local candidates the description lacks are
// trickled after it, and media flows all the same.
func TestTrickledCandidates(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	r.opts = func(o *Options) { o.GatherTimeout = time.Nanosecond }
	host := r.join("host", presetHost)
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	publishVideo(t, ctx, host)
	viewer.waitMedia("the host's packets", func() bool {
		p, _ := viewer.s.ReceivedFrom(host.peerID())
		return p >= 10
	})
	// Media can flow on peer-reflexive candidates before the trickled ones
	// are sent, so wait (re-checked on every packet the viewer receives).
	// Whether a candidate is trickled or already in the description
	// depends on whether gathering (fast on loopback) finished before the
	// description was taken: either way it must reach the server.
	viewer.waitMedia("every side's candidates sent, trickled or in the description", func() bool {
		for _, u := range []*user{host, viewer} {
			if u.s.trickled.Load()+u.s.described.Load() == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("trickled: host %d, viewer %d; in the description: host %d, viewer %d",
		host.s.trickled.Load(), viewer.s.trickled.Load(), host.s.described.Load(), viewer.s.described.Load())
}

// A session ends with its meeting; Publish without tracks is refused.
func TestSessionLifecycle(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	u := r.join("u", presetHost)
	ctx, cancel := ctxDeadline()
	defer cancel()
	if err := u.s.Publish(ctx); !codeIs(err, protocol.CodeBadArgs) {
		t.Errorf("Publish(): %v, want 4005", err)
	}
	if _, err := Attach(nil, Options{}); !codeIs(err, protocol.CodeBadArgs) {
		t.Errorf("Attach(nil): %v, want 4005", err)
	}
	if err := u.m.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	// The session closes by itself once the meeting is done.
	if err := u.s.Wait(ctx, func() bool { return false }); !codeIs(err, protocol.CodeClosed) {
		t.Errorf("Wait after the meeting ended: %v, want 5004", err)
	}
	v, err := NewSyntheticVideo()
	if err != nil {
		t.Fatal(err)
	}
	if err := u.s.Publish(ctx, v); !codeIs(err, protocol.CodeClosed) {
		t.Errorf("Publish after close: %v, want 5004", err)
	}
	u.s.Close() // twice is fine
}

// Synthetic VP8 frames, packetized by pion's payloader, carry their stamp
// and keyframe bit through.
func TestSyntheticFrames(t *testing.T) {
	p := &codecs.VP8Payloader{EnablePictureID: true}
	at := time.Unix(1700000000, 123456789)
	for _, key := range []bool{true, false} {
		frame := make([]byte, 3000) // three packets
		fillFrame(frame, 42, key, true, at)
		pkts := p.Payload(1200, frame)
		if len(pkts) < 3 {
			t.Fatalf("%d packets", len(pkts))
		}
		idx, written, ok := SyntheticStamp(pkts[0], true)
		if !ok || idx != 42 || !written.Equal(at) {
			t.Errorf("key=%v: stamp %d %v %v", key, idx, written, ok)
		}
		if got := IsVP8Keyframe(pkts[0]); got != key {
			t.Errorf("key=%v: IsVP8Keyframe %v", key, got)
		}
		for _, q := range pkts[1:] {
			if _, _, ok := SyntheticStamp(q, true); ok {
				t.Errorf("a continuation packet reads as a frame start")
			}
			if IsVP8Keyframe(q) {
				t.Errorf("a continuation packet reads as a keyframe")
			}
		}
	}
	// Opus: the payload is the frame.
	frame := make([]byte, 80)
	fillFrame(frame, 7, false, false, at)
	if idx, written, ok := SyntheticStamp(frame, false); !ok || idx != 7 || !written.Equal(at) {
		t.Errorf("opus stamp %d %v %v", idx, written, ok)
	}
	if _, _, ok := SyntheticStamp(frame[:20], false); ok {
		t.Error("a short payload reads as stamped")
	}
	if _, err := NewSynthetic(SyntheticConfig{Interval: time.Second, FrameBytes: 10}); err == nil {
		t.Error("a 10-byte frame config was accepted")
	}
}

// The server restarts while the host is on stage and publishing: the host
// comes back on stage by itself (the stage was stored), republishes, and the
// viewer receives its video again.
func TestRestartRepublishes(t *testing.T) {
	srv := startServer(t, 10*time.Second)
	r := newRoomAt(t, srv.URL)
	host := r.join("host", presetHost)
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	publishVideo(t, ctx, host)
	hp := host.peerID()
	viewer.waitMedia("the host's track", func() bool {
		live := viewer.s.LiveTracksFrom(hp)
		return len(live) == 1 && live[0].Packets() >= 20
	})
	first := viewer.s.LiveTracksFrom(hp)[0]
	reconnected := make(chan struct{}, 2)
	for _, u := range []*user{host, viewer} {
		u.m.On(func(e client.Event) {
			if e.Name == client.EventReconnected {
				reconnected <- struct{}{}
			}
		})
	}

	srv.Restart(t)
	for range 2 {
		select {
		case <-reconnected:
		case <-time.After(deadline):
			t.Fatal("no reconnected event")
		}
	}
	if host.m.Stage().Status() != stage.OnStage || host.m.Stage().PeerID() != hp {
		t.Fatalf("after the restart the host is %s (peer %q)", host.m.Stage().Status(), host.m.Stage().PeerID())
	}
	viewer.waitMedia("the host's video again, on a new track", func() bool {
		live := viewer.s.LiveTracksFrom(hp)
		return first.IsEnded() && len(live) == 1 && live[0] != first && live[0].Packets() >= 20
	})
}

// One publish connection per stage visit: adding a track, stopping one and
// starting it again renegotiate the same connection (no new ICE or DTLS),
// and the viewer sees each change in the server's track map and tracks.
func TestPublishRenegotiatesOneConnection(t *testing.T) {
	r := newRoom(t, 5*time.Second)
	host := r.join("host", presetHost)
	viewer := r.join("viewer", presetViewer)
	ctx, cancel := ctxDeadline()
	defer cancel()
	video := publishVideo(t, ctx, host)
	hp := host.peerID()
	pc := host.s.pubPC()
	live := func(kind string) func() bool {
		return func() bool {
			for _, tr := range viewer.s.LiveTracksFrom(hp) {
				if tr.Info.Kind == kind && tr.Packets() >= 5 {
					return true
				}
			}
			return false
		}
	}
	viewer.waitMedia("the host's video", live("video"))

	audio, err := NewSyntheticAudio()
	if err != nil {
		t.Fatal(err)
	}
	audio.Start()
	defer audio.Stop()
	if err := host.s.Publish(ctx, video, audio); err != nil {
		t.Fatalf("add audio: %v", err)
	}
	viewer.waitMedia("the host's audio beside its video", func() bool { return live("audio")() && live("video")() })

	if err := host.s.Publish(ctx, audio); err != nil {
		t.Fatalf("stop video: %v", err)
	}
	viewer.waitMedia("the video gone from the map and ended, the audio live", func() bool {
		for _, ti := range viewer.s.RemoteTracks()[hp] {
			if ti.Kind == "video" {
				return false
			}
		}
		for _, tr := range viewer.s.TracksFrom(hp) {
			if tr.Info.Kind == "video" && !tr.IsEnded() {
				return false
			}
		}
		return live("audio")()
	})

	if err := host.s.Publish(ctx, audio, video); err != nil {
		t.Fatalf("start video again: %v", err)
	}
	viewer.waitMedia("a new video track", func() bool {
		n := 0
		for _, tr := range viewer.s.TracksFrom(hp) {
			if tr.Info.Kind == "video" {
				n++
			}
		}
		return n == 2 && live("video")()
	})
	if got := host.s.pubPC(); got != pc {
		t.Error("the publish connection was replaced; want it renegotiated")
	}
	if got := host.s.Published(); len(got) != 2 {
		t.Errorf("Published() = %d tracks, want 2", len(got))
	}
}
