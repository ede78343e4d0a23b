//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stagekit/stagekit/internal/harness"
)

// apiKey is the admin key the benchmark servers are started with.
const apiKey = "bench-admin-key"

// The server binary, built once per test process.
var (
	binOnce sync.Once
	binPath string
	binFrom string // what binPath is, for the log
	binErr  error
	binDir  string // temporary build directory, removed by cleanupBinary
)

// serverBinary returns the stageserver binary: $STAGEKIT_BENCH_SERVER when
// set, else a fresh `go build ./cmd/stageserver` of this checkout, else (the
// build failing, e.g. while someone is mid-edit) the repository's
// bin/stageserver.
func serverBinary() (path, from string, err error) {
	binOnce.Do(func() {
		if p := os.Getenv("STAGEKIT_BENCH_SERVER"); p != "" {
			binPath, binFrom = p, "$STAGEKIT_BENCH_SERVER"
			return
		}
		dir, err := os.MkdirTemp("", "stagekit-bench-bin-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		out := filepath.Join(dir, "stageserver")
		goTool := "go"
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		} else if root := runtime.GOROOT(); root != "" {
			goTool = filepath.Join(root, "bin", "go")
		}
		args := []string{"build", "-o", out}
		what := "go build ./cmd/stageserver (this checkout)"
		if profileDir() != "" {
			// Add testdata/serverprof.go to package main: the server then
			// writes CPU and heap profiles on request (see that file).
			overlay, err := profilingOverlay(dir)
			if err != nil {
				binErr = err
				return
			}
			args = append(args, "-overlay", overlay)
			what += " + testdata/serverprof.go (profiling build)"
		}
		args = append(args, "github.com/stagekit/stagekit/cmd/stageserver")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, args...)
		msg, berr := cmd.CombinedOutput()
		if berr == nil {
			binPath, binFrom = out, what
			return
		}
		if profileDir() != "" {
			binErr = fmt.Errorf("profiling build: go build ./cmd/stageserver: %v\n%s", berr, msg)
			return
		}
		fallback, _ := filepath.Abs(filepath.Join("..", "bin", "stageserver"))
		if st, err := os.Stat(fallback); err == nil && !st.IsDir() {
			binPath = fallback
			binFrom = fmt.Sprintf("bin/stageserver of %s (go build failed: %v: %s)", st.ModTime().Format(time.RFC3339), berr, firstLine(msg))
			return
		}
		binErr = fmt.Errorf("go build ./cmd/stageserver: %v\n%s", berr, msg)
	})
	return binPath, binFrom, binErr
}

// profilingOverlay writes a go build -overlay file that adds
// testdata/serverprof.go to cmd/stageserver.
func profilingOverlay(dir string) (string, error) {
	src, err := filepath.Abs(filepath.Join("testdata", "serverprof.go"))
	if err != nil {
		return "", err
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "cmd", "stageserver", "zz_benchprof.go"): src,
	}})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, raw, 0o644)
}

func cleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// gcLine is one runtime gctrace line of the server: heap sizes in MB.
type gcLine struct {
	N                int
	Start, End, Live int // heap at GC start, at GC end, marked live
	Goal, Stacks     int
	Raw              string
	At               time.Time // when the line was read
}

var gcRe = regexp.MustCompile(`^gc (\d+) .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (\d+) MB stacks`)

func parseGC(line string) (gcLine, bool) {
	m := gcRe.FindStringSubmatch(line)
	if m == nil {
		return gcLine{}, false
	}
	n := make([]int, 7)
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.Atoi(m[i])
	}
	return gcLine{N: n[1], Start: n[2], End: n[3], Live: n[4], Goal: n[5], Stacks: n[6], Raw: line, At: time.Now()}, true
}

// server is a stageserver child process on a loopback port, with its own
// temporary data directory.
type server struct {
	URL  string
	cmd  *exec.Cmd
	data string
	done chan struct{} // closed when the process exited
	rest *harness.REST

	mu     sync.Mutex
	tail   []string // last lines of stderr (gctrace lines excluded)
	lastGC gcLine
	gcs    int
	events map[string]int // server log lines counted by watchPhrases
}

// watchPhrases are server log messages (at warn or debug level) that tell
// why the server closed a client's connection.
var watchPhrases = []string{
	"closing a slow connection",           // 4032: the send queue overflowed
	"dropping an unresponsive connection", // no pong within the ping interval
	"closing a flooding connection",       // 4020: rate limit
	// A write that times out (10s) cuts the socket without a log line.
}

type serverOptions struct {
	gctrace  bool   // run with GODEBUG=gctrace=1 and keep the last GC line
	hostTick string // -host-tick, when set
	// cluster, when set, runs the server as a cluster node with these
	// flags (-advertise is added: the node's own URL).
	cluster []string
}

