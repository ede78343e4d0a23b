package sfu

// Screen share: a published track whose transceiver the client labels
// "screenshare" in its publish offer (media.offer's Sources, mid → source)
// is forwarded like any other track, ON_STAGE only, and labelled so in the
// subscribers' track map (TrackInfo.Source). Whether a user may share at
// all, and how many shares a room may have, is the preset's
// (stage.AdmitScreenshare); this file holds that policy, apart from the
// forwarding, so that it carries over to another fan-out unchanged.

import (
	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// maxSources bounds a publish offer's Sources (at most one per section).
const maxSources = 16

// screenState is what the SFU keeps about a user's screen share, under
// meeting.mu. A user shares while one of its screen tracks is forwarded
// (meeting.sources), or from the admission of its offer until that track
// arrives (pending): the count follows the tracks, so a share ends however
// its track ends (a renegotiation without it, the publish connection
// closed, the stage left).
type screenState struct {
	perms   stage.Permissions // the user's preset (SetPermissions)
	known   bool              // perms was set
	pending bool              // admitted; its track has not arrived yet
}

// SetPermissions gives the SFU the user's preset, for its screen-share
// policy. The hub calls it when the user attaches; until then the user may
// not share its screen.
func (s *SFU) SetPermissions(meetingID, userID string, p stage.Permissions) {
	m := s.liveMeeting(meetingID)
	if m == nil {
		return
	}
	m.mu.Lock()
	u := m.userLocked(userID)
	u.screen.perms, u.screen.known = p, true
	m.mu.Unlock()
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

// admitScreenshare decides a publish offer's screen share: with one
// (wants), the user must be ON_STAGE (allow set), its preset must allow
// screen share, and the room must have fewer shares than its preset's
// max_screenshare_count (stage.AdmitScreenshare); the user then counts as
// sharing until its screen track arrives and as long as it is forwarded.
// Shares relayed in from other nodes count too (one per user): the room is
// the cluster's, not this node's.
// Refusals are the stage's coded errors (2001, 2006, 2106) and change
// nothing. started reports whether this call admitted a new share (undo
// it with m.endScreenshare if the offer then fails).
func (m *meeting) admitScreenshare(u *user, wants bool) (started bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !wants {
		u.screen.pending = false
		return false, nil
	}
	if m.sharingLocked(u) {
		return false, nil // a renegotiation of the same share
	}
	status := stage.OffStage
	if u.allow.Load() != 0 {
		status = stage.OnStage
	}
	perms := u.screen.perms
	if !u.screen.known {
		perms = stage.Permissions{} // no preset told: no stage, no share
	}
	active := 0
	for _, o := range m.users {
		if o != u && o.allow.Load() != 0 && m.sharingLocked(o) {
			active++
		}
	}
	relayed := map[string]bool{}
	for _, src := range m.sources {
		if src.owner.standIn && src.info.Source == protocol.SourceScreenshare && src.owner.u.id != u.id && !relayed[src.owner.u.id] {
			relayed[src.owner.u.id] = true
			active++
		}
	}
	if err := stage.AdmitScreenshare(perms, status, active); err != nil {
		return false, protocol.ErrorOf(err)
	}
	u.screen.pending = true
	return true, nil
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

// endScreenshare forgets u's admitted share whose offer failed.
func (m *meeting) endScreenshare(u *user) {
	m.mu.Lock()
	u.screen.pending = false
	m.mu.Unlock()
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
