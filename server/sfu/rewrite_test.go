package sfu

import (
	"encoding/binary"
	"testing"
	"time"
)

// The rewriter keeps the slot's stream continuous across source switches,
// refuses packets from before a switch and maps lost sequence numbers back.
func TestRewriter(t *testing.T) {
	type step struct {
		op        string // "switch", "rw", "rev", "pause"
		src       string
		seq       uint16
		ts        uint32
		at        int64 // ms
		wantSeq   uint16
		wantTS    uint32
		wantOK    bool
		wantSrc   string
		wantTSOff uint32
	}
	const ms = int64(1e6)
	tests := []struct {
		name  string
		steps []step
	}{
		{"first source keeps its numbers", []step{
			{op: "switch", src: "a", seq: 100, ts: 9000},
			{op: "rw", seq: 100, ts: 9000, wantSeq: 100, wantTS: 9000, wantOK: true},
			{op: "rw", seq: 101, ts: 12000, wantSeq: 101, wantTS: 12000, wantOK: true},
			{op: "rev", seq: 101, wantOK: true, wantSrc: "a", wantSeq: 101},
		}},
		{"a switch continues the sequence and the clock", []step{
			{op: "switch", src: "a", seq: 65534, ts: 4294967000},
			{op: "rw", seq: 65534, ts: 4294967000, wantSeq: 65534, wantTS: 4294967000, wantOK: true},
			{op: "rw", seq: 65535, ts: 4294967000, at: 10, wantSeq: 65535, wantTS: 4294967000, wantOK: true},
			// 100 ms later at 90 kHz: 9,000 ticks on, wrapping.
			{op: "switch", src: "b", seq: 7, ts: 50, at: 110},
			{op: "rw", seq: 7, ts: 50, at: 110, wantSeq: 0, wantTS: (4294967000 + 9000) % (1 << 32), wantOK: true},
			{op: "rw", seq: 8, ts: 3050, at: 143, wantSeq: 1, wantTS: (4294967000 + 12000) % (1 << 32), wantOK: true},
			// A late packet of b from before its switch point is refused.
			{op: "rw", seq: 6, ts: 0, at: 150, wantOK: false},
			// NACKs map to the right source.
			{op: "rev", seq: 1, wantOK: true, wantSrc: "b", wantSeq: 8, wantTSOff: (4294967000 + 9000 - 50) % (1 << 32)},
			{op: "rev", seq: 65535, wantOK: true, wantSrc: "a", wantSeq: 65535},
			{op: "rev", seq: 2, wantOK: false}, // not sent yet
		}},
		{"a switch at the same instant still moves the clock", []step{
			{op: "switch", src: "a", seq: 1, ts: 1000},
			{op: "rw", seq: 1, ts: 1000, wantSeq: 1, wantTS: 1000, wantOK: true},
			{op: "switch", src: "b", seq: 500, ts: 77},
			{op: "rw", seq: 500, ts: 77, wantSeq: 2, wantTS: 1001, wantOK: true},
		}},
		{"a pause: nothing until the source is switched to again, from where the numbers stopped", []step{
			{op: "switch", src: "a", seq: 100, ts: 1000},
			{op: "rw", seq: 100, ts: 1000, wantSeq: 100, wantTS: 1000, wantOK: true},
			{op: "rw", seq: 101, ts: 1900, at: 10, wantSeq: 101, wantTS: 1900, wantOK: true},
			{op: "pause"},
			{op: "rw", seq: 102, ts: 2800, at: 20, wantOK: false},
			// a went on for others meanwhile: 50 numbers, 1 s.
			{op: "switch", src: "a", seq: 152, ts: 91900, at: 1010},
			{op: "rw", seq: 152, ts: 91900, at: 1010, wantSeq: 102, wantTS: 1900 + 90000, wantOK: true},
			{op: "rev", seq: 102, wantOK: true, wantSrc: "a", wantSeq: 152, wantTSOff: 1900 + 90000 - 91900},
			{op: "rev", seq: 101, wantOK: true, wantSrc: "a", wantSeq: 101},
		}},
		{"nothing before the first switch", []step{
			{op: "rw", seq: 1, ts: 1, wantOK: false},
			{op: "rev", seq: 1, wantOK: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r rewriter
			for i, s := range tc.steps {
				switch s.op {
				case "switch":
					r.switchTo(s.src, s.seq, s.ts, vp8Pic{}, s.at*ms, 90000)
				case "pause":
					r.pause()
				case "rw":
					seq, ts, _, _, ok := r.rewrite(s.seq, s.ts, vp8Pic{}, s.at*ms)
					if ok != s.wantOK || ok && (seq != s.wantSeq || ts != s.wantTS) {
						t.Fatalf("step %d: rewrite(%d, %d) = %d, %d, %v; want %d, %d, %v", i, s.seq, s.ts, seq, ts, ok, s.wantSeq, s.wantTS, s.wantOK)
					}
				case "rev":
					src, seq, off, ok := r.reverse(s.seq)
					if ok != s.wantOK || ok && (src != s.wantSrc || seq != s.wantSeq || off.ts != s.wantTSOff) {
						t.Fatalf("step %d: reverse(%d) = %v, %d, %d, %v; want %s, %d, %d, %v", i, s.seq, src, seq, off.ts, ok, s.wantSrc, s.wantSeq, s.wantTSOff, s.wantOK)
					}
				}
			}
		})
	}
}

// Whatever the sources send, in whatever order, the slot's sequence
// numbers never repeat and never leave a gap the sources did not leave,
// and every number sent maps back to the packet it carried.
func FuzzRewriter(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 2, 0, 0, 2, 1, 5, 0, 7})
	f.Add([]byte{0, 0, 0, 0, 8, 2, 0, 0, 12, 1, 1, 0, 9, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var r rewriter
		sent := map[uint16][2]uint16{} // slot seq -> source, source seq
		var last uint16
		var any bool
		next := [4]uint16{0, 1000, 40000, 65500}
		// Each packet is a picture: its id and TL0PICIDX follow its
		// sequence number (15-bit ids, 7-bit for source 3).
		pic := func(src int, seq uint16) vp8Pic {
			v := vp8Pic{pid: (seq + uint16(src)*7777) & 0x7fff, pidAt: 2, pidLen: 2, tl0: uint8(seq) + uint8(src)*50, tl0At: 4}
			if src == 3 {
				v.pid, v.pidLen, v.tl0At = v.pid&0x7f, 1, 3
			}
			return v
		}
		var lastPic vp8Pic
		padded := uint16(0) // padding numbers taken since the last packet sent
		for i := 0; i+1 < len(ops); i += 2 {
			src := int(ops[i] & 3)
			if ops[i]&8 != 0 && r.current() != nil {
				n := 1 + int(ops[i+1]%3)
				if first, _, ok := r.pad(n); ok {
					for k := range uint16(n) {
						if s, _, _, ok := r.reverse(first + k); !ok || s != nil {
							t.Fatalf("padding %d maps back to %v, %v", first+k, s, ok)
						}
						if _, dup := sent[first+k]; dup {
							t.Fatalf("padding reuses %d", first+k)
						}
					}
					padded += uint16(n)
				}
			}
			switched := false
			if ops[i]&4 != 0 || r.current() == nil {
				r.switchTo(src, next[src], 0, pic(src, next[src]), int64(i)*1e6, 90000)
				switched = true
			}
			cur := r.current().(int)
			seq := next[cur] - uint16(ops[i+1]%4) // sometimes a late one
			if switched {
				seq = next[cur]
			}
			next[cur]++
			out, _, outPic, _, ok := r.rewrite(seq, 0, pic(cur, seq), int64(i)*1e6)
			if !ok {
				continue
			}
			if any && out == last+1 {
				// The next packet is the next picture, whatever the source.
				m := outPic.pidMask()
				if outPic.pid != (lastPic.pid+1)&m || outPic.tl0 != lastPic.tl0+1 {
					t.Fatalf("after pictures %d/%d came %d/%d", lastPic.pid, lastPic.tl0, outPic.pid, outPic.tl0)
				}
			}
			if prev, dup := sent[out]; dup && prev != [2]uint16{uint16(cur), seq} {
				t.Fatalf("slot seq %d sent for %v and %v", out, prev, [2]uint16{uint16(cur), seq})
			}
			sent[out] = [2]uint16{uint16(cur), seq}
			if any && seqBefore(last, out) && out-last > 4+padded {
				t.Fatalf("jump from %d to %d", last, out)
			}
			if !any || seqBefore(last, out) {
				last, lastPic, any = out, outPic, true
				padded = 0
			}
			s, back, off, ok := r.reverse(out)
			if !ok || s.(int) != cur || back != seq {
				t.Fatalf("reverse(%d) = %v %d %v, want %d %d", out, s, back, ok, cur, seq)
			}
			if off.pic(pic(cur, seq)) != outPic {
				t.Fatalf("a retransmission of %d would carry %+v, not %+v", out, off.pic(pic(cur, seq)), outPic)
			}
		}
	})
}

