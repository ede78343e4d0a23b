// Package store keeps meetings, participants, token generations, a few
// server settings and each live room's durable stage state, so that they
// survive a restart, and, clustered, a node's death.
//
// Store is the one interface; two implementations keep it: SQLite (Open),
// an embedded file, the single-node default, and Postgres (OpenPostgres),
// which a cluster of stage servers shares. The same tests run against both.
//
// The schema is created or migrated when a store opens; the version it is at
// is kept in the schema_version table. A database written by a newer server
// (a higher version) is refused rather than guessed at.
//
// Fencing: a room's stage state is written by the node that owns the room,
// under the epoch of its lease (server/cluster). ClaimStage raises the
// room's fence to the new owner's epoch before it reads the state, and
// SaveStage commits only under the epoch of the fence, in the same
// transaction as the check: once a new owner has claimed a room, a node that
// lost it (paused, partitioned) cannot commit a change to it any more. A
// single node uses epoch 0 throughout.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned for an unknown meeting, participant or setting.
var ErrNotFound = errors.New("store: not found")

// ErrFenced is returned by SaveStage and ClaimStage when the room's fence
// is at a newer epoch: another node owns the room now.
var ErrFenced = errors.New("store: the room is owned under a newer epoch")

// Store is the storage the server runs on. Implementations are safe for
// concurrent use.
type Store interface {
	// CreateMeeting stores a new meeting with a random id.
	CreateMeeting(ctx context.Context, title string) (Meeting, error)
	// CreateDemoMeeting stores a new meeting, as CreateMeeting does, marked
	// as made by the demo API for the creator whose secret hashes to
	// secretHash.
	CreateDemoMeeting(ctx context.Context, title string, secretHash []byte) (Meeting, error)
	// DemoCreatorSecretHash returns the creator's secret hash of a meeting
	// the demo API made, or ErrNotFound for any other id.
	DemoCreatorSecretHash(ctx context.Context, meetingID string) ([]byte, error)
	// GetMeeting returns a meeting, or ErrNotFound.
	GetMeeting(ctx context.Context, id string) (Meeting, error)

	// AddParticipant stores p as a new participant of meeting p.MeetingID,
	// with a random id and the current time (the ID and CreatedAt given
	// are ignored); ErrNotFound if the meeting does not exist.
	AddParticipant(ctx context.Context, p Participant) (Participant, error)
	// GetParticipant returns participant id of meeting meetingID, or
	// ErrNotFound (also when it belongs to another meeting).
	GetParticipant(ctx context.Context, meetingID, id string) (Participant, error)
	// LookupParticipant returns the participant with this id, whatever its
	// meeting, or ErrNotFound.
	LookupParticipant(ctx context.Context, id string) (Participant, error)
	// LookupIdentity is LookupParticipant with its meeting's title, in one
	// read (a hello's token check).
	LookupIdentity(ctx context.Context, id string) (Participant, string, error)
	// ListParticipants returns a meeting's participants, oldest first (an
	// empty, non-nil slice for none), or ErrNotFound for an unknown meeting.
	ListParticipants(ctx context.Context, meetingID string) ([]Participant, error)
	// DeleteParticipant removes participant id of meeting meetingID, or
	// returns ErrNotFound; its tokens stop authenticating.
	DeleteParticipant(ctx context.Context, meetingID, id string) error
	// NextTokenGeneration moves the participant to a new token generation,
	// which revokes every token issued before, and returns it.
	NextTokenGeneration(ctx context.Context, meetingID, id string) (int64, error)

	// Setting returns the value stored under key, or ErrNotFound.
	Setting(ctx context.Context, key string) ([]byte, error)
	// SettingOrInit returns the value stored under key; if there is none
	// it stores init's value, unless another writer stored one first,
	// which wins.
	SettingOrInit(ctx context.Context, key string, init func() ([]byte, error)) ([]byte, error)

	// ClaimStage makes epoch the room's fence (ErrFenced if the fence is
	// already higher) and returns, in the same transaction, the room's
	// durable members in the order to restore them: requests in request
	// order, after the others. An unknown meeting has none.
	ClaimStage(ctx context.Context, meetingID string, epoch int64) ([]StageMember, error)
	// SaveStage writes, in one transaction and only while the room's fence
	// is epoch (ErrFenced otherwise), the durable members that changed
	// (upserts) and forgets those no longer durable (drops). It returns
	// once the transaction committed.
	SaveStage(ctx context.Context, meetingID string, epoch int64, upserts []StageMember, drops []string) error
	// CommitStage is SaveStage plus, in the same transaction, the change's
	// events (the stage log), one outbox row per webhook taking each
	// event, and the idempotency key with its answer. queued is how many
	// webhook deliveries (outbox rows) it added.
	CommitStage(ctx context.Context, meetingID string, epoch int64, c StageCommit) (queued int64, err error)
	// LastStageSeq is the seq of the meeting's last stage event (0: none).
	LastStageSeq(ctx context.Context, meetingID string) (int64, error)
	// StageEvents pages through the meeting's stage log after seq after.
	StageEvents(ctx context.Context, meetingID string, after int64, limit int) ([]StageEvent, error)
	// IdempotentResponse is the answer stored with key, or ErrNotFound.
	IdempotentResponse(ctx context.Context, meetingID, key string) ([]byte, error)
	// MeetingLimits are the limits set for the meeting, or ErrNotFound.
	MeetingLimits(ctx context.Context, meetingID string) (Limits, error)
	// SetMeetingLimits stores them; ErrNotFound for an unknown meeting.
	SetMeetingLimits(ctx context.Context, meetingID string, l Limits) error

	// ListPresets, PutPreset, DeletePreset keep the presets (as JSON).
	ListPresets(ctx context.Context) ([]StoredPreset, error)
	PutPreset(ctx context.Context, name string, body []byte, onlyNew bool) (bool, error)
	DeletePreset(ctx context.Context, name string) error

	// Webhook endpoints and their deliveries (the outbox).
	CreateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	DueDeliveries(ctx context.Context, now int64, limit int) ([]Delivery, error)
	NextInQueue(ctx context.Context, d Delivery, now int64) (Delivery, bool, error)
	FinishAttempts(ctx context.Context, done []Finished) error
	DeliveryLog(ctx context.Context, webhookID string, limit int) ([]Attempt, error)
	PendingDeliveries(ctx context.Context) (int, error)
	// AcquireLease takes or renews a named lease (one webhook deliverer
	// in a cluster).
	AcquireLease(ctx context.Context, name, owner string, nowMs, untilMs int64) (bool, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Path names the database for logs: the file, or the Postgres URL
	// without its password.
	Path() string
	// Close closes the store. Later calls fail.
	Close() error
}

// Meeting is a webinar room.
type Meeting struct {
	ID        string
	Title     string
	CreatedAt time.Time // UTC, millisecond precision
}

// Participant is someone admitted to a meeting. ID is its userId.
type Participant struct {
	ID                  string
	MeetingID           string
	Name                string
	PresetName          string
	CustomParticipantID string
	CreatedAt           time.Time // UTC, millisecond precision
	// TokenGeneration counts token regenerations; only tokens of the
	// current generation authenticate.
	TokenGeneration int64
}

// StageMember is a member of a live room whose stage status a restart must
// keep (see stage.Member.Durable). RequestOrder orders the pending requests
// of a room: restoring them in increasing order keeps their order.
type StageMember struct {
	UserID, PeerID, Name, PresetName string
	Status                           string
	RequestedAt                      int64 // ms since epoch; 0 unless requested
	RequestOrder                     int64
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func stampOf(now func() time.Time) time.Time { return now().UTC().Truncate(time.Millisecond) }

// rows is what database/sql's and pgx's query results have in common.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// collect reads every row with scan (handed the row's Scan); it returns an
// empty, non-nil slice when there is none. The caller closes rs.
func collect[T any](rs rows, scan func(func(...any) error) (T, error)) ([]T, error) {
	out := []T{}
	for rs.Next() {
		v, err := scan(rs.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// scanStageMember reads a stage_members row (stageColumns).
func scanStageMember(scan func(...any) error) (StageMember, error) {
	var m StageMember
	err := scan(&m.UserID, &m.PeerID, &m.Name, &m.PresetName, &m.Status, &m.RequestedAt, &m.RequestOrder)
	return m, err
}

// stageColumns are the stage_members columns scanStageMember reads.
const stageColumns = `user_id, peer_id, name, preset_name, status, requested_at, request_order`

// settingOrInit is SettingOrInit over a store's own read (get) and
// insert-if-absent: if another writer stored a value first, the stored
// value wins.
func settingOrInit(ctx context.Context, key string, init func() ([]byte, error),
	get func(context.Context, string) ([]byte, error), insert func(context.Context, string, []byte) error) ([]byte, error) {
	v, err := get(ctx, key)
	if !errors.Is(err, ErrNotFound) {
		return v, err
	}
	nv, err := init()
	if err != nil {
		return nil, fmt.Errorf("store: setting %q: %w", key, err)
	}
	if err := insert(ctx, key, nv); err != nil {
		return nil, fmt.Errorf("store: setting %q: %w", key, err)
	}
	return get(ctx, key)
}
