package sfu

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// The allocator gives each track the highest layer that fits, spreads the
// budget over tracks, and holds back switches up.
func TestChooseLayers(t *testing.T) {
	three := []float64{150e3, 500e3, 1500e3}
	const s = int64(1e9)
	tests := []struct {
		name   string
		budget float64
		tracks []allocTrack
		at     int64
		want   []int
	}{
		{"everything fits", 5e6, []allocTrack{{rates: three, cur: 2}}, 0, []int{2}},
		{"staying needs no headroom", 1.6e6, []allocTrack{{rates: three, cur: 2}}, 0, []int{2}},
		{"going up needs headroom", 1.6e6, []allocTrack{{rates: three, cur: 1}}, 0, []int{1}},
		{"going up with headroom", 1.9e6, []allocTrack{{rates: three, cur: 1}}, 0, []int{2}},
		{"down at once when it does not fit", 300e3, []allocTrack{{rates: three, cur: 2}}, 0, []int{0}},
		{"down to a layer with headroom", 550e3, []allocTrack{{rates: three, cur: 2}}, 0, []int{0}},
		{"down to a layer with headroom, the half", 700e3, []allocTrack{{rates: three, cur: 2}}, 0, []int{1}},
		{"staying needs no headroom below either", 700e3, []allocTrack{{rates: []float64{150e3, 600e3, 610e3}, cur: 2}}, 0, []int{2}},
		{"the lowest layer even when nothing fits", 50e3, []allocTrack{{rates: three, cur: 2}}, 0, []int{0}},
		{"a missing layer is skipped", 5e6, []allocTrack{{rates: []float64{150e3, 500e3, -1}, cur: 0}}, 0, []int{1}},
		{"only the top layer there", 100e3, []allocTrack{{rates: []float64{-1, -1, 1500e3}, cur: -1}}, 0, []int{2}},
		{"two tracks share", 1.4e6, []allocTrack{{rates: three, cur: 1}, {rates: three, cur: 1}}, 0, []int{1, 1}},
		{"two tracks, one up", 2.1e6, []allocTrack{{rates: three, cur: 2}, {rates: three, cur: 1}}, 0, []int{2, 1}},
		{"held back", 5e6, []allocTrack{{rates: three, cur: 0, choice: &layerChoice{upAfter: 3 * s}}}, 2 * s, []int{0}},
		{"held back, down still allowed", 100e3, []allocTrack{{rates: three, cur: 1, choice: &layerChoice{upAfter: 3 * s}}}, 2 * s, []int{0}},
		{"hold over", 5e6, []allocTrack{{rates: three, cur: 0, choice: &layerChoice{upAfter: 3 * s}}}, 3 * s, []int{2}},
		{"off a stalled layer", 5e6, []allocTrack{{rates: []float64{150e3, 500e3, -1}, cur: 2}}, 0, []int{1}},
		{"off a stalled layer, held back", 5e6, []allocTrack{{rates: []float64{150e3, -1, -1}, cur: 2,
			choice: &layerChoice{upAfter: 3 * s}}}, 2 * s, []int{0}},
		// A paused layer whose rate is not known (it was paused before it
		// flowed for rateSettle) costs at least what guessRate says; before,
		// the rate it had as it started, and a viewer cut to 300 kbit/s
		// took the half layer for cheap.
		{"cut: a paused layer not known costs the known one above scaled", 300e3, []allocTrack{{rates: []float64{40e3, 80e3, 1400e3}, cur: 2,
			paused: []bool{true, true, false}, known: []bool{false, false, true}}}, 0, []int{0}},
		{"a paused layer not known costs the known one below scaled", 500e3, []allocTrack{{rates: []float64{150e3, 90e3, 1600e3}, cur: 0,
			paused: []bool{false, true, true}, known: []bool{true, false, true}}}, 0, []int{0}},
		{"the scaled guess fits", 700e3, []allocTrack{{rates: []float64{150e3, 90e3, 1600e3}, cur: 0,
			paused: []bool{false, true, true}, known: []bool{true, false, true}}}, 0, []int{1}},
		{"no rate known: the table's", 1e6, []allocTrack{{rates: []float64{0, 0, 0}, cur: 0,
			paused: []bool{false, true, true}, known: []bool{false, false, false}}}, 0, []int{1}},
		{"two layers, none known: the table's top two", 1e6, []allocTrack{{rates: []float64{0, 0}, cur: 0,
			paused: []bool{false, true}, known: []bool{false, false}}}, 0, []int{0}},
		{"measured above the guess: what was measured", 800e3, []allocTrack{{rates: []float64{150e3, 700e3, -1}, cur: 0,
			paused: []bool{false, true, false}, known: []bool{true, false, false}}}, 0, []int{0}},
		{"a paused layer known costs what it measured", 700e3, []allocTrack{{rates: []float64{150e3, 300e3, 1600e3}, cur: 2,
			paused: []bool{true, true, false}, known: []bool{true, true, true}}}, 0, []int{1}},
		{"cut: a flowing layer not known, not the one it plays, costs the guess", 300e3, []allocTrack{{rates: []float64{90e3, 200e3, 700e3}, cur: 2,
			paused: []bool{false, false, false}, known: []bool{true, false, true}}}, 0, []int{0}},
		{"a flowing layer not known costs what it measures", 300e3, []allocTrack{{rates: []float64{150e3, 90e3, 1400e3}, cur: 1,
			paused: []bool{true, false, true}, known: []bool{true, false, true}}}, 0, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := chooseLayers(tc.budget, tc.tracks, tc.at); !slices.Equal(got, tc.want) {
				t.Fatalf("chooseLayers(%g) = %v, want %v", tc.budget, got, tc.want)
			}
		})
	}
}

