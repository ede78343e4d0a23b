//go:build !js

package media

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
)

// SyntheticConfig describes a synthetic source.
type SyntheticConfig struct {
	// Codec is the track's codec; its MimeType decides how frames look
	// (VP8 frames carry a VP8 frame tag, keyframes a VP8 keyframe header;
	// other codecs get plain bytes).
	Codec webrtc.RTPCodecCapability
	// ID and StreamID of the local track (the server assigns its own).
	ID, StreamID string
	// Interval between frames, e.g. 33ms for 30 fps video, 20ms for audio.
	Interval time.Duration
	// FrameBytes is the size of each frame (at least 26 bytes); a VP8 frame
	// larger than about 1,100 bytes is split into several RTP packets.
	FrameBytes int
	// KeyframeEvery makes every n-th frame a keyframe (0: only the first
	// and those requested by the server).
	KeyframeEvery int
}

// Synthetic is a local track fed with synthetic frames at a fixed rate,
// for forwarding tests and benchmarks: real codecs are not needed, the
// frames only look like their codec's. Each frame carries, from byte 10,
// its index and the time it was written (two big-endian uint64s; see
// SyntheticStamp). It is a webrtc.TrackLocal: publish it with
// Session.Publish. It answers the server's keyframe requests.
type Synthetic struct {
	*webrtc.TrackLocalStaticSample
	cfg SyntheticConfig

	keyReq    atomic.Bool
	frames    atomic.Uint64
	keyframes atomic.Uint64

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// NewSyntheticVideo is a VP8 source of 30 frames a second, 1,000 bytes
// each (one RTP packet), a keyframe every 60 frames and on request.
func NewSyntheticVideo() (*Synthetic, error) {
	return NewSynthetic(SyntheticConfig{
		Codec:         webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		ID:            "video",
		StreamID:      "stagekit",
		Interval:      time.Second / 30,
		FrameBytes:    1000,
		KeyframeEvery: 60,
	})
}

// NewSyntheticAudio is an Opus source of 20 ms frames of 80 bytes.
func NewSyntheticAudio() (*Synthetic, error) {
	return NewSynthetic(SyntheticConfig{
		Codec:      webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		ID:         "audio",
		StreamID:   "stagekit",
		Interval:   20 * time.Millisecond,
		FrameBytes: 80,
	})
}

// NewSynthetic makes a synthetic source; Start sends its frames.
func NewSynthetic(cfg SyntheticConfig) (*Synthetic, error) {
	if cfg.Interval <= 0 || cfg.FrameBytes < 26 {
		return nil, fmt.Errorf("media: synthetic source needs an interval and at least 26-byte frames")
	}
	if cfg.ID == "" {
		cfg.ID = "synthetic"
	}
	if cfg.StreamID == "" {
		cfg.StreamID = "stagekit"
	}
	tr, err := webrtc.NewTrackLocalStaticSample(cfg.Codec, cfg.ID, cfg.StreamID)
	if err != nil {
		return nil, err
	}
	s := &Synthetic{TrackLocalStaticSample: tr, cfg: cfg}
	s.keyReq.Store(true) // the first frame is a keyframe
	return s, nil
}

// Start sends frames every Interval until Stop. Frames written while the
// track is not published go nowhere. Starting twice is a no-op.
func (s *Synthetic) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.loop(s.stop, s.done)
}

// Stop stops sending and waits for the sending goroutine to end.
func (s *Synthetic) Stop() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// RequestKeyframe makes the next frame a keyframe.
func (s *Synthetic) RequestKeyframe() { s.keyReq.Store(true) }

// Frames is the number of frames written.
func (s *Synthetic) Frames() uint64 { return s.frames.Load() }

// Keyframes is the number of keyframes written.
func (s *Synthetic) Keyframes() uint64 { return s.keyframes.Load() }

func (s *Synthetic) loop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	buf := make([]byte, s.cfg.FrameBytes)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		n := s.frames.Load()
		key := s.keyReq.Swap(false) || s.cfg.KeyframeEvery > 0 && n%uint64(s.cfg.KeyframeEvery) == 0
		s.fill(buf, n, key)
		if err := s.WriteSample(pmedia.Sample{Data: buf, Duration: s.cfg.Interval}); err != nil {
			continue
		}
		s.frames.Add(1)
		if key {
			s.keyframes.Add(1)
		}
	}
}

// fill writes frame n into buf.
func (s *Synthetic) fill(buf []byte, n uint64, key bool) {
	fillFrame(buf, n, key, s.cfg.Codec.MimeType == webrtc.MimeTypeVP8, time.Now())
}

// fillFrame writes synthetic frame n, stamped with its index and at, into
// buf (at least 26 bytes).
func fillFrame(buf []byte, n uint64, key, vp8 bool, at time.Time) {
	for i := range buf {
		buf[i] = byte(n + uint64(i))
	}
	if vp8 {
		// VP8 frame tag (RFC 6386 9.1): bit 0 is 0 for a keyframe, version
		// 0, show_frame set, first partition size.
		size := uint32(len(buf) - 10)
		tag := uint32(0x10) | size<<5
		if !key {
			tag |= 1
		}
		buf[0], buf[1], buf[2] = byte(tag), byte(tag>>8), byte(tag>>16)
		if key {
			// Start code and 320x240.
			buf[3], buf[4], buf[5] = 0x9d, 0x01, 0x2a
			binary.LittleEndian.PutUint16(buf[6:], 320)
			binary.LittleEndian.PutUint16(buf[8:], 240)
		}
	}
	binary.BigEndian.PutUint64(buf[10:], n)
	binary.BigEndian.PutUint64(buf[18:], uint64(at.UnixNano()))
}

// SyntheticStamp reads the frame index and write time a Synthetic frame
// carries, from the payload of the RTP packet that starts the frame: for
// VP8 (vp8 true) the payload descriptor is skipped, and packets that do not
// start a frame give ok false; other codecs' payloads are the frame.
func SyntheticStamp(payload []byte, vp8 bool) (index uint64, written time.Time, ok bool) {
	if vp8 {
		n, start := vp8Descriptor(payload)
		if !start {
			return 0, time.Time{}, false
		}
		payload = payload[n:]
	}
	if len(payload) < 26 {
		return 0, time.Time{}, false
	}
	return binary.BigEndian.Uint64(payload[10:]), time.Unix(0, int64(binary.BigEndian.Uint64(payload[18:]))), true
}

// IsVP8Keyframe reports whether a VP8 RTP payload starts a keyframe: the
// payload descriptor marks the start of partition 0 and the frame tag's
// key bit is 0.
func IsVP8Keyframe(payload []byte) bool {
	n, start := vp8Descriptor(payload)
	return start && payload[n]&0x01 == 0
}

// vp8Descriptor returns the size of a VP8 payload descriptor (RFC 7741
// 4.2) and whether the packet starts partition 0 of a frame with at least
// one byte of it.
func vp8Descriptor(p []byte) (int, bool) {
	if len(p) < 1 {
		return 0, false
	}
	n := 1
	if p[0]&0x80 != 0 { // X: extension byte
		if len(p) < 2 {
			return 0, false
		}
		x := p[1]
		n = 2
		if x&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(p) <= n {
				return 0, false
			}
			if p[n]&0x80 != 0 {
				n++
			}
			n++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			n++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX
			n++
		}
	}
	start := p[0]&0x10 != 0 && p[0]&0x07 == 0
	return n, start && len(p) > n
}
