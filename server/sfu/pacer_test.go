package sfu

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
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

func (tp *testPacer) sendPkt(id byte, size int, kind pacedKind) {
	b := make([]byte, size)
	b[0] = id
	tp.send(b, to, kind, twccStamp{}, tp.now)
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
			tp.sendPkt(byte(i), 1000, pacedVideo)
		}
		if len(tp.sent) != 2 {
			t.Fatalf("%d of 2 packets within the burst sent at once", len(tp.sent))
		}
		// A steady stream below the pace never waits.
		for i := range 100 {
			tp.drainUntil(tp.now + 20*ms) // 3.75 kB of tokens each time
			before := len(tp.sent)
			tp.sendPkt(byte(i), 1200, pacedVideo)
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
			tp.sendPkt(byte(i), 1200, pacedVideo)
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
	t.Run("a late timer does not lower the pace", func(t *testing.T) {
		// The drain timer fires late by each of these (the test's clock):
		// a 72 kB burst at 562.5 kB/s still takes about 122 ms, and one
		// lateness more at most.
		for _, late := range []int64{0, 2 * ms, 10 * ms, 18 * ms} {
			tp := newTestPacer(3e6)
			rate := 3e6 * pacingFactor / 8
			start := tp.now
			for i := range 60 {
				tp.sendPkt(byte(i), 1200, pacedVideo)
			}
			for len(tp.sent) < 60 && tp.now < start+int64(time.Second) {
				tp.mu.Lock()
				wait := tp.drain(tp.now)
				tp.mu.Unlock()
				tp.now += int64(wait) + late
			}
			took := tp.sent[len(tp.sent)-1].at - start
			want := int64((72000 - max(rate*pacingBurst.Seconds(), minPacingBurst)) / rate * 1e9)
			if len(tp.sent) != 60 || took > want+late+2*ms {
				t.Errorf("%d ms late: %d of 60 sent in %d ms, want about %d ms", late/ms, len(tp.sent), took/ms, want/ms)
			}
		}
	})
	t.Run("audio first", func(t *testing.T) {
		tp := newTestPacer(1e6)
		for i := range 20 {
			tp.sendPkt(byte(i), 1200, pacedVideo)
		}
		n := len(tp.sent)
		tp.sendPkt(200, 100, pacedAudio)
		tp.sendPkt(201, 1200, pacedProbe)
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
	t.Run("the queue is bounded: the oldest go ahead of the pace, none is dropped", func(t *testing.T) {
		for _, c := range []struct {
			name     string
			estimate float64
			packets  int // sent at once
			size     int
			ahead    bool // some must go ahead of the pace
		}{
			{"300 kbit/s: a 24 kB keyframe fits the least queue", 300e3, 20, 1200, false},
			{"300 kbit/s: a 120 kB burst", 300e3, 100, 1200, true},
			{"2.5 Mbit/s: a 60 kB keyframe fits", 2.5e6, 50, 1200, false},
			{"1 Mbit/s: 90 kB, more than the bytes bound (47 kB)", 1e6, 75, 1200, true},
			{"2.5 Mbit/s: 100 small packets, more than the slots", 2.5e6, 100, 300, true},
			{"10 Mbit/s: 200 packets, more than the slots", 10e6, 200, 1200, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				tp := newTestPacer(c.estimate)
				limit := max(int(c.estimate*pacingFactor/8*maxPacedDelay.Seconds()), minPacedQueue)
				for i := range c.packets {
					tp.sendPkt(byte(i), c.size, pacedVideo)
					tp.mu.Lock()
					queued, n := tp.bytes, tp.n
					tp.mu.Unlock()
					if queued > limit || n > pacedSlots {
						t.Fatalf("%d bytes in %d packets queued, limit %d bytes, %d packets", queued, n, limit, pacedSlots)
					}
				}
				ahead := int(tp.stats.pacedOverflow.Load())
				if c.ahead != (ahead > 0) {
					t.Errorf("%d of %d went ahead of the pace", ahead, c.packets)
				}
				tp.drainUntil(tp.now + 10*int64(time.Second))
				if len(tp.sent) != c.packets {
					t.Fatalf("%d of %d sent", len(tp.sent), c.packets)
				}
				for i, s := range tp.sent {
					if s.id != byte(i) {
						t.Fatalf("packet %d went as the %dth", s.id, i)
					}
				}
			})
		}
	})
	t.Run("ahead of the pace takes no tokens", func(t *testing.T) {
		// A burst twice the queue: the paced half goes at the pace, as
		// if the other half had not been there.
		tp := newTestPacer(300e3)
		rate := 300e3 * pacingFactor / 8
		start := tp.now
		for i := range 2 * pacedSlots {
			tp.sendPkt(byte(i), 300, pacedVideo)
		}
		ahead := int(tp.stats.pacedOverflow.Load())
		_, burst := tp.sentBetween(start, start+1)
		tp.drainUntil(start + 10*int64(time.Second))
		last := tp.sent[len(tp.sent)-1].at - start
		paced := float64((2*pacedSlots)*300 - burst)
		if want := int64(paced / rate * 1e9); ahead == 0 || last > want+5*int64(time.Millisecond) {
			t.Errorf("%d ahead of the pace; the rest took %d ms, want at most %d ms", ahead, last/int64(time.Millisecond), want/int64(time.Millisecond))
		}
	})
	t.Run("no estimate, no pacing", func(t *testing.T) {
		tp := newTestPacer(0)
		for i := range 100 {
			tp.sendPkt(byte(i), 1200, pacedVideo)
		}
		if len(tp.sent) != 100 {
			t.Fatalf("%d of 100 sent at once", len(tp.sent))
		}
		// Pacing stopped: what waited goes at once.
		tp.setRate(1e6, tp.now)
		for i := range 30 {
			tp.sendPkt(byte(i), 1200, pacedVideo)
		}
		tp.setRate(0, tp.now)
		if len(tp.sent) != 130 {
			t.Fatalf("%d of 130 sent once pacing stopped", len(tp.sent))
		}
	})
	t.Run("a probe train takes no tokens", func(t *testing.T) {
		tp := newTestPacer(300e3)
		for i := range 24 {
			tp.sendPkt(byte(i), 313, pacedProbe)
		}
		tp.sendPkt(100, 1200, pacedVideo)
		if len(tp.sent) != 25 || tp.stats.paced.Load() != 0 {
			t.Fatalf("video behind a train waited: %d of 25 sent", len(tp.sent))
		}
	})
	t.Run("a stopped pacer stays stopped", func(t *testing.T) {
		// A TWCC report that raced the viewer's leaving must not start
		// pacing (and a timer) again.
		tp := newTestPacer(1e6)
		for i := range 30 {
			tp.sendPkt(byte(i), 1200, pacedVideo)
		}
		tp.stop()
		tp.setRate(1e6, tp.now)
		for i := range 30 {
			tp.sendPkt(byte(i), 1200, pacedVideo)
		}
		tp.mu.Lock()
		n, armed := tp.n, tp.timer != nil && tp.rate > 0
		tp.mu.Unlock()
		if tp.on.Load() || n != 0 || armed {
			t.Fatalf("after stop: pacing %v, %d queued", tp.on.Load(), n)
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
		p.send(make([]byte, 1200), to, pacedVideo, twccStamp{}, time.Now().UnixNano())
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

// What the pacer adds to a copy: off (a viewer without an estimate), on
// with tokens to spare (the common case of one with), and queued (a pace
// far below what is sent: each copy is queued, and the oldest goes ahead
// of the pace from the full queue; the worst case).
//
//	go test -run='^$' -bench=PacerSend ./server/sfu
func BenchmarkPacerSend(b *testing.B) {
	pkt := make([]byte, 1200)
	for _, tc := range []struct {
		name string
		rate float64
	}{{"off", 0}, {"on", 1e12}, {"queued", 1e6}} {
		b.Run(tc.name, func(b *testing.B) {
			p := newPacer(&counters{}, func([]byte, netip.AddrPort) bool { return true })
			now := time.Now().UnixNano()
			p.setRate(tc.rate, now)
			b.ResetTimer()
			for i := range b.N {
				p.send(pkt, to, pacedVideo, twccStamp{}, now+int64(i)*1000)
			}
		})
	}
}

// Sends, reports (setRate, 0 among them: a viewer whose simulcast track
// left) and the timer in every order, with the real timer: nothing ever
// waits while the pacer does not pace (no timer would send it), and once
// the reports stop at a rate, every packet sent goes, in order.
//
//	go test -race -run=PacerConcurrent -count=200 ./server/sfu
func TestPacerConcurrent(t *testing.T) {
	var mu sync.Mutex
	var got []uint32
	p := newPacer(&counters{}, func(b []byte, _ netip.AddrPort) bool {
		mu.Lock()
		got = append(got, binary.BigEndian.Uint32(b))
		mu.Unlock()
		return true
	})
	const senders, each = 3, 300
	var wg, reports sync.WaitGroup
	stopReports := make(chan struct{})
	reports.Add(2)
	go func() { // reports: the estimate, sometimes none
		defer reports.Done()
		rates := []float64{0, 100e3, 2e6, 0, 50e6, 300e3}
		for i := 0; ; i++ {
			select {
			case <-stopReports:
				return
			default:
			}
			p.setRate(rates[i%len(rates)], time.Now().UnixNano())
			runtime.Gosched()
		}
	}()
	go func() { // a watcher: what waits while not pacing is lost for good
		defer reports.Done()
		for {
			select {
			case <-stopReports:
				return
			default:
			}
			p.mu.Lock()
			stuck := p.rate <= 0 && p.n > 0
			n := p.n
			p.mu.Unlock()
			if stuck {
				t.Errorf("%d packets wait while the pacer does not pace", n)
				return
			}
			runtime.Gosched()
		}
	}()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b := make([]byte, 600)
				binary.BigEndian.PutUint32(b, uint32(s<<16|i))
				kind := pacedVideo
				if i%7 == 0 {
					kind = pacedAudio
				}
				p.send(b, to, kind, twccStamp{}, time.Now().UnixNano())
			}
		}()
	}
	wg.Wait()
	close(stopReports)
	reports.Wait()
	p.setRate(100e3, time.Now().UnixNano())
	deadline := time.Now().Add(20 * time.Second) // a hang, not a speed target
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == senders*each {
			break
		}
		if time.Now().After(deadline) {
			p.mu.Lock()
			t.Fatalf("%d of %d sent; %d wait, rate %.0f, armed %v", n, senders*each, p.n, p.rate, p.armed)
		}
		time.Sleep(time.Millisecond)
	}
	p.stop()
	// Each sender's video in order.
	last := map[uint32]int{}
	for _, id := range got {
		s, i := id>>16, int(id&0xffff)
		if i%7 == 0 {
			continue
		}
		if prev, ok := last[s]; ok && i < prev {
			t.Fatalf("sender %d: packet %d after %d", s, i, prev)
		}
		last[s] = i
	}
}
