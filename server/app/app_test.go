package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/app"
	"github.com/stagekit/stagekit/server/cluster"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/stage"
)

const key = "app-test-key"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type server struct {
	t        *testing.T
	app      *app.App
	url      string
	done     chan error
	stopOnce sync.Once
}

// start runs a whole server on loopback; it stops when the test ends.
func start(t *testing.T, cfg app.Config) *server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, app: a, url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	go func() { s.done <- a.Serve(ln) }()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) stop() { s.stopOnce.Do(s.shutdown) }

func (s *server) shutdown() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.app.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		s.t.Error("Serve did not return after Shutdown")
	}
}

// call does a REST call with the admin key and decodes data into out.
func (s *server) call(method, path string, body any, want int, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.app.APIKey())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	if out != nil {
		var env struct{ Data json.RawMessage }
		if err := json.Unmarshal(raw, &env); err != nil {
			s.t.Fatal(err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *server) meetingWith(names ...string) (string, []rest.Participant) {
	var m rest.Meeting
	s.call("POST", "/v1/meetings", map[string]string{"title": "t"}, 201, &m)
	var ps []rest.Participant
	for i, n := range names {
		preset := stage.PresetWebinarViewer
		if i == 0 {
			preset = stage.PresetWebinarHost
		}
		var p rest.Participant
		s.call("POST", "/v1/meetings/"+m.ID+"/participants", map[string]string{"name": n, "preset_name": preset}, 201, &p)
		ps = append(ps, p)
	}
	return m.ID, ps
}

// ws is a raw signaling client.
type ws struct {
	t *testing.T
	c *websocket.Conn
}

func dial(t *testing.T, url, origin string) (*ws, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, res, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/v1/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("%w (status %d)", err, res.StatusCode)
		}
		return nil, err
	}
	t.Cleanup(func() { c.CloseNow() })
	return &ws{t: t, c: c}, nil
}

func (w *ws) send(m protocol.ClientMessage) {
	w.t.Helper()
	m.V = protocol.Version
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

// read returns the next message whose id is id (events skipped), or the
// read error (a close).
func (w *ws) read(id uint64) (protocol.ServerMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			return protocol.ServerMessage{}, err
		}
		var m protocol.ServerMessage
		if err := json.Unmarshal(b, &m); err != nil {
			w.t.Fatalf("bad server message %s: %v", b, err)
		}
		if m.ID == id {
			return m, nil
		}
	}
}

// helloJoin authenticates and joins; it returns the hello result.
func (w *ws) helloJoin(token string) *protocol.HelloResult {
	w.t.Helper()
	w.send(protocol.ClientMessage{ID: 1, Type: protocol.TypeHello, Token: token})
	m, err := w.read(1)
	if err != nil || m.Type != protocol.TypeResult || m.Hello == nil {
		w.t.Fatalf("hello: %+v, %v", m, err)
	}
	w.send(protocol.ClientMessage{ID: 2, Type: protocol.TypeJoin})
	if m, err := w.read(2); err != nil || m.Type != protocol.TypeResult {
		w.t.Fatalf("join: %+v %v", m, err)
	}
	return m.Hello
}

// readErr reads until the connection ends and returns why.
func (w *ws) readErr() error {
	_, err := w.read(^uint64(0))
	return err
}

// waitClose reads until the connection closes and returns the close code.
func (w *ws) waitClose() websocket.StatusCode { return websocket.CloseStatus(w.readErr()) }

