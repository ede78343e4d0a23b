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
