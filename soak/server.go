//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stagekit/stagekit/internal/harness"
)

// apiKey is the admin key the soak's server is started with.
const apiKey = "soak-admin-key"

// serverBinary returns the stageserver to run: $STAGEKIT_SOAK_SERVER when
// set, else a fresh `go build ./cmd/stageserver` of this module into dir.
func serverBinary(dir string) (path, from string, err error) {
	if p := os.Getenv("STAGEKIT_SOAK_SERVER"); p != "" {
		return p, p + " ($STAGEKIT_SOAK_SERVER)", nil
	}
	out := filepath.Join(dir, "stageserver")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	msg, err := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/stagekit/stagekit/cmd/stageserver").CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("go build ./cmd/stageserver: %v\n%s", err, msg)
	}
	return out, "go build ./cmd/stageserver (this checkout)", nil
}

// server is a stageserver child process on a loopback port, with its own
// data directory.
type server struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
	rest *harness.REST

	mu       sync.Mutex
	tail     []string       // last lines of its log (debug and gctrace lines excluded)
	bad      []string       // panics, fatal errors, ERROR lines (first 50)
	badCount int            // how many such lines
	events   map[string]int // log lines counted by watchPhrases
	liveHeap []int          // live heap (MB) of each GC, from gctrace
}

// watchPhrases are server log messages that say why it closed a client's
// connection (debug and warn levels).
var watchPhrases = []string{
	"closing a slow connection",           // 4032
	"dropping an unresponsive connection", // no pong within the ping interval
	"closing a flooding connection",       // 4020
}

var gcRe = regexp.MustCompile(`^gc \d+ .* \d+->\d+->(\d+) MB, \d+ MB goal`)

// startServer starts bin with a fresh data directory under dataDir and
// waits until /healthz answers.
func startServer(bin, dataDir, grace string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"-addr", addr, "-api-key", apiKey, "-data", dataDir, "-grace", grace}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "STAGEKIT_LOG_LEVEL=debug", "GODEBUG=gctrace=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{URL: "http://" + addr, cmd: cmd, done: make(chan struct{}), events: map[string]int{}}
	s.rest = harness.NewREST(s.URL, apiKey)
	logDone := make(chan struct{})
	go s.readLog(stderr, logDone)
	go func() {
		<-logDone
		cmd.Wait()
		close(s.done)
	}()
	if err := s.waitHealthy(20 * time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%v\nserver log:\n%s", err, s.logTail())
	}
	return s, nil
}

func (s *server) readLog(r io.Reader, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		if m := gcRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			s.liveHeap = append(s.liveHeap, n)
			s.mu.Unlock()
			continue
		}
		for _, w := range watchPhrases {
			if strings.Contains(line, w) {
				s.events[w]++
			}
		}
		if strings.Contains(line, "panic") || strings.HasPrefix(line, "fatal error") || strings.Contains(line, "level=ERROR") {
			s.badCount++
			if len(s.bad) < 50 {
				s.bad = append(s.bad, line)
			}
		}
		if !strings.Contains(line, "level=DEBUG") {
			s.tail = append(s.tail, line)
			if len(s.tail) > 400 {
				s.tail = s.tail[len(s.tail)-200:]
			}
		}
		s.mu.Unlock()
	}
}

func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) waitHealthy(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if !s.alive() {
			return errors.New("the server exited during startup")
		}
		res, err := hc.Get(s.URL + "/healthz")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the server did not answer /healthz within %v", limit)
}

// stop ends the server (SIGTERM, then SIGKILL after 10s) and returns how it
// exited.
func (s *server) stop() string {
	if s.cmd.Process == nil {
		return "not started"
	}
	if !s.alive() {
		return "had already exited: " + s.cmd.ProcessState.String()
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return "killed after 10s without exiting on SIGTERM"
	}
	s.rest.CloseIdle()
	return s.cmd.ProcessState.String()
}

// participant is a REST-created participant: ID is its userId.
type participant struct {
	ID         string `json:"id"`
	Token      string `json:"token"`
	Name       string `json:"name"`
	PresetName string `json:"preset_name"`
}
