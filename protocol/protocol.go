// Package protocol is the versioned JSON wire protocol between the stage
// server and its clients, carried over WebSocket. It is shared by the server,
// the native client and the wasm client, and does no I/O.
//
// A client sends requests with an id; the server answers each with a
// "result" or an "error" carrying the same id. The server pushes "event"s in
// the one order the room applied them, each numbered with the connection's
// own sequence (seq): a connection receives only the events its user may
// see, so its numbers run without gaps from its join snapshot on. Events may
// arrive one per frame or several in a "batch". The first message on a
// connection is "hello" with the token.
package protocol

import (
	"github.com/stagekit/stagekit/stage"
)

// Version is the protocol version a client states in every message.
const Version = 1

// MaxFrameBytes is the largest message either side accepts.
const MaxFrameBytes = 512 << 10

// PartBytes is about the most the server puts in one "part" or "batch"
// frame: large snapshots and event batches are split near it, well under
// MaxFrameBytes.
const PartBytes = 64 << 10

// Limits on request fields.
const (
	MaxTokenBytes  = 4096
	MaxUserIDBytes = 128
	MaxNameBytes   = 256 // a display name (REST's limit too)
)

// Client → server message types.
const (
	TypeHello         = "hello"          // authenticate: Token
	TypeJoin          = "join"           // join the room (Name: the display name, if the user set one); result carries a Snapshot
	TypeLeave         = "leave"          // leave the room
	TypeSnapshot      = "snapshot"       // ask for a fresh Snapshot (resync)
	TypeStageRequest  = "stage.request"  // requestAccess
	TypeStageCancel   = "stage.cancel"   // cancelRequestAccess
	TypeStageGrant    = "stage.grant"    // grantAccess(UserIDs)
	TypeStageDeny     = "stage.deny"     // denyAccess(UserIDs)
	TypeStageKick     = "stage.kick"     // kick(UserIDs)
	TypeStageJoin     = "stage.join"     // join the stage
	TypeStageLeave    = "stage.leave"    // leave the stage
	TypeStageRequests = "stage.requests" // getAccessRequests
	TypePing          = "ping"

	// Media signaling (no room seq). The client offers its publishing peer
	// connection (answered in the result's SDP); the server offers the
	// subscribing one with a "media" message the client answers.
	TypeMediaOffer     = "media.offer"     // PC "publish", SDP; result carries the answer SDP
	TypeMediaAnswer    = "media.answer"    // PC "subscribe", SDP
	TypeMediaCandidate = "media.candidate" // PC, Candidate
	// TypeMediaRestart asks the server for an ICE restart of the subscribe
	// PC (PC "subscribe"): it answers with an offer marked ICERestart on
	// the same connection, or 4041 when it has no subscribe PC.
	TypeMediaRestart = "media.restart"
)

// Peer connection names in media messages.
const (
	PCPublish   = "publish"
	PCSubscribe = "subscribe"
)

// Server → client message types.
const (
	TypeResult = "result"
	TypeError  = "error"
	TypeEvent  = "event"
	TypeMedia  = "media" // Event is MediaOffer, MediaCandidate, MediaTracks or MediaLayers
	// TypeBatch carries several events (Events), in order, in one frame:
	// events bound for users who see everyone are coalesced per room tick.
	TypeBatch = "batch"
	// TypePart carries part of the answer to request ID (Participants,
	// Requests) ahead of its result, when the answer is too large for one
	// frame: the client prepends the parts, in order, to the result's lists.
	TypePart = "part"
)

// Media message names carried in a server "media" message.
const (
	MediaOffer     = "offer"     // SDP: the server's offer for the subscribe PC
	MediaCandidate = "candidate" // PC, Candidate
	MediaTracks    = "tracks"    // Tracks: every forwarded track and whose it is
	// MediaLayers tells a publisher which simulcast layers nobody watches
	// (Paused: the whole list, by the publish PC's mid and rid): it stops
	// sending them (RTCRtpEncodingParameters.active false) and sends the
	// others.
	MediaLayers = "layers"
)

