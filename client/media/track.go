//go:build !js

package media

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
)

// Track is one track received from the server: another participant's
// published track, forwarded. The session reads it and counts what
// arrives; its methods are safe for concurrent use.
type Track struct {
	// Info says whose track it is (PeerID, UserID), its Kind and the
	// server's TrackID, from the server's track map. A track the map did not
	// announce (the map was missed) gets PeerID from its stream id.
	Info     protocol.TrackInfo
	Remote   *webrtc.TrackRemote
	Receiver *webrtc.RTPReceiver

	packets atomic.Uint64
	bytes   atomic.Uint64
	first   atomic.Int64 // unix nanos of the first packet, 0 before it
	last    atomic.Int64 // unix nanos of the last packet
	lastSeq atomic.Uint32

	ended     chan struct{}
	endOnce   sync.Once
	endedFlag atomic.Bool
}

func newTrack(info protocol.TrackInfo, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *Track {
	return &Track{Info: info, Remote: remote, Receiver: recv, ended: make(chan struct{})}
}

// Packets is the number of RTP packets received.
func (t *Track) Packets() uint64 { return t.packets.Load() }

// Bytes is the size of the RTP packets received (headers included, after
// SRTP decryption).
func (t *Track) Bytes() uint64 { return t.bytes.Load() }

// FirstPacketAt is when the first packet arrived (zero before).
func (t *Track) FirstPacketAt() time.Time { return unixTime(t.first.Load()) }

// LastPacketAt is when the last packet arrived (zero before the first).
func (t *Track) LastPacketAt() time.Time { return unixTime(t.last.Load()) }

// LastSequence is the RTP sequence number of the last packet received.
func (t *Track) LastSequence() uint16 { return uint16(t.lastSeq.Load()) }

// Ended is closed when the track ends: the server removed it, or the
// subscribe connection closed.
func (t *Track) Ended() <-chan struct{} { return t.ended }

// IsEnded reports whether Ended is closed.
func (t *Track) IsEnded() bool { return t.endedFlag.Load() }

func (t *Track) end() {
	t.endOnce.Do(func() {
		t.endedFlag.Store(true)
		close(t.ended)
	})
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// read counts the track's packets until it ends, calling onPacket for each.
func (t *Track) read(onPacket func(*Track, *rtp.Packet), note func()) {
	defer note()
	defer t.end()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := t.Remote.Read(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if t.packets.Add(1) == 1 {
			t.first.Store(now)
		}
		t.bytes.Add(uint64(n))
		t.last.Store(now)
		if n >= 4 {
			t.lastSeq.Store(uint32(buf[2])<<8 | uint32(buf[3]))
		}
		if onPacket != nil && pkt.Unmarshal(buf[:n]) == nil {
			onPacket(t, &pkt)
		}
		note()
	}
}

// notifier wakes the goroutines waiting in Session.Wait. fire is cheap when
// nobody waits (one uncontended lock).
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) fire() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
