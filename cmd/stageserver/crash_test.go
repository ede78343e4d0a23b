package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// TestKill9LosesNoWebhookEvent: a burst of REST stage changes in two
// meetings, the server killed with SIGKILL in the middle of it and started
// again on the same data: every change acknowledged before the kill has its
// event delivered to a real HTTP receiver, under exactly one event id, and
// each meeting's events arrive in the room's order.
func TestKill9LosesNoWebhookEvent(t *testing.T) {
	type got struct {
		id      string
		meeting string
		seq     int64
	}
	var mu sync.Mutex
	var received []got
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev struct {
			ID      string
			Seq     int64
			Meeting struct{ ID string }
		}
		json.Unmarshal(b, &ev)
		mu.Lock()
		received = append(received, got{r.Header.Get("webhook-id"), ev.Meeting.ID, ev.Seq})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()

	dir := t.TempDir()
	p := startBinary(t, dir, "-api-key", testserver.APIKey, "-web", "")
	if err := testserver.Do(p.url, "POST", "/v1/webhooks", map[string]any{"url": rc.URL, "events": []string{"*"}}, 201, nil); err != nil {
		t.Fatal(err)
	}
	const meetings, viewers = 2, 3
	type room struct {
		id    string
		users []string
	}
	rooms := make([]room, meetings)
	for i := range rooms {
		mid, err := testserver.CreateMeeting(p.url, fmt.Sprint("crash ", i))
		if err != nil {
			t.Fatal(err)
		}
		rooms[i].id = mid
		for v := 0; v < viewers; v++ {
			pt, err := testserver.AddParticipant(p.url, mid, fmt.Sprint("v", v), stage.PresetWebinarViewer)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			m, err := client.Init(ctx, client.Options{BaseURI: p.url, AuthToken: pt.Token, MaxBackoff: time.Second})
			if err == nil {
				err = m.Join(ctx)
			}
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			rooms[i].users = append(rooms[i].users, pt.ID)
		}
	}

	// The burst: in each meeting, invite and kick its viewers in turn; an
	// answer 200 is an acknowledged change, its seq the event's.
	acked := make([]map[int64]bool, meetings)
	var ackMu sync.Mutex
	total := 0
	killAt := 60
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for i := range rooms {
		acked[i] = map[int64]bool{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; ; n++ {
				u := rooms[i].users[(n/2)%viewers]
				action := "grant"
				if n%2 == 1 {
					action = "kick"
				}
				var out struct{ Seq int64 }
				err := testserver.Do(p.url, "POST", "/v1/meetings/"+rooms[i].id+"/stage/"+action, map[string]any{"user_ids": []string{u}}, 200, &out)
				if err != nil {
					select {
					case <-killed:
						return // the server is gone: this change was never acknowledged
					default:
						t.Errorf("meeting %d %s: %v", i, action, err)
						return
					}
				}
				ackMu.Lock()
				acked[i][out.Seq] = true
				total++
				if total == killAt {
					p.cmd.Process.Signal(syscall.SIGKILL)
					close(killed)
				}
				ackMu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	<-p.exited

	// Back on the same data: the outbox is delivered from where it was.
	startBinary(t, dir, "-api-key", testserver.APIKey, "-web", "")
	deadline := time.Now().Add(60 * time.Second) // a bound on a hang
	for {
		mu.Lock()
		seen := map[string]map[int64]bool{}
		for _, g := range received {
			if seen[g.meeting] == nil {
				seen[g.meeting] = map[int64]bool{}
			}
			seen[g.meeting][g.seq] = true
		}
		mu.Unlock()
		missing := 0
		for i, r := range rooms {
			for seq := range acked[i] {
				if !seen[r.id][seq] {
					missing++
				}
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged changes have no delivered event", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}

	mu.Lock()
	defer mu.Unlock()
	idOf := map[string]string{} // meeting/seq → event id
	last := map[string]int64{}  // meeting → highest seq delivered so far
	for _, g := range received {
		k := fmt.Sprint(g.meeting, "/", g.seq)
		if id, ok := idOf[k]; ok && id != g.id {
			t.Fatalf("event %s delivered under two ids: %s and %s", k, id, g.id)
		}
		idOf[k] = g.id
		// A redelivery (at least once) may repeat an earlier seq; a new
		// event never comes before one it follows.
		if g.seq > last[g.meeting]+1 {
			t.Fatalf("meeting %s: seq %d delivered before %d", g.meeting, g.seq, last[g.meeting]+1)
		}
		last[g.meeting] = max(last[g.meeting], g.seq)
	}
	acks := 0
	for i := range acked {
		acks += len(acked[i])
	}
	t.Logf("%d changes acknowledged before the kill; %d deliveries of %d events", acks, len(received), len(idOf))
}
