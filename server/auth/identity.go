package auth

import "github.com/stagekit/stagekit/stage"

// Identity is who a valid token speaks for.
type Identity struct {
	MeetingID string
	UserID    string
	Name      string
	CustomID  string // the participant's custom_participant_id
	Preset    stage.Preset
	// MeetingTitle is the meeting's title, for the client's
	// meta.meetingTitle.
	MeetingTitle string
}
