//go:build linux

package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/stage"
)

const (
	presetHost   = "webinar_host"   // ALLOWED, accepts stage requests
	presetViewer = "webinar_viewer" // CAN_REQUEST

	restWorkers   = 16 // concurrent REST calls creating participants
	joinInFlight  = 50 // concurrent client Init+Join
	clientTimeout = 30 * time.Second
)

// numViewers is the number of viewers: 1000, or $STAGEKIT_BENCH_CLIENTS.
func numViewers() int {
	if v := os.Getenv("STAGEKIT_BENCH_CLIENTS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return 1000
}

// room is one server process with one meeting: a host and n viewers, each a
// native client on its own WebSocket.
type room struct {
	srv       *server
	meetingID string
	hostP     participant
	viewerPs  []participant

	host    *client.Meeting
	viewers []*client.Meeting
	ids     []string // viewer user ids, aligned with viewers

	// Host events: newStageRequest while sampling is on, and a wait for the
	// pending list to reach a size.
	sampling atomic.Bool
	newReq   chan hostRequest
	pend     atomic.Pointer[pendingWait]

	// Viewer status changes go to the current tracker.
	track atomic.Pointer[tracker]

	// Connection trouble seen by any client: a reconnect means the server
	// closed or cut the socket (4032 when its send queue overflowed, or no
	// pong within its ping interval).
	reconnects  atomic.Int64
	disconnects atomic.Int64
}

// hostRequest is one newStageRequest seen by the host: the user whose
// request it was (the newest entry of the list emitted just before it) and
// when the listener ran.
type hostRequest struct {
	userID string
	count  int
	at     time.Time
}

// pendingWait fires when the host's pending list reaches n entries.
type pendingWait struct {
	n    int
	at   time.Time
	done chan struct{}
}

// tracker records when each viewer first reports want as its own status.
type tracker struct {
	want  stage.Status
	at    []atomic.Int64 // unix ns, per viewer index; 0 = not yet
	n     atomic.Int64
	total int64
	done  chan struct{}
}

func newTracker(want stage.Status, viewers, total int) *tracker {
	return &tracker{want: want, at: make([]atomic.Int64, viewers), total: int64(total), done: make(chan struct{})}
}

func (t *tracker) saw(i int, s stage.Status, now int64) {
	if s != t.want || !t.at[i].CompareAndSwap(0, now) {
		return
	}
	if t.n.Add(1) == t.total {
		close(t.done)
	}
}

// since returns, for every viewer that reported, the time from start.
func (t *tracker) since(start time.Time) []time.Duration {
	var out []time.Duration
	for i := range t.at {
		if v := t.at[i].Load(); v != 0 {
			out = append(out, time.Duration(v-start.UnixNano()))
		}
	}
	return out
}

// newRoom starts a server, creates a meeting, a host and n viewers through
// REST, and connects and joins the host. The viewers are connected by
// connectViewers.
func newRoom(ctx context.Context, n int, o serverOptions) (*room, error) {
	if err := raiseNoFile(uint64(4*n + 1024)); err != nil {
		return nil, err
	}
	srv, err := startServer(o)
	if err != nil {
		return nil, err
	}
	r := &room{srv: srv, newReq: make(chan hostRequest, 4*n+16)}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	if r.meetingID, err = srv.rest.createMeeting(ctx, "stagekit load benchmark"); err != nil {
		return nil, err
	}
	hosts, err := srv.rest.addParticipants(ctx, r.meetingID, presetHost, "host", 1, 1)
	if err != nil {
		return nil, fmt.Errorf("create host: %w", err)
	}
	r.hostP = hosts[0]
	if r.viewerPs, err = srv.rest.addParticipants(ctx, r.meetingID, presetViewer, "viewer", n, restWorkers); err != nil {
		return nil, fmt.Errorf("create viewers: %w", err)
	}
	r.ids = make([]string, n)
	for i, p := range r.viewerPs {
		r.ids[i] = p.ID
	}
	if r.host, err = r.connect(ctx, r.hostP, r.hostListener()); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	ok = true
	return r, nil
}

// connect opens one client, registers fn and joins the room.
func (r *room) connect(ctx context.Context, p participant, fn func(client.Event)) (*client.Meeting, error) {
	m, err := client.Init(ctx, client.Options{BaseURI: r.srv.URL, AuthToken: p.Token, RequestTimeout: clientTimeout})
	if err != nil {
		return nil, err
	}
	m.On(fn)
	if err := m.Join(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (r *room) hostListener() func(client.Event) {
	var newest string // only the host's reader goroutine runs this
	return func(ev client.Event) {
		switch ev.Name {
		case client.EventStageAccessRequestUpdate:
			newest = ""
			if n := len(ev.Requests); n > 0 {
				newest = ev.Requests[n-1].UserID
			}
			if w := r.pend.Load(); w != nil && len(ev.Requests) == w.n && w.at.IsZero() {
				w.at = time.Now()
				close(w.done)
			}
		case client.EventNewStageRequest:
			if r.sampling.Load() {
				select {
				case r.newReq <- hostRequest{userID: newest, count: ev.Count, at: time.Now()}:
				default:
				}
			}
		case client.EventReconnecting:
			r.reconnects.Add(1)
		case client.EventDisconnected:
			r.disconnects.Add(1)
		}
	}
}

func (r *room) viewerListener(i int) func(client.Event) {
	return func(ev client.Event) {
		switch ev.Name {
		case client.EventStageStatusUpdate:
			if t := r.track.Load(); t != nil {
				t.saw(i, ev.Status, time.Now().UnixNano())
			}
		case client.EventReconnecting:
			r.reconnects.Add(1)
		case client.EventDisconnected:
			r.disconnects.Add(1)
		}
	}
}

// connectViewers connects and joins every viewer, inFlight at a time, and
// returns once all clients have applied the room's last event.
func (r *room) connectViewers(ctx context.Context, inFlight int) error {
	r.viewers = make([]*client.Meeting, len(r.viewerPs))
	sem := make(chan struct{}, inFlight)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	for i, p := range r.viewerPs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		if failed() {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := r.connect(ctx, p, r.viewerListener(i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("viewer %d: %w", i, err)
				}
				return
			}
			r.viewers[i] = m
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	_, err := r.settle(ctx)
	return err
}

// all returns the host and the connected viewers.
func (r *room) all() []*client.Meeting {
	out := make([]*client.Meeting, 0, len(r.viewers)+1)
	if r.host != nil {
		out = append(out, r.host)
	}
	for _, m := range r.viewers {
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// settle waits until every client has applied the room's latest event (all
// at the same seq), which is the case once the calls made have returned and
// the server's queues are drained. It returns that seq.
func (r *room) settle(ctx context.Context) (uint64, error) {
	return r.settleEvery(ctx, 10*time.Millisecond)
}

// settleEvery is settle, polling the clients every poll.
func (r *room) settleEvery(ctx context.Context, poll time.Duration) (uint64, error) {
	all := r.all()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		lo, hi := ^uint64(0), uint64(0)
		for _, m := range all {
			s := m.Seq()
			lo, hi = min(lo, s), max(hi, s)
		}
		if lo == hi {
			return hi, nil
		}
		select {
		case <-ctx.Done():
			behind := 0
			for _, m := range all {
				if m.Seq() < hi {
					behind++
				}
			}
			return 0, fmt.Errorf("clients not settled: %d of %d behind seq %d (lowest %d): %w", behind, len(all), hi, lo, ctx.Err())
		case <-tick.C:
		}
	}
}

// statuses counts the viewers' own stage statuses.
func (r *room) statuses() map[stage.Status]int {
	out := map[stage.Status]int{}
	for _, m := range r.viewers {
		out[m.Stage().Status()]++
	}
	return out
}

// allViewersAre checks that every viewer shows s.
func (r *room) allViewersAre(s stage.Status) error {
	if got := r.statuses(); got[s] != len(r.viewers) {
		return fmt.Errorf("viewer statuses %v, want all %d %s", got, len(r.viewers), s)
	}
	return nil
}

// batchTimes are the times of a host batch action, from its call.
type batchTimes struct {
	call time.Duration // until the host's call returned
	p50  time.Duration // until the median viewer saw the new status
	all  time.Duration // until the last viewer saw it
}

// hostBatch runs a host batch action (deny, kick, grant) on the viewers
// with ids and waits until every one of them shows want.
func (r *room) hostBatch(ctx context.Context, act func(context.Context, []string) error, ids []string, want stage.Status) (batchTimes, error) {
	if len(ids) == 0 {
		return batchTimes{}, nil
	}
	tr := newTracker(want, len(r.viewers), len(ids))
	r.track.Store(tr)
	defer r.track.Store(nil)
	ids = slices.Clone(ids)
	start := time.Now()
	if err := act(ctx, ids); err != nil {
		return batchTimes{}, err
	}
	var t batchTimes
	t.call = time.Since(start)
	select {
	case <-tr.done:
	case <-ctx.Done():
		return t, fmt.Errorf("%d of %d viewers saw %s: %w", tr.n.Load(), tr.total, want, ctx.Err())
	}
	d := tr.since(start)
	t.p50, t.all = percentile(d, 0.5), percentile(d, 1)
	return t, nil
}

// pendingIDs are the user ids in the host's pending list.
func (r *room) pendingIDs() []string {
	var ids []string
	for _, q := range r.host.Requests() {
		ids = append(ids, q.UserID)
	}
	return ids
}

// lostCall says whether err means the connection dropped or the answer did
// not come in time: the action may or may not have been applied, and the
// client reconnects and resyncs by itself.
func lostCall(err error) bool {
	c := client.CodeOf(err)
	return c == client.CodeDisconnected || c == client.CodeTimeout
}

// ensureRequested makes viewer i REQUESTED after a lost call: it waits for
// the client to be connected and resynced, and requests again if the lost
// request was not applied. It reports how many calls it retried.
func (r *room) ensureRequested(ctx context.Context, i int) (int, error) {
	v := r.viewers[i]
	retries := 0
	for {
		if v.Stage().Status() == stage.Requested {
			return retries, nil
		}
		err := v.Stage().RequestAccess(ctx)
		retries++
		switch {
		case err == nil:
			return retries, nil
		case client.CodeOf(err) == int(stage.CodeBadStatus) && v.Stage().Status() == stage.Requested:
			return retries, nil
		case !lostCall(err) && client.CodeOf(err) != int(stage.CodeBadStatus):
			return retries, err
		}
		select {
		case <-ctx.Done():
			return retries, fmt.Errorf("viewer %d not REQUESTED (%s): %w", i, v.Stage().Status(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// close closes every client (without leaving: the server keeps their places
// until it stops) and stops the server.
func (r *room) close() {
	var wg sync.WaitGroup
	for _, m := range r.all() {
		wg.Add(1)
		go func() { defer wg.Done(); m.Close() }()
	}
	wg.Wait()
	if r.srv != nil {
		r.srv.stop()
	}
}

// trouble describes connection trouble and server complaints seen so far,
// or "" when there was none.
func (r *room) trouble() string {
	var s string
	if n := r.reconnects.Load(); n > 0 {
		s += fmt.Sprintf("%d reconnects (the server closed or cut sockets: see the server closes); ", n)
	}
	if n := r.disconnects.Load(); n > 0 {
		s += fmt.Sprintf("%d fatal disconnects; ", n)
	}
	if ev := r.srv.closeEvents(); len(ev) > 0 {
		s += fmt.Sprintf("server closes: %v; ", ev)
	}
	if l := r.srv.logLines("panic", "level=ERROR", "level=WARN"); len(l) > 0 {
		if len(l) > 5 {
			l = l[len(l)-5:]
		}
		s += fmt.Sprintf("server log: %q", l)
	}
	return s
}

// errCounter counts call errors by code.
type errCounter struct {
	mu    sync.Mutex
	codes map[int]int
	first error
}

func (e *errCounter) add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.codes == nil {
		e.codes = map[int]int{}
	}
	e.codes[client.CodeOf(err)]++
	if e.first == nil {
		e.first = err
	}
}

func (e *errCounter) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.first == nil {
		return nil
	}
	return fmt.Errorf("errors by code %v, first: %w", e.codes, e.first)
}

func (e *errCounter) count(code int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.codes[code]
}

// percentile is the nearest-rank q-quantile (0 < q ≤ 1) of d, sorted in place.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	k := int(math.Ceil(q*float64(len(d)))) - 1
	k = max(0, min(k, len(d)-1))
	return d[k]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
