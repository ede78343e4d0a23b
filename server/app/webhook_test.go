package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/server/webhook"
	"github.com/stagekit/stagekit/stage"
)

// receiver is a real HTTP endpoint that records every delivery; it fails
// the first attempt at every event whose seq is a multiple of failEvery.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	got       []delivered // every request, in arrival order
	failed    map[string]bool
	failEvery int64
}

type delivered struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	ok      bool
}

func newReceiver(t *testing.T, failEvery int64) *receiver {
	rc := &receiver{failed: map[string]bool{}, failEvery: failEvery}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Seq int64 }
		json.Unmarshal(body, &ev)
		d := delivered{Headers: map[string]string{}, Body: string(body), ok: true}
		for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"} {
			d.Headers[h] = r.Header.Get(h)
		}
		rc.mu.Lock()
		id := d.Headers["webhook-id"]
		if rc.failEvery > 0 && ev.Seq%rc.failEvery == 0 && !rc.failed[id] {
			rc.failed[id] = true
			d.ok = false
		}
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
		if !d.ok {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// accepted returns the deliveries answered 2xx, in arrival order.
func (rc *receiver) accepted() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []delivered
	for _, d := range rc.got {
		if d.ok {
			out = append(out, d)
		}
	}
	return out
}

func (rc *receiver) all() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.got...)
}

// waitFor polls until cond holds; the bound only catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhooks: every event of the stage log reaches a real HTTP endpoint,
// in the room's order even though some first attempts fail, signed so that
// both the Go and npm's Standard Webhooks libraries verify it; the delivery
// log shows the failures and the retries.
func TestWebhooks(t *testing.T) {
	rc := newReceiver(t, 3)
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir(),
		Webhooks: webhook.Options{Schedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, time.Second}, Poll: 50 * time.Millisecond}})
	var wh rest.Webhook
	s.call("POST", "/v1/webhooks", map[string]any{"name": "backend", "url": rc.URL + "/hooks", "events": []string{"*"}}, 201, &wh)
	if !strings.HasPrefix(wh.Secret, "whsec_") || wh.ID == "" {
		t.Fatalf("created webhook %+v", wh)
	}
	st, b := s.raw("POST", "/v1/webhooks", `{"url":"ftp://x","events":["*"]}`)
	wantCode(t, st, b, 400, rest.CodeInvalidField)
	st, b = s.raw("POST", "/v1/webhooks", `{"url":"http://x","events":["*"],"secret":"not-base64!"}`)
	wantCode(t, st, b, 400, rest.CodeInvalidField)
	var own rest.Webhook
	s.call("POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/own", "events": []string{"meeting.started"}, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, 201, &own)
	if own.Secret != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" {
		t.Fatalf("given secret not kept: %+v", own)
	}
	s.call("DELETE", "/v1/webhooks/"+own.ID, nil, 200, nil)
	st, b = s.raw("POST", "/v1/webhooks", `{"url":"http://x","events":["meeting.nope"]}`)
	wantCode(t, st, b, 400, rest.CodeInvalidField)

	mid, ps := s.meetingWith("Host", "Viewer")
	base := "/v1/meetings/" + mid
	hw, vw := s.joinAs(ps[0]), s.joinAs(ps[1])
	vw.send(protocol.ClientMessage{ID: 10, Type: protocol.TypeStageRequest})
	vw.waitStatus(ps[1].ID, stage.Requested)
	s.call("POST", base+"/stage/grant", map[string]any{"user_ids": []string{ps[1].ID}}, 200, nil)
	vw.waitStatus(ps[1].ID, stage.Accepted)
	vw.send(protocol.ClientMessage{ID: 11, Type: protocol.TypeStageJoin})
	vw.waitStatus(ps[1].ID, stage.OnStage)
	s.call("POST", base+"/stage/kick", map[string]any{"user_ids": []string{ps[1].ID}}, 200, nil)
	vw.waitStatus(ps[1].ID, stage.OffStage)
	vw.send(protocol.ClientMessage{ID: 12, Type: protocol.TypeLeave})
	hw.send(protocol.ClientMessage{ID: 13, Type: protocol.TypeLeave})

	var log struct{ Events []rest.LogEntry }
	waitFor(t, "meeting.ended in the log", func() bool {
		s.call("GET", base+"/stage/events", nil, 200, &log)
		return len(log.Events) > 0 && log.Events[len(log.Events)-1].Event == "meeting.ended"
	})
	waitFor(t, "every event delivered", func() bool { return len(rc.accepted()) >= len(log.Events) })

	// Exactly the log's events, in its order (the failed first attempts
	// held their successors back), each signed.
	verifier, err := standardwebhooks.NewWebhook(wh.Secret)
	if err != nil {
		t.Fatal(err)
	}
	got := rc.accepted()
	if len(got) != len(log.Events) {
		t.Fatalf("%d deliveries for %d events", len(got), len(log.Events))
	}
	for i, d := range got {
		e := log.Events[i]
		if d.Headers["webhook-id"] != e.ID || !json.Valid([]byte(d.Body)) || d.Body != string(e.Data) {
			t.Fatalf("delivery %d is %s %s, want event %d %s", i, d.Headers["webhook-id"], d.Body, e.Seq, e.ID)
		}
		h := http.Header{}
		for k, v := range d.Headers {
			h.Set(k, v)
		}
		if err := verifier.Verify([]byte(d.Body), h); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	var first struct {
		Event, ID string
		Seq       int64
		Actor     struct{ Type, ID string }
		Meeting   struct{ ID, SessionID, Title, Status string }
	}
	json.Unmarshal([]byte(got[0].Body), &first)
	if first.Event != "meeting.started" || first.Seq != 1 || first.Meeting.ID != mid || first.Meeting.SessionID == "" || first.Meeting.Title != "t" || first.Actor.Type != "participant" {
		t.Fatalf("first event %s", got[0].Body)
	}
	verifyWithNode(t, wh.Secret, rc.all())

	// The delivery log: the failures (503) and the successes, newest first.
	var attempts []rest.Delivery
	s.call("GET", "/v1/webhooks/"+wh.ID+"/deliveries?limit=1000", nil, 200, &attempts)
	failures := 0
	for _, a := range attempts {
		if a.StatusCode == 503 {
			failures++
		}
	}
	if len(attempts) != len(rc.all()) || failures != len(rc.all())-len(got) || failures == 0 {
		t.Fatalf("delivery log: %d attempts (%d failed); the receiver saw %d", len(attempts), failures, len(rc.all()))
	}
	st, b = s.raw("GET", "/v1/webhooks/nope/deliveries", "")
	wantCode(t, st, b, 404, rest.CodeWebhookNotFound)
	s.call("DELETE", "/v1/webhooks/"+wh.ID, nil, 200, nil)
	var left []rest.Webhook
	s.call("GET", "/v1/webhooks", nil, 200, &left)
	if len(left) != 0 {
		t.Fatalf("webhooks after delete: %+v", left)
	}
}

