// Package testserver starts the real stage server in-process on loopback and
// drives its REST API, for tests and benchmarks.
package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stagekit/stagekit/server/app"
)

// APIKey is the admin key of test servers.
const APIKey = "test-admin-key"

// Server is a running in-process server.
type Server struct {
	URL string
	App *app.App

	cfg  app.Config
	addr string
}

// Start starts a server with a fresh data dir; it stops when tb ends.
func Start(tb testing.TB, grace time.Duration) *Server {
	tb.Helper()
	return StartConfig(tb, app.Config{Grace: grace})
}

// StartConfig starts a server with cfg, filling in the admin key, a fresh
// data dir and (when nil) a discarding logger; it stops when tb ends.
func StartConfig(tb testing.TB, cfg app.Config) *Server {
	tb.Helper()
	cfg.APIKey, cfg.DataDir = APIKey, tb.TempDir()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, addr: "127.0.0.1:0"}
	s.start(tb)
	tb.Cleanup(func() { s.stop() })
	return s
}

func (s *Server) start(tb testing.TB) {
	tb.Helper()
	a, err := app.New(s.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		a.Shutdown(context.Background())
		tb.Fatal(err)
	}
	go a.Serve(ln)
	s.App, s.addr, s.URL = a, ln.Addr().String(), "http://"+ln.Addr().String()
}

func (s *Server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.App.Shutdown(ctx)
}

// Restart stops the server, as a deploy would (every connection is closed
// with 1001), and starts a new one on the same address and data.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.stop()
	s.start(tb)
}

// Participant is a REST-created participant.
type Participant struct {
	ID    string `json:"id"`
	Token string `json:"token"`
	Name  string `json:"name"`
}

// CreateMeeting creates a meeting through REST and returns its id.
func CreateMeeting(baseURL, title string) (string, error) {
	var m struct {
		ID string `json:"id"`
	}
	err := Do(baseURL, "POST", "/v1/meetings", map[string]string{"title": title}, http.StatusCreated, &m)
	return m.ID, err
}

// AddParticipant adds a participant through REST.
func AddParticipant(baseURL, meetingID, name, preset string) (Participant, error) {
	var p Participant
	err := Do(baseURL, "POST", "/v1/meetings/"+meetingID+"/participants",
		map[string]string{"name": name, "preset_name": preset}, http.StatusCreated, &p)
	return p, err
}

// Do calls the REST API with the admin key and decodes the data envelope.
func Do(baseURL, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, baseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+APIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}
