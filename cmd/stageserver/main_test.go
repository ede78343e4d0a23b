package main

import (
	"github.com/stagekit/stagekit/internal/clusterenv"

	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseDefaults(t *testing.T) {
	cfg, err := parse(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.APIKey != "" || cfg.DataDir != "./data" || cfg.PresetsFile != "" ||
		cfg.Grace != 20*time.Second || cfg.TokenTTL != 24*time.Hour || cfg.AllowedOrigins != nil || cfg.DemoMode || cfg.Logger == nil ||
		cfg.MediaConfig.Unpaced {
		t.Errorf("defaults %+v", cfg)
	}
}

// Pacing is on unless -pacing=false or STAGEKIT_PACING=false (the flag wins).
func TestParsePacing(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		on   bool
	}{
		{nil, nil, true},
		{[]string{"-pacing=false"}, nil, false},
		{[]string{"-pacing"}, map[string]string{"STAGEKIT_PACING": "false"}, true},
		{nil, map[string]string{"STAGEKIT_PACING": "true"}, true},
		{[]string{"-pacing=false"}, map[string]string{"STAGEKIT_PACING": "1"}, false},
		{nil, map[string]string{"STAGEKIT_PACING": "0"}, false},
	} {
		cfg, err := parse(c.args, envOf(c.env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.MediaConfig.Unpaced != c.on {
			t.Errorf("%v %v: paced %v, want %v", c.args, c.env, !cfg.MediaConfig.Unpaced, c.on)
		}
	}
}

func TestParseEnvAndFlags(t *testing.T) {
	env := envOf(map[string]string{
		"STAGEKIT_ADDR": "0.0.0.0:9000", "STAGEKIT_API_KEY": "envkey", "STAGEKIT_DATA": "/tmp/d",
		"STAGEKIT_PRESETS": "p.json", "STAGEKIT_GRACE": "5s", "STAGEKIT_TOKEN_TTL": "1h",
		"STAGEKIT_ALLOWED_ORIGINS": " localhost:* , ,example.com ", "STAGEKIT_LOG_LEVEL": "debug",
		"STAGEKIT_LOG_FORMAT": "json", "STAGEKIT_DEMO": "true", "STAGEKIT_DEMO_PUBLIC": "true",
		"STAGEKIT_ALLOWED_HOSTS": "stage.example, *.stage.example",
	})
	cfg, err := parse(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:9000" || cfg.APIKey != "envkey" || cfg.DataDir != "/tmp/d" || cfg.PresetsFile != "p.json" ||
		cfg.Grace != 5*time.Second || cfg.TokenTTL != time.Hour || !cfg.DemoMode ||
		!slices.Equal(cfg.AllowedOrigins, []string{"localhost:*", "example.com"}) ||
		!slices.Equal(cfg.AllowedHosts, []string{"stage.example", "*.stage.example"}) {
		t.Errorf("from env: %+v", cfg)
	}
	// Flags win over the environment.
	cfg, err = parse([]string{"-addr", ":1", "-api-key", "flagkey", "-grace", "7s", "-demo=false", "-allowed-origins", "a.example"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":1" || cfg.APIKey != "flagkey" || cfg.Grace != 7*time.Second || cfg.DemoMode ||
		!slices.Equal(cfg.AllowedOrigins, []string{"a.example"}) || cfg.TokenTTL != time.Hour {
		t.Errorf("flags over env: %+v", cfg)
	}
}

func TestDemoRefusesAPublicAddressUnlessAsked(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "[::]:8080", "192.0.2.10:8080", "stage.example.com:80"} {
		_, err := parse([]string{"-demo", "-addr", addr}, envOf(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-demo-public") {
			t.Errorf("-demo -addr %s: %v, want a refusal naming -demo-public", addr, err)
		}
		// From the environment too.
		_, err = parse(nil, envOf(map[string]string{"STAGEKIT_DEMO": "1", "STAGEKIT_ADDR": addr}), io.Discard)
		if err == nil {
			t.Errorf("STAGEKIT_DEMO with %s accepted", addr)
		}
		cfg, err := parse([]string{"-demo", "-demo-public", "-addr", addr}, envOf(nil), io.Discard)
		if err != nil || !cfg.DemoMode || cfg.Addr != addr {
			t.Errorf("-demo -demo-public -addr %s: %+v, %v", addr, cfg, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:0", "localhost:8080", "[::1]:8080", "127.10.0.1:9"} {
		if _, err := parse([]string{"-demo", "-addr", addr}, envOf(nil), io.Discard); err != nil {
			t.Errorf("-demo -addr %s: %v", addr, err)
		}
	}
	// Without -demo any address goes.
	if _, err := parse([]string{"-addr", "0.0.0.0:8080"}, envOf(nil), io.Discard); err != nil {
		t.Errorf("-addr 0.0.0.0:8080: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-grace", "soon"}, nil, "grace"},
		{[]string{"-grace", "0s"}, nil, "-grace must be positive"},
		{[]string{"-token-ttl", "-1h"}, nil, "-token-ttl must be positive"},
		{nil, map[string]string{"STAGEKIT_GRACE": "20"}, "$STAGEKIT_GRACE"},
		{nil, map[string]string{"STAGEKIT_TOKEN_TTL": "x"}, "$STAGEKIT_TOKEN_TTL"},
		{nil, map[string]string{"STAGEKIT_DEMO": "maybe"}, "$STAGEKIT_DEMO"},
		{[]string{"-demo", "-addr", "0.0.0.0:8080"}, nil, "-demo-public"},
		{[]string{"-log-level", "loud"}, nil, "-log-level"},
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{[]string{"-nope"}, nil, "nope"},
		{[]string{"extra"}, nil, "unexpected arguments"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		_, err := parse(c.args, envOf(c.env), &out)
		if err == nil {
			t.Errorf("%v %v: parse succeeded", c.args, c.env)
			continue
		}
		if !strings.Contains(err.Error()+out.String(), c.want) {
			t.Errorf("%v %v: error %q (output %q) lacks %q", c.args, c.env, err, out.String(), c.want)
		}
	}
	var out bytes.Buffer
	if _, err := parse([]string{"-help"}, envOf(nil), &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
	for _, name := range []string{"STAGEKIT_API_KEY", "-allowed-origins", "-allowed-hosts", "-presets", "-demo", "-demo-public"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("usage lacks %s", name)
		}
	}
}

// proc is a running stageserver binary.
type proc struct {
	cmd    *exec.Cmd
	url    string
	apiKey string
	lines  chan map[string]any
	exited chan error
}

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stageserver-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "stageserver")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := clusterenv.Run(m) // stops the cluster tests' PostgreSQL
	os.RemoveAll(dir)
	os.Exit(code)
}

// startBinary runs the server on a free port with JSON logs and waits until
// it listens.
func startBinary(t *testing.T, dataDir string, args ...string) *proc {
	t.Helper()
	args = append([]string{"-addr", "127.0.0.1:0", "-data", dataDir, "-log-format", "json"}, args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan map[string]any, 100), exited: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": "raw: " + sc.Text()}
			}
			p.lines <- m
		}
		close(p.lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	deadline := time.After(15 * time.Second)
	for p.url == "" {
		select {
		case m, ok := <-p.lines:
			if !ok {
				t.Fatal("server exited before listening")
			}
			if k, ok := m["api_key"].(string); ok {
				p.apiKey = k
			}
			if u, ok := m["url"].(string); ok && m["msg"] == "listening" {
				p.url = u
			}
		case <-deadline:
			t.Fatal("server did not start listening")
		}
	}
	return p
}

// stop sends sig and returns the logged messages until exit, and the exit error.
func (p *proc) stop(t *testing.T, sig syscall.Signal) ([]string, error) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				return msgs, <-p.exited
			}
			msgs = append(msgs, m["msg"].(string))
		case <-timeout:
			t.Fatal("server did not exit")
		}
	}
}

func (p *proc) post(t *testing.T, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestBinaryGeneratesKeyServesAndStopsGracefully(t *testing.T) {
	dir := t.TempDir()
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := startBinary(t, dir)
		if len(p.apiKey) < 32 {
			t.Fatalf("run %d: no generated API key in the log", i)
		}
		if res, err := http.Get(p.url + "/healthz"); err != nil || res.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", res, err)
		}
		status, body := p.post(t, "/v1/meetings", `{"title":"from the binary"}`)
		if status != 201 {
			t.Fatalf("create meeting: %d %s", status, body)
		}
		msgs, err := p.stop(t, sig)
		if err != nil {
			t.Errorf("run %d: exit after %v: %v (log %q)", i, sig, err, msgs)
		}
		if !slices.Contains(msgs, "stopped") {
			t.Errorf("run %d: no graceful stop in the log: %q", i, msgs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "stagekit.db")); err != nil {
		t.Errorf("no database in the data dir: %v", err)
	}
}

func TestBinaryKeepsDataAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, dir, "-api-key", "fixed-key-123")
	if p.apiKey != "" {
		t.Error("a given API key was logged")
	}
	p.apiKey = "fixed-key-123"
	_, body := p.post(t, "/v1/meetings", `{"title":"kept"}`)
	var m struct {
		Data struct{ ID string } `json:"data"`
	}
	json.Unmarshal(body, &m)
	if m.Data.ID == "" {
		t.Fatalf("no meeting id in %s", body)
	}
	p.stop(t, syscall.SIGTERM)

	p2 := startBinary(t, dir, "-api-key", "fixed-key-123")
	p2.apiKey = "fixed-key-123"
	req, _ := http.NewRequest("GET", p2.url+"/v1/meetings/"+m.Data.ID, nil)
	req.Header.Set("Authorization", "Bearer fixed-key-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("meeting after restart: %d", res.StatusCode)
	}
	p2.stop(t, syscall.SIGTERM)
}

func TestBinaryStartupErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "presets.json")
	os.WriteFile(bad, []byte(`[{"name":"x"}]`), 0o600)
	for name, args := range map[string][]string{
		"bad presets": {"-presets", bad},
		"bad flag":    {"-grace", "never"},
		"bad address": {"-addr", "256.0.0.1:bad"},
	} {
		cmd := exec.Command(binary, append([]string{"-data", t.TempDir()}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("%s: exit %v, want failure; output %s", name, err, out)
		}
		if name == "bad presets" && !strings.Contains(string(out), "presets.json") {
			t.Errorf("bad presets: output does not name the file: %s", out)
		}
	}
}

func TestParseCluster(t *testing.T) {
	env := envOf(map[string]string{
		"STAGEKIT_CLUSTER": "true", "STAGEKIT_REDIS_URL": "redis://r:6379/0", "STAGEKIT_POSTGRES_URL": "postgres://p/db",
		"STAGEKIT_NODE_ID": "n1", "STAGEKIT_ADVERTISE": "http://10.0.0.1:8080/", "STAGEKIT_LEASE_TTL": "3s",
	})
	cfg, err := parse(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if c == nil || c.RedisURL != "redis://r:6379/0" || cfg.PostgresURL != "postgres://p/db" || c.NodeID != "n1" ||
		c.Advertise != "http://10.0.0.1:8080" || c.LeaseTTL != 3*time.Second {
		t.Errorf("cluster from env: %+v %+v", cfg, c)
	}
	cfg, err = parse([]string{"-node-id", "n2", "-lease-ttl", "9s"}, env, io.Discard)
	if err != nil || cfg.Cluster.NodeID != "n2" || cfg.Cluster.LeaseTTL != 9*time.Second {
		t.Errorf("flags over env: %+v, %v", cfg.Cluster, err)
	}
	// Not clustered: no cluster, and PostgreSQL alone is allowed.
	cfg, err = parse([]string{"-postgres", "postgres://p/db"}, envOf(nil), io.Discard)
	if err != nil || cfg.Cluster != nil || cfg.PostgresURL != "postgres://p/db" {
		t.Errorf("-postgres alone: %+v, %v", cfg, err)
	}
	if cfg, _ := parse(nil, envOf(nil), io.Discard); cfg.Cluster != nil || cfg.PostgresURL != "" {
		t.Errorf("the default is clustered: %+v", cfg)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-cluster"}, "-cluster needs -advertise, -node-id, -postgres, -redis"},
		{[]string{"-cluster", "-redis", "redis://r", "-postgres", "postgres://p", "-node-id", "n"}, "-cluster needs -advertise"},
		{[]string{"-redis", "redis://r"}, "need -cluster"},
		{[]string{"-cluster", "-redis", "redis://r", "-postgres", "postgres://p", "-node-id", "n", "-advertise", "http://x:1", "-demo"}, "-demo"},
	} {
		if _, err := parse(c.args, envOf(nil), io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