// startServer starts the server binary and waits until /healthz answers.
func startServer(o serverOptions) (*server, error) {
	bin, _, err := serverBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data, err := os.MkdirTemp("", "stagekit-bench-data-")
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"-addr", addr, "-api-key", apiKey, "-data", data, "-grace", "60s"}
	if o.hostTick != "" {
		args = append(args, "-host-tick", o.hostTick)
	}
	if o.cluster != nil {
		args = append(append(args, o.cluster...), "-advertise", "http://"+addr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	// Debug logging names the reason of every connection the server closes
	// (a line per connection, none per message).
	cmd.Env = append(cmd.Env, "STAGEKIT_LOG_LEVEL=debug")
	if o.gctrace {
		cmd.Env = append(cmd.Env, "GODEBUG=gctrace=1")
	}
	if d := profileDir(); d != "" {
		cmd.Env = append(cmd.Env, "STAGEKIT_BENCH_SERVER_PROFILE_DIR="+d)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	s := &server{URL: "http://" + addr, cmd: cmd, data: data, done: make(chan struct{})}
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *server) readLog(r io.Reader, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if g, ok := parseGC(line); ok {
			s.mu.Lock()
			s.lastGC, s.gcs = g, s.gcs+1
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		for _, w := range watchPhrases {
			if strings.Contains(line, w) {
				if s.events == nil {
					s.events = map[string]int{}
				}
				s.events[w]++
			}
		}
		if strings.Contains(line, "level=DEBUG") {
			s.mu.Unlock()
			continue
		}
		s.tail = append(s.tail, line)
		if len(s.tail) > 200 {
			s.tail = s.tail[len(s.tail)-100:]
		}
		s.mu.Unlock()
	}
}

// logTail is the end of the server's log.
func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// logLines returns the server's log lines that contain any of words.
func (s *server) logLines(words ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.tail {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// closeEvents returns how often each of watchPhrases was logged.
func (s *server) closeEvents() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.events {
		out[k] = v
	}
	return out
}

// gcState returns how many GCs the server has traced and the last one.
func (s *server) gcState() (int, gcLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gcs, s.lastGC
}

func (s *server) waitHealthy(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("the server exited during startup")
		default:
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

// stop ends the server (SIGTERM, then SIGKILL after 10s) and removes its data.
func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
			}
		}
	}
	s.rest.CloseIdle()
	os.RemoveAll(s.data)
}

// profileCmd asks a profiling build of the server to run cmd (see
// testdata/serverprof.go) and waits until it has.
func (s *server) profileCmd(cmd string) error {
	dir := profileDir()
	path := filepath.Join(dir, ".cmd")
	if err := os.WriteFile(path, []byte(cmd), 0o644); err != nil {
		return err
	}
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	for range 1000 {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	os.Remove(path)
	return fmt.Errorf("the server did not run %q (not a profiling build?)", cmd)
}

// cpuTime is the CPU time (user+system) the server process has used.
func (s *server) cpuTime() (time.Duration, error) { return harness.CPUTime(s.cmd.Process.Pid) }

func (s *server) status() (harness.ProcStatus, error) {
	return harness.ReadProcStatus(s.cmd.Process.Pid)
}

// participant is a REST-created participant: ID is its userId.
type participant struct {
	ID    string `json:"id"`
	Token string `json:"token"`
	Name  string `json:"name"`
}

func createMeeting(ctx context.Context, r *harness.REST, title string) (string, error) {
	var m struct {
		ID string `json:"id"`
	}
	if err := r.Do(ctx, "POST", "/v1/meetings", map[string]string{"title": title}, http.StatusCreated, &m); err != nil {
		return "", err
	}
	if m.ID == "" {
		return "", errors.New("POST /v1/meetings: no id in the answer")
	}
	return m.ID, nil
}

// addParticipants creates n participants of preset named prefix-0001… with
// a pool of workers, and returns them in name order.
func addParticipants(ctx context.Context, r *harness.REST, meetingID, preset, prefix string, n, workers int) ([]participant, error) {
	out := make([]participant, n)
	jobs := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				body := map[string]string{"name": fmt.Sprintf("%s-%04d", prefix, i+1), "preset_name": preset}
				if err := r.Do(ctx, "POST", "/v1/meetings/"+meetingID+"/participants", body, http.StatusCreated, &out[i]); err != nil {
					errc <- err
					return
				}
				if out[i].ID == "" || out[i].Token == "" {
					errc <- fmt.Errorf("participant %d: no id or token in the answer", i)
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
