//go:build !js

package media

import (
	"context"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/netproxy"
	"github.com/stagekit/stagekit/internal/testserver"
)

// BenchmarkDarkStart: a native client whose UDP is black-holed both ways
// for its first STAGEKIT_DARK_FOR (3s) from its join, with the SDK's and
// pion's default ICE settings; the time from the end of the dark to its
// first media. viewer: a viewer joins and the server offers its subscribe
// connection; the first packet of the presenter at the viewer. presenter:
// a presenter joins the stage and publishes video (its publish offer);
// the first packet of it at a host. STAGEKIT_DARK_RUNS (5) runs each, one
// server and meeting for all.
//
//	go test -run='^$' -bench=DarkStart -benchtime=1x ./client/media
func BenchmarkDarkStart(b *testing.B) {
	dark := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("STAGEKIT_DARK_FOR")); err == nil {
		dark = d
	}
	runs := envInt("STAGEKIT_DARK_RUNS", 5)
	// darkSocket is a client's media socket, black-holed, and the Options
	// that make its session use it.
	darkSocket := func(b *testing.B) (*netproxy.HoleConn, func(*Options)) {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { udp.Close() })
		hc := &netproxy.HoleConn{PacketConn: udp}
		hc.BlackHole(true)
		return hc, func(o *Options) {
			onHoleConn(o, hc)
			o.RequestTimeout = time.Minute
		}
	}
	// firstMedia waits (polling every 5 ms, up to a minute) for a packet
	// of peer at u, and returns when it came.
	firstMedia := func(b *testing.B, u *user, peer string) time.Time {
		b.Helper()
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			for _, tr := range u.s.LiveTracksFrom(peer) {
				if tr.Packets() > 0 {
					return time.Now()
				}
			}
		}
		b.Fatalf("%s: no media from %s within a minute", u.name, peer)
		return time.Time{}
	}
	report := func(b *testing.B, what string, took []time.Duration) {
		slices.Sort(took)
		b.Logf("%s: dark %v, then first media after %v", what, dark, took)
		b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "worst-ms")
	}

	b.Run("viewer", func(b *testing.B) {
		for range b.N {
			r := newRoom(b, 20*time.Second)
			presenter := r.join("presenter", presetHost)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			benchPublishVideo(b, ctx, presenter)
			cancel()
			pp := presenter.peerID()
			var took []time.Duration
			for i := range runs {
				var hc *netproxy.HoleConn
				hc, r.opts = darkSocket(b)
				p, err := testserver.AddParticipant(r.url, r.mid, "viewer", presetViewer)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				viewer, err := r.connect(p, false)
				if err != nil {
					b.Fatalf("viewer %d: %v", i, err)
				}
				time.Sleep(time.Until(start.Add(dark)))
				hc.BlackHole(false)
				lifted := time.Now()
				took = append(took, firstMedia(b, viewer, pp).Sub(lifted).Round(time.Millisecond))
				viewer.s.Close()
				viewer.m.Close()
			}
			r.opts = nil
			report(b, "viewer", took)
		}
	})

	b.Run("presenter", func(b *testing.B) {
		for range b.N {
			r := newRoom(b, 20*time.Second)
			host := r.join("host", presetHost)
			var took []time.Duration
			for i := range runs {
				var hc *netproxy.HoleConn
				hc, r.opts = darkSocket(b)
				p, err := testserver.AddParticipant(r.url, r.mid, "presenter", presetHost)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				presenter, err := r.connect(p, false)
				if err != nil {
					b.Fatalf("presenter %d: %v", i, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				published := make(chan struct{})
				go func() {
					defer close(published)
					benchPublishVideo(b, ctx, presenter)
				}()
				time.Sleep(time.Until(start.Add(dark)))
				hc.BlackHole(false)
				lifted := time.Now()
				took = append(took, firstMedia(b, host, presenter.peerID()).Sub(lifted).Round(time.Millisecond))
				<-published
				cancel()
				presenter.s.Close()
				presenter.m.Close()
			}
			r.opts = nil
			report(b, "presenter", took)
		}
	})
}

// benchPublishVideo joins u to the stage and publishes a synthetic video
// (the benchmark's presenters; Publish returns once it is connected).
func benchPublishVideo(b *testing.B, ctx context.Context, u *user) {
	if err := u.m.Stage().Join(ctx); err != nil {
		b.Error(err)
		return
	}
	video, err := NewSyntheticVideo()
	if err != nil {
		b.Error(err)
		return
	}
	video.Start()
	b.Cleanup(video.Stop)
	if err := u.s.Publish(ctx, video); err != nil {
		b.Errorf("%s: publish: %v", u.name, err)
	}
}
