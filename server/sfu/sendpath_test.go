package sfu

import (
	"testing"
	"time"
)

// Both ways a slot sends (itself on the shared socket, the default; through
// pion where each PC has a port of its own) deliver media the viewer's pion
// decrypts, and sender reports that match what it received.
func TestSendPaths(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		shared bool
	}{
		{"shared socket", Config{}, true},
		{"a port per PC", Config{UDPPortMin: 42000, UDPPortMax: 42999}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.SettingEngine, cfg.GatherTimeout = loopback, time.Second
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			if got := s.udpConn() != nil; got != tc.shared {
				t.Fatalf("shared socket %v, want %v", got, tc.shared)
			}
			api := clientAPI(t)
			viewer := joinClient(t, s, api, "m", "viewer")
			host := joinClient(t, s, api, "m", "host")
			s.SetPublishing("m", "host", true)
			if err := host.publish(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, flowTimeout, "packets", func() bool { return viewer.packetsFrom(host.peerID) >= 50 })
			sending := 0
			for _, ssl := range viewer.part.sub.slots {
				ssl.mu.Lock()
				if ssl.outFixed {
					sending++
					if own := ssl.out != nil; own != tc.shared {
						t.Errorf("slot %s sends itself: %v, want %v", ssl.trackID, own, tc.shared)
					}
				}
				ssl.mu.Unlock()
			}
			if sending != 1 {
				t.Errorf("%d slots sent, want 1", sending)
			}
			// The first report goes with the first packet, the next after
			// senderReportInterval.
			var sl *recvSlot
			waitFor(t, flowTimeout+2*senderReportInterval, "two sender reports", func() bool {
				viewer.mu.Lock()
				defer viewer.mu.Unlock()
				sl = viewer.slots["video0"]
				if sl == nil {
					return false
				}
				sl.srMu.Lock()
				defer sl.srMu.Unlock()
				return sl.srCount >= 2
			})
			sl.srMu.Lock()
			sr := sl.lastSR
			sl.srMu.Unlock()
			if sr.SSRC != uint32(sl.remote.SSRC()) {
				t.Errorf("report for SSRC %d, want the slot's %d", sr.SSRC, sl.remote.SSRC())
			}
			if got := viewer.packetsFrom(host.peerID); sr.PacketCount == 0 || int64(sr.PacketCount) > got {
				t.Errorf("report counts %d packets; the viewer has received %d", sr.PacketCount, got)
			}
			if d := time.Since(ntpToTime(sr.NTPTime)); d < 0 || d > 3*senderReportInterval {
				t.Errorf("report's NTP time is %v old", d)
			}
			if err := viewer.errs(); err != nil {
				t.Error(err)
			}
		})
	}
}

func ntpToTime(ntp uint64) time.Time {
	sec := int64(ntp>>32) - 2208988800
	nsec := int64((ntp & 0xffffffff) * uint64(time.Second) >> 32)
	return time.Unix(sec, nsec)
}

func TestSenderReportCount(t *testing.T) {
	var r senderReport
	t0 := time.Date(2026, 12, 6, 11, 0, 0, 500_000_000, time.UTC).UnixNano()
	sr := r.count(7, 1000, 100, t0)
	if sr == nil || sr.SSRC != 7 || sr.RTPTime != 1000 || sr.PacketCount != 1 || sr.OctetCount != 100 {
		t.Fatalf("first packet's report %+v", sr)
	}
	if got := ntpToTime(sr.NTPTime); !got.Equal(time.Unix(0, t0)) && got.Sub(time.Unix(0, t0)).Abs() > time.Microsecond {
		t.Errorf("NTP time %v, want %v", got, time.Unix(0, t0))
	}
	if sr := r.count(7, 1090, 50, t0+int64(time.Second)); sr != nil {
		t.Errorf("a report within the interval: %+v", sr)
	}
	sr = r.count(7, 2000, 10, t0+int64(senderReportInterval))
	if sr == nil || sr.PacketCount != 3 || sr.OctetCount != 160 || sr.RTPTime != 2000 {
		t.Errorf("report after the interval %+v", sr)
	}
}