// A switch up that has to be undone soon backs the next one off, longer
// each time; a switch down for other reasons holds for allocHold.
func TestChooseLayersBackoff(t *testing.T) {
	three := []float64{150e3, 500e3, 1500e3}
	const s = int64(1e9)
	c := &layerChoice{}
	cur := 0
	step := func(budget float64, at int64) int {
		cur = chooseLayers(budget, []allocTrack{{rates: three, cur: cur, choice: c}}, at)[0]
		return cur
	}
	if step(1e6, 0) != 1 {
		t.Fatal("did not go up")
	}
	if step(300e3, 1*s) != 0 || c.upAfter != 1*s+allocBackoffMin {
		t.Fatalf("failed switch up: layer %d, up after %d", cur, c.upAfter)
	}
	if step(1e6, 4*s) != 0 {
		t.Fatal("went up during the backoff")
	}
	if step(1e6, 5*s) != 1 {
		t.Fatal("not up after the backoff")
	}
	if step(300e3, 6*s) != 0 || c.upAfter != 6*s+2*allocBackoffMin {
		t.Fatalf("second failed switch up: up after %d, want %d", c.upAfter, 6*s+2*allocBackoffMin)
	}
	if step(1e6, 14*s) != 1 || step(1e6, 40*s) != 1 || c.backoff != allocBackoffMin {
		t.Fatalf("stable for %v: backoff %d, want reset", allocStable, c.backoff)
	}
	if step(300e3, 41*s) != 0 || c.upAfter != 41*s+allocHold {
		t.Fatalf("down after a long time up: up after %d, want %d", c.upAfter, 41*s+allocHold)
	}
	// Up, and the publisher stops the layer at once: not a failed switch up.
	if step(1e6, 44*s) != 1 {
		t.Fatal("did not go up")
	}
	cur = chooseLayers(1e6, []allocTrack{{rates: []float64{150e3, -1, 1500e3}, cur: cur, choice: c}}, 45*s)[0]
	if cur != 0 || c.upAfter != 45*s+allocHold {
		t.Fatalf("off a stalled layer: layer %d, up after %d, want 0 and %d", cur, c.upAfter, 45*s+allocHold)
	}
	// Up to a layer that never came (given up, stuck): a failed switch
	// up, backed off, however long ago the switch was.
	if step(5e6, 70*s) != 2 {
		t.Fatal("did not go up")
	}
	cur = chooseLayers(5e6, []allocTrack{{rates: []float64{150e3, 500e3, -1}, cur: cur, choice: c, stuck: true}}, 80*s)[0]
	if cur != 1 || c.upAfter != 80*s+allocBackoffMin {
		t.Fatalf("off a layer that never came: layer %d, up after %d, want 1 and %d", cur, c.upAfter, 80*s+allocBackoffMin)
	}
}

