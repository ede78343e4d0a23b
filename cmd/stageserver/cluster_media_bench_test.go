package main

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client/media"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// BenchmarkClusterRelay is the media between nodes, measured black-box on
// three stageserver processes with -edges (PostgreSQL, Redis): a presenter
// on the owner (A) sends 100 video frames a second (one packet each); one
// viewer on A and two on each edge (B, C) receive them over their own
// connections. Over 10 s it reports:
//
//   - delivered-min-pct: the lowest share, over the edge viewers, of the
//     frames written in the window that reached the viewer;
//   - hop-p50-ms, hop-p99-ms: per frame, its arrival at an edge viewer less
//     its arrival at A's viewer (the relay: A's slot, the relay PC, the
//     edge's source and slot), over both edges' viewers (it can be
//     negative: the owner's fan-out may reach the relay before its own
//     viewer); e2e-edge-p99-ms and e2e-owner-p99-ms are the write → arrival
//     at the edges' viewers and at the owner's;
//   - copies-per-edge: the packets the edges received on their relays over
//     the packets A received from the presenter, per edge (1: one copy of
//     the track crosses to each edge, whatever its audience).
//
// Every client runs in this process, on the same machine as the nodes.
func BenchmarkClusterRelay(b *testing.B) {
	c := newClusterWith(b, 3, 2*time.Second, nil, "-edges")
	a, bn, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(a.url, "relay bench")
	if err != nil {
		b.Fatal(err)
	}
	host := c.join(mid, a, "Host", stage.PresetWebinarHost)
	local := c.joinViewer(mid, a, "AtOwner", stage.PresetWebinarViewer)
	var far []*mediaViewer
	for i, nd := range []*clusterNode{bn, bn, cn, cn} {
		far = append(far, c.joinViewer(mid, nd, "Far"+string(rune('1'+i)), stage.PresetWebinarViewer))
	}
	ctx, cancel := ctxWait()
	defer cancel()
	if err := host.m.Stage().Join(ctx); err != nil {
		b.Fatal(err)
	}
	v, err := media.NewSynthetic(media.SyntheticConfig{Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		ID: "video", Interval: 10 * time.Millisecond, FrameBytes: 1000, KeyframeEvery: 200})
	if err != nil {
		b.Fatal(err)
	}
	v.Start()
	defer v.Stop()
	if err := host.s.Publish(ctx, v); err != nil {
		b.Fatal(err)
	}
	for _, w := range append(far, local) {
		w.receiving(host)
	}
	in0 := map[*clusterNode]float64{}
	for _, nd := range c.nodes {
		in0[nd] = nd.metric(b, "stagekit_media_packets_in_total")
	}
	b.ResetTimer()
	from := time.Now()
	time.Sleep(10 * time.Second)
	to := time.Now()
	time.Sleep(time.Second) // what was written in the window is in by now
	b.StopTimer()
	in := map[*clusterNode]float64{}
	for _, nd := range c.nodes {
		in[nd] = nd.metric(b, "stagekit_media_packets_in_total") - in0[nd]
	}

	// The frames written in the window: consecutive indices.
	lo, hi := ^uint64(0), uint64(0)
	for _, w := range append(far, local) {
		w.mu.Lock()
		for idx, at := range w.written {
			if !at.Before(from) && at.Before(to) {
				lo, hi = min(lo, idx), max(hi, idx)
			}
		}
		w.mu.Unlock()
	}
	if hi < lo {
		b.Fatal("no frame in the window")
	}
	written := float64(hi - lo + 1)
	local.mu.Lock()
	ref := make(map[uint64]time.Time, len(local.frames))
	var e2eOwner []time.Duration
	for idx, at := range local.frames {
		ref[idx] = at
		if idx >= lo && idx <= hi {
			e2eOwner = append(e2eOwner, at.Sub(local.written[idx]))
		}
	}
	local.mu.Unlock()
	minPct := 100.0
	var hops, e2e []time.Duration
	for _, w := range far {
		w.mu.Lock()
		got := 0
		for idx := lo; idx <= hi; idx++ {
			at, ok := w.frames[idx]
			if !ok {
				continue
			}
			got++
			e2e = append(e2e, at.Sub(w.written[idx]))
			if r, ok := ref[idx]; ok {
				hops = append(hops, at.Sub(r))
			}
		}
		w.mu.Unlock()
		minPct = min(minPct, 100*float64(got)/written)
	}
	if len(hops) == 0 || len(e2eOwner) == 0 {
		b.Fatal("no frame reached both an edge viewer and the owner's")
	}
	slices.Sort(hops)
	slices.Sort(e2e)
	slices.Sort(e2eOwner)
	q := func(d []time.Duration, f float64) time.Duration { return d[min(len(d)-1, int(f*float64(len(d))))] }
	copies := (in[bn] + in[cn]) / 2 / in[a]
	b.ReportMetric(minPct, "delivered-min-pct")
	b.ReportMetric(float64(q(hops, 0.5).Microseconds())/1e3, "hop-p50-ms")
	b.ReportMetric(float64(q(hops, 0.99).Microseconds())/1e3, "hop-p99-ms")
	b.ReportMetric(float64(q(e2e, 0.99).Microseconds())/1e3, "e2e-edge-p99-ms")
	b.ReportMetric(float64(q(e2eOwner, 0.99).Microseconds())/1e3, "e2e-owner-p99-ms")
	b.ReportMetric(copies, "copies-per-edge")
	b.Logf("relay across nodes, %v frames in 10 s, 4 viewers on 2 edges: delivered ≥ %.2f%%; hop p50 %v p99 %v max %v; write→viewer p99 %v on the edges, %v on the owner; copies per edge %.3f (packets in: A %v, B %v, C %v); A's subscriptions %v",
		written, minPct, q(hops, 0.5), q(hops, 0.99), hops[len(hops)-1], q(e2e, 0.99), q(e2eOwner, 0.99), copies, in[a], in[bn], in[cn], a.metric(b, "stagekit_media_subscriptions"))
}
