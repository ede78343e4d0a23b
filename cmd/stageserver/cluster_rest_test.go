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

// webhookRig is two nodes with a webhook registered through B to a local
// receiver, and a meeting whose room lives on A with one viewer in it.
type webhookRig struct {
	c      *testCluster
	a, b   *clusterNode
	mid    string
	viewer *member

	mu  sync.Mutex
	got []delivery // in the order received
}

// delivery is one webhook request the receiver got.
type delivery struct {
	id  string
	seq int64
}

func newWebhookRig(t *testing.T, title string) *webhookRig {
	t.Helper()
	w := &webhookRig{}
	rc := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev struct{ Seq int64 }
		json.Unmarshal(b, &ev)
		w.mu.Lock()
		w.got = append(w.got, delivery{r.Header.Get("webhook-id"), ev.Seq})
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	w.c = newCluster(t, 2, nil)
	w.a, w.b = w.c.nodes[0], w.c.nodes[1]
	if err := testserver.Do(w.b.url, "POST", "/v1/webhooks", map[string]any{"url": rc.URL, "events": []string{"*"}}, http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.mid, err = testserver.CreateMeeting(w.b.url, title); err != nil {
		t.Fatal(err)
	}
	w.viewer = w.c.join(w.mid, w.a, "Viewer", stage.PresetWebinarViewer) // the room lives on A
	return w
}

// deliveries is a copy of what the receiver got so far.
func (w *webhookRig) deliveries() []delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]delivery(nil), w.got...)
}

// REST stage control and webhooks in a cluster: a grant and a kick asked
// of a node that does not own the room are applied by the owner, in its
// order; the webhook's events are delivered once each, by one node, in the
// room's order, although both nodes run a deliverer.
func TestClusterRESTStageAndWebhooks(t *testing.T) {
	w := newWebhookRig(t, "cluster REST")
	b, mid, viewer := w.b, w.mid, w.viewer
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
	eventually(t, "the events delivered", func() bool { return len(w.deliveries()) >= int(out.Seq) })
	got := w.deliveries()
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
	w := newWebhookRig(t, "cluster crash")
	a, b, mid, viewer := w.a, w.b, w.mid, w.viewer
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
		have := map[int64]bool{}
		for _, d := range w.deliveries() {
			have[d.seq] = true
		}
		for s := range acked {
			if !have[s] {
				return false
			}
		}
		return true
	})
	seqOf := map[string]int64{} // event id → seq
	var last int64
	for _, d := range w.deliveries() {
		if s, ok := seqOf[d.id]; ok && s != d.seq {
			t.Errorf("event %s came with seqs %d and %d", d.id, s, d.seq)
		}
		seqOf[d.id] = d.seq
		if d.seq > last+1 {
			t.Fatalf("seq %d delivered before %d: %v", d.seq, last+1, w.deliveries())
		}
		last = max(last, d.seq)
	}
}