// The estimate falls to what the viewer received when delay builds up or
// packets are lost, and grows when neither happens.
func TestBWE(t *testing.T) {
	const ms = int64(1e6)
	// A report of 10 packets of 1,250 bytes, one every 10 ms (1 Mbit/s),
	// sent from at on, each delayed by extra (µs) more than the last.
	report := func(at int64, extra int64, lost int) []ack {
		var acks []ack
		for i := range 10 {
			sent := at + int64(i)*10*ms
			acks = append(acks, ack{sent: sent, size: 1250, arrival: sent/1000 + 5000 + int64(i)*extra, lost: i < lost})
		}
		return acks
	}
	b := newBWE()
	b.rate = 1e6
	now := int64(0)
	for range 10 {
		now += 100 * ms
		b.update(report(now, 0, 0), now)
	}
	if b.rate <= 1e6 || b.rate > 1.5*1e6+bweSlack+1 {
		t.Fatalf("growth without congestion to %g, want above 1e6, at most 1.5 × received + %d", b.rate, bweSlack)
	}
	// A probe train of 10 × 1,250 bytes over 10 ms: 9 Mbit/s after its first.
	var train []ack
	for i := range 10 {
		train = append(train, ack{sent: now, size: 1250, arrival: now/1000 + 5000 + int64(i)*1111, probe: true})
	}
	now += 100 * ms
	b.update(append(train, report(now, 0, 0)...), now)
	if b.rate > 1.5*1e6+bweSlack+1 {
		t.Fatalf("one probe of 9 Mbit/s, more than %d times the estimate: estimate %g, want it confirmed first", bweConfirmRatio, b.rate)
	}
	for i := range train { // the next one, sent at once, confirms it
		train[i].sent, train[i].arrival = now, now/1000+5000+int64(i)*1111
	}
	now += 100 * ms
	b.update(append(train, report(now, 0, 0)...), now)
	if want := bweProbeUse * 9 * 1250 * 8 / 0.009999; b.rate < want*0.99 || b.rate > want*1.01 {
		t.Fatalf("after a probe of 9 Mbit/s: estimate %g, want %g", b.rate, want)
	}
	if b.acked < 0.9e6 || b.acked > 1.1e6 {
		t.Fatalf("received rate %g, want about 1e6", b.acked)
	}
	now += 100 * ms
	if r := b.update(report(now, 10_000, 0), now); r < 1e6 {
		t.Fatalf("one late report: estimate %g, want no decrease", r)
	}
	now += 100 * ms
	if r := b.update(report(now, 10_000, 0), now); r > 0.9e6 {
		t.Fatalf("queuing delay: estimate %g, want at most 0.85 of 1e6", r)
	}
	now += 100 * ms
	before := b.rate
	if r := b.update(report(now, 10_000, 0), now); r != before {
		t.Fatalf("a second decrease within %v: %g → %g", bweDecreaseGap, before, r)
	}
	b = newBWE()
	now += 100 * ms
	if r := b.update(report(now, 0, 3), now); r != bweStart {
		t.Fatalf("3 of 10 lost in the first report: estimate %g, want no decision on so few", r)
	}
	for range 4 {
		now += 100 * ms
		b.update(report(now, 0, 3), now)
	}
	if b.rate >= bweStart {
		t.Fatalf("30%% loss for half a second: estimate %g", b.rate)
	}
	if r := b.update(nil, now); r != b.rate {
		t.Fatal("an empty report changed the estimate")
	}
}

