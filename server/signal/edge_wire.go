package signal

// The edges' calls to a room's owner and its answers, as they cross
// between nodes (POST /v1/cluster/call), are encoded with easyjson's
// generated code (edge_wire_easyjson.go; go generate after a change here):
// encoding/json's reflection over every joiner's identity and snapshot was
// a large part of an owner's CPU for a viewer joined through an edge. The
// generated code adds no MarshalJSON methods, so encoding/json stays
// reflective; TestEdgeWireCodec checks that the two agree.

//go:generate go run github.com/mailru/easyjson/easyjson -all -no_std_marshalers -output_filename edge_wire_easyjson.go edge_wire.go

import (
	"fmt"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

// edgeCall is an edge's call to the owner.
type edgeCall struct {
	Op      string                  `json:"op"` // join, act, share, unshare, snapshot, requests, leave, drop, media, batch
	Meeting string                  `json:"meeting"`
	Node    string                  `json:"node"`
	User    string                  `json:"user"`
	Ident   *auth.Identity          `json:"ident,omitempty"`
	PeerID  string                  `json:"peerId,omitempty"`
	Msg     *protocol.ClientMessage `json:"msg,omitempty"`
	// MediaLost: a join's user has a media session on the edge that went
	// silent; Live: a media call's news (the user's media heard, or not).
	MediaLost bool `json:"mediaLost,omitempty"`
	Live      bool `json:"live,omitempty"`
	// Conn numbers, on its edge, the connection a join, drop or leave is
	// of: the owner ignores the drop or leave of a connection that a newer
	// join replaced (0: unknown, it counts).
	Conn uint64 `json:"conn,omitempty"`
	// Calls are a batch's joins, actions, screen-share claims and
	// releases, leaves, drops and media news, in the edge's order (each
	// with its User, and Ident and PeerID for a join, Msg for an action).
	Calls []edgeCall `json:"calls,omitempty"`
}

// edgeAnswer is the owner's answer: the room's seq of the call's events
// (the edge answers its client once it has delivered them).
type edgeAnswer struct {
	Seq      int64                   `json:"seq"`
	Status   stage.Status            `json:"status,omitempty"`
	Snapshot *protocol.Snapshot      `json:"snapshot,omitempty"`
	Requests []protocol.StageRequest `json:"requests,omitempty"`
	Error    *protocol.ErrorBody     `json:"error,omitempty"`
	// Answers answer a batch's calls, in order.
	Answers []edgeAnswer `json:"answers,omitempty"`
	// Snapshots are what the joins of a batch who see the same room (not
	// everyone, and not in view themselves) share, their Self left empty:
	// each such join's answer names its snapshot by Shared (1 + its index)
	// and carries its own Self instead of a Snapshot (see unshare).
	Snapshots []protocol.Snapshot   `json:"snapshots,omitempty"`
	Shared    int                   `json:"shared,omitempty"`
	Self      *protocol.Participant `json:"self,omitempty"`
}

// unshare gives each of a batch's answers that names a shared snapshot its
// own Snapshot (the shared one with its Self).
func (a *edgeAnswer) unshare() error {
	for i := range a.Answers {
		ans := &a.Answers[i]
		if ans.Shared == 0 {
			continue
		}
		if ans.Shared < 0 || ans.Shared > len(a.Snapshots) || ans.Self == nil {
			return fmt.Errorf("answer %d names shared snapshot %d of %d", i, ans.Shared, len(a.Snapshots))
		}
		snap := a.Snapshots[ans.Shared-1] // its slices are shared, and only read
		snap.Self = *ans.Self
		ans.Snapshot, ans.Shared, ans.Self = &snap, 0, nil
	}
	a.Snapshots = nil
	return nil
}
