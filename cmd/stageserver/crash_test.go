package main

import (
	"context"
	"encoding/json"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/stage"
)

// kill -9 with a user on stage, one invited and two requests pending:
// nothing the server acknowledged is lost. The restarted binary restores
// the stage, and the same users, connecting anew, find it as it was.
func TestBinaryCrashKeepsTheStage(t *testing.T) {
	dir := t.TempDir()
	const key = "crash-key-123"
	p := startBinary(t, dir, "-api-key", key)
	p.apiKey = key
	mid := p.create(t, "/v1/meetings", `{"title":"crash"}`)
	tokens := map[string]string{}
	ids := map[string]string{}
	for _, u := range []struct{ name, preset string }{
		{"Host", stage.PresetWebinarHost}, {"Star", stage.PresetWebinarViewer}, {"Guest", stage.PresetWebinarViewer},
		{"First", stage.PresetWebinarViewer}, {"Second", stage.PresetWebinarViewer},
	} {
		status, body := p.post(t, "/v1/meetings/"+mid+"/participants", `{"name":"`+u.name+`","preset_name":"`+u.preset+`"}`)
		var r struct {
			Data struct{ ID, Token string } `json:"data"`
		}
		if status != 201 || json.Unmarshal(body, &r) != nil {
			t.Fatalf("add %s: %d %s", u.name, status, body)
		}
		tokens[u.name], ids[u.name] = r.Data.Token, r.Data.ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	join := func(url, name string) *client.Meeting {
		t.Helper()
		m, err := client.Init(ctx, client.Options{BaseURI: url, AuthToken: tokens[name]})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(m.Close)
		if err := m.Join(ctx); err != nil {
			t.Fatalf("%s join: %v", name, err)
		}
		return m
	}
	ms := map[string]*client.Meeting{}
	for _, n := range []string{"Host", "Star", "Guest", "First", "Second"} {
		ms[n] = join(p.url, n)
	}
	steps := []error{
		ms["Host"].Stage().GrantAccess(ctx, []string{ids["Star"], ids["Guest"]}),
		ms["Star"].Stage().Join(ctx),
		ms["First"].Stage().RequestAccess(ctx),
		ms["Second"].Stage().RequestAccess(ctx),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// Acknowledged: the last promise resolved. Now the crash.
	p.stop(t, syscall.SIGKILL)
	for _, m := range ms {
		m.Close()
	}

	p2 := startBinary(t, dir, "-api-key", key)
	host := join(p2.url, "Host")
	var pending []string
	for _, r := range host.Requests() {
		pending = append(pending, r.UserID)
	}
	if !slices.Equal(pending, []string{ids["First"], ids["Second"]}) {
		t.Fatalf("pending after the crash %q, want First then Second", pending)
	}
	want := map[string]stage.Status{"Star": stage.OnStage, "Guest": stage.Accepted, "First": stage.Requested, "Second": stage.Requested}
	seen := map[string]stage.Status{}
	for _, pt := range host.Participants() {
		seen[pt.Name] = pt.StageStatus
	}
	for n, s := range want {
		if seen[n] != s {
			t.Fatalf("after the crash the host sees %s as %s, want %s (all: %v)", n, seen[n], s, seen)
		}
	}
	// The star comes back on stage as itself.
	star := join(p2.url, "Star")
	if s := star.Stage().Status(); s != stage.OnStage {
		t.Fatalf("the star came back %s", s)
	}
}

// create posts and returns the new object's id.
func (p *proc) create(t *testing.T, path, body string) string {
	t.Helper()
	status, b := p.post(t, path, body)
	var r struct {
		Data struct{ ID string } `json:"data"`
	}
	if status != 201 || json.Unmarshal(b, &r) != nil || r.Data.ID == "" {
		t.Fatalf("POST %s: %d %s", path, status, b)
	}
	return r.Data.ID
}
