package protocol

import (
	"fmt"
	"slices"
	"testing"
)

func TestCandidateGate(t *testing.T) {
	var sent []string
	g := NewCandidateGate(func(c ICECandidate) { sent = append(sent, c.Candidate) })
	cand := func(s string) ICECandidate { return ICECandidate{Candidate: "candidate:" + s} }
	g.Add(cand("1 host"))
	g.Add(cand("2 host"))
	if len(sent) != 0 {
		t.Fatalf("sent %q before the description", sent)
	}
	// The description already carries the first: only the second goes out.
	if n := g.Open("v=0\r\na=candidate:1 host\r\n"); n != 1 {
		t.Fatalf("described %d, want 1", n)
	}
	g.Add(cand("3 srflx"))
	if !slices.Equal(sent, []string{"candidate:2 host", "candidate:3 srflx"}) {
		t.Fatalf("sent %q", sent)
	}
	if n := g.Open("again"); n != 0 {
		t.Fatal("a second Open did something")
	}
	g.Stop()
	g.Add(cand("4 relay"))
	if len(sent) != 2 {
		t.Fatalf("sent after Stop: %q", sent)
	}

	// Held candidates are bounded; a stopped gate holds nothing.
	sent = nil
	g = NewCandidateGate(func(c ICECandidate) { sent = append(sent, c.Candidate) })
	for i := range MaxHeldCandidates + 10 {
		g.Add(cand(fmt.Sprint(i)))
	}
	g.Open("")
	if len(sent) != MaxHeldCandidates {
		t.Fatalf("%d sent of %d held", len(sent), MaxHeldCandidates+10)
	}
	g = NewCandidateGate(func(c ICECandidate) { t.Fatal("a stopped gate sent") })
	g.Add(cand("x"))
	g.Stop()
	g.Open("")
}
