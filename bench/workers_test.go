//go:build linux

package bench

// Load workers: the lean viewers of a large audience spread over several
// processes, each with its own open-file limit (a socket per viewer; this
// container's hard limit is 20,000 per process). The benchmark re-executes
// its own test binary with $STAGEKIT_BENCH_WORKER set (TestMain hands over
// to runWorker before any test runs) and drives each worker with one JSON
// command per line on its stdin; the worker answers each command, by id,
// with one JSON line on its stdout. Its CPU is read from /proc.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/harness"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// workerEnv marks a re-executed test binary as a load worker; its value is
// the open-file limit the worker needs.
const workerEnv = "STAGEKIT_BENCH_WORKER"

// viewersPerWorker is how many viewers one worker process holds at most
// when the count is not given ($STAGEKIT_BENCH_WORKERS).
const viewersPerWorker = 7500

// workerCount is how many worker processes carry n viewers:
// $STAGEKIT_BENCH_WORKERS when set (0: none, the viewers run in this
// process), else none up to viewersPerWorker viewers and enough beyond.
func workerCount(n int) int {
	if v := os.Getenv("STAGEKIT_BENCH_WORKERS"); v != "" {
		if k, err := strconv.Atoi(v); err == nil && k >= 0 {
			return k
		}
	}
	if n <= viewersPerWorker {
		return 0
	}
	return (n + viewersPerWorker - 1) / viewersPerWorker
}

// workerCmd is one command to a worker.
type workerCmd struct {
	ID int    `json:"id"`
	Op string `json:"op"` // join, call, calls, bytes, storm, fire, track, tracked
	// join: the viewers to dial and join, InFlight at a time.
	Viewers  []workerViewer `json:"viewers,omitempty"`
	InFlight int            `json:"inFlight,omitempty"`
	// call, calls: the viewers that send a Type message (call: one, timed);
	// bytes: the viewers left out; storm, track: the viewers concerned.
	Is   []int  `json:"is,omitempty"`
	Type string `json:"type,omitempty"`
}

type workerViewer struct {
	I     int    `json:"i"`
	Entry string `json:"entry"`
	Token string `json:"token"`
}

// workerReply answers the command with the same id.
type workerReply struct {
	ID    int    `json:"id"`
	Err   string `json:"err,omitempty"`
	At    int64  `json:"at,omitempty"`    // call: when it was sent; tracked: when the last saw ACCEPTED (unix ns)
	Bytes int64  `json:"bytes,omitempty"` // bytes: event bytes received since the join
}

// worker is the state of a worker process.
type worker struct {
	mu      sync.Mutex
	viewers map[int]*leanClient
	outMu   sync.Mutex
	out     *json.Encoder

	// The storm in preparation: its viewers wait for release.
	release chan struct{}
	storm   *sync.WaitGroup
	stormE  *atomic.Pointer[error]

	track atomic.Pointer[workerTrack]
}

// workerTrack counts the tracked viewers that saw ACCEPTED.
type workerTrack struct {
	want    map[int]bool
	seen    sync.Map // viewer → true
	reached atomic.Int64
	at      atomic.Int64
	done    chan struct{}
}

// runWorker serves commands from stdin until it closes, then closes every
// connection. It is the whole life of a worker process.
func runWorker(fds string) int {
	if n, err := strconv.ParseUint(fds, 10, 64); err == nil && n > 0 {
		if err := harness.RaiseNoFile(n); err != nil {
			fmt.Fprintf(os.Stderr, "bench worker: %v\n", err)
			return 1
		}
	}
	w := &worker{viewers: map[int]*leanClient{}, out: json.NewEncoder(os.Stdout)}
	dec := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 1<<16))
	var wg sync.WaitGroup
	for {
		var cmd workerCmd
		if err := dec.Decode(&cmd); err != nil {
			break
		}
		if cmd.Op == "storm" {
			w.reply(w.prepareStorm(cmd)) // before any later fire is read
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.reply(w.serve(cmd))
		}()
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.viewers {
		v.close()
	}
	return 0
}

func (w *worker) reply(r workerReply) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.out.Encode(r)
}

func (w *worker) viewer(i int) (*leanClient, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := w.viewers[i]
	if v == nil {
		return nil, fmt.Errorf("viewer %d is not connected here", i)
	}
	return v, nil
}

