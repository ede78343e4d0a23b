package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// Packets skipped across a silence of outageGap or more are an outage's:
// they leave the receiver reports' loss; a skip without such a silence is
// loss and stays.
func TestOutageMask(t *testing.T) {
	ms := int64(time.Millisecond)
	type pkt struct {
		seq uint16
		at  int64
	}
	tests := []struct {
		name     string
		pkts     []pkt
		lost     uint32 // the report's cumulative loss, as pion counts it
		wantLost uint32
		fraction uint8
		wantFrac uint8
	}{
		{"no skip", []pkt{{1, 0}, {2, 20 * ms}, {3, 2000 * ms}}, 0, 0, 0, 0},
		{"loss, not an outage", []pkt{{1, 0}, {5, 20 * ms}}, 3, 3, 60, 60},
		{"an outage", []pkt{{1, 0}, {2, 20 * ms}, {102, 1500 * ms}}, 99, 0, 250, 0},
		{"an outage and loss", []pkt{{1, 0}, {102, 1500 * ms}, {105, 1520 * ms}}, 102, 2, 250, 0},
		{"wrapping", []pkt{{65530, 0}, {10, 3000 * ms}}, 15, 0, 200, 0},
		{"a late packet", []pkt{{10, 0}, {5, 2000 * ms}, {11, 2010 * ms}}, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &outageMask{streams: map[uint32]*outageStream{}}
			st := &outageStream{}
			o.streams[7] = st
			for _, p := range tc.pkts {
				st.note(p.seq, p.at)
			}
			r := rtcp.ReceptionReport{SSRC: 7, TotalLost: tc.lost, FractionLost: tc.fraction}
			o.mask(&r)
			if r.TotalLost != tc.wantLost || r.FractionLost != tc.wantFrac {
				t.Fatalf("lost %d, fraction %d; want %d, %d", r.TotalLost, r.FractionLost, tc.wantLost, tc.wantFrac)
			}
			// The next report: the fraction is its own again, the
			// outage stays out of the total.
			r = rtcp.ReceptionReport{SSRC: 7, TotalLost: tc.lost + 1, FractionLost: 9}
			o.mask(&r)
			if r.TotalLost != tc.wantLost+1 || r.FractionLost != 9 {
				t.Fatalf("next report: lost %d, fraction %d; want %d, 9", r.TotalLost, r.FractionLost, tc.wantLost+1)
			}
		})
	}
}

// Video back after an outage (numbered packets lost for a second or more)
// reaches viewers from a keyframe, asked for at once, and with no gap in
// their numbers: nothing to ask to be resent, nothing undecodable.
func TestVideoAfterOutage(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	viewer := joinClient(t, s, api, "outage", "viewer")
	pub := joinClient(t, s, api, "outage", "pub")
	pub.keyEvery.Store(1000) // 5 s: the keyframe after the outage is the one asked for
	s.SetPublishing("outage", "pub", true)
	if err := pub.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "the viewer receiving", func() bool { return viewer.packetsFrom(pub.peerID) >= 50 })
	var mu sync.Mutex
	var after []int64 // publisher packet numbers received after the outage
	var resumed atomic.Int64
	record := func(_ string, index int64, _ int64) {
		if r := resumed.Load(); r > 0 && index > r {
			mu.Lock()
			after = append(after, index)
			mu.Unlock()
		}
	}
	viewer.onVideo.Store(&record)
	pub.muted.Store(true)
	time.Sleep(1200 * time.Millisecond)
	plis := pub.pliCount.Load()
	resumed.Store(pub.lastSeq.Load())
	pub.muted.Store(false)
	waitFor(t, flowTimeout, "a keyframe asked for", func() bool { return pub.pliCount.Load() > plis })
	mu.Lock()
	early := len(after)
	mu.Unlock()
	// The publisher answers with keyframes (every 10th packet from now).
	pub.keyEvery.Store(10)
	waitFor(t, flowTimeout, "video again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(after) >= 20
	})
	viewer.onVideo.Store(nil)
	if early != 0 {
		t.Errorf("%d packets forwarded after the outage before its keyframe was asked for", early)
	}
	mu.Lock()
	if after[0]%10 != 0 {
		t.Errorf("the first packet after the outage, %d, is not a keyframe", after[0])
	}
	mu.Unlock()
	viewer.onVideo.Store(nil)
	// The outage's 240 numbers are no gap (a packet the loaded harness
	// lost for good may be).
	sl := viewer.videoSlot(pub.peerID)
	if g := sl.gaps.Load(); g > 10 {
		t.Errorf("%d gaps in the numbers the viewer saw", g)
	}
}