// The shedder forwards in order, sheds what is late (video up to the next
// keyframe, requested once) and numbers the forwarded packets without gaps
// for the packets it shed.
func TestShedder(t *testing.T) {
	type in struct {
		seq       uint16
		key, late bool
		at        int64 // arrival, in ms
		wantFwd   uint16
		want      verdict
	}
	tests := []struct {
		name  string
		video bool
		steps []in
	}{
		{"video sheds to the keyframe", true, []in{
			{seq: 10, key: true, wantFwd: 10},
			{seq: 11, wantFwd: 11},
			{seq: 12, late: true, want: shedAndRequest},
			{seq: 13, want: shed}, // not late, but no keyframe yet
			{seq: 14, late: true, want: shed},
			{seq: 15, key: true, wantFwd: 12}, // resumes, no gap
			{seq: 16, wantFwd: 13},
			{seq: 13, want: drop},  // a retransmission of a shed packet
			{seq: 18, wantFwd: 15}, // a publisher loss (17) stays a gap
			{seq: 17, wantFwd: 14}, // and is filled when it comes
			{seq: 17, want: drop},  // once
			{seq: 19, late: true, want: shedAndRequest},
			{seq: 20, key: true, late: true, want: shed}, // a late keyframe is shed too
			{seq: 21, key: true, wantFwd: 16},
		}},
		{"video after an outage: from a keyframe, the outage's numbers taken out", true, []in{
			{seq: 10, key: true, at: 1, wantFwd: 10},
			{seq: 11, at: 30, wantFwd: 11},
			{seq: 12, at: 60, wantFwd: 12},
			{seq: 100, at: 1100, want: shedAndRequest}, // 13-99 lost to an outage
			{seq: 101, at: 1130, want: shed},
			{seq: 50, at: 1140, want: drop}, // a retransmission from the outage
			{seq: 102, key: true, at: 1160, wantFwd: 13},
			{seq: 103, at: 1190, wantFwd: 14},
			{seq: 105, at: 1200, wantFwd: 16},            // a loss, not an outage: a gap
			{seq: 300, key: true, at: 2300, wantFwd: 17}, // an outage ending with a keyframe
			{seq: 301, at: 2330, wantFwd: 18},
			{seq: 305, at: 2340, wantFwd: 22}, // loss
			{seq: 306, at: 3340, wantFwd: 23}, // a long silence with no number skipped: a still screen
		}},
		{"a loss just before a shed run is taken out with it", true, []in{
			{seq: 10, key: true, wantFwd: 10},
			{seq: 12, late: true, want: shedAndRequest}, // 11 lost
			{seq: 13, key: true, wantFwd: 11},           // no gap for 11
			{seq: 11, want: drop},                       // its retransmission would come into the shed run
			{seq: 15, late: true, want: shedAndRequest}, // 14 lost
			{seq: 16, want: shed},                       // waiting for a keyframe
			{seq: 18, want: shed},                       // 17 lost within the run
			{seq: 19, key: true, wantFwd: 12},
			{seq: 14, want: drop},
			{seq: 17, want: drop},
		}},
		{"a loss before a shed run is filled after it, with its own number", true, []in{
			{seq: 10, key: true, wantFwd: 10},
			{seq: 12, wantFwd: 12}, // 11 lost: a gap
			{seq: 13, late: true, want: shedAndRequest},
			{seq: 14, key: true, wantFwd: 13},
			{seq: 11, wantFwd: 11}, // the retransmission fills it
			{seq: 11, want: drop},  // once
			{seq: 16, wantFwd: 15}, // 15 lost: a gap
			{seq: 17, late: true, want: shedAndRequest},
			{seq: 18, key: true, wantFwd: 16},
			{seq: 15, wantFwd: 14},
			{seq: 13, want: drop}, // shed
			{seq: 9, want: drop},  // from before the first packet
		}},
		{"audio after an outage: a gap", false, []in{
			{seq: 10, at: 1, wantFwd: 10},
			{seq: 100, at: 2000, wantFwd: 100},
		}},
		{"audio sheds only what is late", false, []in{
			{seq: 65535, wantFwd: 65535},
			{seq: 0, late: true, want: shed},
			{seq: 1, wantFwd: 0},
			{seq: 2, wantFwd: 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sh := shedder{video: tc.video}
			held := map[uint16]bool{}
			for i, s := range tc.steps {
				fwd, v := sh.next(s.seq, s.key, s.late, s.at*int64(time.Millisecond), func(n uint16) bool { return held[n] })
				if v != s.want || v == forward && fwd != s.wantFwd {
					t.Fatalf("step %d (seq %d): %d, %v; want %d, %v", i, s.seq, fwd, v, s.wantFwd, s.want)
				}
				if v == forward {
					held[fwd] = true
				}
			}
		})
	}
}

// A late packet from before the runs the shedder remembers is dropped
// (its shift is not known any more); one within them gets its number.
func TestShedderHistoryBound(t *testing.T) {
	sh := shedder{video: true}
	held := func(uint16) bool { return false }
	seq := uint16(1000)
	step := func(late, key bool) (uint16, verdict) {
		seq++
		return sh.next(seq, key, late, 0, held)
	}
	step(false, true)
	seq++ // a packet lost before any run
	lostEarly := seq
	step(false, false)
	var lostLate, lostLateFwd uint16
	for i := range shedCuts + 2 {
		if i == shedCuts {
			seq++ // a packet lost before the last run
			lostLate = seq
			fwd, _ := step(false, false)
			lostLateFwd = fwd - 1
		}
		if _, v := step(true, false); v != shedAndRequest {
			t.Fatalf("run %d: %v", i, v)
		}
		if _, v := step(false, true); v != forward {
			t.Fatalf("run %d resumed: %v", i, v)
		}
	}
	if fwd, v := sh.next(lostLate, false, false, 0, held); v != forward || fwd != lostLateFwd {
		t.Errorf("a loss within the runs remembered: %d, %v; want %d, forward", fwd, v, lostLateFwd)
	}
	if _, v := sh.next(lostEarly, false, false, 0, held); v != drop {
		t.Errorf("a loss from before the runs remembered: %v, want drop", v)
	}
}

func TestParseRTPAndKeyframes(t *testing.T) {
	hdr := func(b0 byte, ext []byte, payload []byte, pad byte) []byte {
		b := []byte{b0, 0x80 | 96, 0x12, 0x34, 0, 0, 0x30, 0x39, 0xde, 0xad, 0xbe, 0xef}
		b = append(b, ext...)
		b = append(b, payload...)
		for i := byte(1); i < pad; i++ {
			b = append(b, 0)
		}
		if pad > 0 {
			b = append(b, pad)
		}
		return b
	}
	ext := []byte{0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0}
	for _, tc := range []struct {
		name     string
		b        []byte
		ok       bool
		payload  []byte
		mime     string
		keyframe bool
	}{
		{"plain", hdr(0x80, nil, []byte{0x10, 0x00, 1}, 0), true, []byte{0x10, 0x00, 1}, mimeVP8, true},
		{"extension", hdr(0x90, ext, []byte{0x10, 0x01}, 0), true, []byte{0x10, 0x01}, mimeVP8, false},
		{"padding", hdr(0xa0, nil, []byte{0x10, 0x00}, 4), true, []byte{0x10, 0x00}, mimeVP8, true},
		{"padding only", hdr(0xa0, nil, nil, 4), false, nil, "", false},
		{"bad padding", append(hdr(0xa0, nil, []byte{1}, 0), 200), false, nil, "", false},
		{"short", []byte{0x80, 96, 0}, false, nil, "", false},
		{"version 1", hdr(0x40, nil, []byte{1}, 0), false, nil, "", false},
		{"truncated extension", hdr(0x90, ext[:2], nil, 0), false, nil, "", false},
		{"vp8 picture id, keyframe", hdr(0x80, nil, []byte{0x90, 0x80, 0x81, 0x02, 0x00}, 0), true, []byte{0x90, 0x80, 0x81, 0x02, 0x00}, mimeVP8, true},
		{"vp8 not a partition start", hdr(0x80, nil, []byte{0x00, 0x00}, 0), true, []byte{0x00, 0x00}, mimeVP8, false},
		{"vp9 keyframe", hdr(0x80, nil, []byte{0x08, 0}, 0), true, []byte{0x08, 0}, mimeVP9, true},
		{"vp9 inter", hdr(0x80, nil, []byte{0x48, 0}, 0), true, []byte{0x48, 0}, mimeVP9, false},
		{"h264 idr", hdr(0x80, nil, []byte{0x65, 0}, 0), true, []byte{0x65, 0}, mimeH264, true},
		{"h264 stap-a sps", hdr(0x80, nil, []byte{0x18, 0, 2, 0x67, 0}, 0), true, []byte{0x18, 0, 2, 0x67, 0}, mimeH264, true},
		{"h264 fu-a idr start", hdr(0x80, nil, []byte{0x7c, 0x85}, 0), true, []byte{0x7c, 0x85}, mimeH264, true},
		{"h264 fu-a idr middle", hdr(0x80, nil, []byte{0x7c, 0x05}, 0), true, []byte{0x7c, 0x05}, mimeH264, false},
		{"opus", hdr(0x80, nil, []byte{0x10, 0x00}, 0), true, []byte{0x10, 0x00}, "audio/opus", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := parseRTP(tc.b)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if h.seq != 0x1234 || h.ts != 12345 || h.ssrc != 0xdeadbeef || h.pt != 96 || !h.marker {
				t.Errorf("header %+v", h)
			}
			p := tc.b[h.payload:h.end]
			if string(p) != string(tc.payload) {
				t.Errorf("payload % x, want % x", p, tc.payload)
			}
			if got := isKeyframe(tc.mime, p); got != tc.keyframe {
				t.Errorf("keyframe %v, want %v", got, tc.keyframe)
			}
		})
	}
}