// A TWCC report is read into its packets' arrival times, in order, with
// the lost ones marked; packets the log does not hold are left out.
func TestTWCCAcks(t *testing.T) {
	var log sentLog
	now := int64(1_000_000_000_000)
	for i := range 6 {
		log.next(100+i, i == 5, now+int64(i)*1000)
	}
	fb := &rtcp.TransportLayerCC{
		BaseSequenceNumber: 1,
		PacketStatusCount:  6, // seq 1-6; 6 was never sent
		ReferenceTime:      10,
		PacketChunks: []rtcp.PacketStatusChunk{
			&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 2},
			&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{
				rtcp.TypeTCCPacketNotReceived, rtcp.TypeTCCPacketReceivedLargeDelta, rtcp.TypeTCCPacketReceivedSmallDelta, rtcp.TypeTCCPacketReceivedSmallDelta}},
		},
		RecvDeltas: []*rtcp.RecvDelta{{Delta: 250}, {Delta: 500}, {Delta: 1000}, {Delta: 250}, {Delta: 250}},
	}
	got := twccAcks(fb, &log, now+1e9, nil)
	want := []ack{
		{sent: now + 1000, size: 101, arrival: 640_250},
		{sent: now + 2000, size: 102, arrival: 640_750},
		{sent: now + 3000, size: 103, arrival: 640_750, lost: true},
		{sent: now + 4000, size: 104, arrival: 641_750},
		{sent: now + 5000, size: 105, arrival: 642_000, probe: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("twccAcks:\n got %+v\nwant %+v", got, want)
	}
}

// What the pacer reorders is not loss: audio and probes pass the video it
// holds and take later transport-wide numbers, so a report lists video
// still held, or on its way, as not received.
func TestTWCCAcksPacedNotLost(t *testing.T) {
	now := int64(1_000_000_000_000)
	ms := int64(time.Millisecond)
	// Packets 0-3: video queued by the pacer; 4: audio that went at once.
	for _, c := range []struct {
		name     string
		departed map[uint16]int64 // video that left the pacer, when (ms after now)
		received []bool           // seq 0-4 arrived, as the report says
		wantLost []uint16         // reported lost and counted
		wantLeft []uint16         // left out of the acks
	}{
		{"all held, the audio arrived", nil, []bool{false, false, false, false, true}, nil, []uint16{0, 1, 2, 3}},
		{"two went after the audio, still on the way", map[uint16]int64{0: 5, 1: 6}, []bool{false, false, false, false, true}, nil, []uint16{0, 1, 2, 3}},
		{"one lost before one that arrived", map[uint16]int64{0: 5, 1: 6, 2: 7}, []bool{false, true, false, false, true}, []uint16{0}, []uint16{2, 3}},
		{"all went and arrived", map[uint16]int64{0: 5, 1: 6, 2: 7, 3: 8}, []bool{true, true, true, true, true}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log sentLog
			for i := range 5 {
				log.next(1000, false, now+int64(i)*ms)
			}
			for i := range 4 {
				log.held(uint16(i))
			}
			for seq, at := range c.departed {
				log.departed(seq, now+at*ms)
			}
			got := twccAcks(feedbackOf(c.received), &log, now+time.Second.Nanoseconds(), nil)
			var lost, left []uint16
			for seq := range uint16(5) {
				l, _ := log.sent(seq, now+time.Second.Nanoseconds())
				var found bool
				for _, a := range got {
					if a.sent == l.at {
						found = true
						if a.lost {
							lost = append(lost, seq)
						}
					}
				}
				if !found {
					left = append(left, seq)
				}
			}
			if !slices.Equal(lost, c.wantLost) || !slices.Equal(left, c.wantLeft) {
				t.Errorf("lost %v, left out %v; want lost %v, left out %v", lost, left, c.wantLost, c.wantLeft)
			}
		})
	}
}

