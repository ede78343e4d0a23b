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
	// HiddenParticipant keeps the user out of everyone's participant lists,
	// hosts' included, and out of the participant count (recorders, bots);
	// its stage changes are told to itself only.
	HiddenParticipant bool `json:"hidden_participant,omitempty"`
	// Media is RealtimeKit's permissions.media: which kinds the user may
	// publish while on stage (the media server enforces it; see MayProduce)
	// and the screen share's can_produce (see media.go).
	Media Media `json:"media,omitzero"`
	// MaxScreenshareCount is RealtimeKit's max_screenshare_count: how many
	// screens may be shared in the room at once when this user starts one
	// (0: DefaultMaxScreenshareCount).
	MaxScreenshareCount int `json:"max_screenshare_count,omitempty"`
}

// Media is RealtimeKit's permissions.media.
type Media struct {
	Audio       MediaKind `json:"audio,omitzero"`
	Video       MediaKind `json:"video,omitzero"`
	Screenshare MediaKind `json:"screenshare,omitzero"`
}

// MediaKind is one kind's permissions: can_produce ALLOWED, CAN_REQUEST
// (allowed once accepted on stage) or NOT_ALLOWED; empty is as the stage.
// Video only: simulcast false makes the user's camera one layer instead
// of three (absent: three; see VideoSimulcast).
type MediaKind struct {
	CanProduce Access `json:"can_produce,omitempty"`
	Simulcast  *bool  `json:"simulcast,omitempty"`
}

// VideoSimulcast reports whether the user's camera video is sent as three
// simulcast layers (the preset's media.video.simulcast, true unless set to
// false), so that every viewer gets the layer its network carries.
func (p Permissions) VideoSimulcast() bool {
	return p.Media.Video.Simulcast == nil || *p.Media.Video.Simulcast
}

// MayProduce reports whether the user may publish media of kind ("audio",
// "video" or "screenshare") while on stage: anything but NOT_ALLOWED;
// unknown kinds are refused.
func (p Permissions) MayProduce(kind string) bool {
	var k MediaKind
	switch kind {
	case "audio":
		k = p.Media.Audio
	case "video":
		k = p.Media.Video
	case "screenshare":
		k = p.Media.Screenshare
	default:
		return false
	}
	return k.CanProduce != NotAllowed
}

// ViewType is RealtimeKit's config.view_type.
type ViewType string

const (
	ViewGroupCall  ViewType = "GROUP_CALL"
	ViewWebinar    ViewType = "WEBINAR"
	ViewAudioRoom  ViewType = "AUDIO_ROOM"
	ViewLivestream ViewType = "LIVESTREAM"
)

// Valid reports whether v is empty or one of the four view types.
func (v ViewType) Valid() bool {
	switch v {
	case "", ViewGroupCall, ViewWebinar, ViewAudioRoom, ViewLivestream:
		return true
	}
	return false
}

// SeesEveryone reports whether the user sees every participant: hosts (who
// accept stage requests) and presets with SeeAllParticipants.
func (p Permissions) SeesEveryone() bool { return p.AcceptStageRequests || p.SeeAllParticipants }

// Preset is a named set of permissions given to a participant.
type Preset struct {
	Name string `json:"name"`
	Permissions
	// ViewType is reported to clients as meeting.meta.viewType; empty:
	// WEBINAR for presets with a stage, GROUP_CALL otherwise.
	ViewType ViewType `json:"view_type,omitempty"`
}

// View is the preset's view type, its default filled in.
func (p Preset) View() ViewType {
	switch {
	case p.ViewType != "":
		return p.ViewType
	case p.StageEnabled:
		return ViewWebinar
	}
	return ViewGroupCall
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
	if !p.ViewType.Valid() {
		return fmt.Errorf("preset %q: view_type %q: want GROUP_CALL, WEBINAR, AUDIO_ROOM or LIVESTREAM", p.Name, p.ViewType)
	}
	for kind, k := range map[string]MediaKind{"audio": p.Media.Audio, "video": p.Media.Video, "screenshare": p.Media.Screenshare} {
		if k.CanProduce != "" && !k.CanProduce.Valid() {
			return fmt.Errorf("preset %q: media.%s.can_produce %q: want ALLOWED, CAN_REQUEST or NOT_ALLOWED", p.Name, kind, k.CanProduce)
		}
		if k.Simulcast != nil && kind != "video" {
			return fmt.Errorf("preset %q: media.%s.simulcast: only media.video has simulcast", p.Name, kind)
		}
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
	PresetWebinarPresenter     = "webinar_presenter" // RealtimeKit's name for the webinar host
	PresetWebinarViewer        = "webinar_viewer"
	PresetLivestreamViewer     = "livestream_viewer"
	PresetGroupCallParticipant = "group_call_participant"
)

// BuiltinPresets returns the contract's built-in presets, keyed by name.
func BuiltinPresets() map[string]Preset {
	return map[string]Preset{
		PresetWebinarHost: {Name: PresetWebinarHost, Permissions: Permissions{
			StageEnabled: true, StageAccess: Allowed, AcceptStageRequests: true}},
		PresetWebinarPresenter: {Name: PresetWebinarPresenter, Permissions: Permissions{
			StageEnabled: true, StageAccess: Allowed, AcceptStageRequests: true}},
		PresetWebinarViewer: {Name: PresetWebinarViewer, Permissions: Permissions{
			StageEnabled: true, StageAccess: CanRequest}},
		PresetLivestreamViewer: {Name: PresetLivestreamViewer, Permissions: Permissions{
			StageEnabled: true, StageAccess: NotAllowed}},
		PresetGroupCallParticipant: {Name: PresetGroupCallParticipant, Permissions: Permissions{
			StageEnabled: false, StageAccess: NotAllowed, SeeAllParticipants: true}},
	}
}
