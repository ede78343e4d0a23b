package sfu

import (
	"net/netip"
	"testing"
	"time"
)

// sentRec is one packet a test pacer wrote: when (the test's clock), its
// size and its first byte (the test's packet id).
type sentRec struct {
	at   int64
	size int
	id   byte
}

// testPacer is a pacer whose writes are recorded at the test's clock, and
// that is drained by the test (drainUntil), not by its timer.
type testPacer struct {
	*pacer
	now  int64
	sent []sentRec
}

func newTestPacer(estimate float64) *testPacer {
	tp := &testPacer{}
	tp.pacer = newPacer(&counters{}, func(b []byte, _ netip.AddrPort) bool {
		tp.sent = append(tp.sent, sentRec{at: tp.now, size: len(b), id: b[0]})
		return true
	})
	tp.now = int64(time.Second)
	tp.setRate(estimate, tp.now)
	tp.mu.Lock()
	tp.armed = true // the test drains
	tp.mu.Unlock()
	return tp
}

var to = netip.MustParseAddrPort("10.0.0.1:5000")

func (tp *testPacer) sendPkt(id byte, size int, kind pacedKind, marker bool) {
	b := make([]byte, size)
	b[0] = id
	tp.send(b, to, kind, marker, twccStamp{}, tp.now)
}

// drainUntil advances the clock to t, draining as the timer would.
func (tp *testPacer) drainUntil(t int64) {
	for {
		tp.mu.Lock()
		wait := tp.drain(tp.now)
		tp.mu.Unlock()
		if wait == 0 || tp.now+int64(wait) > t {
			break
		}
		tp.now += int64(wait)
	}
	tp.now = t
	tp.mu.Lock()
	tp.drain(tp.now)
	tp.mu.Unlock()
}

func (tp *testPacer) sentBetween(from, until int64) (n, bytes int) {
	for _, s := range tp.sent {
		if s.at >= from && s.at < until {
			n++
			bytes += s.size
		}
	}
	return n, bytes
}