// A train through a token bucket: the first packets pass at once, the rest
// at the bucket's rate, which is what the train measures.
func TestTrainRate(t *testing.T) {
	var train []ack
	for i := range 8 {
		at := int64(0)
		if i >= 4 {
			at = int64(i-3) * 32_000 // 1,200 bytes every 32 ms: 300 kbit/s
		}
		train = append(train, ack{size: 1200, arrival: at, probe: true})
	}
	if r, ok := trainRate(train); !ok || r < 290e3 || r > 310e3 {
		t.Fatalf("trainRate = %g, %v; want about 300e3", r, ok)
	}
	if _, ok := trainRate(train[:bweProbeMin-1]); ok {
		t.Fatal("a train too short measured a rate")
	}
	same := []ack{{size: 1000}, {size: 1000}, {size: 1000}, {size: 1000}}
	if r, _ := trainRate(same); r != bweMax {
		t.Fatalf("a train that arrived at once: %g, want bweMax", r)
	}
	// A train of slot.probe's: full-size packets, then small ones, through
	// a 4 KB token bucket at 300 kbit/s: each packet arrives once the
	// bucket has its bytes. The small ones measure the rate (an average
	// size over the median gap read 12% high).
	var mixed []ack
	sent := 0
	for i := range probeDrain + probeMeasure {
		size := probeDrainPadding + rtpWireOverhead
		if i >= probeDrain {
			size = probeMeasurePadding + rtpWireOverhead
		}
		sent += size
		at := max(0, int64(float64(sent-4096)/37_500*1e6))
		mixed = append(mixed, ack{size: size, arrival: at, probe: true})
	}
	if r, ok := trainRate(mixed); !ok || r < 285e3 || r > 315e3 {
		t.Errorf("slot.probe's train at 300 kbit/s: trainRate = %g, %v; want 300e3 ± 5%%", r, ok)
	}
	// A receiver that stalled once: the train comes gap apart, but its
	// reader was not scheduled for stall µs from the arrival of packet
	// stallAt: what came meanwhile is read when it wakes, at once or
	// batchGap apart (a loaded reader), and the rest on time. The median
	// reads neither a short stall on a fast link nor one on a 300 kbit/s
	// link as the link; and a stall reads a link slower, never faster:
	// one that ends after most of the second half came leaves a batch
	// (at once, or 750 µs apart) whose median alone read a 300 kbit/s
	// link as 50 and 1.4 Mbit/s.
	for _, c := range []struct {
		name     string
		gap      int64
		lo, hi   float64
		stallAt  int
		stall    int64
		batchGap int64
	}{
		{"fast link", 250, 5e6, bweMax, 15, 1_000, 0},
		{"fast link, a long stall", 250, 500e3, bweMax, 15, 40_000, 0},
		{"300 kbit/s link", 6800, 280e3, 320e3, 15, 20_000, 0},
		{"300 kbit/s link, its second half in one batch", 6800, 0, 310e3, 12, 90_000, 0},
		{"300 kbit/s link, most of its second half in one batch", 6800, 0, 310e3, 14, 60_000, 0},
		{"300 kbit/s link, its second half read 750 µs apart", 6800, 0, 310e3, 12, 90_000, 750},
	} {
		var train []ack
		wake, read := int64(-1), int64(0)
		for i := range 24 {
			at := int64(i) * c.gap // when it came
			if i == c.stallAt {
				wake = at + c.stall
			}
			if wake >= 0 && at < wake {
				at = max(wake, read+c.batchGap)
			}
			read = max(at, read)
			train = append(train, ack{size: 255, arrival: read, probe: true})
		}
		if r, ok := trainRate(train); !ok || r < c.lo || r > c.hi {
			t.Errorf("%s with a stall: trainRate = %g, %v, want %g..%g", c.name, r, ok, c.lo, c.hi)
		}
	}
}