// Event names carried in a server "event".
const (
	EventStage             = "stage"             // Changes, and for hosts RequestsAdded/RequestsRemoved
	EventParticipantJoined = "participantJoined" // Participant, and for hosts RequestsRemoved
	EventParticipantLeft   = "participantLeft"   // Participant
	// EventParticipantsJoined tells of several joins committed together,
	// under one seq: Participants, in the order they joined. A client
	// takes it as a participantJoined for each of them, in that order.
	EventParticipantsJoined = "participantsJoined"
	// EventPermissions tells a user its preset changed (an admin updated
	// it): Permissions and Participant (itself, with the preset's name).
	EventPermissions = "permissions"
	// EventResync says the room changed in a way events do not carry (a
	// preset changed who sees whom): the client fetches a snapshot.
	EventResync = "resync"
	// EventParticipantConnection says whether a participant is
	// reconnecting (Participant.Reconnecting): its signaling connection
	// dropped, or its media connection went silent, and the grace period
	// keeps its place. Sent to whoever sees the participant. A new
	// connection that replaces one the server still holds (a second
	// client, or a new process that came before the old one's close) sends
	// none: the participant was never away.
	EventParticipantConnection = "participantConnection"
	// EventCount carries the room's participant count (Count). It has no
	// seq: it is sent at most once per count interval, the latest value
	// wins.
	EventCount = "count"
)

// ClientMessage is every message a client sends.
type ClientMessage struct {
	V     int    `json:"v"`
	ID    uint64 `json:"id"`
	Type  string `json:"type"`
	Token string `json:"token,omitempty"`
	Name  string `json:"name,omitempty"` // join: the name the user set before joining
	// KeepMedia, on a join that re-attaches within the grace period, says
	// the client kept its peer connections: the server keeps the media
	// session (connections, slots, tracks) and the client restarts ICE.
	KeepMedia bool     `json:"keepMedia,omitempty"`
	UserIDs   []string `json:"userIds,omitempty"`
	// Expect holds, for grant, deny and kick, the status the sender saw for
	// each user id ("" for unknown); a user who moved since is refused (2006).
	Expect []stage.Status `json:"expect,omitempty"`

	// Media signaling.
	PC        string        `json:"pc,omitempty"`
	SDP       string        `json:"sdp,omitempty"`
	Candidate *ICECandidate `json:"candidate,omitempty"`
	// Sources labels a publish offer's sections that are not the camera or
	// microphone: mid → SourceScreenshare.
	Sources map[string]string `json:"sources,omitempty"`
	// ICERestart marks a publish offer that restarts ICE on the publish PC
	// the server has (new credentials, same connection): the server
	// refuses it with 4041 when it has no such connection, and the client
	// then offers a new one.
	ICERestart bool `json:"iceRestart,omitempty"`
}

// SourceScreenshare labels a screen share's video (and its audio) in a
// publish offer's Sources and in TrackInfo.Source.
const SourceScreenshare = "screenshare"

// ICECandidate mirrors RTCIceCandidateInit, and pion's ICECandidateInit
// field for field, so that Go converts one to the other directly.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// TrackInfo tells a subscriber whose a forwarded track is.
type TrackInfo struct {
	PeerID   string `json:"peerId"`
	UserID   string `json:"userId"`
	Kind     string `json:"kind"` // "audio" or "video"
	TrackID  string `json:"trackId"`
	StreamID string `json:"streamId"`
	Source   string `json:"source,omitempty"` // SourceScreenshare, or "" for camera and microphone
	// Layer is set between nodes only (a relay's tracks, server/sfu
	// relay.go): the simulcast layer the slot carries.
	Layer *TrackLayer `json:"layer,omitempty"`
}

// TrackLayer is one simulcast layer of a track relayed between nodes:
// the track's id at the sending node, the layer's rid and every layer's,
// lowest first.
type TrackLayer struct {
	Group string   `json:"group"`
	RID   string   `json:"rid"`
	RIDs  []string `json:"rids"`
}

// ServerMessage is every message the server sends. Which fields are set
// depends on Type and Event.
type ServerMessage struct {
	Type  string     `json:"type"`
	ID    uint64     `json:"id,omitempty"`
	Seq   uint64     `json:"seq,omitempty"`
	Error *ErrorBody `json:"error,omitempty"`

	// Results.
	Hello    *HelloResult   `json:"hello,omitempty"`
	Snapshot *Snapshot      `json:"snapshot,omitempty"`
	Status   stage.Status   `json:"status,omitempty"`   // the actor's status after a stage action
	Requests []StageRequest `json:"requests,omitempty"` // stage.requests result; stage events for hosts

	// Events.
	Event       string       `json:"event,omitempty"`
	Changes     []Change     `json:"changes,omitempty"`
	Participant *Participant `json:"participant,omitempty"`
	// RequestsAdded and RequestsRemoved change the pending list, for users
	// who accept stage requests: removed user ids first, then the added
	// requests appended (they are the newest).
	RequestsAdded   []StageRequest `json:"requestsAdded,omitempty"`
	RequestsRemoved []string       `json:"requestsRemoved,omitempty"`
	// Count is the room's participant count (EventCount).
	Count int `json:"count,omitempty"`
	// Permissions are the user's new permissions (EventPermissions).
	Permissions *Permissions `json:"permissions,omitempty"`
	// Events are the events of a TypeBatch frame, in order.
	Events []ServerMessage `json:"events,omitempty"`
	// Participants is a TypePart's share of a snapshot's participants, or
	// an EventParticipantsJoined's joiners.
	Participants []Participant `json:"participants,omitempty"`

	// Media.
	PC        string        `json:"pc,omitempty"`
	SDP       string        `json:"sdp,omitempty"`
	Candidate *ICECandidate `json:"candidate,omitempty"`
	Tracks    []TrackInfo   `json:"tracks,omitempty"`
	Paused    []LayerID     `json:"paused,omitempty"`
	// ICERestart marks a subscribe offer that restarts ICE on the current
	// subscribe PC: the client applies it to that connection. An offer with
	// new ICE credentials without it is for a new connection.
	ICERestart bool `json:"iceRestart,omitempty"`
}

