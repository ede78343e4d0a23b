package sfu

// Screen share: a published track whose transceiver the client labels
// "screenshare" in its publish offer (media.offer's Sources, mid → source)
// is forwarded like any other track, ON_STAGE only, and labelled so in the
// subscribers' track map (TrackInfo.Source). Whether a user may share, and
// how many shares a room may have, is the room's stage's to decide
// (Config.Screenshares: the hub, in the room's one order, on the node that
// owns the room, whichever node the sharer publishes through); this file
// asks it before admitting a share and gives the slot back when the share
// ends, apart from the forwarding.

import (
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// Screenshares keeps rooms' screen-share slots (stage.Room's
// ClaimScreenshare and ReleaseScreenshare, where the room's stage is).
// The SFU calls it outside its own locks and never from a call the hub
// makes into the SFU (Join, Leave, SetPublishing), so the implementation
// may take the room's lock or call the room's owner.
type Screenshares interface {
	// ClaimScreenshare admits the user's screen share or refuses it with a
	// coded error (the stage's 2001, 2005, 2006, 2106; 4051 when the room's
	// owner is gone). A user who holds a slot keeps it.
	ClaimScreenshare(meetingID, userID string) error
	// ReleaseScreenshare gives the user's slot back.
	ReleaseScreenshare(meetingID, userID string)
}

// maxSources bounds a publish offer's Sources (at most one per section).
const maxSources = 16

// screenState is what the SFU keeps about a user's screen share. A user
// shares while one of its screen tracks is forwarded (meeting.sources), or
// from the admission of its offer until that track arrives (pending): the
// share ends however its track ends (a renegotiation without it, the
// publish connection closed), and then its slot is given back
// (releaseScreenshare). Leaving ON_STAGE or the room ends the slot in the
// stage itself.
type screenState struct {
	// claim orders the user's claims and releases (they call out, so not
	// under meeting.mu): a release decided on a share that a newer claim
	// revived does not go out.
	claim   sync.Mutex
	held    bool // the stage granted a slot not given back since (under meeting.mu)
	pending bool // admitted; its track has not arrived yet (under meeting.mu)
}

// HoldsScreenshare reports whether the user holds a screen-share slot
// here: granted by the room's stage for a share this SFU forwards or
// awaits, not given back since.
func (s *SFU) HoldsScreenshare(meetingID, userID string) bool {
	m := s.meeting(meetingID)
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[userID]
	return u != nil && u.screen.held
}

// checkSources validates a publish offer's labels: mids of at most
// protocol.MaxUserIDBytes, every source protocol.SourceScreenshare.
func checkSources(sources map[string]string) error {
	if len(sources) > maxSources {
		return protocol.NewError(protocol.CodeBadArgs, "media.offer: %d sources; at most %d", len(sources), maxSources)
	}
	for mid, src := range sources {
		if mid == "" || len(mid) > protocol.MaxUserIDBytes {
			return protocol.NewError(protocol.CodeBadArgs, "media.offer: a source needs a mid of 1 to %d bytes", protocol.MaxUserIDBytes)
		}
		if src != protocol.SourceScreenshare {
			return protocol.NewError(protocol.CodeBadArgs, "media.offer: unknown source %q for mid %q", src, mid)
		}
	}
	return nil
}

// claimScreenshare decides a publish offer's screen share: with one
// (wants), the room's stage must grant the user a slot (Config.Screenshares:
// ON_STAGE, its preset allowing screen share, the room below
// max_screenshare_count); the user then counts as sharing until its screen
// track arrives and as long as it is forwarded; a renegotiation of the
// same share asks nothing. Refusals are coded and change nothing. started
// reports whether this call admitted a new share (undo it with
// m.endScreenshare if the offer then fails). An offer without a share
// gives the slot back once the old screen track is gone.
func (m *meeting) claimScreenshare(u *user, wants bool) (started bool, err error) {
	if !wants {
		m.mu.Lock()
		u.screen.pending = false
		held := u.screen.held
		m.mu.Unlock()
		if held {
			m.releaseScreenshare(u)
		}
		return false, nil
	}
	slots := m.s.cfg.Screenshares
	if slots == nil {
		return false, protocol.NewError(int(stage.CodePermissionDenied), "screen share needs a stage to admit it (sfu.Config.Screenshares)")
	}
	u.screen.claim.Lock()
	defer u.screen.claim.Unlock()
	m.mu.Lock()
	renegotiation := u.screen.held && m.sharingLocked(u)
	m.mu.Unlock()
	if renegotiation {
		return false, nil // the same share: its slot is held
	}
	if err := slots.ClaimScreenshare(m.id, u.id); err != nil {
		return false, protocol.ErrorOf(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u.screen.held = true
	if m.sharingLocked(u) {
		return false, nil // sharing already: nothing new started
	}
	u.screen.pending = true
	return true, nil
}

// releaseScreenshare gives u's slot back if it holds one and shares no
// more. Not under a lock of the hub's (see Screenshares).
func (m *meeting) releaseScreenshare(u *user) {
	u.screen.claim.Lock()
	defer u.screen.claim.Unlock()
	m.mu.Lock()
	ended := u.screen.held && !m.sharingLocked(u)
	if ended {
		u.screen.held = false
	}
	left := m.users[u.id] != u // the user left: the stage ended its slot (exit, or another node)
	m.mu.Unlock()
	if left {
		return
	}
	if ended {
		m.s.cfg.Screenshares.ReleaseScreenshare(m.id, u.id)
	}
}

// sharingLocked reports whether u shares its screen: admitted and waiting
// for its track, or its screen track forwarded.
func (m *meeting) sharingLocked(u *user) bool {
	if u.screen.pending {
		return true
	}
	for _, src := range m.sources {
		if src.owner.u == u && src.info.Source == protocol.SourceScreenshare {
			return true
		}
	}
	return false
}

// endScreenshare forgets u's admitted share whose offer failed, and its
// slot unless its earlier screen track is still forwarded.
func (m *meeting) endScreenshare(u *user) {
	m.mu.Lock()
	u.screen.pending = false
	m.mu.Unlock()
	m.releaseScreenshare(u)
}

// screenArrived: u's screen track is forwarded now and counts by itself.
func (m *meeting) screenArrived(u *user) {
	m.mu.Lock()
	u.screen.pending = false
	m.mu.Unlock()
}

// sourceOf is the label the client gave the transceiver that receives on
// recv in its latest offer ("" for camera and microphone).
func (sess *pubSession) sourceOf(recv *webrtc.RTPReceiver) string {
	sess.srcMu.Lock()
	defer sess.srcMu.Unlock()
	if len(sess.sources) == 0 {
		return ""
	}
	for _, tx := range sess.pc.GetTransceivers() {
		if tx.Receiver() == recv {
			return sess.sources[tx.Mid()]
		}
	}
	return ""
}

// setSources records the labels of an offer about to be applied.
func (sess *pubSession) setSources(sources map[string]string) {
	sess.srcMu.Lock()
	sess.sources = sources
	sess.srcMu.Unlock()
}
