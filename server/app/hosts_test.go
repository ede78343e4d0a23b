package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/rest"
)

// dialHost opens the signaling socket with a chosen Host header and Origin;
// it returns the HTTP status of the refusal, or 101.
func dialHost(t *testing.T, url, host, origin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/v1/ws",
		&websocket.DialOptions{Host: host, HTTPHeader: http.Header{"Origin": {origin}}})
	if err == nil {
		c.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if res == nil {
		t.Fatalf("dial with Host %q: %v", host, err)
	}
	return res.StatusCode
}

func TestForgedHostIsRefused(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	port := s.url[strings.LastIndex(s.url, ":")+1:]

	// DNS rebinding: evil.example resolves to this server; the page's
	// Origin matches its Host, which the origin check alone accepts.
	for _, host := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port} {
		if got := dialHost(t, s.url, host, "http://"+host); got != http.StatusForbidden {
			t.Errorf("Host %q with a matching Origin: status %d, want 403", host, got)
		}
	}
	// The refusal is the API's coded JSON error, on every route.
	req, _ := http.NewRequest("GET", s.url+"/v1/presets", nil)
	req.Host = "evil.example:" + port
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code int } `json:"error"`
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || json.Unmarshal(raw, &body) != nil || body.Error.Code != rest.CodeHostNotAllowed {
		t.Errorf("REST with a foreign Host: %d %s", res.StatusCode, raw)
	}

	// The server's own names keep working.
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST.:" + port, "app.localhost:" + port} {
		if got := dialHost(t, s.url, host, "http://"+host); got != http.StatusSwitchingProtocols {
			t.Errorf("Host %q: status %d, want 101", host, got)
		}
	}
	// /healthz answers whatever the name.
	req, _ = http.NewRequest("GET", s.url+"/healthz", nil)
	req.Host = "probe.internal"
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("healthz with another Host: %v %v", res, err)
	}
}

func TestConfiguredHostNames(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir(),
		AllowedHosts: []string{"stage.example.com", "*.stage.example.org"}, AllowedOrigins: []string{"https://app.example:*"}})
	for host, want := range map[string]int{
		"stage.example.com:443":     101,
		"eu.stage.example.org":      101,
		"app.example:8443":          101, // a host of the allowed origins
		"203.0.113.7:8080":          101, // an address typed by the user
		"other.example.com":         403,
		"stage.example.com.evil.io": 403,
	} {
		if got := dialHost(t, s.url, host, "http://"+host); got != want {
			t.Errorf("Host %q: status %d, want %d", host, got, want)
		}
	}
}