// LayerID names a simulcast layer of a publish PC: its section's mid and
// the layer's rid.
type LayerID struct {
	Mid string `json:"mid"`
	RID string `json:"rid"`
}

// ErrorBody is a coded error.
type ErrorBody struct {
	Code    int      `json:"code"`
	Message string   `json:"message"`
	UserIDs []string `json:"userIds,omitempty"`
	// Redirect is the base URL (http(s)://host:port) of the node that
	// serves the room, with CodeElsewhere; LeaseMs how long that node's
	// lease has left: a client that cannot reach it (it died) retries
	// after that, when another node may take the room over.
	Redirect string `json:"redirect,omitempty"`
	LeaseMs  int64  `json:"leaseMs,omitempty"`
}

// Permissions mirror a preset's stage permissions as the JS API names them.
type Permissions struct {
	StageEnabled        bool         `json:"stageEnabled"`
	StageAccess         stage.Access `json:"stageAccess"`
	AcceptStageRequests bool         `json:"acceptStageRequests"`
	SeeAllParticipants  bool         `json:"seeAllParticipants"`
	// ScreenshareAccess is the preset's media.screenshare.can_produce
	// (stage.Permissions.ScreenshareAccess); MaxScreenshareCount its
	// max_screenshare_count (stage.Permissions.ScreenshareLimit).
	ScreenshareAccess   stage.Access `json:"screenshareAccess,omitempty"`
	MaxScreenshareCount int          `json:"maxScreenshareCount,omitempty"`
	// The preset's other parts: hidden from everyone's lists, which media
	// kinds it may publish (ALLOWED or NOT_ALLOWED), its view type.
	HiddenParticipant     bool           `json:"hiddenParticipant,omitempty"`
	CanProduceAudio       stage.Access   `json:"canProduceAudio,omitempty"`
	CanProduceVideo       stage.Access   `json:"canProduceVideo,omitempty"`
	CanProduceScreenshare stage.Access   `json:"canProduceScreenshare,omitempty"`
	ViewType              stage.ViewType `json:"viewType,omitempty"`
	// VideoSimulcast: the camera is published as three simulcast layers
	// (stage.Permissions.VideoSimulcast); false, or absent from an older
	// server, one layer.
	VideoSimulcast bool `json:"videoSimulcast,omitempty"`
}

// SeesEveryone reports whether the user sees every participant (and gets
// every event of the room), as stage.Permissions.SeesEveryone.
func (p Permissions) SeesEveryone() bool { return p.AcceptStageRequests || p.SeeAllParticipants }

// Participant is a member of the room as others see it.
type Participant struct {
	PeerID      string       `json:"peerId"`
	UserID      string       `json:"userId"`
	Name        string       `json:"name"`
	PresetName  string       `json:"presetName"`
	StageStatus stage.Status `json:"stageStatus"`
	// CustomParticipantID is the host application's id for the user, as
	// given when the participant was added (RealtimeKit's).
	CustomParticipantID string `json:"customParticipantId,omitempty"`
	// IsHost: the user's preset accepts stage requests (RealtimeKit's
	// participant.isHost).
	IsHost bool `json:"isHost,omitempty"`
	// Reconnecting: the participant's signaling connection dropped or its
	// media connection went silent; the grace period keeps its place
	// (EventParticipantConnection).
	Reconnecting bool `json:"reconnecting,omitempty"`
}

