package signal

// The stage log's event payloads (what webhooks receive), encoded with
// easyjson's generated code (payload_easyjson.go; go generate after a
// change here): a batch of joins writes one per joiner under the room's
// lock. TestPayloadCodec checks it writes what encoding/json writes.

//go:generate go run github.com/mailru/easyjson/easyjson -all -no_std_marshalers -output_filename payload_easyjson.go payload.go

import "github.com/stagekit/stagekit/stage"

// Payload shapes, RealtimeKit's where it has one (meeting, participant),
// with this server's actor, seq and stage parts.
type (
	payloadMeeting struct {
		ID        string `json:"id"`
		SessionID string `json:"sessionId"`
		Title     string `json:"title"`
		Status    string `json:"status"`
		CreatedAt string `json:"createdAt,omitempty"`
		StartedAt string `json:"startedAt,omitempty"`
		EndedAt   string `json:"endedAt,omitempty"`
	}
	payloadParticipant struct {
		PeerID              string       `json:"peerId"`
		UserID              string       `json:"userId"`
		UserDisplayName     string       `json:"userDisplayName"`
		CustomParticipantID string       `json:"customParticipantId,omitempty"`
		PresetName          string       `json:"presetName"`
		StageStatus         stage.Status `json:"stageStatus"`
		JoinedAt            string       `json:"joinedAt,omitempty"`
		LeftAt              string       `json:"leftAt,omitempty"`
	}
	payloadStage struct {
		From  stage.Status `json:"from"`
		To    stage.Status `json:"to"`
		Cause stage.Cause  `json:"cause"`
	}
	payloadActor struct {
		Type string `json:"type"` // participant, api, system
		ID   string `json:"id,omitempty"`
	}
	payload struct {
		Event       string              `json:"event"`
		ID          string              `json:"id"`
		Seq         int64               `json:"seq"`
		At          string              `json:"at"`
		Actor       payloadActor        `json:"actor"`
		Meeting     payloadMeeting      `json:"meeting"`
		Participant *payloadParticipant `json:"participant,omitempty"`
		Stage       *payloadStage       `json:"stage,omitempty"`
		Reason      string              `json:"reason,omitempty"`
	}
)
