package main

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/client/media"
	"github.com/stagekit/stagekit/internal/netproxy"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// connectionsSeen records what a member is told of another's connection
// (participantConnection): reconnecting or back, in order.
type connectionsSeen struct {
	mu   sync.Mutex
	told []bool
}

func watchConnection(u *member, userID string) *connectionsSeen {
	w := &connectionsSeen{}
	u.m.On(func(e client.Event) {
		if e.Name == client.EventParticipantConnection && e.Participant.UserID == userID {
			w.mu.Lock()
			w.told = append(w.told, e.Participant.Reconnecting)
			w.mu.Unlock()
		}
	})
	return w
}

// last is the latest news, and how many there were.
func (w *connectionsSeen) last() (reconnecting bool, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.told) == 0 {
		return false, 0
	}
	return w.told[len(w.told)-1], len(w.told)
}

// A presenter on an edge whose network goes dark is seen by hosts on
// every node as reconnecting, as on one node, and keeps its place. The
// room's owner is A, with a host; another host is on edge C; the presenter
// publishes through edge B (a viewer there too). First its media alone is
// black-holed: the edge's media server finds it silent, the edge probes
// its signaling (which answers: no reconnect) and tells the owner, so both
// hosts see it reconnecting, on stage, and back once its media is heard
// again. Then its signaling (through a proxy) goes dark as well: the edge's
// probe gets no pong and drops the connection at once, without waiting
// for its ping interval (20 s, and 20 s more for the pong), which starts
// its grace period at the owner; the link back, it rejoins through B with
// its place on stage and its media, and both hosts see it back.
func TestClusterEdgePresenterGoesDark(t *testing.T) {
	c := newClusterWith(t, 3, 2*time.Second, nil, "-edges")
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	mid, err := testserver.CreateMeeting(a.url, "edges, a presenter goes dark")
	if err != nil {
		t.Fatal(err)
	}
	host := c.join(mid, a, "Host", stage.PresetWebinarHost)
	far := c.join(mid, cn, "FarHost", stage.PresetWebinarHost)
	c.join(mid, b, "AtB", stage.PresetWebinarViewer)

	px, err := netproxy.Start(strings.TrimPrefix(b.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	hole := &netproxy.HoleConn{PacketConn: udp}
	// Its reconnects wait on B (the proxy) rather than go to another node
	// (none is reachable from a dark network).
	presenter := c.connectAt(mid, px.URL(), "Presenter", stage.PresetWebinarViewer,
		client.Options{RequestTimeout: clusterWait},
		media.Options{Loopback: true, SettingEngine: func(se *webrtc.SettingEngine) {
			se.SetICEUDPMux(webrtc.NewICEUDPMux(se.LoggerFactory.NewLogger("udpmux"), hole))
		}})
	if n := b.metric(t, "stagekit_rooms"); n != 0 {
		t.Fatalf("node B serves %v rooms; the room is A's", n)
	}
	ctx, cancel := ctxWait()
	defer cancel()
	act(t, "grant the presenter", host.m.Stage().GrantAccess(ctx, []string{presenter.id}))
	eventually(t, "the presenter accepted", func() bool { return presenter.m.Stage().Status() == stage.Accepted })
	presenter.publish()
	host.receiving(presenter)
	far.receiving(presenter)
	hosts := []*member{host, far}
	seen := map[*member]*connectionsSeen{host: watchConnection(host, presenter.id), far: watchConnection(far, presenter.id)}
	told := func(what string, reconnecting bool, after int) {
		t.Helper()
		for _, u := range hosts {
			eventually(t, u.name+" told the presenter is "+what, func() bool {
				r, n := seen[u].last()
				return n > after && r == reconnecting
			})
			if st := u.statusOf(presenter.id); st != stage.OnStage {
				t.Errorf("%s sees the presenter %s, want it on stage", u.name, st)
			}
		}
	}

	// Its media goes dark; its signaling answers the edge's probe.
	silent := time.Now()
	hole.BlackHole(true)
	told("reconnecting", true, 0)
	t.Logf("media dark: both hosts saw the presenter reconnecting after %v", time.Since(silent).Round(time.Millisecond))
	heard := time.Now()
	hole.BlackHole(false)
	told("back", false, 1)
	if _, ok := presenter.reconnectedSince(silent); ok {
		t.Error("the presenter reconnected; its signaling was up all along")
	}
	host.receiving(presenter)
	far.receiving(presenter)
	t.Logf("media heard again: both hosts saw the presenter back, and its media, %v after the lift", time.Since(heard).Round(time.Millisecond))

	// Its whole network goes dark: the edge's probe drops its connection.
	conns := b.metric(t, "stagekit_connections")
	dark := time.Now()
	px.BlackHole(true)
	hole.BlackHole(true)
	told("reconnecting", true, 2)
	eventually(t, "B dropping the presenter's dark connection", func() bool { return b.metric(t, "stagekit_connections") == conns-1 })
	t.Logf("network dark: B dropped the presenter's connection after %v", time.Since(dark).Round(time.Millisecond))
	lifted := time.Now()
	px.BlackHole(false)
	hole.BlackHole(false)
	eventually(t, "the presenter rejoined", func() bool { _, ok := presenter.reconnectedSince(lifted); return ok })
	told("back", false, 3)
	if st := presenter.m.Stage().Status(); st != stage.OnStage {
		t.Errorf("the presenter is %s after coming back within its grace period, want it on stage", st)
	}
	host.receiving(presenter)
	far.receiving(presenter)
	t.Logf("back %v after the lift, on stage, its media at both hosts", time.Since(lifted).Round(time.Millisecond))
}
