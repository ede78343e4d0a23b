package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// dialLog is a client Logger that keeps what the SDK says about its
// connections (its debug lines name every failed attempt and redirect).
type dialLog struct {
	mu    sync.Mutex
	lines []loggedLine
}

type loggedLine struct {
	at  time.Time
	msg string
}

func (l *dialLog) add(msg string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, loggedLine{time.Now(), strings.TrimSpace(msg + " " + fmt.Sprint(args...))})
	l.mu.Unlock()
}

func (l *dialLog) Debug(msg string, args ...any) { l.add(msg, args...) }
func (l *dialLog) Warn(msg string, args ...any)  { l.add(msg, args...) }
func (l *dialLog) Error(msg string, args ...any) { l.add(msg, args...) }

// since returns the lines logged after t0 that contain s.
func (l *dialLog) since(t0 time.Time, s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ln := range l.lines {
		if ln.at.After(t0) && strings.Contains(ln.msg, s) {
			out = append(out, ln.msg)
		}
	}
	return out
}

// plainMember is a participant with the SDK's default settings and no
// media: what a browser's client does when its node goes away.
type plainMember struct {
	name, id string
	m        *client.Meeting
	log      *dialLog

	mu          sync.Mutex
	reconnected []time.Time
}

func (c *testCluster) joinDefault(mid string, nd *clusterNode, name, preset string) *plainMember {
	c.t.Helper()
	p := c.add(mid, name, preset)
	ctx, cancel := ctxWait()
	defer cancel()
	u := &plainMember{name: name, id: p.ID, log: &dialLog{}}
	m, err := client.Init(ctx, client.Options{BaseURI: nd.url, AuthToken: p.Token, Logger: u.log})
	if err != nil {
		c.t.Fatalf("%s: init via %s: %v", name, nd.id, err)
	}
	u.m = m
	m.On(func(e client.Event) {
		if e.Name == client.EventReconnected {
			u.mu.Lock()
			u.reconnected = append(u.reconnected, time.Now())
			u.mu.Unlock()
		}
	})
	c.t.Cleanup(func() { m.Close() })
	if err := m.Join(ctx); err != nil {
		c.t.Fatalf("%s: join via %s: %v", name, nd.id, err)
	}
	return u
}

func (u *plainMember) reconnectedSince(t0 time.Time) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, at := range u.reconnected {
		if at.After(t0) {
			return at, true
		}
	}
	return time.Time{}, false
}

// The case, with the SDK's default reconnect settings: three
// nodes, one killed earlier (still registered, its registration not run
// out), then the room's owner stopped with SIGTERM. The owner names the
// room's successor in its close (4053); every client goes there at once:
// none retries the node that shut down nor the dead one, none backs off,
// and the pending request survives the move.
func TestClusterGracefulShutdownDefaultClients(t *testing.T) {
	const ttl = 2 * time.Second
	c := newClusterTTL(t, 3, ttl, nil)
	a, b, dead := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(b.url, "drain, defaults")
	if err != nil {
		t.Fatal(err)
	}
	host := c.joinDefault(mid, a, "Host", stage.PresetWebinarHost)
	var members []*plainMember
	members = append(members, host)
	for i := range 6 {
		// Viewers come in through every node and are redirected to A.
		members = append(members, c.joinDefault(mid, c.nodes[i%3], fmt.Sprintf("Viewer%d", i), stage.PresetWebinarViewer))
	}
	ctx, cancel := ctxWait()
	defer cancel()
	asker := members[1]
	act(t, "request", asker.m.Stage().RequestAccess(ctx))
	eventually(t, "the request", func() bool { return len(host.m.Requests()) == 1 })

	dead.signal(t, syscall.SIGKILL)
	// Past the dead node's last heartbeat by more than the nodes' notion
	// of fresh (1.5 TTL), well within its registration (3 TTL).
	time.Sleep(2 * ttl)

	stopped := time.Now()
	a.signal(t, syscall.SIGTERM)
	var took []time.Duration
	for _, u := range members {
		eventually(t, u.name+" resynced", func() bool {
			at, ok := u.reconnectedSince(stopped)
			if ok {
				took = append(took, at.Sub(stopped))
			}
			return ok
		})
	}
	for _, u := range members {
		if failed := u.log.since(stopped, "reconnect failed"); len(failed) > 0 {
			t.Errorf("%s retried a node that was gone: %q", u.name, failed)
		}
	}
	if got := pendingIDs(host.m); !slices.Equal(got, []string{asker.id}) {
		t.Errorf("pending after the move %v, want [%s]", got, asker.id)
	}
	if n := b.metric(t, "stagekit_rooms"); n != 1 {
		t.Errorf("node B serves %v rooms, want the room", n)
	}
	slices.Sort(took)
	t.Logf("SIGTERM of the owner, %d clients with default settings, a dead node still registered: resynced on B after p50 %v, slowest %v",
		len(took), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}
