// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js

package ice

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
)

// sharedSocketCand is a host candidate that sends nowhere: one of several
// local addresses of a UDP mux on an unspecified address, which share one
// socket and whose readers take each other's packets.
type sharedSocketCand struct{ candidateBase }

func (c *sharedSocketCand) writeTo(b []byte, _ Candidate) (int, error) { return len(b), nil }

func newSharedSocketCand(ip string) *sharedSocketCand {
	c := &sharedSocketCand{candidateBase{candidateType: CandidateTypeHost, component: ComponentRTP, networkType: NetworkTypeUDP4}}
	c.setResolvedAddr(&net.UDPAddr{IP: net.ParseIP(ip), Port: 10000})

	return c
}

// A success response belongs to the pair its check was sent on, whichever
// local candidate's reader takes it off the socket they share. A
// controlled agent told to use a pair whose check had not succeeded yet
// selects it once that check succeeds: with the response read by another
// candidate (every second time or more, on a server with a few addresses)
// the agent marked that other pair, waited for the next request of the
// controlling agent, and after a few misses was never connected.
func TestConnectivityCheckResponseReadByAnotherCandidate(t *testing.T) {
	const ufragA, ufragB, pwd = "localufrag", "remoteufrag", "passwordpasswordpassword"
	for _, controlling := range []bool{false, true} {
		agent := &Agent{
			log:           logging.NewDefaultLoggerFactory().NewLogger("test"),
			localUfrag:    ufragA,
			remoteUfrag:   ufragB,
			localPwd:      pwd,
			remotePwd:     pwd,
			tieBreaker:    1,
			onConnected:   make(chan struct{}),
			checklist:     []*CandidatePair{},
			pairsByID:     map[uint64]*CandidatePair{},
			checkInterval: time.Second,
			connectionStateNotifier: &handlerNotifier{
				done: make(chan struct{}), connectionStateFunc: func(ConnectionState) {},
			},
			candidateNotifier: &handlerNotifier{
				done: make(chan struct{}), candidateFunc: func(Candidate) {},
			},
			selectedCandidatePairNotifier: &handlerNotifier{
				done: make(chan struct{}), candidatePairFunc: func(*CandidatePair) {},
			},
		}
		agent.isControlling.Store(controlling)
		agent.setSelector()
		sel := agent.getSelector()
		sent, other := newSharedSocketCand("192.0.2.1"), newSharedSocketCand("198.51.100.1")
		remote := newSharedSocketCand("203.0.113.1")
		pair, otherPair := agent.addPair(sent, remote), agent.addPair(other, remote)

		if controlling {
			// Its own check on the pair.
			sel.PingCandidate(sent, remote)
		} else {
			// The controlling agent nominates the pair before its check
			// succeeded: the triggered check answers.
			req, err := stun.Build(stun.BindingRequest, stun.TransactionID,
				stun.NewUsername(ufragA+":"+ufragB), UseCandidate(), AttrControlling(2),
				stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			sel.HandleBindingRequest(req, sent, remote)
		}
		if len(agent.pendingBindingRequests) != 1 {
			t.Fatalf("controlling %v: %d checks sent, want 1", controlling, len(agent.pendingBindingRequests))
		}
		resp, err := stun.Build(stun.NewTransactionIDSetter(agent.pendingBindingRequests[0].transactionID),
			stun.BindingSuccess, stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		addr := netip.MustParseAddrPort("203.0.113.1:10000")
		sel.HandleSuccessResponse(resp, other, remote, addr) // read by the other candidate

		if pair.state != CandidatePairStateSucceeded || otherPair.state == CandidatePairStateSucceeded {
			t.Errorf("controlling %v: the checked pair %s, the reader's %s; want the checked one succeeded",
				controlling, pair.state, otherPair.state)
		}
		if !controlling && agent.getSelectedPair() != pair {
			t.Errorf("controlled: selected %v, want the nominated pair %v", agent.getSelectedPair(), pair)
		}
	}
}