func (w *worker) serve(cmd workerCmd) workerReply {
	r := workerReply{ID: cmd.ID}
	fail := func(err error) workerReply {
		r.Err = err.Error()
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	switch cmd.Op {
	case "join":
		if err := w.join(ctx, cmd.Viewers, max(cmd.InFlight, 1)); err != nil {
			return fail(err)
		}
	case "call":
		if len(cmd.Is) != 1 {
			return fail(errors.New("call: one viewer"))
		}
		v, err := w.viewer(cmd.Is[0])
		if err != nil {
			return fail(err)
		}
		r.At = time.Now().UnixNano()
		if _, err := v.call(ctx, protocol.ClientMessage{Type: cmd.Type}); err != nil {
			return fail(fmt.Errorf("viewer %d: %w", cmd.Is[0], err))
		}
	case "calls":
		for _, i := range cmd.Is {
			v, err := w.viewer(i)
			if err != nil {
				return fail(err)
			}
			if _, err := v.call(ctx, protocol.ClientMessage{Type: cmd.Type}); err != nil {
				return fail(fmt.Errorf("viewer %d: %w", i, err))
			}
		}
	case "bytes":
		skip := map[int]bool{}
		for _, i := range cmd.Is {
			skip[i] = true
		}
		w.mu.Lock()
		for i, v := range w.viewers {
			if !skip[i] {
				r.Bytes += v.bytes.Load()
			}
		}
		w.mu.Unlock()
	case "fire":
		if w.release == nil {
			return fail(errors.New("fire: no storm prepared"))
		}
		close(w.release)
		w.storm.Wait()
		w.release = nil
		if p := w.stormE.Load(); p != nil {
			return fail(*p)
		}
	case "track":
		t := &workerTrack{want: map[int]bool{}, done: make(chan struct{})}
		for _, i := range cmd.Is {
			t.want[i] = true
		}
		w.track.Store(t)
	case "tracked":
		t := w.track.Load()
		if t == nil {
			return fail(errors.New("tracked: nothing tracked"))
		}
		select {
		case <-t.done:
			r.At = t.at.Load()
		case <-ctx.Done():
			return fail(fmt.Errorf("%d of %d viewers saw ACCEPTED", t.reached.Load(), len(t.want)))
		}
		w.track.Store(nil)
	default:
		return fail(fmt.Errorf("unknown op %q", cmd.Op))
	}
	return r
}

// join dials and joins the viewers, inFlight at a time; the first failure
// ends it.
func (w *worker) join(ctx context.Context, viewers []workerViewer, inFlight int) error {
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for _, wv := range viewers {
		if first.Load() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := dialLean(ctx, wv.Entry, wv.Token, func(s stage.Status) { w.status(wv.I, s) })
			if err != nil {
				err = fmt.Errorf("viewer %d: %w", wv.I, err)
				first.CompareAndSwap(nil, &err)
				return
			}
			w.mu.Lock()
			w.viewers[wv.I] = v
			w.mu.Unlock()
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// status counts a tracked viewer's first ACCEPTED.
func (w *worker) status(i int, s stage.Status) {
	t := w.track.Load()
	if s != stage.Accepted || t == nil || !t.want[i] {
		return
	}
	if _, dup := t.seen.LoadOrStore(i, true); dup {
		return
	}
	if t.reached.Add(1) == int64(len(t.want)) {
		t.at.Store(time.Now().UnixNano())
		close(t.done)
	}
}

// prepareStorm parks a goroutine per viewer of the storm until fire.
func (w *worker) prepareStorm(cmd workerCmd) workerReply {
	r := workerReply{ID: cmd.ID}
	var vs []*leanClient
	for _, i := range cmd.Is {
		v, err := w.viewer(i)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		vs = append(vs, v)
	}
	w.release = make(chan struct{})
	w.storm = &sync.WaitGroup{}
	w.stormE = &atomic.Pointer[error]{}
	release, wg, first := w.release, w.storm, w.stormE
	var parked sync.WaitGroup
	for _, v := range vs {
		wg.Add(1)
		parked.Add(1)
		go func() {
			defer wg.Done()
			parked.Done()
			<-release
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if _, err := v.call(ctx, protocol.ClientMessage{Type: cmd.Type}); err != nil {
				first.CompareAndSwap(nil, &err)
			}
		}()
	}
	parked.Wait()
	return r
}

// workerPool is the benchmark's side of its worker processes: viewer i
// lives in worker i*len(procs)/n.
type workerPool struct {
	n     int
	procs []*workerProc
}

type workerProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan struct{} // the reader ended (the process is gone)

	mu      sync.Mutex
	enc     *json.Encoder
	next    int
	waiting map[int]chan workerReply
}

// startWorkers starts k workers for n viewers.
func startWorkers(k, n int) (*workerPool, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &workerPool{n: n}
	fds := (n+k-1)/k + 256
	for range k {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", workerEnv, fds))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			p.close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			p.close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			p.close()
			return nil, err
		}
		wp := &workerProc{cmd: cmd, in: in, enc: json.NewEncoder(in), done: make(chan struct{}), waiting: map[int]chan workerReply{}}
		go wp.read(out)
		p.procs = append(p.procs, wp)
	}
	return p, nil
}

func (wp *workerProc) read(out io.Reader) {
	defer close(wp.done)
	dec := json.NewDecoder(bufio.NewReaderSize(out, 1<<16))
	for {
		var r workerReply
		if err := dec.Decode(&r); err != nil {
			return
		}
		wp.mu.Lock()
		ch := wp.waiting[r.ID]
		delete(wp.waiting, r.ID)
		wp.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// do sends cmd and waits for its answer; an answer's Err is returned as an
// error.
func (wp *workerProc) do(ctx context.Context, cmd workerCmd) (workerReply, error) {
	ch := make(chan workerReply, 1)
	wp.mu.Lock()
	wp.next++
	cmd.ID = wp.next
	wp.waiting[cmd.ID] = ch
	err := wp.enc.Encode(cmd)
	wp.mu.Unlock()
	if err != nil {
		return workerReply{}, fmt.Errorf("worker %d: %w", wp.cmd.Process.Pid, err)
	}
	select {
	case r := <-ch:
		if r.Err != "" {
			return r, errors.New(r.Err)
		}
		return r, nil
	case <-wp.done:
		return workerReply{}, fmt.Errorf("worker %d ended", wp.cmd.Process.Pid)
	case <-ctx.Done():
		return workerReply{}, ctx.Err()
	}
}

func (p *workerPool) of(i int) int { return i * len(p.procs) / p.n }

// split groups the viewers by worker.
func (p *workerPool) split(is []int) [][]int {
	out := make([][]int, len(p.procs))
	for _, i := range is {
		w := p.of(i)
		out[w] = append(out[w], i)
	}
	return out
}

// each runs cmdOf(w, its viewers) on every worker that has some of is, at
// once, and returns their answers (zero for the others) and the first error.
func (p *workerPool) each(ctx context.Context, is []int, cmdOf func(w int, is []int) workerCmd) ([]workerReply, error) {
	parts := p.split(is)
	out := make([]workerReply, len(p.procs))
	errs := make([]error, len(p.procs))
	var wg sync.WaitGroup
	for w, part := range parts {
		if len(part) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[w], errs[w] = p.procs[w].do(ctx, cmdOf(w, part))
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// join dials and joins the viewers is (entry and token of each given),
// inFlight at a time over all workers.
func (p *workerPool) join(ctx context.Context, is []int, entry func(i int) string, tokens []string, inFlight int) error {
	active := 0
	for _, part := range p.split(is) {
		if len(part) > 0 {
			active++
		}
	}
	per := max(1, (inFlight+active-1)/max(active, 1))
	_, err := p.each(ctx, is, func(_ int, part []int) workerCmd {
		vs := make([]workerViewer, len(part))
		for k, i := range part {
			vs[k] = workerViewer{I: i, Entry: entry(i), Token: tokens[i]}
		}
		return workerCmd{Op: "join", Viewers: vs, InFlight: per}
	})
	return err
}

// call has viewer i send one message of type typ and returns when it was
// sent; it returns once the answer came.
func (p *workerPool) call(ctx context.Context, i int, typ string) (time.Time, error) {
	r, err := p.procs[p.of(i)].do(ctx, workerCmd{Op: "call", Is: []int{i}, Type: typ})
	return time.Unix(0, r.At), err
}

// calls has each viewer of is send a message of type typ.
func (p *workerPool) calls(ctx context.Context, is []int, typ string) error {
	_, err := p.each(ctx, is, func(_ int, part []int) workerCmd { return workerCmd{Op: "calls", Is: part, Type: typ} })
	return err
}

// bytesExcept is the event bytes the viewers not in skip received.
func (p *workerPool) bytesExcept(ctx context.Context, skip []int) (int64, error) {
	var total int64
	for _, wp := range p.procs {
		r, err := wp.do(ctx, workerCmd{Op: "bytes", Is: skip})
		if err != nil {
			return 0, err
		}
		total += r.Bytes
	}
	return total, nil
}

// storm parks the viewers' requests (typ) in their workers; fire releases
// them all and returns once each was answered.
func (p *workerPool) storm(ctx context.Context, is []int, typ string) (fire func() error, err error) {
	if _, err := p.each(ctx, is, func(_ int, part []int) workerCmd { return workerCmd{Op: "storm", Is: part, Type: typ} }); err != nil {
		return nil, err
	}
	return func() error {
		_, err := p.each(ctx, is, func(int, []int) workerCmd { return workerCmd{Op: "fire"} })
		return err
	}, nil
}

// track starts counting the viewers of is that see ACCEPTED; wait returns
// when the last of them did.
func (p *workerPool) track(ctx context.Context, is []int) (wait func() (time.Time, error), err error) {
	if _, err := p.each(ctx, is, func(_ int, part []int) workerCmd { return workerCmd{Op: "track", Is: part} }); err != nil {
		return nil, err
	}
	return func() (time.Time, error) {
		rs, err := p.each(ctx, is, func(int, []int) workerCmd { return workerCmd{Op: "tracked"} })
		var last int64
		for _, r := range rs {
			last = max(last, r.At)
		}
		return time.Unix(0, last), err
	}, nil
}

// cpu is the CPU time the workers have used.
func (p *workerPool) cpu() time.Duration {
	var total time.Duration
	for _, wp := range p.procs {
		if wp.cmd.Process != nil {
			d, _ := harness.CPUTime(wp.cmd.Process.Pid)
			total += d
		}
	}
	return total
}

// close ends the workers: their stdin closes, they close their
// connections and exit (killed after 10 s).
func (p *workerPool) close() {
	for _, wp := range p.procs {
		wp.in.Close()
	}
	for _, wp := range p.procs {
		select {
		case <-wp.done: // its stdout closed: it exited
		case <-time.After(10 * time.Second):
			wp.cmd.Process.Kill()
			<-wp.done
		}
		wp.cmd.Wait()
	}
}

// TestLoadWorkers runs the multi-process path of the load benchmarks small:
// 300 viewers of one server in three worker processes join (every join
// must succeed), five of them in different workers request one after
// another and the host lists them in that order, then 30 spread over the
// workers request at once, are granted together and each sees ACCEPTED.
func TestLoadWorkers(t *testing.T) {
	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := harness.RaiseNoFile(2048); err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(serverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := &audience{srv: srv, newReq: make(chan hostSample, 4*stormSize), acceptedAt: make(chan time.Time, 1)}
	defer a.close()
	if err := a.setup(ctx, n); err != nil {
		t.Fatal(err)
	}
	if a.workers, err = startWorkers(3, n); err != nil {
		t.Fatal(err)
	}
	if err := a.connectViewers(ctx); err != nil {
		t.Fatalf("joins: %v", err)
	}
	for len(a.host.Participants()) < n+1 { // the viewers and the observer
		select {
		case <-ctx.Done():
			t.Fatalf("the host sees %d participants, want %d", len(a.host.Participants()), n+1)
		case <-time.After(10 * time.Millisecond):
		}
	}

	order := []int{5, 105, 205, 15, 115}
	for _, i := range order {
		if _, err := a.call(ctx, i, protocol.TypeStageRequest); err != nil {
			t.Fatalf("viewer %d request: %v", i, err)
		}
	}
	if err := a.waitPending(ctx, len(order)); err != nil {
		t.Fatal(err)
	}
	for k, r := range a.host.Requests() {
		if want := a.ids[order[k]]; r.UserID != want {
			t.Fatalf("the host's list %d is %s, want %s (viewer %d)", k, r.UserID, want, order[k])
		}
	}
	if err := a.workers.calls(ctx, order, protocol.TypeStageCancel); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if err := a.waitPending(ctx, 0); err != nil {
		t.Fatal(err)
	}

	var storming []int
	for i := 0; i < n; i += 10 {
		storming = append(storming, i)
	}
	if _, _, _, _, err := a.stormAndGrantOf(ctx, storming); err != nil {
		t.Fatal(err)
	}
	if cpu := a.workers.cpu(); cpu <= 0 {
		t.Errorf("the workers' CPU reads %v", cpu)
	}
}
