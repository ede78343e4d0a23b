package sfu

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
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
			if got := s.tap != nil; got != tc.shared {
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
			// Slots read the viewer's RTCP from pion only where pion gets it:
			// on the shared socket the tap takes it (no reader per slot).
			slots := *viewer.part.sub.rtcpSlots.Load()
			for _, ssl := range slots {
				if got := ssl.readingPion.Load(); got == tc.shared {
					t.Errorf("slot %s reads pion's RTCP: %v, want %v", ssl.trackID, got, !tc.shared)
				}
			}
			if len(slots) == 0 {
				t.Error("no slots")
			}
			// Either way, the viewer's PLI reaches the host.
			time.Sleep(2 * minKeyframeInterval)
			plis := host.pliCount.Load()
			var video *recvTrack
			for _, rt := range viewer.tracksFrom(host.peerID) {
				if rt.remote.Kind() == webrtc.RTPCodecTypeVideo {
					video = rt
				}
			}
			if video == nil {
				t.Fatal("the viewer has no video from the host")
			}
			if err := viewer.sendPLI(video); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 2*time.Second, "the viewer's PLI at the host", func() bool { return host.pliCount.Load() > plis })
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
			// The publisher's clock (pion's reports: the wall clock), which its
			// test timestamps outrun: near now, not exactly.
			if d := time.Since(ntpToTime(sr.NTPTime)); d.Abs() > 3*senderReportInterval {
				t.Errorf("report's NTP time is %v old", d)
			}
			if tc.shared {
				// The viewer's reports come back the short way (rtcptap.go),
				// from the address of its subscribe PC (the host receives
				// nothing: it has none), and a viewer who leaves takes its
				// address with it.
				waitFor(t, flowTimeout, "RTCP on the tap", func() bool { return s.tap.taken.Load() > 0 })
				if n := s.tap.registered(); n != 1 {
					t.Errorf("the tap knows %d addresses, want 1 (the viewer's subscribe PC)", n)
				}
				s.Leave("m", "viewer")
				waitFor(t, flowTimeout, "the viewer's address forgotten", func() bool { return s.tap.registered() == 0 })
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

// A slot's reports map its RTP time to its publisher's clock: the
// publisher's report for source time rtp0 at ntp0 says when the slot's
// packets were taken, whatever the slot's own numbering; none is sent
// before the publisher's first report, none within the interval.
func TestSenderReportCount(t *testing.T) {
	src := &source{}
	src.codec.ClockRate = 90000
	var r senderReport
	t0 := time.Date(2026, 12, 6, 11, 0, 0, 500_000_000, time.UTC).UnixNano()
	if !r.count(100, t0) {
		t.Fatal("the first packet's report is not due")
	}
	if sr := r.report(7, 1000, src, 5000, t0); sr != nil {
		t.Fatalf("a report before the publisher's: %+v", sr)
	}
	ntp0 := ntpTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	var b [28]byte // the publisher's compound packet: SR of SSRC 42
	b[0], b[1], b[3] = 0x80, 200, 6
	binary.BigEndian.PutUint32(b[4:], 42)
	binary.BigEndian.PutUint64(b[8:], ntp0)
	binary.BigEndian.PutUint32(b[16:], 2000)
	ref, ok := senderClock(append(b[:], 0x81, 201, 0, 1, 0, 0, 0, 42), 42)
	if !ok || ref.ntp != ntp0 || ref.rtp != 2000 {
		t.Fatalf("senderClock %+v %v", ref, ok)
	}
	if _, ok := senderClock(b[:], 43); ok {
		t.Error("senderClock found another SSRC's report")
	}
	if _, ok := senderClock(b[:20], 42); ok {
		t.Error("senderClock read a cut packet")
	}
	src.clock.Store(&ref)
	for _, tc := range []struct {
		srcTS uint32
		want  time.Duration // after ntp0
	}{
		{2000 + 90000, time.Second},
		{2000 + (1<<32 - 45000), -500 * time.Millisecond}, // earlier, across the wrap
		{2000 + 9, 100 * time.Microsecond},
	} {
		sr := r.report(7, 777, src, tc.srcTS, t0)
		if sr == nil || sr.SSRC != 7 || sr.RTPTime != 777 || sr.PacketCount != 1 || sr.OctetCount != 100 {
			t.Fatalf("report %+v", sr)
		}
		if d := ntpToTime(sr.NTPTime).Sub(ntpToTime(ntp0)); (d - tc.want).Abs() > time.Microsecond {
			t.Errorf("source time %d: NTP %v after the reference, want %v", tc.srcTS, d, tc.want)
		}
	}
	if r.count(50, t0+int64(time.Second)) {
		t.Error("a report due within the interval")
	}
	if !r.count(10, t0+int64(senderReportInterval)) || r.packets != 3 || r.octets != 160 {
		t.Errorf("after the interval: due false or counts %d, %d", r.packets, r.octets)
	}
}

// A pair off the shared socket (a TURN relay, TCP) leaves the viewer's RTCP
// to pion: the path says so, and the slots start reading it there.
func TestPairOffTapGoesToPion(t *testing.T) {
	tap := &rtcpTap{paths: map[netip.AddrPort]*peerPath{}}
	toPion := 0
	pp := &peerPath{tap: tap, toPion: func() { toPion++ }}
	remote := &webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeHost, Address: "192.0.2.1", Port: 5000}
	for i, step := range []struct {
		local      webrtc.ICECandidate
		wantToPion int
		onTap      bool
	}{
		{webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeHost}, 0, true},
		{webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeRelay}, 1, false},
		{webrtc.ICECandidate{Protocol: webrtc.ICEProtocolTCP, Typ: webrtc.ICECandidateTypeHost}, 2, false},
		{webrtc.ICECandidate{Protocol: webrtc.ICEProtocolUDP, Typ: webrtc.ICECandidateTypeSrflx}, 2, true},
	} {
		pp.setPair(&webrtc.ICECandidatePair{Local: &step.local, Remote: remote})
		if toPion != step.wantToPion || (tap.registered() == 1) != step.onTap {
			t.Fatalf("step %d: toPion %d times, on the tap %v; want %d, %v", i, toPion, tap.registered() == 1, step.wantToPion, step.onTap)
		}
	}
}