// HelloResult answers a hello: who the token says the user is.
type HelloResult struct {
	MeetingID string `json:"meetingId"`
	// MeetingTitle is the meeting's title (REST POST /v1/meetings {title}).
	MeetingTitle string      `json:"meetingTitle,omitempty"`
	Self         Participant `json:"self"`
	Permissions  Permissions `json:"permissions"`
	// GraceMs is how long the server keeps the user's place after a drop.
	GraceMs int64 `json:"graceMs"`
	// Nodes are the base URLs of a cluster's live nodes, for a client
	// whose node died to reconnect elsewhere; empty for a single server.
	Nodes []string `json:"nodes,omitempty"`
}

// Snapshot is the room's state as one user may see it, at the connection's
// sequence Seq.
type Snapshot struct {
	Seq  uint64      `json:"seq"`
	Self Participant `json:"self"`
	// Participants are the others the user may see, in join order: everyone
	// for users who see everyone, otherwise those in view (on stage or
	// ALLOWED). Preceding "part" frames hold the first of them.
	Participants []Participant `json:"participants"`
	// Requests is the pending list, oldest first; only for users who accept
	// stage requests. Preceding "part" frames hold the first of them.
	Requests []StageRequest `json:"requests,omitempty"`
	// Count is the room's participant count, the user included.
	Count int `json:"count"`
	// StartedAt is when the room's session started on the server that
	// serves it (ms since epoch): RealtimeKit's meetingStartedTimestamp.
	StartedAt int64 `json:"startedAt,omitempty"`
}

// StageRequest is a pending request, RealtimeKit's StageRequestPayload plus
// the time it was made.
type StageRequest struct {
	DisplayName string `json:"displayName"`
	UserID      string `json:"userId"`
	PeerID      string `json:"peerId"`
	RequestedAt int64  `json:"requestedAt"` // ms since epoch
}

// Change is one user's status change in a stage event.
type Change struct {
	UserID string       `json:"userId"`
	PeerID string       `json:"peerId"`
	From   stage.Status `json:"from"`
	To     stage.Status `json:"to"`
	Cause  stage.Cause  `json:"cause"`
	// For the audience only: Name and PresetName introduce a user who comes
	// into view (goes on stage); Hidden says the user leaves the view (the
	// client drops it after applying the change).
	Name                string `json:"name,omitempty"`
	PresetName          string `json:"presetName,omitempty"`
	CustomParticipantID string `json:"customParticipantId,omitempty"`
	IsHost              bool   `json:"isHost,omitempty"`
	Hidden              bool   `json:"hidden,omitempty"`
}

// PermissionsOf converts a preset's permissions to their wire form.
func PermissionsOf(p stage.Permissions) Permissions {
	return Permissions{StageEnabled: p.StageEnabled, StageAccess: p.StageAccess, AcceptStageRequests: p.AcceptStageRequests, SeeAllParticipants: p.SeeAllParticipants,
		ScreenshareAccess: p.ScreenshareAccess(), MaxScreenshareCount: p.ScreenshareLimit()}
}

// PresetPermissions is the wire form of a whole preset's permissions:
// the stage's, media production and the view type.
func PresetPermissions(p stage.Preset) Permissions {
	out := PermissionsOf(p.Permissions)
	out.HiddenParticipant, out.ViewType, out.VideoSimulcast = p.HiddenParticipant, p.View(), p.VideoSimulcast()
	produce := func(kind string) stage.Access {
		if p.MayProduce(kind) {
			return stage.Allowed
		}
		return stage.NotAllowed
	}
	out.CanProduceAudio, out.CanProduceVideo, out.CanProduceScreenshare = produce("audio"), produce("video"), produce("screenshare")
	return out
}

// ParticipantOf converts a room member to its wire form.
func ParticipantOf(m stage.Member) Participant {
	return Participant{PeerID: m.PeerID, UserID: m.UserID, Name: m.Name, PresetName: m.Preset.Name, StageStatus: m.Status,
		CustomParticipantID: m.CustomID, IsHost: IsHost(m.Preset)}
}

// IsHost reports whether a preset makes its users hosts: they accept stage
// requests.
func IsHost(p stage.Preset) bool { return p.Permissions.AcceptStageRequests }

// RequestOf converts a pending member to a StageRequest.
func RequestOf(m stage.Member) StageRequest {
	return StageRequest{DisplayName: m.Name, UserID: m.UserID, PeerID: m.PeerID, RequestedAt: m.RequestedAt}
}

// ChangeOf converts a stage change to its wire form.
func ChangeOf(c stage.Change) Change {
	return Change{UserID: c.UserID, PeerID: c.PeerID, From: c.From, To: c.To, Cause: c.Cause}
}