// parseRTP and the keyframe readers never panic and never return a payload
// outside the packet.
func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0, 0x10, 0})
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x18, 0, 2, 0x67, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseRTP(b)
		if !ok {
			return
		}
		if h.payload < 12 || h.payload >= h.end || h.end > len(b) {
			t.Fatalf("payload [%d:%d] of %d bytes", h.payload, h.end, len(b))
		}
		if binary.BigEndian.Uint16(b[2:]) != h.seq {
			t.Fatal("seq")
		}
		for _, m := range []string{mimeVP8, mimeVP9, mimeH264} {
			isKeyframe(m, b[h.payload:h.end])
		}
	})
}

// Padding takes sequence numbers of its own: the source's next packet
// follows it, earlier ones still map back, the padding never does.
func TestRewriterPad(t *testing.T) {
	var r rewriter
	r.switchTo("a", 100, 9000, vp8Pic{}, 0, 90000)
	for seq := uint16(100); seq <= 102; seq++ {
		r.rewrite(seq, 9000, vp8Pic{}, 0)
	}
	first, ts, ok := r.pad(5)
	if !ok || first != 103 || ts != 9000 {
		t.Fatalf("pad(5) = %d, %d, %v; want 103, 9000, true", first, ts, ok)
	}
	if out, _, _, _, ok := r.rewrite(103, 12000, vp8Pic{}, 0); !ok || out != 108 {
		t.Fatalf("the next packet after 5 pads: %d, %v; want 108", out, ok)
	}
	if _, _, _, _, ok := r.rewrite(101, 9000, vp8Pic{}, 0); ok {
		t.Fatal("a late packet from before the padding was sent")
	}
	if src, seq, _, ok := r.reverse(102); !ok || src != "a" || seq != 102 {
		t.Fatalf("reverse(102) = %v %d %v; want a 102", src, seq, ok)
	}
	if src, _, _, ok := r.reverse(105); !ok || src != nil {
		t.Fatalf("reverse(105) = %v %v; want the padding (nil)", src, ok)
	}
	if src, seq, _, ok := r.reverse(108); !ok || src != "a" || seq != 103 {
		t.Fatalf("reverse(108) = %v %d %v; want a 103", src, seq, ok)
	}
	if _, _, ok := (&rewriter{}).pad(1); ok {
		t.Fatal("padding before the first packet")
	}
}