// A train reported over two reports, the first holding only the packets a
// token bucket let through at once: measured when it is whole, at the
// bucket's rate.
func TestBWETrainOverTwoReports(t *testing.T) {
	const ms = int64(1e6)
	b := newBWE()
	b.rate = 200e3
	now := 100 * ms
	var train []ack
	for i := range 24 {
		at := now/1000 + 5000
		if i >= 12 {
			at += int64(i-11) * 8_000 // 300 bytes every 8 ms: 300 kbit/s
		}
		train = append(train, ack{sent: now, size: 300, arrival: at, probe: true})
	}
	media := func(at int64) []ack {
		return []ack{{sent: at, size: 300, arrival: at/1000 + 5000}, {sent: at + ms, size: 300, arrival: at/1000 + 6000}}
	}
	b.update(append(media(now-50*ms), train[:10]...), now)
	if b.probedAt != 0 {
		t.Fatalf("a train's first packets measured %g", b.probed)
	}
	now += 100 * ms
	b.update(append(train[10:], media(now)...), now)
	if b.probedAt != now || b.probed < 280e3 || b.probed > 320e3 {
		t.Fatalf("the whole train measured %g at %d, want about 300e3 at %d", b.probed, b.probedAt, now)
	}
	// The same train, but the shaper's queue dropped most of what the
	// bucket did not pass: what arrived is the burst, no measure.
	probedAt := b.probedAt
	for i := range train[14:] {
		train[14+i].lost = true
	}
	now += 100 * ms
	b.update(append(train, media(now)...), now)
	if b.probedAt != probedAt {
		t.Fatalf("a train mostly lost measured %g", b.probed)
	}
}

// A train that reads far above the estimate counts only once the next
// one reads it too, and then the lesser of the two: a single train read
// in a batch by a loaded viewer is not a fast link.
func TestBWEProbeConfirmed(t *testing.T) {
	for _, c := range []struct {
		name          string
		first, second float64 // what the two trains read, bit/s
		gap           int64   // ns between them
		want          float64 // what counts after the second; 0: nothing yet
	}{
		{"a batch, then the link", 50e6, 300e3, 200e6, 300e3},
		{"a fast link, twice", 50e6, 40e6, 200e6, 40e6},
		{"a fast link, confirmed too late", 50e6, 40e6, 2e9, 0},
		{"not far above the estimate", 450e3, 0, 0, 450e3},
	} {
		b := newBWE()
		b.rate = 250e3
		b.confirm(c.first, 1e9)
		if c.second > 0 {
			if b.probedAt != 0 {
				t.Errorf("%s: one train of %g counted alone (estimate %g)", c.name, c.first, b.rate)
			}
			b.confirm(c.second, 1e9+c.gap)
		}
		got := b.probed
		if b.probedAt == 0 {
			got = 0
		}
		if got != c.want {
			t.Errorf("%s: %g counts, want %g", c.name, got, c.want)
		}
	}
}

// A train held before any of it arrived (the viewer's machine stalled
// while it was on its way) comes in one batch at line rate: it measures
// nothing. The same train on time measures the link.
func TestBWETrainHeldMeasuresNothing(t *testing.T) {
	const ms = int64(1e6)
	media := func(at, late int64) []ack {
		return []ack{{sent: at, size: 300, arrival: at/1000 + 5000 + late}, {sent: at + ms, size: 300, arrival: at/1000 + 6000 + late}}
	}
	train := func(at, late, spacing int64) []ack {
		var acks []ack
		for i := range 24 {
			acks = append(acks, ack{sent: at, size: 300, arrival: at/1000 + 5000 + late + int64(i)*spacing, probe: true})
		}
		return acks
	}
	for _, c := range []struct {
		name     string
		late     int64 // µs the train's first packet waited
		spacing  int64 // µs between its arrivals
		measured bool
	}{
		{"held 150 ms, then read at once", 150_000, 0, false},
		{"on time, through a 300 kbit/s link", 0, 8_000, true},
		{"on time, through a fast link", 0, 0, true},
	} {
		b := newBWE()
		now := int64(0)
		for range 5 {
			now += 100 * ms
			b.update(media(now, 0), now)
		}
		now += 100 * ms
		b.update(append(train(now-50*ms, c.late, c.spacing), media(now, c.late)...), now)
		if got := b.probedAt == now || b.unconfirmedAt == now; got != c.measured {
			t.Errorf("%s: measured %v (%g), want %v", c.name, got, b.probed, c.measured)
		}
	}
}

