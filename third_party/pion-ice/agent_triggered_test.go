// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js

package ice

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
)

// A controlling agent whose checks on a pair all went unanswered (the
// network was dark for its first seconds) marks the pair failed and stops
// checking it. When the peer's request comes in on that pair (the path is
// back), the agent checks it again at once (RFC 8445 §7.3.1.4) and
// nominates it when that check succeeds. Upstream answered the request
// and left the pair failed: the connection stayed checking until its
// failed timeout (a browser viewer got its video 27 s after a 3 s dark
// start).
func TestRequestOnFailedPairTriggersCheck(t *testing.T) {
	const ufragA, ufragB, pwd = "localufrag", "remoteufrag", "passwordpasswordpassword"
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
	agent.isControlling.Store(true)
	agent.setSelector()
	sel := agent.getSelector()
	local, remote := newSharedSocketCand("192.0.2.1"), newSharedSocketCand("203.0.113.1")
	pair := agent.addPair(local, remote)
	pair.state = CandidatePairStateFailed
	pair.bindingRequestCount = agent.maxBindingRequests + 1

	req, err := stun.Build(stun.BindingRequest, stun.TransactionID,
		stun.NewUsername(ufragA+":"+ufragB), AttrControlled(2),
		stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	sel.HandleBindingRequest(req, local, remote)
	if pair.state == CandidatePairStateFailed || len(agent.pendingBindingRequests) != 1 {
		t.Fatalf("after the peer's request: pair %s, %d checks sent; want it checked again (1)",
			pair.state, len(agent.pendingBindingRequests))
	}
	resp, err := stun.Build(stun.NewTransactionIDSetter(agent.pendingBindingRequests[0].transactionID),
		stun.BindingSuccess, stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	sel.HandleSuccessResponse(resp, local, remote, netip.MustParseAddrPort("203.0.113.1:10000"))
	if pair.state != CandidatePairStateSucceeded {
		t.Fatalf("after the check's success: pair %s, want succeeded", pair.state)
	}
	sel.ContactCandidates()
	if got := sel.(*controllingSelector).nominatedPair; got != pair {
		t.Errorf("nominated %v, want the pair that came back %v", got, pair)
	}
}
