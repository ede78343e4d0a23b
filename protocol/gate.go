package protocol

import (
	"strings"
	"sync"
)

// MaxHeldCandidates bounds the local candidates a CandidateGate holds.
const MaxHeldCandidates = 64

// CandidateGate holds a peer connection's local candidates until the
// description they belong to has been sent: candidates must not reach the
// other side before it. Then it sends those the description does not
// already carry, and every later one at once. The SFU and the clients use
// the same gate, so both ends trickle by one rule.
type CandidateGate struct {
	send func(ICECandidate)

	mu      sync.Mutex
	open    bool
	stopped bool
	held    []ICECandidate
}

// NewCandidateGate returns a closed gate that sends with send (called with
// the gate's lock held, in the order the candidates came).
func NewCandidateGate(send func(ICECandidate)) *CandidateGate {
	return &CandidateGate{send: send}
}

// Add sends c, or holds it until Open (at most MaxHeldCandidates).
func (g *CandidateGate) Add(c ICECandidate) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.stopped:
	case g.open:
		g.send(c)
	case len(g.held) < MaxHeldCandidates:
		g.held = append(g.held, c)
	}
}

// Open is called once the description sdp was sent: the held candidates
// it lacks are sent. It returns how many it already carried.
func (g *CandidateGate) Open(sdp string) (described int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open || g.stopped {
		return 0
	}
	g.open = true
	for _, c := range g.held {
		if strings.Contains(sdp, c.Candidate) {
			described++
		} else {
			g.send(c)
		}
	}
	g.held = nil
	return described
}

// Close holds candidates again until the next Open: an ICE restart's
// candidates must not reach the other side before the description with
// the new credentials.
func (g *CandidateGate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = false
}

// Stop drops what is held and everything added later: the connection is
// gone.
func (g *CandidateGate) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	g.held = nil
}