// FuzzShedder: whatever the publisher's packets do (losses, late
// retransmissions, duplicates, outages, lateness, keyframes), what the
// shedder forwards keeps the publisher's order, and no forwarding number
// is used twice.
func FuzzShedder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0x81, 4, 0x42, 5, 0x20, 6})
	f.Add([]byte{0x10, 0x10, 0x91, 0x02, 0x30, 0x05, 0x41, 0x61})
	f.Fuzz(func(t *testing.T, ops []byte) {
		sh := shedder{video: true}
		held := map[uint16]uint16{} // forwarding number → publisher seq
		seq, at := uint16(65000), int64(0)
		var sent []uint16 // publisher seqs, in the order they were sent
		for _, op := range ops {
			s := seq
			switch op >> 5 {
			case 0, 1, 2: // the next packet, maybe after a few lost
				seq += 1 + uint16(op&3)
				s = seq
			case 3: // a late retransmission of a recent number
				s = seq - uint16(op&15)
			case 4: // after an outage
				seq += 1 + uint16(op&7)
				s = seq
				at += int64(outageGap)
			default:
				seq++
				s = seq
			}
			at += int64(time.Millisecond)
			fwd, v := sh.next(s, op&0x08 != 0, op&0x10 != 0, at, func(n uint16) bool { _, ok := held[n]; return ok })
			if v != forward {
				continue
			}
			if prev, ok := held[fwd]; ok {
				t.Fatalf("number %d forwarded for %d and %d", fwd, prev, s)
			}
			held[fwd] = s
			sent = append(sent, s)
		}
		// The publisher's order, as forwarding numbers (for packets near
		// enough for serial order to hold).
		fwdOf := make(map[uint16]uint16, len(held))
		for n, p := range held {
			fwdOf[p] = n
		}
		for i, a := range sent {
			for _, b := range sent[i+1 : min(len(sent), i+64)] {
				if d := int16(b - a); d > 1000 || d < -1000 {
					continue
				}
				fa, fb := fwdOf[a], fwdOf[b]
				if seqBefore(a, b) != seqBefore(fa, fb) {
					t.Fatalf("%d→%d and %d→%d: order changed", a, fa, b, fb)
				}
			}
		}
	})
}
