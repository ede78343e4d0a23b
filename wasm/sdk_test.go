//go:build js && wasm

package main

import (
	"encoding/json"
	"os"
	"strconv"
	"syscall/js"
	"testing"
	"time"

	"github.com/stagekit/stagekit/jsbridge"
)

// These tests run in headless Chromium (wasmbrowsertest) against the real
// server that scripts/wasmtest.sh starts; they drive the SDK through its JS
// surface, exactly as a page would.

type seed struct {
	MeetingID string `json:"meetingId"`
	People    map[string]struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	} `json:"people"`
}

func loadSeed(t *testing.T, name string) seed {
	t.Helper()
	raw := os.Getenv(name)
	if raw == "" {
		t.Skipf("%s not set: run through scripts/wasmtest.sh", name)
	}
	var s seed
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// page is one meeting object with its recorded events.
type page struct {
	t      *testing.T
	obj    js.Value
	events chan string
}

func await(t *testing.T, p js.Value) js.Value {
	t.Helper()
	v, err := jsbridge.Await(p)
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	return v
}

func rejection(t *testing.T, p js.Value) *jsbridge.JSError {
	t.Helper()
	_, err := jsbridge.Await(p)
	if err == nil {
		t.Fatal("resolved, want a rejection")
	}
	je, ok := err.(*jsbridge.JSError)
	if !ok {
		t.Fatalf("rejection %T %v", err, err)
	}
	return je
}

func open(t *testing.T, api js.Value, token string) *page {
	t.Helper()
	opts := map[string]any{"authToken": token, "baseURI": os.Getenv("STAGEKIT_URL")}
	m := await(t, api.Call("init", opts))
	await(t, m.Call("join"))
	p := &page{t: t, obj: m, events: make(chan string, 64)}
	rec := js.FuncOf(func(_ js.Value, args []js.Value) any {
		name := args[0].String()
		if name == "newStageRequest" {
			name += ":" + strconv.Itoa(args[1].Get("count").Int())
		}
		p.events <- name
		return nil
	})
	t.Cleanup(rec.Release)
	m.Get("stage").Call("on", "*", rec)
	t.Cleanup(func() { jsbridge.Await(m.Call("leave")) })
	return p
}

func (p *page) stage() js.Value { return p.obj.Get("stage") }

func (p *page) status() string { return p.stage().Get("status").String() }

// want waits for the named stage event.
func (p *page) want(name string) {
	p.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-p.events:
			if got == name {
				return
			}
		case <-timeout:
			p.t.Fatalf("no %s event", name)
		}
	}
}

func TestHostViewerFlowFromWasm(t *testing.T) {
	s := loadSeed(t, "STAGEKIT_SEED1")
	api := newAPI()
	host := open(t, api, s.People["Host"].Token)
	viewer := open(t, api, s.People["Viewer"].Token)
	viewerID := s.People["Viewer"].ID

	if got := host.status(); got != "ACCEPTED_TO_JOIN_STAGE" {
		t.Fatalf("host status %s", got)
	}
	await(t, viewer.stage().Call("requestAccess"))
	if got := viewer.status(); got != "REQUESTED_TO_JOIN_STAGE" {
		t.Fatalf("viewer status after requestAccess resolved: %s", got)
	}
	host.want("newStageRequest:1")

	// Synchronous, from the list the client holds.
	reqs := host.stage().Call("getAccessRequests").Get("stageRequests")
	if reqs.Length() != 1 || reqs.Index(0).Get("userId").String() != viewerID || reqs.Index(0).Get("requestedAt").Int() == 0 {
		t.Fatalf("getAccessRequests: %d entries", reqs.Length())
	}

	e := rejection(t, viewer.stage().Call("grantAccess", []any{viewerID}))
	if e.Name != "ClientError" || e.Code != "2001" {
		t.Fatalf("viewer grant: %s %s %s", e.Name, e.Code, e.Message)
	}

	ids := host.obj.Get("participants").Call("toArray")
	if ids.Length() != 1 {
		t.Fatalf("host sees %d participants", ids.Length())
	}
	await(t, host.stage().Call("grantAccess", []any{ids.Index(0).Get("userId").String()}))
	viewer.want("stageRequestApproved")
	await(t, viewer.stage().Call("join"))
	if got := viewer.status(); got != "ON_STAGE" {
		t.Fatalf("viewer after join %s", got)
	}
	kicked := await(t, host.stage().Call("kick", []any{viewerID}))
	if kicked.Get("id").Type() != js.TypeString || !kicked.Get("payload").InstanceOf(js.Global().Get("Uint8Array")) {
		t.Fatalf("kick resolved with %v, want {id, payload}", kicked)
	}
	deadline := time.Now().Add(5 * time.Second)
	for viewer.status() != "OFF_STAGE" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := viewer.status(); got != "OFF_STAGE" {
		t.Fatalf("viewer after kick %s", got)
	}
	e = rejection(t, viewer.stage().Call("join"))
	if e.Code != "2006" {
		t.Fatalf("join while OFF_STAGE: %s", e.Code)
	}
	// Nothing pending: cancelRequestAccess resolves, as in RealtimeKit.
	await(t, viewer.stage().Call("cancelRequestAccess"))
	watcher := open(t, api, s.People["Watcher"].Token)
	if e := rejection(t, watcher.stage().Call("requestAccess")); e.Code != "2001" {
		t.Fatalf("NOT_ALLOWED request: %s", e.Code)
	}
}

func TestInitRejectsBadToken(t *testing.T) {
	loadSeed(t, "STAGEKIT_SEED2")
	api := newAPI()
	e := rejection(t, api.Call("init", map[string]any{"authToken": "garbage", "baseURI": os.Getenv("STAGEKIT_URL")}))
	if e.Name != "ClientError" || e.Code != "4011" {
		t.Fatalf("bad token: %s %s %q", e.Name, e.Code, e.Message)
	}
	e = rejection(t, api.Call("init", map[string]any{"authToken": "x", "baseURI": "http://127.0.0.1:1"}))
	if e.Code != "5001" {
		t.Fatalf("unreachable: %s %q", e.Code, e.Message)
	}
}
