package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/stagekit/stagekit/protocol"
)

// countingHandler counts the loggers made with attributes (slog's With
// formats them then) and the records logged.
type countingHandler struct {
	withs, records *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h countingHandler) Handle(context.Context, slog.Record) error { h.records.Add(1); return nil }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler        { h.withs.Add(1); return h }
func (h countingHandler) WithGroup(string) slog.Handler             { return h }

type quietSignaler struct{}

func (quietSignaler) SendOffer(string, bool)                      {}
func (quietSignaler) SendCandidate(string, protocol.ICECandidate) {}
func (quietSignaler) SendTracks([]protocol.TrackInfo)             {}
func (quietSignaler) SendLayers([]protocol.LayerID)               {}

// A participant's logger (its meeting, user and peer) is made when it first
// logs: a join wave of viewers that negotiate no media formats no log
// attributes.
func TestParticipantLoggerOnFirstUse(t *testing.T) {
	h := countingHandler{withs: new(atomic.Int64), records: new(atomic.Int64)}
	s, err := New(Config{Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := h.withs.Load()
	var parts []*Participant
	for i := range 20 {
		p, err := s.Join("m", fmt.Sprintf("u%d", i), fmt.Sprintf("peer%d", i), quietSignaler{})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	if n := h.withs.Load() - before; n != 0 {
		t.Fatalf("20 joins made %d loggers with attributes, want none", n)
	}
	parts[3].log().Debug("x")
	parts[3].log().Debug("y")
	if n := h.withs.Load() - before; n != 1 || h.records.Load() < 2 {
		t.Fatalf("a participant that logged twice made %d loggers (want 1), %d records", n, h.records.Load())
	}
}
