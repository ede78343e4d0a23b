//go:build !js

package media

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// rtcpLog records what reaches the PC's RTCP writer.
type rtcpLog struct {
	mu     sync.Mutex
	writes [][]rtcp.Packet
}

func (l *rtcpLog) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, pkts)
	return 0, nil
}

func (l *rtcpLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes)
}

func (l *rtcpLog) waitLen(t *testing.T, n int) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); l.len() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d writes, want %d", l.len(), n)
		}
	}
}

func singleRR(reporter, media uint32) *rtcp.ReceiverReport {
	return &rtcp.ReceiverReport{SSRC: reporter, Reports: []rtcp.ReceptionReport{{SSRC: media, LastSequenceNumber: media * 10}}}
}

// blocks are the media SSRCs a write's one receiver report covers.
func blocks(t *testing.T, pkts []rtcp.Packet) (reporter uint32, media []uint32) {
	t.Helper()
	if len(pkts) != 1 {
		t.Fatalf("a write of %d packets, want one report", len(pkts))
	}
	rr, ok := pkts[0].(*rtcp.ReceiverReport)
	if !ok {
		t.Fatalf("a write of %T, want a receiver report", pkts[0])
	}
	for _, r := range rr.Reports {
		if r.LastSequenceNumber != r.SSRC*10 {
			t.Errorf("block of %d changed: %+v", r.SSRC, r)
		}
		media = append(media, r.SSRC)
	}
	return rr.SSRC, media
}

// TestRRBatch: single-block receiver reports written together go out as
// one report with every block (31 at most each); anything else goes out
// at once, as written.
func TestRRBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reports int      // single-block reports written back to back
		want    []uint32 // blocks per report sent, in order
	}{
		{"one", 1, []uint32{1}},
		{"six slots", 6, []uint32{6}},
		{"a full report and the rest", 40, []uint32{31, 9}},
		{"exactly full", 31, []uint32{31}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &rtcpLog{}
			b := &rrBatch{}
			w := b.BindRTCPWriter(log)
			for i := range tc.reports {
				if _, err := w.Write([]rtcp.Packet{singleRR(uint32(100+i), uint32(i+1))}, nil); err != nil {
					t.Fatal(err)
				}
			}
			log.waitLen(t, len(tc.want))
			time.Sleep(3 * rrBatchWindow) // nothing more comes
			if log.len() != len(tc.want) {
				t.Fatalf("%d writes, want %d", log.len(), len(tc.want))
			}
			next := uint32(1)
			for i, n := range tc.want {
				reporter, media := blocks(t, log.writes[i])
				if reporter != 100 {
					t.Errorf("report %d from %d, want the first stream's reporter 100", i, reporter)
				}
				var want []uint32
				for range n {
					want = append(want, next)
					next++
				}
				if !slices.Equal(media, want) {
					t.Errorf("report %d covers %v, want %v", i, media, want)
				}
			}
		})
	}

	t.Run("others pass at once", func(t *testing.T) {
		log := &rtcpLog{}
		w := (&rrBatch{}).BindRTCPWriter(log)
		pass := [][]rtcp.Packet{
			{&rtcp.SenderReport{SSRC: 1}},
			{&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2}, {SSRC: 3}}}},
			{&rtcp.ReceiverReport{SSRC: 1}},
			{singleRR(1, 2), &rtcp.PictureLossIndication{MediaSSRC: 2}},
			{&rtcp.TransportLayerNack{MediaSSRC: 2}},
		}
		for i, pkts := range pass {
			if _, err := w.Write(pkts, nil); err != nil {
				t.Fatal(err)
			}
			if log.len() != i+1 {
				t.Fatalf("write %d (%T) did not pass at once", i, pkts[0])
			}
		}
	})

	t.Run("one batch per tick", func(t *testing.T) {
		log := &rtcpLog{}
		w := (&rrBatch{}).BindRTCPWriter(log)
		for tick := range 3 {
			for i := range 3 {
				if _, err := w.Write([]rtcp.Packet{singleRR(100, uint32(i+1))}, nil); err != nil {
					t.Fatal(err)
				}
			}
			log.waitLen(t, tick+1)
		}
		for i := range 3 {
			if _, media := blocks(t, log.writes[i]); !slices.Equal(media, []uint32{1, 2, 3}) {
				t.Errorf("tick %d covers %v", i, media)
			}
		}
	})
}
