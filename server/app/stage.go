package app

import (
	"context"
	"errors"
	"time"

	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/signal"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

// stageStoreTimeout bounds one save or load of a room's stage state.
const stageStoreTimeout = 5 * time.Second

// stageStore keeps the rooms' durable stage state in the store, for the hub
// (signal.StageStore).
type stageStore struct {
	store   store.Store
	presets *config.Presets
	// committed, if set, is called after a commit that stored events.
	committed func()
}

func (s stageStore) ClaimStage(meetingID string, epoch int64) (signal.StageClaim, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stageStoreTimeout)
	defer cancel()
	rows, err := s.store.ClaimStage(ctx, meetingID, epoch)
	if errors.Is(err, store.ErrFenced) {
		return signal.StageClaim{}, signal.ErrFenced
	}
	if err != nil {
		return signal.StageClaim{}, err
	}
	// Read under the fence just raised: no other node writes the log now.
	claim := signal.StageClaim{}
	if claim.LastSeq, err = s.store.LastStageSeq(ctx, meetingID); err != nil {
		return claim, err
	}
	if m, err := s.store.GetMeeting(ctx, meetingID); err == nil {
		claim.Title, claim.CreatedAt = m.Title, m.CreatedAt
	}
	switch l, err := s.store.MeetingLimits(ctx, meetingID); {
	case err == nil:
		claim.Limits = &stage.Limits{MaxOnStage: l.MaxOnStage, RequestTTL: l.RequestTTLms, InviteTTL: l.InviteTTLms}
	case !errors.Is(err, store.ErrNotFound):
		return claim, err
	}
	out := make([]signal.StageRecord, 0, len(rows))
	for _, r := range rows {
		// A preset that no longer exists is given to nobody: the member
		// stays out, as its token no longer authenticates either.
		p, ok := s.presets.Get(r.PresetName)
		if !ok {
			continue
		}
		// The custom id is the participant's (not stage state): read it
		// from the participant, once per restored member.
		var custom string
		if pt, err := s.store.GetParticipant(ctx, meetingID, r.UserID); err == nil {
			custom = pt.CustomParticipantID
		}
		out = append(out, signal.StageRecord{RequestOrder: r.RequestOrder, Member: stage.Member{
			UserID: r.UserID, PeerID: r.PeerID, Name: r.Name, CustomID: custom, Preset: p,
			Status: stage.Status(r.Status), RequestedAt: r.RequestedAt,
		}})
	}
	claim.Records = out
	return claim, nil
}

func (s stageStore) IdempotentResponse(meetingID, key string) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stageStoreTimeout)
	defer cancel()
	b, err := s.store.IdempotentResponse(ctx, meetingID, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	return b, err == nil, err
}

func (s stageStore) SaveStage(meetingID string, epoch int64, c signal.StageCommit) error {
	ctx, cancel := context.WithTimeout(context.Background(), stageStoreTimeout)
	defer cancel()
	rows := make([]store.StageMember, len(c.Save))
	for i, r := range c.Save {
		rows[i] = store.StageMember{UserID: r.UserID, PeerID: r.PeerID, Name: r.Name, PresetName: r.Preset.Name,
			Status: string(r.Status), RequestedAt: r.RequestedAt, RequestOrder: r.RequestOrder}
	}
	events := make([]store.StageEvent, len(c.Events))
	for i, e := range c.Events {
		events[i] = store.StageEvent{Seq: e.Seq, ID: e.ID, Type: e.Type, At: e.At, Actor: e.Actor, UserID: e.UserID, Payload: e.Payload}
	}
	queued, err := s.store.CommitStage(ctx, meetingID, epoch, store.StageCommit{Upserts: rows, Drops: c.Drop, Events: events,
		IdempotencyKey: c.IdempotencyKey, Response: c.Response})
	if err == nil && queued > 0 && s.committed != nil {
		s.committed() // wake the webhook deliverer: a webhook takes an event
	}
	if errors.Is(err, store.ErrFenced) {
		return signal.ErrFenced
	}
	return err
}
