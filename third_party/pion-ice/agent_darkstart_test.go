// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

//go:build !js

package ice

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// darkConn is a UDP socket that drops every datagram, both ways, while
// dark is set: a network black-holed under an agent's UDP mux.
type darkConn struct {
	net.PacketConn
	dark atomic.Bool
}

func (c *darkConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.dark.Load() {
			return n, addr, err
		}
	}
}

func (c *darkConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.dark.Load() {
		return len(b), nil
	}

	return c.PacketConn.WriteTo(b, addr)
}

// Two agents whose network is dark until both have given up on every pair
// (all their first checks lost) connect once it is back. Upstream, neither
// ever checked a failed pair again and no request came to trigger a check
// (agent_triggered_test.go), so both stayed checking until the failed
// timeout, an hour here: the test would time out.
func TestFailedPairsCheckedAgainAfterDarkStart(t *testing.T) {
	newAgent := func() (*Agent, *darkConn) {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn := &darkConn{PacketConn: udp}
		conn.dark.Store(true)
		mux := NewUDPMuxDefault(UDPMuxParams{UDPConn: conn})
		t.Cleanup(func() { _ = mux.Close() })
		a, err := NewAgentWithOptions(
			WithNetworkTypes([]NetworkType{NetworkTypeUDP4}),
			WithCandidateTypes([]CandidateType{CandidateTypeHost}),
			WithIncludeLoopback(),
			WithUDPMux(mux),
			WithFailedTimeout(time.Hour),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })

		return a, conn
	}
	controlling, controllingConn := newAgent()
	controlled, controlledConn := newAgent()

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
	controlledUfrag, controlledPwd, err := controlled.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	controllingUfrag, controllingPwd, err := controlling.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	// The deadline only ends a test that would otherwise wait for the
	// failed timeout; with the change the agents connect about a second
	// after the network is back.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	connected := make(chan error, 2)
	go func() {
		_, err := controlled.Accept(ctx, controllingUfrag, controllingPwd)
		connected <- err
	}()
	go func() {
		_, err := controlling.Dial(ctx, controlledUfrag, controlledPwd)
		connected <- err
	}()

	// Dark until each agent has had every pair failed (seen at least once:
	// with the change a failed pair is checked again a second later).
	for _, a := range []*Agent{controlling, controlled} {
		seen := map[string]bool{}
		for {
			pairs := a.GetCandidatePairsStats()
			for _, p := range pairs {
				if p.State == CandidatePairStateFailed {
					seen[p.LocalCandidateID+"/"+p.RemoteCandidateID] = true
				}
			}
			if len(pairs) > 0 && len(seen) == len(pairs) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the agents' pairs never all failed in the dark (%d pairs, %d failed)", len(pairs), len(seen))
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	controllingConn.dark.Store(false)
	controlledConn.dark.Store(false)
	lifted := time.Now()

	for range 2 {
		if err := <-connected; err != nil {
			t.Fatalf("not connected after the network came back: %v", err)
		}
	}
	t.Logf("connected %v after the network came back", time.Since(lifted).Round(time.Millisecond))
}
