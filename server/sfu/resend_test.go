package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestResendLog(t *testing.T) {
	ms := func(n int) int64 { return int64(n) * int64(time.Millisecond) }
	type ask struct {
		seq     uint16
		arrived int64 // ms
		now     int64 // ms
		relay   bool
		want    bool
	}
	cases := []struct {
		name string
		asks []ask
	}{
		{"first ask is answered", []ask{{seq: 7, arrived: 0, now: 100, want: true}}},
		{"too old", []ask{{seq: 7, arrived: 0, now: 1001, want: false}}},
		{"just young enough", []ask{{seq: 7, arrived: 0, now: 1000, want: true}}},
		{"again within the gap", []ask{
			{seq: 7, now: 100, want: true},
			{seq: 7, now: 200, want: false},
			{seq: 7, now: 249, want: false},
			{seq: 7, now: 250, want: true},
		}},
		{"at most maxResends", []ask{
			{seq: 7, now: 100, want: true},
			{seq: 7, now: 250, want: true},
			{seq: 7, now: 400, want: true},
			{seq: 7, now: 550, want: false},
			{seq: 7, now: 900, want: false},
		}},
		{"a relay has no gap, the same count", []ask{
			{seq: 7, now: 100, relay: true, want: true},
			{seq: 7, now: 101, relay: true, want: true},
			{seq: 7, now: 102, relay: true, want: true},
			{seq: 7, now: 103, relay: true, want: false},
		}},
		{"other packets are counted apart", []ask{
			{seq: 7, now: 100, want: true},
			{seq: 8, now: 100, want: true},
			{seq: 7 + resendMarks, arrived: 50, now: 110, want: true}, // takes 7's mark
			{seq: 7, now: 120, want: true},                            // 7's history is gone: answered
		}},
		{"a mark of long ago does not hold back the same number now", []ask{
			{seq: 7, now: 100, want: true},
			{seq: 7, now: 250, want: true},
			{seq: 7, now: 400, want: true},
			{seq: 7, arrived: 5000, now: 5100, want: true}, // seq wrapped: another packet
		}},
	}
	for _, c := range cases {
		var l resendLog
		for i, a := range c.asks {
			gap := resendGap
			if a.relay {
				gap = 0
			}
			if got := l.allow(a.seq, ms(int(a.arrived)), ms(int(a.now)), gap); got != a.want {
				t.Errorf("%s: ask %d (seq %d at %d ms): %v, want %v", c.name, i, a.seq, a.now, got, a.want)
			}
		}
	}
}

func TestPacerFits(t *testing.T) {
	if !(*pacer)(nil).fits(1200) {
		t.Error("no pacer refused a packet")
	}
	tp := newTestPacer(300_000) // 56 kB/s at the pace: a queue of 14 kB (250 ms), at least minPacedQueue
	limit := max(int(300_000*pacingFactor/8*maxPacedDelay.Seconds()), minPacedQueue)
	if !tp.fits(1200) {
		t.Error("an empty queue refused a packet")
	}
	// Fill the queue to just under its bound: the bucket's burst goes at
	// once, the rest waits.
	for i := 0; tp.n == 0 || tp.bytes+1200 <= limit; i++ {
		tp.sendPkt(byte(i), 1200, pacedVideo)
	}
	if tp.fits(1200) {
		t.Errorf("a queue of %d bytes (bound %d) took 1200 more", tp.bytes, limit)
	}
	if !tp.fits(limit - tp.bytes) {
		t.Errorf("a queue of %d bytes (bound %d) refused what fits", tp.bytes, limit)
	}
	tp.drainUntil(tp.now + int64(time.Second))
	if !tp.fits(1200) {
		t.Error("a drained queue refused a packet")
	}
	tp.setRate(0, tp.now)
	if !tp.fits(1 << 20) {
		t.Error("a pacer that paces nothing refused a packet")
	}
}

// A viewer that asks for one packet many times in a row gets it once,
// and a packet older than maxResendAge not at all: the counters say what
// the slot did.
func TestRepeatedNACKsAnsweredOnce(t *testing.T) {
	s := newTestSFU(t)
	api := clientAPI(t)
	host := joinClient(t, s, api, "rn", "host")
	viewer := joinClient(t, s, api, "rn", "viewer")
	s.SetPublishing("rn", "host", true)
	if err := host.publish(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flowTimeout, "the viewer receiving", func() bool { return viewer.packetsFrom(host.peerID) >= 20 })
	var sl *recvSlot
	waitFor(t, flowTimeout, "a video slot with packets", func() bool {
		sl = viewer.videoSlot(host.peerID)
		return sl != nil && sl.lastSeq.Load() > 0
	})
	nack := func(seq uint16, times int) {
		pairs := make([]rtcp.NackPair, times)
		for i := range pairs {
			pairs[i] = rtcp.NackPair{PacketID: seq}
		}
		viewer.mu.Lock()
		pc := viewer.sub
		viewer.mu.Unlock()
		if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: uint32(sl.remote.SSRC()), Nacks: pairs}}); err != nil {
			t.Fatal(err)
		}
	}
	settled := func(what string, r0, f0, sent, refused uint64) {
		t.Helper()
		waitFor(t, 5*time.Second, what, func() bool {
			st := s.Stats()
			return st.Retransmits-r0+st.RetransmitsRefused-f0 >= sent+refused
		})
		if st := s.Stats(); st.Retransmits-r0 != sent || st.RetransmitsRefused-f0 != refused {
			t.Errorf("%s: %d sent again and %d refused, want %d and %d", what, st.Retransmits-r0, st.RetransmitsRefused-f0, sent, refused)
		}
	}

	st := s.Stats()
	nack(uint16(sl.lastSeq.Load()-2), 10) // one report: within microseconds
	settled("ten asks for one packet in one report", st.Retransmits, st.RetransmitsRefused, 1, 9)

	old := uint16(sl.lastSeq.Load())
	time.Sleep(maxResendAge + 200*time.Millisecond)
	st = s.Stats()
	nack(old, 1)
	settled("an ask for a packet older than maxResendAge", st.Retransmits, st.RetransmitsRefused, 0, 1)
}
