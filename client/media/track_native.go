//go:build !js

package media

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// platformTrack is a received track's native part: pion's track and
// receiver, and the counters the session's reader keeps.
type platformTrack struct {
	Remote   *webrtc.TrackRemote
	Receiver *webrtc.RTPReceiver

	packets atomic.Uint64
	bytes   atomic.Uint64
	first   atomic.Int64 // unix nanos of the first packet, 0 before it
	last    atomic.Int64 // unix nanos of the last packet
	lastSeq atomic.Uint32
}

// Packets is the number of RTP packets received.
func (t *platformTrack) Packets() uint64 { return t.packets.Load() }

// Bytes is the size of the RTP packets received (headers included, after
// SRTP decryption).
func (t *platformTrack) Bytes() uint64 { return t.bytes.Load() }

// FirstPacketAt is when the first packet arrived (zero before).
func (t *platformTrack) FirstPacketAt() time.Time { return unixTime(t.first.Load()) }

// LastPacketAt is when the last packet arrived (zero before the first).
func (t *platformTrack) LastPacketAt() time.Time { return unixTime(t.last.Load()) }

// LastSequence is the RTP sequence number of the last packet received.
func (t *platformTrack) LastSequence() uint16 { return uint16(t.lastSeq.Load()) }

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// slotEdge is a receive slot's native part: pion's track and receiver.
type slotEdge struct {
	remote   *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

func (e slotEdge) track() platformTrack {
	return platformTrack{Remote: e.remote, Receiver: e.receiver}
}

// watchTracks records the receive slots sc announces and reads each until
// it ends, counting packets on the slot's current track.
func (s *Session) watchTracks(sc *subConn) (release func()) {
	sc.pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.wg.Add(2)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := recv.Read(buf); err != nil {
					return
				}
			}
		}()
		sl := s.addSlot(sc, "", remote.ID(), remote.Kind().String(), slotEdge{remote: remote, receiver: recv})
		if sl == nil {
			s.wg.Done()
			return
		}
		go func() {
			defer s.wg.Done()
			s.read(sl)
		}()
	})
	return nil
}

// read counts the packets of sl on its current track until the slot ends,
// calling OnPacket for each. Packets while the slot is idle are not
// counted.
func (s *Session) read(sl *recvSlot) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := sl.edge.remote.Read(buf)
		if err != nil {
			return
		}
		t := sl.cur.Load()
		if t == nil {
			continue
		}
		sl.sub.rx.Add(1)
		now := time.Now().UnixNano()
		if t.packets.Add(1) == 1 {
			t.first.Store(now)
		}
		t.bytes.Add(uint64(n))
		t.last.Store(now)
		if n >= 4 {
			t.lastSeq.Store(uint32(buf[2])<<8 | uint32(buf[3]))
		}
		if s.opts.OnPacket != nil && pkt.Unmarshal(buf[:n]) == nil {
			s.opts.OnPacket(t, &pkt)
		}
		s.note.fire()
	}
}

// ReceivedFrom sums the packets and bytes received from peerID, over every
// track it ever published to this session.
func (s *Session) ReceivedFrom(peerID string) (packets, bytes uint64) {
	for _, t := range s.TracksFrom(peerID) {
		packets += t.Packets()
		bytes += t.Bytes()
	}
	return packets, bytes
}

// heard is what pc has received: natively the count rx the session
// keeps (RTP packets of the subscribe connection, RTCP packets of the
// publish one).
func (s *Session) heard(_ context.Context, _ *webrtc.PeerConnection, rx *atomic.Uint64) (uint64, bool) {
	return rx.Load(), true
}