func TestPacer(t *testing.T) {
	ms := int64(time.Millisecond)
	t.Run("what fits goes at once", func(t *testing.T) {
		tp := newTestPacer(1e6) // 187.5 kB/s
		for i := range 2 {
			tp.sendPkt(byte(i), 1000, pacedVideo, true)
		}
		if len(tp.sent) != 2 {
			t.Fatalf("%d of 2 packets within the burst sent at once", len(tp.sent))
		}
		// A steady stream below the pace never waits.
		for i := range 100 {
			tp.drainUntil(tp.now + 20*ms) // 3.75 kB of tokens each time
			before := len(tp.sent)
			tp.sendPkt(byte(i), 1200, pacedVideo, true)
			if len(tp.sent) != before+1 {
				t.Fatalf("packet %d of a stream at half the pace waited", i)
			}
		}
		if tp.stats.paced.Load() != 0 {
			t.Errorf("%d packets waited", tp.stats.paced.Load())
		}
	})
	t.Run("a burst is spread at the pace", func(t *testing.T) {
		tp := newTestPacer(1e6)
		rate := 1e6 * pacingFactor / 8
		start := tp.now
		for i := range 40 { // a keyframe: 48 kB at once
			tp.sendPkt(byte(i), 1200, pacedVideo, i == 39)
		}
		tp.drainUntil(start + int64(time.Second))
		if len(tp.sent) != 40 {
			t.Fatalf("%d of 40 sent", len(tp.sent))
		}
		// Over any 50 ms window: at most the pace plus the burst.
		for w := start; w < start+int64(time.Second); w += 10 * ms {
			_, b := tp.sentBetween(w, w+50*ms)
			if limit := rate*0.05 + max(rate*pacingBurst.Seconds(), minPacingBurst) + 1200; float64(b) > limit {
				t.Fatalf("%d bytes in 50 ms from %d ms, limit %.0f", b, (w-start)/ms, limit)
			}
		}
		last := tp.sent[len(tp.sent)-1].at - start
		if want := int64((48000 - minPacingBurst) / rate * 1e9); last < want-5*ms || last > want+5*ms {
			t.Errorf("the burst took %d ms, want about %d ms", last/ms, want/ms)
		}
	})
	t.Run("audio first", func(t *testing.T) {
		tp := newTestPacer(1e6)
		for i := range 20 {
			tp.sendPkt(byte(i), 1200, pacedVideo, false)
		}
		n := len(tp.sent)
		tp.sendPkt(200, 100, pacedAudio, true)
		tp.sendPkt(201, 1200, pacedProbe, false)
		if len(tp.sent) != n+2 || tp.sent[n].id != 200 || tp.sent[n+1].id != 201 {
			t.Fatalf("audio and a probe waited behind video: %v", tp.sent[n:])
		}
		// The video behind waits for the audio's tokens too; order kept.
		tp.drainUntil(tp.now + int64(time.Second))
		for i, s := range tp.sent[n+2:] {
			if s.id != byte(n+i) {
				t.Fatalf("video out of order: packet %d is %d", n+i, s.id)
			}
		}
	})
	t.Run("the queue is bounded: oldest frames shed", func(t *testing.T) {
		tp := newTestPacer(300e3) // 56 kB/s: the queue holds 250 ms, 14 kB, at least 24 kB
		limit := max(int(300e3*pacingFactor/8*maxPacedDelay.Seconds()), minPacedQueue)
		// 10 frames of 10 packets, at once.
		for f := range 10 {
			for i := range 10 {
				tp.sendPkt(byte(f), 1200, pacedVideo, i == 9)
			}
		}
		tp.mu.Lock()
		queued, n := tp.bytes, tp.n
		tp.mu.Unlock()
		if queued > limit || n > pacedSlots {
			t.Fatalf("%d bytes in %d packets queued, limit %d bytes, %d packets", queued, n, limit, pacedSlots)
		}
		shed := tp.stats.pacedShed.Load()
		if shed == 0 {
			t.Fatal("nothing shed")
		}
		tp.drainUntil(tp.now + 2*int64(time.Second))
		if got := uint64(len(tp.sent)) + shed; got != 100 {
			t.Fatalf("%d sent + %d shed, want 100", len(tp.sent), shed)
		}
		// Whole frames were shed, the oldest first (the first packets went
		// at once: their frame's rest was shed with it).
		frames := map[byte]int{}
		for _, s := range tp.sent {
			frames[s.id]++
		}
		if frames[9] != 10 {
			t.Errorf("the newest frame: %d of 10 packets sent", frames[9])
		}
		for f := byte(1); f < 9; f++ {
			if n := frames[f]; n != 0 && n != 10 && frames[f-1] != 0 {
				t.Errorf("frame %d: %d of 10 sent, after an older frame was sent", f, n)
			}
		}
	})
	t.Run("no estimate, no pacing", func(t *testing.T) {
		tp := newTestPacer(0)
		for i := range 100 {
			tp.sendPkt(byte(i), 1200, pacedVideo, false)
		}
		if len(tp.sent) != 100 {
			t.Fatalf("%d of 100 sent at once", len(tp.sent))
		}
		// Pacing stopped: what waited goes at once.
		tp.setRate(1e6, tp.now)
		for i := range 30 {
			tp.sendPkt(byte(i), 1200, pacedVideo, false)
		}
		tp.setRate(0, tp.now)
		if len(tp.sent) != 130 {
			t.Fatalf("%d of 130 sent once pacing stopped", len(tp.sent))
		}
	})
}

// The timer drains the queue by itself.
func TestPacerTimer(t *testing.T) {
	var got []int64
	done := make(chan struct{})
	p := newPacer(&counters{}, func(b []byte, _ netip.AddrPort) bool {
		got = append(got, time.Now().UnixNano())
		if len(got) == 20 {
			close(done)
		}
		return true
	})
	p.setRate(2e6, time.Now().UnixNano()) // 375 kB/s: 20 packets in ~60 ms
	start := time.Now()
	for range 20 {
		p.send(make([]byte, 1200), to, pacedVideo, false, twccStamp{}, time.Now().UnixNano())
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the timer sent %d of 20", len(got))
	}
	p.stop()
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("20 packets at 375 kB/s went in %v", el)
	}
}

// What the pacer adds to a copy that goes at once: off (a viewer without
// an estimate) and on with tokens to spare (the common case of one with).
//
//	go test -run='^$' -bench=PacerSend ./server/sfu
func BenchmarkPacerSend(b *testing.B) {
	pkt := make([]byte, 1200)
	for _, tc := range []struct {
		name string
		rate float64
	}{{"off", 0}, {"on", 1e12}} {
		b.Run(tc.name, func(b *testing.B) {
			p := newPacer(&counters{}, func([]byte, netip.AddrPort) bool { return true })
			now := time.Now().UnixNano()
			p.setRate(tc.rate, now)
			b.ResetTimer()
			for i := range b.N {
				p.send(pkt, to, pacedVideo, false, twccStamp{}, now+int64(i)*1000)
			}
		})
	}
}
