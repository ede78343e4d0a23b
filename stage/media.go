package stage

// Media permissions: what a user may produce, as RealtimeKit's presets say
// it (permissions.media.{audio,video,screenshare}.can_produce and
// config.max_screenshare_count), and the rule the server applies to a
// screen share.

// DefaultMaxScreenshareCount is RealtimeKit's default max_screenshare_count:
// one screen shared at a time in a room.
const DefaultMaxScreenshareCount = 1

// ScreenshareAccess is the preset's media.screenshare.can_produce, or its
// stage_access when it is not set; NOT_ALLOWED without a stage.
func (p Permissions) ScreenshareAccess() Access {
	if !p.StageEnabled {
		return NotAllowed
	}
	if p.Media.Screenshare.CanProduce != "" {
		return p.Media.Screenshare.CanProduce
	}
	return p.StageAccess
}

// MediaAccess is the preset's can_produce for audio and video: its
// stage_access (media goes with the stage), NOT_ALLOWED without a stage.
func (p Permissions) MediaAccess() Access {
	if !p.StageEnabled {
		return NotAllowed
	}
	return p.StageAccess
}

// ScreenshareLimit is the preset's max_screenshare_count, or the default
// when it is not set.
func (p Permissions) ScreenshareLimit() int {
	if p.MaxScreenshareCount > 0 {
		return p.MaxScreenshareCount
	}
	return DefaultMaxScreenshareCount
}

// ProduceAccess is RealtimeKit's stage-aware canProduce: a preset's
// CAN_REQUEST becomes ALLOWED while the user is accepted or on stage, and
// its ALLOWED is NOT_ALLOWED while the user is off stage or has only
// asked. Without a stage the preset's value stands.
func ProduceAccess(preset Access, stageEnabled bool, status Status) Access {
	if !stageEnabled {
		return preset
	}
	onOrAccepted := status == Accepted || status == OnStage
	switch {
	case preset == CanRequest && onOrAccepted:
		return Allowed
	case preset == Allowed && !onOrAccepted:
		return NotAllowed
	}
	return preset
}

// AdmitScreenshare decides whether a user may start sharing its screen:
// it must be ON_STAGE, its preset must allow it, and the room must have
// fewer screen shares than the preset's max_screenshare_count (active
// counts the others' shares). The refusal says why (2001, 2006, 2106).
func AdmitScreenshare(p Permissions, status Status, active int) error {
	if ProduceAccess(p.ScreenshareAccess(), p.StageEnabled, status) != Allowed {
		if p.ScreenshareAccess() == NotAllowed {
			return errorf(CodePermissionDenied, "the preset does not allow screen share (media.screenshare.can_produce)")
		}
		return errorf(CodeBadStatus, "only users on stage may share their screen")
	}
	if status != OnStage {
		return errorf(CodeBadStatus, "only users on stage may share their screen")
	}
	if limit := p.ScreenshareLimit(); active >= limit {
		return errorf(CodeScreenshareLimit, "the room has %d screen share(s), the preset's max_screenshare_count is %d", active, limit)
	}
	return nil
}

// MaxScreenshareCount bounds a preset's max_screenshare_count (the
// publish connection carries at most a few media sections).
const MaxScreenshareCount = 16

// ClaimScreenshare gives userID one of the room's screen-share slots: it
// must be in the room (2005) and may share by AdmitScreenshare (2001, 2006,
// 2106, counting the slots others hold). A member that holds a slot keeps
// it (a renegotiation of the same share). The slot is the room's, wherever
// the sharer publishes: it ends with ReleaseScreenshare, when its holder
// leaves ON_STAGE (leave, kick, a preset change) or exits the room. A
// preset change that leaves the holder ON_STAGE does not end it, as a
// track already forwarded keeps flowing. On error the room is unchanged.
func (r *Room) ClaimScreenshare(userID string) error {
	e, ok := r.members[userID]
	if !ok {
		return errorf(CodeNotInRoom, "join the room before sharing a screen")
	}
	if _, held := r.screens[userID]; held {
		return nil
	}
	if err := AdmitScreenshare(e.Preset.Permissions, e.Status, len(r.screens)); err != nil {
		return err
	}
	r.screens[userID] = e
	return nil
}

// ReleaseScreenshare frees userID's screen-share slot; it reports whether
// the user held one.
func (r *Room) ReleaseScreenshare(userID string) bool {
	_, held := r.screens[userID]
	delete(r.screens, userID)
	return held
}

// Screenshares lists the members holding a screen-share slot, in the order
// they entered.
func (r *Room) Screenshares() []Member { return listed(r.screens, byEntry) }
