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
}

func (s stageStore) ClaimStage(meetingID string, epoch int64) ([]signal.StageRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stageStoreTimeout)
	defer cancel()
	rows, err := s.store.ClaimStage(ctx, meetingID, epoch)
	if errors.Is(err, store.ErrFenced) {
		return nil, signal.ErrFenced
	}
	if err != nil {
		return nil, err
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
	return out, nil
}

func (s stageStore) SaveStage(meetingID string, epoch int64, save []signal.StageRecord, drop []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), stageStoreTimeout)
	defer cancel()
	rows := make([]store.StageMember, len(save))
	for i, r := range save {
		rows[i] = store.StageMember{UserID: r.UserID, PeerID: r.PeerID, Name: r.Name, PresetName: r.Preset.Name,
			Status: string(r.Status), RequestedAt: r.RequestedAt, RequestOrder: r.RequestOrder}
	}
	err := s.store.SaveStage(ctx, meetingID, epoch, rows, drop)
	if errors.Is(err, store.ErrFenced) {
		return signal.ErrFenced
	}
	return err
}
