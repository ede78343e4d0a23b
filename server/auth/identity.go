package auth

import "github.com/stagekit/stagekit/stage"

// Identity is who a valid token speaks for.
type Identity struct {
	MeetingID string
	UserID    string
	Name      string
	Preset    stage.Preset
}