// A viewer's machine that stalls: the packets of 100 ms arrive 280 ms late
// in one batch, two reports in a row. That is not the path's queue: no
// decrease. The same delay with the packets spaced out (a queue growing)
// is.
func TestBWEReceiverStallIsNotCongestion(t *testing.T) {
	const ms = int64(1e6)
	report := func(at, delay, spacing int64) []ack {
		var acks []ack
		for i := range 10 {
			sent := at + int64(i)*10*ms
			acks = append(acks, ack{sent: sent, size: 1000, arrival: at/1000 + 5000 + delay + int64(i)*spacing})
		}
		return acks
	}
	for _, c := range []struct {
		name     string
		spacing  int64 // µs between arrivals
		decrease bool
	}{
		{"a batch", 200, false},
		{"a queue", 12_000, true},
	} {
		b := newBWE()
		b.rate = 2e6
		now := int64(0)
		for range 10 {
			now += 100 * ms
			b.update(report(now, 0, 10_000), now)
		}
		before := b.rate
		for range 2 {
			now += 100 * ms
			b.update(report(now, 280_000, c.spacing), now)
		}
		if got := b.rate < before; got != c.decrease {
			t.Errorf("%s 280 ms late: estimate %g → %g, decrease %v, want %v", c.name, before, b.rate, got, c.decrease)
		}
	}
}

// A probe that measured the link bounds the estimate's growth while it is
// recent: a viewer on a 300 kbit/s link is not grown back above it and
// moved up to find out, every few seconds.
func TestBWEProbeBoundsGrowth(t *testing.T) {
	const ms = int64(1e6)
	b := newBWE()
	b.rate = 250e3
	b.probed, b.probedAt = 300e3, 1
	now := int64(1)
	report := func(at int64) []ack {
		var acks []ack
		for i := range 10 {
			sent := at + int64(i)*10*ms
			acks = append(acks, ack{sent: sent, size: 250, arrival: sent/1000 + 5000})
		}
		return acks
	}
	for range 90 {
		now += 100 * ms
		b.update(report(now), now)
	}
	if b.rate > 300e3 {
		t.Fatalf("estimate %g 9 s after a probe of 300e3; want at most that", b.rate)
	}
	for range 30 {
		now += 100 * ms
		b.update(report(now), now)
	}
	if b.rate <= 300e3 {
		t.Fatalf("estimate %g 12 s after the probe; want growth again", b.rate)
	}
}

// A probe counts while the queuing delay is between the marks (no growth,
// no congestion): a loaded receiver's jitter can hold it there for long.
func TestBWEProbeWhileHolding(t *testing.T) {
	const ms = int64(1e6)
	b := newBWE()
	b.rate = 200e3
	now := int64(0)
	report := func(at, queue int64, train bool) []ack {
		var acks []ack
		if train {
			for i := range 24 {
				acks = append(acks, ack{sent: at, size: 255, arrival: at/1000 + 5000 + int64(i)*250, probe: true})
			}
		}
		for i := range 10 {
			sent := at + int64(i)*10*ms
			owd := int64(5000)
			if i >= 5 {
				owd += queue
			}
			acks = append(acks, ack{sent: sent, size: 250, arrival: sent/1000 + owd})
		}
		return acks
	}
	for range 5 {
		now += 100 * ms
		b.update(report(now, 0, false), now)
	}
	now += 100 * ms
	before := b.update(report(now, 40_000, false), now)
	now += 100 * ms
	b.update(report(now, 40_000, true), now)
	now += 100 * ms // the train that confirms it (bwe.confirm)
	after := b.update(report(now, 40_000, true), now)
	if before > 400e3 || after < 5e6 {
		t.Fatalf("estimate %g before a probe and %g after it, queue between the marks; want the probe's measure", before, after)
	}
	// Congestion: the probe does not count.
	b = newBWE()
	b.rate = 200e3
	now = 0
	for range 5 {
		now += 100 * ms
		b.update(report(now, 0, false), now)
	}
	for range 3 {
		now += 100 * ms
		b.update(report(now, 100_000, true), now)
	}
	if b.rate > 300e3 {
		t.Fatalf("estimate %g after probes under congestion; want no rise", b.rate)
	}
}

