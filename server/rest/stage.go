package rest

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/stagekit/stagekit/stage"
)

// StageMember is a live room's member as GET /v1/meetings/{id}/stage shows
// it. RequestedAt (ms since epoch) is set only while the member is
// REQUESTED_TO_JOIN_STAGE.
type StageMember struct {
	UserID      string       `json:"userId"`
	PeerID      string       `json:"peerId"`
	Name        string       `json:"name"`
	PresetName  string       `json:"presetName"`
	StageStatus stage.Status `json:"stageStatus"`
	RequestedAt int64        `json:"requestedAt"`
}

// StageState is a meeting's live stage state: the members connected or
// within their grace period, in join order; the pending requests, oldest
// first; and how many members there are.
type StageState struct {
	Members []StageMember `json:"members"`
	Pending []StageMember `json:"pending"`
	Count   int           `json:"count"`
}

// StageStateOf builds the state from a room's members (in join order).
//
// Pending is derived from the members: those REQUESTED_TO_JOIN_STAGE,
// sorted by requestedAt, ties (requests within the same millisecond) in
// join order. The room's own queue orders ties by the order the requests
// came in, so two requests made in the same millisecond may be listed in
// the other order than a host's list; everything else is the same.
func StageStateOf(members []stage.Member) StageState {
	out := StageState{Members: make([]StageMember, len(members)), Pending: []StageMember{}, Count: len(members)}
	for i, m := range members {
		out.Members[i] = StageMember{UserID: m.UserID, PeerID: m.PeerID, Name: m.Name,
			PresetName: m.Preset.Name, StageStatus: m.Status, RequestedAt: m.RequestedAt}
		if m.Status == stage.Requested {
			out.Pending = append(out.Pending, out.Members[i])
		}
	}
	// Stable: equal requestedAt keep their join order.
	slices.SortStableFunc(out.Pending, func(a, b StageMember) int { return cmp.Compare(a.RequestedAt, b.RequestedAt) })
	return out
}

// getStage answers GET /v1/meetings/{id}/stage: the meeting's live stage
// state (an empty room when it has none), 404 for an unknown meeting.
func (a *API) getStage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := a.store.GetMeeting(r.Context(), id); err != nil {
		return notFound(err, CodeMeetingNotFound, "meeting", id)
	}
	var members []stage.Member
	if a.members != nil {
		members = a.members.RoomMembers(id)
	}
	return writeData(w, http.StatusOK, StageStateOf(members))
}
