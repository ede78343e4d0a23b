package testserver

import (
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/netproxy"
)

// Proxy forwards one client's TCP connections to the server. It can cut
// them and refuse new ones (a network failure), and hold what the server
// sends (a slow network) while counting what the client sends; see
// netproxy.
type Proxy struct {
	*netproxy.Proxy
	tb testing.TB
}

// StartProxy listens on loopback and forwards to target (host:port) until tb ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	p, err := netproxy.Start(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return &Proxy{Proxy: p, tb: tb}
}

// WaitSent waits until the client has sent more than n chunks.
func (p *Proxy) WaitSent(n int) {
	p.tb.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for p.Sent() <= n {
		select {
		case <-p.SentSignal():
		case <-timer.C:
			p.tb.Fatal("the client sent nothing")
		}
	}
}