// Probe trains: while a viewer is below its top, 2 s apart, doubling to
// 6 s; again at once once it was on top; never within probeSettle of a
// switch down (its link's queue is full then).
func TestProbeSchedule(t *testing.T) {
	const s = int64(time.Second)
	type step struct {
		at              int64
		below, wentDown bool
		due             bool // and then sent
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"below from the start: 2, 4, 6, 6 s apart", []step{
			{0, true, false, true}, {1 * s, true, false, false}, {2 * s, true, false, true},
			{5 * s, true, false, false}, {6 * s, true, false, true}, {11 * s, true, false, false},
			{12 * s, true, false, true}, {18 * s, true, false, true},
		}},
		{"on top: none; below again, 2 s apart again", []step{
			{0, true, false, true}, {1 * s, false, false, false}, {1*s + 1, true, false, false}, {2 * s, true, false, true},
			{3 * s, false, false, false}, {4 * s, true, false, true}, {5 * s, true, false, false}, {6 * s, true, false, true},
		}},
		{"a switch down from the top: the first train after probeSettle", []step{
			{0, false, false, false}, {10 * s, true, true, false}, {10*s + int64(probeSettle) - 1, true, false, false},
			{10*s + int64(probeSettle), true, false, true}, {12*s + int64(probeSettle), true, false, true},
		}},
		{"a switch down while probed: the next train waits", []step{
			{0, true, false, true}, {2*s - 1, true, true, false}, {2 * s, true, false, false},
			{2*s - 1 + int64(probeSettle), true, false, true},
		}},
	} {
		var ps probeSchedule
		for i, st := range c.steps {
			due := ps.due(st.below, st.wentDown, st.at)
			if due != st.due {
				t.Errorf("%s: step %d (at %v): due %v, want %v", c.name, i, time.Duration(st.at), due, st.due)
				break
			}
			if due {
				ps.sent(st.at)
			}
		}
	}
}

// Packets sent before the viewer's path came up again (an ICE restart after
// its network changed) went to an address that is gone: reported lost, they
// are not the new path's loss; those sent after it are.
func TestTWCCAcksOldPathNotLost(t *testing.T) {
	now := int64(1_000_000_000_000)
	ms := int64(time.Millisecond)
	var log sentLog
	for i := range 6 {
		log.next(1000, false, now+int64(i)*ms)
	}
	log.pathUp(now + 3*ms) // packets 0-2 went on the old path
	// 0, 1, 3 and 4 lost; 2 and 5 arrived.
	received := []bool{false, false, true, false, false, true}
	got := twccAcks(feedbackOf(received), &log, now+time.Second.Nanoseconds(), nil)
	var lost, arrived []int64
	for _, a := range got {
		if a.lost {
			lost = append(lost, (a.sent-now)/ms)
		} else {
			arrived = append(arrived, (a.sent-now)/ms)
		}
	}
	if !slices.Equal(lost, []int64{3, 4}) || !slices.Equal(arrived, []int64{2, 5}) {
		t.Fatalf("lost %v and arrived %v (by seq), want lost [3 4] (after the path came up), arrived [2 5]", lost, arrived)
	}
}

// feedbackOf is a transport-wide feedback for packets 0..len(received)-1:
// those received 1 ms apart, the others reported not received.
func feedbackOf(received []bool) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: 0, PacketStatusCount: uint16(len(received)), ReferenceTime: 10}
	var syms []uint16
	for _, r := range received {
		if r {
			syms = append(syms, rtcp.TypeTCCPacketReceivedSmallDelta)
			fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000})
		} else {
			syms = append(syms, rtcp.TypeTCCPacketNotReceived)
		}
	}
	fb.PacketChunks = []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: syms}}
	return fb
}