func TestWholeServer(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})

	res, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("healthz: %d %s", res.StatusCode, body)
	}
	// REST is behind the key.
	res, err = http.Get(s.url + "/v1/presets")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("REST without key: %d", res.StatusCode)
	}

	mid, ps := s.meetingWith("Host", "Viewer")
	host, viewer := ps[0], ps[1]

	// A REST-issued token opens the signaling socket.
	hw, err := dial(t, s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	hello := hw.helloJoin(host.Token)
	if hello.MeetingID != mid || hello.Self.UserID != host.ID || hello.Self.Name != "Host" || hello.Self.PresetName != stage.PresetWebinarHost {
		t.Errorf("hello %+v", hello)
	}
	if hello.GraceMs != int64(app.DefaultGrace/time.Millisecond) {
		t.Errorf("grace %d ms, want the default", hello.GraceMs)
	}
	vw, err := dial(t, s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	vw.helloJoin(viewer.Token)

	// Deleting the viewer through REST closes its socket with 4031 and
	// revokes its token.
	s.call("DELETE", "/v1/meetings/"+mid+"/participants/"+viewer.ID, nil, 200, nil)
	if code := vw.waitClose(); code != protocol.CodeRemoved {
		t.Errorf("deleted viewer's socket closed with %d, want %d", code, protocol.CodeRemoved)
	}
	again, err := dial(t, s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	again.send(protocol.ClientMessage{ID: 1, Type: protocol.TypeHello, Token: viewer.Token})
	// The refusal shows as an error answer with 4013, or a close with 4013,
	// or both (server/signal's timing decides which survives).
	m, err := again.read(1)
	refused := err == nil && m.Error != nil && m.Error.Code == protocol.CodeTokenRevoked
	if err == nil {
		err = again.readErr()
	}
	if !refused && websocket.CloseStatus(err) != protocol.CodeTokenRevoked {
		t.Errorf("hello with a revoked token: %+v then %v; want 4013", m, err)
	}

	// Shutdown closes the remaining socket as "going away".
	s.stop()
	if code := hw.waitClose(); code != websocket.StatusGoingAway {
		t.Errorf("host socket closed with %d at shutdown, want 1001", code)
	}
}

func TestRestartKeepsMeetingsAndTokens(t *testing.T) {
	dir := t.TempDir()
	s := start(t, app.Config{APIKey: key, DataDir: dir})
	mid, ps := s.meetingWith("Host", "Gone", "Stays")
	s.call("DELETE", "/v1/meetings/"+mid+"/participants/"+ps[1].ID, nil, 200, nil)
	s.stop()

	s2 := start(t, app.Config{APIKey: key, DataDir: dir})
	var m rest.Meeting
	s2.call("GET", "/v1/meetings/"+mid, nil, 200, &m)
	if m.ID != mid {
		t.Errorf("meeting %+v", m)
	}
	var list []rest.Participant
	s2.call("GET", "/v1/meetings/"+mid+"/participants", nil, 200, &list)
	if len(list) != 2 || list[0].ID != ps[0].ID || list[1].ID != ps[2].ID {
		t.Fatalf("participants after restart: %+v", list)
	}
	// Tokens issued before the restart still work: the key was persisted.
	w, err := dial(t, s2.url, "")
	if err != nil {
		t.Fatal(err)
	}
	if h := w.helloJoin(ps[2].Token); h.Self.UserID != ps[2].ID {
		t.Errorf("hello after restart %+v", h)
	}
	// And the deleted one stays revoked.
	if _, err := s2.app.Auth().Authenticate(context.Background(), ps[1].Token); err == nil {
		t.Error("deleted participant's token works after restart")
	}
}

func TestGeneratedAPIKeyLoggedOnce(t *testing.T) {
	var logs syncBuffer
	s := start(t, app.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	k := s.app.APIKey()
	if len(k) < 32 {
		t.Fatalf("generated key %q too short", k)
	}
	if n := strings.Count(logs.String(), k); n != 1 {
		t.Errorf("key appears %d times in the log, want once:\n%s", n, logs.String())
	}
	var m rest.Meeting
	s.call("POST", "/v1/meetings", map[string]string{}, 201, &m)
	// A second server gets another key.
	s2 := start(t, app.Config{DataDir: t.TempDir()})
	if s2.app.APIKey() == k {
		t.Error("two servers generated the same key")
	}
	// A given key is never logged.
	var logs3 syncBuffer
	start(t, app.Config{APIKey: "secret-key-123", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs3, nil))})
	if strings.Contains(logs3.String(), "secret-key-123") {
		t.Error("the configured key was logged")
	}
}

func TestConfigDefaultsAndSettings(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir(), Grace: 3 * time.Second, TokenTTL: time.Hour, DemoMode: true})
	c := s.app.Config()
	if c.Addr != app.DefaultAddr || c.Grace != 3*time.Second || c.TokenTTL != time.Hour || !c.DemoMode {
		t.Errorf("config %+v", c)
	}
	if s.app.Auth().TTL() != time.Hour {
		t.Errorf("token TTL %v", s.app.Auth().TTL())
	}
	_, ps := s.meetingWith("Host")
	w, err := dial(t, s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	if h := w.helloJoin(ps[0].Token); h.GraceMs != 3000 {
		t.Errorf("grace %d ms, want 3000", h.GraceMs)
	}
	if s.app.Store() == nil || s.app.Hub() == nil || s.app.Handler() == nil || s.app.Mux() == nil {
		t.Error("nil accessor")
	}
}

func TestPresetsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "presets.json")
	os.WriteFile(file, []byte(`[{"name":"panelist","stage_enabled":true,"stage_access":"ALLOWED"}]`), 0o600)
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir(), PresetsFile: file})
	var m rest.Meeting
	s.call("POST", "/v1/meetings", map[string]string{"title": "t"}, 201, &m)
	var p rest.Participant
	s.call("POST", "/v1/meetings/"+m.ID+"/participants", map[string]string{"name": "P", "preset_name": "panelist"}, 201, &p)
	w, err := dial(t, s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	if h := w.helloJoin(p.Token); h.Self.PresetName != "panelist" || h.Permissions.StageAccess != stage.Allowed {
		t.Errorf("hello %+v", h)
	}

	// A bad file stops New with an error naming it.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"name":"x","stage_access":"SOMETIMES"}]`), 0o600)
	_, err = app.New(app.Config{APIKey: key, DataDir: t.TempDir(), PresetsFile: bad, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "SOMETIMES") {
		t.Errorf("bad presets file: %v", err)
	}
	_, err = app.New(app.Config{APIKey: key, DataDir: t.TempDir(), PresetsFile: filepath.Join(dir, "missing.json"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing presets file: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o600)
	for name, cfg := range map[string]app.Config{
		"negative grace": {APIKey: key, DataDir: t.TempDir(), Grace: -time.Second, Logger: quiet},
		"negative ttl":   {APIKey: key, DataDir: t.TempDir(), TokenTTL: -time.Second, Logger: quiet},
		"data not a dir": {APIKey: key, DataDir: notDir, Logger: quiet},
	} {
		if a, err := app.New(cfg); err == nil {
			a.Shutdown(context.Background())
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestOrigins(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	if _, err := dial(t, s.url, "http://evil.example"); err == nil {
		t.Error("a foreign origin was accepted by default")
	}
	if _, err := dial(t, s.url, s.url); err != nil {
		t.Errorf("same-host origin refused: %v", err)
	}
	s2 := start(t, app.Config{APIKey: key, DataDir: t.TempDir(), AllowedOrigins: []string{"app.example:*"}})
	if _, err := dial(t, s2.url, "https://app.example:8443"); err != nil {
		t.Errorf("allowed origin refused: %v", err)
	}
	if _, err := dial(t, s2.url, "https://other.example"); err == nil {
		t.Error("an origin outside the list was accepted")
	}
}

func TestShutdownWithoutServeAndTwice(t *testing.T) {
	a, err := app.New(app.Config{APIKey: key, DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	// The store is closed: the data dir can be opened again by a new server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("Serve after Shutdown did not return")
	}
	ln.Close()
}

func TestShutdownWaitsForRequestsThenClosesStore(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	s.stop()
	if err := s.app.Store().Ping(context.Background()); err == nil {
		t.Error("store still open after Shutdown")
	}
	if _, err := http.Get(s.url + "/healthz"); err == nil {
		t.Error("server still answers after Shutdown")
	}
}

func TestHealthzUnavailable(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	s.app.Store().Close()
	res, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("healthz with a closed store: %d", res.StatusCode)
	}
}

func TestNoKeyLoggedWhenStartFails(t *testing.T) {
	var logs syncBuffer
	_, err := app.New(app.Config{DataDir: t.TempDir(), PresetsFile: filepath.Join(t.TempDir(), "absent.json"),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err == nil {
		t.Fatal("New succeeded without its presets file")
	}
	if strings.Contains(logs.String(), "api_key") {
		t.Errorf("a failed start logged a key: %s", logs.String())
	}
}

// The single server answers /readyz (its database) and /metrics, with no
// cluster metrics.
func TestReadyzAndMetrics(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"status":"ready"`) || strings.Contains(body, "redis") {
		t.Errorf("/readyz = %d %s", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{"stagekit_rooms 0", "stagekit_connections 0", "stagekit_media_packets_forwarded_total 0", "stagekit_media_packets_shed_total 0", "stagekit_media_packets_pace_overflow_total 0", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(body, "stagekit_lease") {
		t.Error("a single server reports lease metrics")
	}
	s.app.Store().Close()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"store":"unavailable"`) {
		t.Errorf("/readyz with a closed store = %d %s", code, body)
	}
}

// A cluster node needs PostgreSQL.
func TestClusterNeedsPostgres(t *testing.T) {
	_, err := app.New(app.Config{APIKey: key, DataDir: t.TempDir(), Cluster: &cluster.Config{RedisURL: "redis://127.0.0.1:1/0", NodeID: "n", Advertise: "http://x:1"}})
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Errorf("New = %v", err)
	}
}
