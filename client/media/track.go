package media

import (
	"sync"
	"sync/atomic"

	"github.com/stagekit/stagekit/protocol"
)

// Track is one track received from the server: another participant's
// published track, forwarded. Natively the session reads it and counts what
// arrives (Remote, Receiver, Packets, …); in the browser it carries the
// MediaStreamTrack (JS). Its methods are safe for concurrent use.
type Track struct {
	// Info says whose track it is (PeerID, UserID), its Kind and the
	// server's TrackID, from the server's track map. A track the map did not
	// announce (the map was missed) gets PeerID from its stream id.
	Info protocol.TrackInfo
	platformTrack

	slot      *recvSlot // the receive slot that carries it
	ended     chan struct{}
	endOnce   sync.Once
	endedFlag atomic.Bool
}

func newTrack(info protocol.TrackInfo, sl *recvSlot) *Track {
	t := &Track{Info: info, slot: sl, ended: make(chan struct{})}
	t.platformTrack = sl.edge.track()
	return t
}

// Ended is closed when the track ends: the server freed or rebound its
// slot (its owner left the stage), or the subscribe connection closed.
func (t *Track) Ended() <-chan struct{} { return t.ended }

// IsEnded reports whether Ended is closed.
func (t *Track) IsEnded() bool { return t.endedFlag.Load() }

// end ends the track; it reports whether this call did.
func (t *Track) end() (first bool) {
	t.endOnce.Do(func() {
		first = true
		t.endedFlag.Store(true)
		close(t.ended)
	})
	return first
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
