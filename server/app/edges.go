package app

import (
	"context"
	"sync"

	"github.com/stagekit/stagekit/server/cluster"
	"github.com/stagekit/stagekit/server/signal"
)

// edgeStreams is the hub's signal.RoomStreams over the cluster's room
// streams (Redis Streams).
type edgeStreams struct {
	node *cluster.Node

	mu   sync.Mutex
	pubs map[string]*cluster.Publisher // meeting → its publisher at the epoch held
	eps  map[string]int64
}

func newEdgeStreams(n *cluster.Node) *edgeStreams {
	return &edgeStreams{node: n, pubs: map[string]*cluster.Publisher{}, eps: map[string]int64{}}
}

func (s *edgeStreams) Publish(meetingID string, epoch, seq int64, parts []signal.StreamPart) error {
	s.mu.Lock()
	p := s.pubs[meetingID]
	if p == nil || s.eps[meetingID] != epoch {
		p = s.node.Publisher(meetingID, epoch)
		s.pubs[meetingID], s.eps[meetingID] = p, epoch
	}
	s.mu.Unlock()
	entries := make([]cluster.RoomEntry, len(parts))
	for i, part := range parts {
		entries[i] = cluster.RoomEntry{Stream: part.Stream, Body: part.Body}
	}
	return p.Publish(context.Background(), seq, entries)
}

func (s *edgeStreams) Follow(meetingID string, from map[string]signal.StreamPos, deliver func([]signal.StreamEntry), done func(error)) (func(), map[string]signal.StreamPos, error) {
	var fresh []string
	for stream, p := range from {
		if p.ID == "" {
			fresh = append(fresh, stream)
		}
	}
	pos := map[string]cluster.Position{}
	if len(fresh) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), s.node.LeaseTTL()/2)
		tails, err := s.node.Tail(ctx, meetingID, fresh)
		cancel()
		if err != nil {
			return nil, nil, err
		}
		pos = tails
	}
	start := map[string]signal.StreamPos{}
	for stream, p := range from {
		if p.ID != "" {
			pos[stream] = cluster.Position{ID: p.ID, Seq: p.Seq}
		}
		start[stream] = signal.StreamPos{ID: pos[stream].ID, Seq: pos[stream].Seq}
	}
	stop := s.node.Follow(meetingID, 0, pos, func(batch []cluster.Delivered) {
		out := make([]signal.StreamEntry, len(batch))
		for i, d := range batch {
			out[i] = signal.StreamEntry{Stream: d.Stream, Pos: signal.StreamPos{ID: d.ID, Seq: d.Seq}, Body: d.Body}
		}
		deliver(out)
	}, done)
	return stop, start, nil
}
