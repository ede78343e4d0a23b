package signal

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// A flooder that reconnects after every refusal finds its budget as it
// left it: the rate limit is the participant's, not the connection's, so
// reconnecting buys nothing.
func TestReconnectingFloodKeepsItsBudget(t *testing.T) {
	const rate, burst = 10, 20
	e := newEnv(t, func(c *Config) { c.RateLimit = rate; c.HelloRate = 1000; c.MaxConns = 100 })
	host, _ := e.join(mid, "Host", stage.PresetWebinarHost)
	tok, _ := e.user(mid, "Flood", stage.PresetWebinarViewer)
	start := time.Now()
	committed := 0
	spent := 0 // messages the server let through: joins and actions
	for cycle := 0; cycle < 5; cycle++ {
		c, _ := e.connect("flood", tok)
		if c.call(protocol.ClientMessage{Type: protocol.TypeJoin}).Type == protocol.TypeResult {
			spent++
		}
		ids := make([]uint64, 40)
		for i := range ids {
			typ := protocol.TypeStageRequest
			if i%2 == 1 {
				typ = protocol.TypeStageCancel
			}
			ids[i] = c.send(act(typ))
		}
		for _, id := range ids {
			switch r := c.reply(id); {
			case r.Type == protocol.TypeResult:
				committed++
				spent++
			case r.Error.Code != protocol.CodeRateLimited:
				spent++ // let through, refused by the stage rules
			}
		}
		c.ws.Close(websocket.StatusNormalClosure, "") // and come straight back
		c.closed()
	}
	allowed := burst + int(rate*time.Since(start).Seconds()) + 1
	if spent > allowed || committed == 0 {
		t.Fatalf("%d messages let through (%d actions committed) over 5 connections in %v; the participant's budget allows %d",
			spent, committed, time.Since(start), allowed)
	}
	host.ok(protocol.ClientMessage{Type: protocol.TypePing}) // the room is fine
}

// A participant may hold MaxConns connections at once; one more is refused
// with 4021 (the socket closed with that code), and a slot frees when one
// closes. New connections beyond the hello rate get 4020.
func TestConnectionsPerParticipantAreCapped(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConns = 3; c.HelloRate = 1000 })
	tok, _ := e.user(mid, "Many", stage.PresetWebinarViewer)
	var open []*tclient
	for i := 0; i < 3; i++ {
		c, _ := e.connect("many", tok)
		open = append(open, c)
	}
	extra := e.dial("extra")
	hello := extra.call(protocol.ClientMessage{Type: protocol.TypeHello, Token: tok})
	wantError(t, "fourth connection", hello, protocol.CodeTooManyConns)
	if code := extra.closed(); code != protocol.CodeTooManyConns {
		t.Fatalf("fourth connection closed with %d, want 4021", code)
	}
	open[0].ws.Close(websocket.StatusNormalClosure, "")
	open[0].closed()
	deadline := time.Now().Add(waitTimeout)
	for {
		c := e.dial("again")
		if r := c.call(protocol.ClientMessage{Type: protocol.TypeHello, Token: tok}); r.Type == protocol.TypeResult {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no slot freed after a connection closed")
		}
		time.Sleep(10 * time.Millisecond) // the closed one is being counted out
	}

	// The hello rate: a burst of helloBurst, then 4020.
	e2 := newEnv(t, func(c *Config) { c.HelloRate = 0.001; c.MaxConns = 100 })
	tok2, _ := e2.user(mid, "Eager", stage.PresetWebinarViewer)
	for i := 0; i < helloBurst; i++ {
		e2.connect("eager", tok2)
	}
	c := e2.dial("one too many")
	b, _ := json.Marshal(protocol.ClientMessage{V: 1, ID: 1, Type: protocol.TypeHello, Token: tok2})
	c.sendRaw(websocket.MessageText, b)
	if code := c.closed(); code != protocol.CodeRateLimited {
		t.Fatalf("hello beyond the rate closed with %d, want 4020", code)
	}
}
