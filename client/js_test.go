//go:build js && wasm

package client

// These tests run the client core in a real browser (headless Chromium via
// wasmbrowsertest) against the real server, through the browser's own
// WebSocket (transport_js.go):
//
//	GOOS=js GOARCH=wasm go test -exec "$PWD/scripts/wasmtest.sh" ./client
//
// scripts/wasmtest.sh starts bin/stageserver and passes its URL and two
// seeded meetings (STAGEKIT_URL, STAGEKIT_SEED1, STAGEKIT_SEED2). Without
// them (e.g. under Node) the tests skip.

import (
	"context"
	"encoding/json"
	"os"
	"syscall/js"
	"testing"
	"time"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

type jsSeed struct {
	MeetingID string `json:"meetingId"`
	People    map[string]struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	} `json:"people"`
}

func loadJSSeed(t *testing.T, name string) (string, jsSeed) {
	t.Helper()
	url, raw := os.Getenv("STAGEKIT_URL"), os.Getenv(name)
	if url == "" || raw == "" {
		t.Skipf("STAGEKIT_URL or %s not set: run through scripts/wasmtest.sh", name)
	}
	var s jsSeed
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	return url, s
}

func jsOpen(t *testing.T, url, token string) (*Meeting, *recorder) {
	t.Helper()
	m, err := Init(context.Background(), Options{BaseURI: url, AuthToken: token,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	rec := record(t, m)
	if err := m.Join(context.Background()); err != nil {
		t.Fatalf("join: %v", err)
	}
	t.Cleanup(func() {
		m.Leave(context.Background())
		<-m.Done()
	})
	return m, rec
}

func TestBrowserStageFlow(t *testing.T) {
	url, s := loadJSSeed(t, "STAGEKIT_SEED1")
	ctx := context.Background()
	host, hrec := jsOpen(t, url, s.People["Host"].Token)
	viewer, vrec := jsOpen(t, url, s.People["Viewer"].Token)
	vid := s.People["Viewer"].ID
	hrec.waitFor(EventParticipantJoined)

	if err := viewer.Stage().RequestAccess(ctx); err != nil {
		t.Fatal(err)
	}
	if viewer.Stage().Status() != stage.Requested {
		t.Fatalf("status %s", viewer.Stage().Status())
	}
	if evs := hrec.waitFor(EventNewStageRequest); evs[len(evs)-1].Count != 1 {
		t.Fatalf("host events %v", evs)
	}
	if err := host.Stage().GrantAccess(ctx, []string{vid}); err != nil {
		t.Fatal(err)
	}
	wantNames(t, vrec.waitN(5), EventRoomJoined, EventStageStatusUpdate,
		EventStageRequestApproved, EventAcceptPresentRequests, EventStageStatusUpdate)
	if err := viewer.Stage().Join(ctx); err != nil {
		t.Fatal(err)
	}
	if err := host.Stage().Kick(ctx, []string{vid}); err != nil {
		t.Fatal(err)
	}
	evs := vrec.waitN(2)
	if evs[1].Status != stage.OffStage {
		t.Fatalf("after kick %v", evs)
	}
	wantCode(t, viewer.Stage().GrantAccess(ctx, []string{vid}), 2001)
	wantCode(t, viewer.Stage().Join(ctx), 2006)
}

func TestBrowserInitErrors(t *testing.T) {
	url, _ := loadJSSeed(t, "STAGEKIT_SEED1")
	_, err := Init(context.Background(), Options{BaseURI: url, AuthToken: "garbage"})
	wantCode(t, err, protocol.CodeTokenInvalid)
	_, err = Init(context.Background(), Options{BaseURI: "http://127.0.0.1:1", AuthToken: "x"})
	wantCode(t, err, CodeUnreachable)
}

// The close code reaches the client in the browser: a client replaced by a
// second connection of the same user (4030) stops instead of fighting back.
func TestBrowserReplacedGetsCloseCode(t *testing.T) {
	url, s := loadJSSeed(t, "STAGEKIT_SEED2")
	first, rec := jsOpen(t, url, s.People["Viewer2"].Token)
	second, _ := jsOpen(t, url, s.People["Viewer2"].Token)
	evs := rec.waitFor(EventDisconnected)
	wantNames(t, evs, EventRoomJoined, EventDisconnected)
	wantCode(t, evs[1].Err, protocol.CodeReplaced)
	<-first.Done()
	if err := second.Stage().RequestAccess(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The connection drops under the client (closed beneath it, not by Close):
// it reconnects by itself, keeps its place and resyncs.
func TestBrowserReconnect(t *testing.T) {
	url, s := loadJSSeed(t, "STAGEKIT_SEED2")
	ctx := context.Background()
	host, hrec := jsOpen(t, url, s.People["Host"].Token)
	viewer, vrec := jsOpen(t, url, s.People["Viewer"].Token)
	if err := viewer.Stage().RequestAccess(ctx); err != nil {
		t.Fatal(err)
	}
	hrec.waitFor(EventNewStageRequest)
	peer := viewer.Stage().PeerID()
	vrec.take()

	viewer.mu.Lock()
	c := viewer.cur
	viewer.mu.Unlock()
	c.t.close()
	vrec.waitFor(EventReconnected)
	if viewer.Stage().Status() != stage.Requested || viewer.Stage().PeerID() != peer {
		t.Fatalf("after reconnect %+v", viewer.Self())
	}
	if err := host.Stage().GrantAccess(ctx, []string{s.People["Viewer"].ID}); err != nil {
		t.Fatal(err)
	}
	vrec.waitFor(EventStageRequestApproved)
}

// newEarly builds what web/stagekit.js's earlySocket hands to init: a
// WebSocket that says hello as soon as it opens and keeps what arrives
// until take().
var newEarly = js.Global().Get("Function").New("url", "hello", `
	const socket = new WebSocket(url);
	const kept = [];
	const keep = (e) => kept.push(e.data);
	socket.addEventListener("message", keep);
	socket.addEventListener("open", () => socket.send(hello), { once: true });
	return { socket, hello, take() { socket.removeEventListener("message", keep); return kept.splice(0); }, close() { socket.close(); } };`)

// The loader's early socket is used, with the answer to its hello, only if
// that hello is the one this client sends first; otherwise init closes it,
// dials its own and still succeeds.
func TestBrowserEarlySocket(t *testing.T) {
	url, s := loadJSSeed(t, "STAGEKIT_SEED1")
	token := s.People["Watcher"].Token
	wsURL, err := socketURL(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		hello    string
		wantUsed bool
	}{
		{"its own hello", string(helloFrame(firstCallID, token)), true},
		{"another hello", string(helloFrame(firstCallID+1, token)), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			early := newEarly.Invoke(wsURL, c.hello)
			m, err := InitWithSocket(context.Background(), Options{BaseURI: url, AuthToken: token}, early)
			if err != nil {
				t.Fatalf("init: %v", err)
			}
			defer m.Close()
			if err := m.Join(context.Background()); err != nil {
				t.Fatalf("join: %v", err)
			}
			if used := early.Get("socket").Get("readyState").Int() == webSocketOpen; used != c.wantUsed {
				t.Errorf("early socket in use: %v, want %v", used, c.wantUsed)
			}
		})
	}
}