// verifyWithNode checks every signature with npm's standardwebhooks, run
// by node (a verifier written by others, in another language).
func verifyWithNode(t *testing.T, secret string, msgs []delivered) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not found (make setup installs it)")
		}
		t.Skip("node not found; make setup installs it")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "node_modules", "standardwebhooks")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node_modules/standardwebhooks missing (make setup installs it)")
		}
		t.Skip("node_modules/standardwebhooks missing; make setup installs it")
	}
	in, _ := json.Marshal(map[string]any{"secret": secret, "messages": msgs})
	cmd := exec.Command(node, filepath.Join("testdata", "verify-webhooks.cjs"))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm standardwebhooks refused a delivery: %v\n%s", err, out)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != len(msgs) {
		t.Fatalf("node verified %s of %d", out, len(msgs))
	}
}

// TestDeadEndpointNeverHoldsARoom: an endpoint that never answers holds
// its deliveries, never the room: stage changes are acknowledged while
// every delivery to it hangs, and another endpoint gets them all.
func TestDeadEndpointNeverHoldsARoom(t *testing.T) {
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leaving
		<-r.Context().Done()
	}))
	defer dead.Close()
	live := newReceiver(t, 0)
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir(), Webhooks: webhook.Options{Workers: 4, Client: &http.Client{Timeout: time.Hour}}})
	s.call("POST", "/v1/webhooks", map[string]any{"url": dead.URL, "events": []string{"*"}}, 201, nil)
	s.call("POST", "/v1/webhooks", map[string]any{"url": live.URL, "events": []string{"*"}}, 201, nil)
	mid, ps := s.meetingWith("Host", "Viewer")
	s.joinAs(ps[0])
	vw := s.joinAs(ps[1])
	for i := 0; i < 10; i++ {
		s.call("POST", "/v1/meetings/"+mid+"/stage/grant", map[string]any{"user_ids": []string{ps[1].ID}}, 200, nil)
		vw.waitStatus(ps[1].ID, stage.Accepted)
		s.call("POST", "/v1/meetings/"+mid+"/stage/kick", map[string]any{"user_ids": []string{ps[1].ID}}, 200, nil)
		vw.waitStatus(ps[1].ID, stage.OffStage)
	}
	// started, 2 joins, 20 stage changes.
	waitFor(t, "the live endpoint's deliveries", func() bool { return len(live.accepted()) == 23 })
	s.stop() // the hanging delivery does not hold the shutdown
}
