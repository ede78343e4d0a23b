// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js

package ice

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestConnectivityCheckInterval(t *testing.T) {
	agent := func(keepalive, disconnected, failed time.Duration) *Agent {
		return &Agent{keepaliveInterval: keepalive, disconnectedTimeout: disconnected, failedTimeout: failed, checkInterval: 200 * time.Millisecond}
	}
	renominating := agent(0, 0, 0)
	renominating.enableRenomination, renominating.automaticRenomination = true, true
	for _, c := range []struct {
		name  string
		agent *Agent
		state ConnectionState
		want  time.Duration
	}{
		{"defaults, connected", agent(2*time.Second, 5*time.Second, 25*time.Second), ConnectionStateConnected, 2 * time.Second},
		{"defaults, checking", agent(2*time.Second, 5*time.Second, 25*time.Second), ConnectionStateChecking, 200 * time.Millisecond},
		{"all zero, connected: no timer", agent(0, 0, 0), ConnectionStateConnected, 0},
		{"all zero, new", agent(0, 0, 0), ConnectionStateNew, 200 * time.Millisecond},
		{"all zero, checking", agent(0, 0, 0), ConnectionStateChecking, 200 * time.Millisecond},
		{"all zero, failed", agent(0, 0, 0), ConnectionStateFailed, defaultKeepaliveInterval},
		{"keepalive only, connected", agent(time.Second, 0, 0), ConnectionStateConnected, time.Second},
		{"disconnected timeout only, connected", agent(0, 3*time.Second, 0), ConnectionStateConnected, defaultKeepaliveInterval},
		{"failed timeout only, connected", agent(0, 0, time.Second), ConnectionStateConnected, time.Second},
		{"all zero, renominating, connected", renominating, ConnectionStateConnected, defaultKeepaliveInterval},
	} {
		if got := c.agent.connectivityCheckInterval(c.state); got != c.want {
			t.Errorf("%s: interval %v, want %v", c.name, got, c.want)
		}
	}
}

// countingSelector counts the agent's connectivity-check runs.
type countingSelector struct {
	pairCandidateSelector
	contacts atomic.Int32
}

func (s *countingSelector) ContactCandidates() {
	s.contacts.Add(1)
	s.pairCandidateSelector.ContactCandidates()
}

func countContacts(a *Agent) *countingSelector {
	a.selectorLock.Lock()
	defer a.selectorLock.Unlock()
	s := &countingSelector{pairCandidateSelector: a.selector}
	a.selector = s

	return s
}

// Connected agents with no keepalives and no timeouts run no periodic
// connectivity checks; after an ICE restart they check again and connect.
func TestConnectivityChecksIdleWhenConnected(t *testing.T) {
	newAgent := func() (*Agent, chan ConnectionState) {
		a, err := NewAgentWithOptions(
			WithNetworkTypes([]NetworkType{NetworkTypeUDP4}),
			WithCandidateTypes([]CandidateType{CandidateTypeHost}),
			WithIncludeLoopback(),
			WithInterfaceFilter(func(name string) bool { return name == "lo" }),
			WithKeepaliveInterval(0), WithDisconnectedTimeout(0), WithFailedTimeout(0),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		states := make(chan ConnectionState, 16)
		if err := a.OnConnectionStateChange(func(s ConnectionState) { states <- s }); err != nil {
			t.Fatal(err)
		}

		return a, states
	}
	controlling, controllingStates := newAgent()
	controlled, controlledStates := newAgent()

	// gather has each agent gather its candidates and hands them to the other.
	gather := func() {
		done := make(chan struct{}, 2)
		for _, pair := range [][2]*Agent{{controlling, controlled}, {controlled, controlling}} {
			from, to := pair[0], pair[1]
			if err := from.OnCandidate(func(c Candidate) {
				if c == nil {
					done <- struct{}{}

					return
				}
				if err := to.AddRemoteCandidate(c); err != nil {
					t.Error(err)
				}
			}); err != nil {
				t.Fatal(err)
			}
			if err := from.GatherCandidates(); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			<-done
		}
	}
	waitFor := func(states chan ConnectionState, want ConnectionState) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-states:
				if s == want {
					return
				}
			case <-timeout:
				t.Fatalf("not %s after 10 s", want)
			}
		}
	}

	gather()
	controlledUfrag, controlledPwd, err := controlled.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	controllingUfrag, controllingPwd, err := controlling.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan error, 1)
	go func() {
		_, err := controlled.Accept(ctx, controllingUfrag, controllingPwd)
		accepted <- err
	}()
	if _, err := controlling.Dial(ctx, controlledUfrag, controlledPwd); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	waitFor(controllingStates, ConnectionStateConnected)
	waitFor(controlledStates, ConnectionStateConnected)

	// Connected, each agent runs at most two more checks: the one that
	// finds it connected, and one for the state change it was told of.
	// Upstream's 2 s timer runs three or more in this window.
	counts := []*countingSelector{countContacts(controlling), countContacts(controlled)}
	time.Sleep(6500 * time.Millisecond)
	for i, c := range counts {
		if n := c.contacts.Load(); n > 2 {
			t.Errorf("agent %d, connected without keepalives or timeouts, ran %d connectivity checks in 6.5 s", i, n)
		}
	}

	// An ICE restart takes both back to checking: checks resume at once,
	// before any new candidate comes, and the agents connect again.
	for _, a := range []*Agent{controlling, controlled} {
		if err := a.Restart("", ""); err != nil {
			t.Fatal(err)
		}
	}
	counts = []*countingSelector{countContacts(controlling), countContacts(controlled)}
	for i, c := range counts {
		deadline := time.Now().Add(10 * time.Second)
		for c.contacts.Load() < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("agent %d, restarted: %d connectivity checks in 10 s", i, c.contacts.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(controllingStates, ConnectionStateChecking)
	waitFor(controlledStates, ConnectionStateChecking)
	controlledUfrag, controlledPwd, err = controlled.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	controllingUfrag, controllingPwd, err = controlling.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if err := controlling.SetRemoteCredentials(controlledUfrag, controlledPwd); err != nil {
		t.Fatal(err)
	}
	if err := controlled.SetRemoteCredentials(controllingUfrag, controllingPwd); err != nil {
		t.Fatal(err)
	}
	gather()
	waitFor(controllingStates, ConnectionStateConnected)
	waitFor(controlledStates, ConnectionStateConnected)
}
