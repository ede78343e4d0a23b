// Package stage is the pure domain of a webinar stage: statuses, presets,
// permissions, the room's stage state machine and its coded errors. It does no
// I/O and starts no goroutines; the server applies it one action at a time.
package stage

import (
	"fmt"
)

// Status is a user's place relative to the stage.
type Status string

const (
	OffStage  Status = "OFF_STAGE"
	Requested Status = "REQUESTED_TO_JOIN_STAGE"
	Accepted  Status = "ACCEPTED_TO_JOIN_STAGE"
	OnStage   Status = "ON_STAGE"
)

// Valid reports whether s is one of the four documented statuses.
func (s Status) Valid() bool {
	switch s {
	case OffStage, Requested, Accepted, OnStage:
		return true
	}
	return false
}

// Access is a preset's stage_access value.
type Access string

const (
	Allowed    Access = "ALLOWED"
	CanRequest Access = "CAN_REQUEST"
	NotAllowed Access = "NOT_ALLOWED"
)

// Valid reports whether a is one of the three documented access levels.
func (a Access) Valid() bool {
	switch a {
	case Allowed, CanRequest, NotAllowed:
		return true
	}
	return false
}

// Permissions are the stage parts of a preset.
type Permissions struct {
	StageEnabled        bool   `json:"stage_enabled"`
	StageAccess         Access `json:"stage_access"`
	AcceptStageRequests bool   `json:"accept_stage_requests"`
	// SeeAllParticipants widens what a user sees from the stage to the
	// whole room, for small meetings where everyone should see everyone.
	// Such a user costs the server O(room) per event, as a host does;
	// webinar presets leave it off so that the audience stays private.
	SeeAllParticipants bool `json:"see_all_participants,omitempty"`
	// Media is RealtimeKit's permissions.media: here the screen share's
	// can_produce (see media.go).
	Media MediaPermissions `json:"media,omitzero"`
	// MaxScreenshareCount is RealtimeKit's max_screenshare_count: how many
	// screens may be shared in the room at once when this user starts one
	// (0: DefaultMaxScreenshareCount).
	MaxScreenshareCount int `json:"max_screenshare_count,omitempty"`
}

// SeesEveryone reports whether the user sees every participant: hosts (who
// accept stage requests) and presets with SeeAllParticipants.
func (p Permissions) SeesEveryone() bool { return p.AcceptStageRequests || p.SeeAllParticipants }

// Preset is a named set of permissions given to a participant.
type Preset struct {
	Name string `json:"name"`
	Permissions
}

// validPresetName matches ^[a-z0-9][a-z0-9_-]{0,63}$ (by hand: regexp
// alone costs the browser SDK ~30 KB of brotli'd wasm).
func validPresetName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Validate checks a preset read from configuration.
func (p Preset) Validate() error {
	if !validPresetName(p.Name) {
		return fmt.Errorf("preset name %q: want 1-64 of [a-z0-9_-], starting with a letter or digit", p.Name)
	}
	if !p.StageAccess.Valid() {
		return fmt.Errorf("preset %q: stage_access %q: want ALLOWED, CAN_REQUEST or NOT_ALLOWED", p.Name, p.StageAccess)
	}
	if c := p.Media.Screenshare.CanProduce; c != "" && !c.Valid() {
		return fmt.Errorf("preset %q: media.screenshare.can_produce %q: want ALLOWED, CAN_REQUEST or NOT_ALLOWED", p.Name, c)
	}
	if p.MaxScreenshareCount < 0 || p.MaxScreenshareCount > MaxScreenshareCount {
		return fmt.Errorf("preset %q: max_screenshare_count %d: want 1 to %d (0 or absent: %d)", p.Name, p.MaxScreenshareCount, MaxScreenshareCount, DefaultMaxScreenshareCount)
	}
	return nil
}

// InitialStatus is the status a user with these permissions holds on entering
// a room: ALLOWED users start ACCEPTED, everyone else OFF_STAGE.
func (p Permissions) InitialStatus() Status {
	if p.StageEnabled && p.StageAccess == Allowed {
		return Accepted
	}
	return OffStage
}

// restingStatus is where a user returns when taken off stage.
func (p Permissions) restingStatus() Status { return p.InitialStatus() }

// Built-in preset names from the contract.
const (
	PresetWebinarHost          = "webinar_host"
	PresetWebinarViewer        = "webinar_viewer"
	PresetLivestreamViewer     = "livestream_viewer"
	PresetGroupCallParticipant = "group_call_participant"
)

// BuiltinPresets returns the contract's built-in presets, keyed by name.
func BuiltinPresets() map[string]Preset {
	return map[string]Preset{
		PresetWebinarHost: {Name: PresetWebinarHost, Permissions: Permissions{
			StageEnabled: true, StageAccess: Allowed, AcceptStageRequests: true}},
		PresetWebinarViewer: {Name: PresetWebinarViewer, Permissions: Permissions{
			StageEnabled: true, StageAccess: CanRequest}},
		PresetLivestreamViewer: {Name: PresetLivestreamViewer, Permissions: Permissions{
			StageEnabled: true, StageAccess: NotAllowed}},
		PresetGroupCallParticipant: {Name: PresetGroupCallParticipant, Permissions: Permissions{
			StageEnabled: false, StageAccess: NotAllowed, SeeAllParticipants: true}},
	}
}
