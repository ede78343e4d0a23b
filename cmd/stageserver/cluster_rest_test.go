package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"

	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// REST stage control and webhooks in a cluster: a grant and a kick asked
// of a node that does not own the room are applied by the owner, in its
// order; the webhook's events are delivered once each, by one node, in the
// room's order, although both nodes run a deliverer.
func TestClusterRESTStageAndWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []struct {
		id  string
		seq int64
	}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev struct{ Seq int64 }
		json.Unmarshal(b, &ev)
		mu.Lock()
		got = append(got, struct {
			id  string
			seq int64
		}{r.Header.Get("webhook-id"), ev.Seq})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	if err := testserver.Do(b.url, "POST", "/v1/webhooks", map[string]any{"url": rc.URL, "events": []string{"*"}}, http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	mid, err := testserver.CreateMeeting(b.url, "cluster REST")
	if err != nil {
		t.Fatal(err)
	}
	viewer := c.join(mid, a, "Viewer", stage.PresetWebinarViewer) // the room lives on A
	// Asked of B, applied by A.
	var out struct{ Seq int64 }
	if err := testserver.Do(b.url, "POST", "/v1/meetings/"+mid+"/stage/grant", map[string]any{"user_ids": []string{viewer.id}}, http.StatusOK, &out); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the viewer invited", func() bool { return viewer.m.Stage().Status() == stage.Accepted })
	if err := testserver.Do(b.url, "POST", "/v1/meetings/"+mid+"/stage/kick", map[string]any{"user_ids": []string{viewer.id}}, http.StatusOK, &out); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the viewer kicked", func() bool { return viewer.m.Stage().Status() == stage.OffStage })
	// A burst, so that reads of the outbox overlap the records of
	// deliveries (a read begun before a record committed once sent an
	// event twice).
	for i := 0; i < 150; i++ {
		action := "grant"
		if i%2 == 1 {
			action = "kick"
		}
		if err := testserver.Do(b.url, "POST", "/v1/meetings/"+mid+"/stage/"+action, map[string]any{"user_ids": []string{viewer.id}}, http.StatusOK, &out); err != nil {
			t.Fatal(err)
		}
	}
	var sess struct {
		LiveParticipants int `json:"live_participants"`
	}
	if err := testserver.Do(b.url, "GET", "/v1/meetings/"+mid+"/active-session", nil, http.StatusOK, &sess); err != nil || sess.LiveParticipants != 1 {
		t.Fatalf("active session via B: %+v, %v", sess, err)
	}
	// started, joined, then every change: each delivered once, in order.
	eventually(t, "the events delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= int(out.Seq)
	})
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for i, g := range got {
		if seen[g.id] {
			t.Fatalf("event %s delivered twice: %+v", g.id, got)
		}
		seen[g.id] = true
		if g.seq != int64(i+1) {
			t.Fatalf("delivery %d has seq %d: %+v", i, g.seq, got)
		}
	}
}

// kill -9 of the room's owner in a burst of REST stage changes asked of
// the other node: every change acknowledged before the kill has its event
// delivered (by whichever node holds the delivery lease, the survivor
// after the lease's 10 s if it was the dead one), one id per event, in the
// room's order.
func TestClusterKill9LosesNoWebhookEvent(t *testing.T) {
	var mu sync.Mutex
	seqOf := map[string]int64{} // event id → seq
	var order []int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev struct{ Seq int64 }
		json.Unmarshal(b, &ev)
		mu.Lock()
		if s, ok := seqOf[r.Header.Get("webhook-id")]; ok && s != ev.Seq {
			t.Errorf("event %s came with seqs %d and %d", r.Header.Get("webhook-id"), s, ev.Seq)
		}
		seqOf[r.Header.Get("webhook-id")] = ev.Seq
		order = append(order, ev.Seq)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	if err := testserver.Do(b.url, "POST", "/v1/webhooks", map[string]any{"url": rc.URL, "events": []string{"*"}}, http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	mid, err := testserver.CreateMeeting(b.url, "cluster crash")
	if err != nil {
		t.Fatal(err)
	}
	viewer := c.join(mid, a, "Viewer", stage.PresetWebinarViewer) // the room lives on A
	acked := map[int64]bool{}
	for n := 0; ; n++ {
		action := "grant"
		if n%2 == 1 {
			action = "kick"
		}
		if n == 20 {
			a.signal(t, syscall.SIGKILL)
		}
		var out struct{ Seq int64 }
		if err := testserver.Do(b.url, "POST", "/v1/meetings/"+mid+"/stage/"+action, map[string]any{"user_ids": []string{viewer.id}}, http.StatusOK, &out); err != nil {
			if n < 20 {
				t.Fatalf("%s %d before the kill: %v", action, n, err)
			}
			break // the owner is gone: this one was never acknowledged
		}
		acked[out.Seq] = true
	}
	if len(acked) < 20 {
		t.Fatalf("only %d changes acknowledged", len(acked))
	}
	eventually(t, "every acknowledged change delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		have := map[int64]bool{}
		for _, s := range seqOf {
			have[s] = true
		}
		for s := range acked {
			if !have[s] {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	var last int64
	for _, s := range order {
		if s > last+1 {
			t.Fatalf("seq %d delivered before %d: %v", s, last+1, order)
		}
		last = max(last, s)
	}
}
