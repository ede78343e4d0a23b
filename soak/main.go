//go:build linux

// Command soak is stagekit's bounded soak (issue 11): one real server
// process, one webinar meeting with 2 hosts and N viewers, each the real
// SDK client (client.Meeting) behind its own TCP proxy, and for DURATION
// random stage actions at a bounded rate, clients that close and come back
// as a new process, connections cut hard and black-holed for a while. It
// checks throughout that the server lives, that its memory stays flat,
// that no call fails with an unexpected code and that the server's stage
// state (GET /v1/meetings/{id}/stage) keeps its invariants; at the end,
// with every fault repaired, that every client's view equals the server's.
// It prints a summary and exits 1 on failure.
//
//	make soak                      # 10 minutes, 1,000 viewers
//	STAGEKIT_SOAK_DURATION=30s STAGEKIT_SOAK_VIEWERS=100 go run ./soak
//
// Environment (all optional): STAGEKIT_SOAK_DURATION (10m),
// STAGEKIT_SOAK_VIEWERS (1000), STAGEKIT_SOAK_RATE (viewer actions per
// second over the whole audience, 40), STAGEKIT_SOAK_SETTLE (how long the
// clients get to agree with the server at the end, 120s),
// STAGEKIT_SOAK_GRACE (the server's -grace, 20s), STAGEKIT_SOAK_SERVER (a
// stageserver binary; default: go build of this checkout).
//
// Everything runs on loopback; every loop is bounded in count and time.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/harness"
	"github.com/stagekit/stagekit/internal/netproxy"
	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/stage"
)

type config struct {
	duration     time.Duration
	viewers      int
	hosts        int
	rate         float64       // viewer actions per second, whole audience
	hostEvery    time.Duration // each host acts this often
	cutEvery     time.Duration // a random client's connection is cut this often
	holeEvery    time.Duration // a black hole starts this often (at most maxHoles at once)
	maxHoles     int
	restartEvery time.Duration // a random client closes and comes back as a new process
	maxStage     int           // hosts stop granting when this many viewers are ACCEPTED or ON_STAGE
	checkEvery   time.Duration // invariants from the server's state
	sampleEvery  time.Duration // server RSS
	settle       time.Duration
	grace        string
	inFlight     int // concurrent actions
}

func loadConfig() (config, error) {
	c := config{duration: 10 * time.Minute, viewers: 1000, hosts: 2, rate: 40,
		hostEvery: 250 * time.Millisecond, cutEvery: time.Second, holeEvery: 6 * time.Second, maxHoles: 6,
		restartEvery: 2 * time.Second, maxStage: 12, checkEvery: 2 * time.Second, sampleEvery: 10 * time.Second,
		settle: 120 * time.Second, grace: "20s", inFlight: 32}
	var err error
	if v := os.Getenv("STAGEKIT_SOAK_DURATION"); v != "" {
		if c.duration, err = time.ParseDuration(v); err != nil || c.duration <= 0 {
			return c, fmt.Errorf("STAGEKIT_SOAK_DURATION=%q: want a positive duration", v)
		}
	}
	if v := os.Getenv("STAGEKIT_SOAK_VIEWERS"); v != "" {
		if c.viewers, err = strconv.Atoi(v); err != nil || c.viewers < 1 || c.viewers > 5000 {
			return c, fmt.Errorf("STAGEKIT_SOAK_VIEWERS=%q: want 1..5000", v)
		}
	}
	if v := os.Getenv("STAGEKIT_SOAK_RATE"); v != "" {
		if c.rate, err = strconv.ParseFloat(v, 64); err != nil || c.rate <= 0 || c.rate > 500 {
			return c, fmt.Errorf("STAGEKIT_SOAK_RATE=%q: want (0, 500] actions per second", v)
		}
	}
	if v := os.Getenv("STAGEKIT_SOAK_SETTLE"); v != "" {
		if c.settle, err = time.ParseDuration(v); err != nil || c.settle <= 0 {
			return c, fmt.Errorf("STAGEKIT_SOAK_SETTLE=%q: want a positive duration", v)
		}
	}
	if v := os.Getenv("STAGEKIT_SOAK_GRACE"); v != "" {
		if _, err := time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("STAGEKIT_SOAK_GRACE=%q: %v", v, err)
		}
		c.grace = v
	}
	return c, nil
}

// user is one participant and its client.
type user struct {
	p    participant
	host bool
	px   *netproxy.Proxy

	mu        sync.Mutex // held by an action or a restart of this user
	m         atomic.Pointer[client.Meeting]
	connected atomic.Bool // joined and not reconnecting
	inHole    atomic.Bool
	peer      atomic.Value // string: the peer id of its last join
}

// joined records the peer id u's client joined with and reports whether it
// changed: the server had let the user go (its grace period ran out) and
// took it in again as a new member.
func (u *user) joined(m *client.Meeting) (renewed bool) {
	id := m.Stage().PeerID()
	old, _ := u.peer.Swap(id).(string)
	return old != "" && old != id
}

func (u *user) label() string {
	return u.p.Name + " (" + u.p.ID + ")"
}

// Codes a stage call may be refused with in this soak, as documented:
// permission, stage disabled, not in the room, wrong status (and races),
// a batch naming someone who is not in the room.
var refusalCodes = map[int]bool{2001: true, 2003: true, 2005: true, 2006: true, 2101: true}

// Codes of calls caught by a cut or a black hole.
var transientCodes = map[int]bool{protocol.CodeDisconnected: true, protocol.CodeTimeout: true}

type soak struct {
	cfg       config
	srv       *server
	meetingID string
	users     []*user
	hosts     []*user
	viewers   []*user
	known     map[string]participant
	start     time.Time

	actCtx    context.Context // ends when the actions stop
	actWG     sync.WaitGroup
	sem       chan struct{}
	scheduled atomic.Int64 // reactions scheduled by events
	running   atomic.Bool  // the actions have started

	mu        sync.Mutex
	ok        map[string]int         // action kind → committed
	refused   map[string]map[int]int // action kind → code → count
	transient map[int]int            // code → count
	failures  []string               // first 100
	nFail     int
	skipped   int // actions not started: the user was busy or too many in flight
	samples   []sample
	checks    int
	initFails map[int]int // Init/Join failures during restarts, by code

	cuts, cutsDown, holes, restarts atomic.Int64
	reconnecting, reconnected       atomic.Int64
	disconnected                    atomic.Int64
	renewed                         atomic.Int64 // rejoins that got a new peer id
}

type sample struct {
	at      time.Duration
	rss     int64 // KiB
	threads int64
	heapMB  int // last live heap the server's gctrace reported
}

func (s *soak) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nFail++
	if len(s.failures) < 100 {
		s.failures = append(s.failures, fmt.Sprintf("[%s] %s", time.Since(s.start).Truncate(time.Millisecond), msg))
	}
}

// record counts the outcome of one action of kind.
func (s *soak) record(kind string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.ok[kind]++
		return
	}
	code := client.CodeOf(err)
	switch {
	case refusalCodes[code]:
		if s.refused[kind] == nil {
			s.refused[kind] = map[int]int{}
		}
		s.refused[kind][code]++
	case transientCodes[code]:
		s.transient[code]++
	default:
		s.nFail++
		if len(s.failures) < 100 {
			s.failures = append(s.failures, fmt.Sprintf("[%s] %s: unexpected error %v", time.Since(s.start).Truncate(time.Millisecond), kind, err))
		}
	}
}

func main() {
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	ok, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Printf("%s  "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func run(cfg config) (bool, error) {
	n := cfg.viewers + cfg.hosts
	if err := harness.RaiseNoFile(uint64(4*n + 2048)); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp("", "stagekit-soak-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	bin, from, err := serverBinary(tmp)
	if err != nil {
		return false, err
	}
	logf("server: %s", from)
	srv, err := startServer(bin, tmp+"/data", cfg.grace)
	if err != nil {
		return false, err
	}
	exit := "not stopped"
	defer func() {
		if srv.alive() {
			srv.stop()
		}
	}()
	s := &soak{cfg: cfg, srv: srv, start: time.Now(), known: map[string]participant{}, ok: map[string]int{},
		refused: map[string]map[int]int{}, transient: map[int]int{}, initFails: map[int]int{},
		sem: make(chan struct{}, cfg.inFlight)}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+30*time.Minute)
	defer cancel()
	actCtx, stopActs := context.WithCancel(ctx)
	defer stopActs()
	s.actCtx = actCtx
	if err := s.setup(ctx); err != nil {
		return false, err
	}
	defer func() {
		for _, u := range s.users {
			if m := u.m.Load(); m != nil {
				m.Close()
			}
			u.px.Close()
		}
	}()
	goroutinesBefore := runtime.NumGoroutine()

	// The run.
	logf("soak: %v, %d hosts, %d viewers; viewer actions %.0f/s, each host every %v, a cut every %v, a black hole every %v (≤%d at once), a restart every %v",
		cfg.duration, cfg.hosts, cfg.viewers, cfg.rate, cfg.hostEvery, cfg.cutEvery, cfg.holeEvery, cfg.maxHoles, cfg.restartEvery)
	cpu0, _ := harness.CPUTime(srv.cmd.Process.Pid)
	s.start = time.Now()
	s.running.Store(true)
	time.AfterFunc(cfg.duration, stopActs)
	monCtx, stopMon := context.WithCancel(ctx)
	var monWG sync.WaitGroup
	monWG.Add(2)
	go func() { defer monWG.Done(); s.sampleLoop(monCtx) }()
	go func() { defer monWG.Done(); s.checkLoop(monCtx) }()
	// Viewer actions start at the rate whatever their calls' latency; act
	// bounds how many are in flight.
	s.loop(&s.actWG, s.viewerEvery(), func() { go s.viewerAction() })
	for _, h := range s.hosts {
		s.loop(&s.actWG, cfg.hostEvery, func() { s.hostAction(h) })
	}
	s.loop(&s.actWG, cfg.cutEvery, s.cutOne)
	s.loop(&s.actWG, cfg.holeEvery, s.holeOne)
	s.loop(&s.actWG, cfg.restartEvery, s.restartOne)
	s.actWG.Add(1)
	go func() { defer s.actWG.Done(); s.progressLoop(actCtx) }()
	<-actCtx.Done()
	actionsFor := time.Since(s.start)
	cpu1, _ := harness.CPUTime(srv.cmd.Process.Pid)
	logf("actions stopped after %v; waiting for the calls in flight", actionsFor.Truncate(time.Second))
	s.actWG.Wait()
	for range cap(s.sem) { // drain: every action in flight has ended
		s.sem <- struct{}{}
	}
	s.sampleNow() // the last sample of the action phase
	stopMon()
	monWG.Wait()
	s.mu.Lock()
	phaseSamples := slices.Clone(s.samples)
	s.mu.Unlock()

	// Repair every fault, then every client must agree with the server.
	for _, u := range s.users {
		u.px.Restore()
	}
	logf("every proxy restored; waiting (≤%v) until every client agrees with the server", cfg.settle)
	settleStart := time.Now()
	diffs, inv, state := s.settleAndCompare(ctx)
	settledIn := time.Since(settleStart)
	if len(inv) == 0 && len(diffs) == 0 {
		s.checkHostRequests(ctx, state)
	}
	final, _ := harness.ReadProcStatus(srv.cmd.Process.Pid)
	alive := srv.alive()
	goroutinesAfter := runtime.NumGoroutine()
	for _, u := range s.users {
		if m := u.m.Load(); m != nil {
			m.Close()
		}
	}
	exit = srv.stop()

	pass := s.summary(summaryInput{actionsFor: actionsFor, settledIn: settledIn, diffs: diffs, inv: inv, state: state,
		samples: phaseSamples, final: final, alive: alive, exit: exit,
		goroutinesBefore: goroutinesBefore, goroutinesAfter: goroutinesAfter, cpu: cpu1 - cpu0})
	return pass, nil
}

// viewerEvery is the period of the viewer action loop.
func (s *soak) viewerEvery() time.Duration {
	return time.Duration(float64(time.Second) / s.cfg.rate)
}

// loop runs fn every period (±25%) until the actions stop.
func (s *soak) loop(wg *sync.WaitGroup, period time.Duration, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			d := period*3/4 + rand.N(period/2+1)
			select {
			case <-s.actCtx.Done():
				return
			case <-time.After(d):
			}
			fn()
		}
	}()
}

// setup creates the meeting and participants and connects everyone.
func (s *soak) setup(ctx context.Context) error {
	var m struct {
		ID string `json:"id"`
	}
	if err := s.srv.rest.Do(ctx, "POST", "/v1/meetings", map[string]string{"title": "soak"}, http.StatusCreated, &m); err != nil {
		return err
	}
	s.meetingID = m.ID
	n := s.cfg.hosts + s.cfg.viewers
	s.users = make([]*user, n)
	t0 := time.Now()
	err := parallel(ctx, n, 16, func(i int) error {
		u := &user{host: i < s.cfg.hosts}
		body := map[string]string{"name": fmt.Sprintf("viewer-%04d", i-s.cfg.hosts+1), "preset_name": stage.PresetWebinarViewer}
		if u.host {
			body = map[string]string{"name": fmt.Sprintf("host-%d", i+1), "preset_name": stage.PresetWebinarHost}
		}
		if err := s.srv.rest.Do(ctx, "POST", "/v1/meetings/"+s.meetingID+"/participants", body, http.StatusCreated, &u.p); err != nil {
			return err
		}
		px, err := netproxy.Start(strings.TrimPrefix(s.srv.URL, "http://"))
		if err != nil {
			return err
		}
		u.px = px
		s.users[i] = u
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range s.users {
		s.known[u.p.ID] = u.p
		if u.host {
			s.hosts = append(s.hosts, u)
		} else {
			s.viewers = append(s.viewers, u)
		}
	}
	logf("meeting %s: %d participants created in %v", s.meetingID, n, time.Since(t0).Truncate(time.Millisecond))
	// Hosts first, so that they see every viewer come in.
	t0 = time.Now()
	for _, h := range s.hosts {
		if err := s.connect(ctx, h); err != nil {
			return fmt.Errorf("%s: %w", h.label(), err)
		}
	}
	err = parallel(ctx, len(s.viewers), 32, func(i int) error {
		if err := s.connect(ctx, s.viewers[i]); err != nil {
			return fmt.Errorf("%s: %w", s.viewers[i].label(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	logf("%d clients connected and joined in %v", n, time.Since(t0).Truncate(time.Millisecond))
	return nil
}

// parallel runs fn(0..n-1) with at most workers at once; the first error
// stops it.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// connect makes u's client: Init through its proxy, listeners, Join.
func (s *soak) connect(ctx context.Context, u *user) error {
	ictx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	m, err := client.Init(ictx, client.Options{BaseURI: u.px.URL(), AuthToken: u.p.Token})
	if err != nil {
		return err
	}
	s.listen(u, m)
	if err := m.Join(ictx); err != nil {
		m.Close()
		return err
	}
	if u.joined(m) {
		s.renewed.Add(1)
	}
	u.m.Store(m)
	u.connected.Store(true)
	return nil
}

// listen follows m's session events and the user's own status: invariants
// on the client side, and the viewers' reactions (an accepted viewer soon
// joins the stage, one on stage leaves it after a while).
func (s *soak) listen(u *user, m *client.Meeting) {
	m.On(func(ev client.Event) {
		switch ev.Name {
		case client.EventReconnecting:
			s.reconnecting.Add(1)
			u.connected.Store(false)
		case client.EventReconnected:
			s.reconnected.Add(1)
			if u.joined(m) {
				s.renewed.Add(1)
			}
			u.connected.Store(true)
		case client.EventDisconnected:
			s.disconnected.Add(1)
			u.connected.Store(false)
			s.fail("%s: disconnected for good: %v", u.label(), ev.Err)
		case client.EventStageStatusUpdate:
			st := ev.Status
			switch {
			case !st.Valid():
				s.fail("%s: status %q", u.label(), st)
			case u.host && st != stage.Accepted && st != stage.OnStage:
				s.fail("%s (host): status %s", u.label(), st)
			}
			if u.host || !s.running.Load() || s.actCtx.Err() != nil {
				return
			}
			switch {
			case st == stage.Accepted && rand.N(10) < 8:
				s.react(u, "viewer.join", 200*time.Millisecond+rand.N(3*time.Second), func(st *client.Stage, c context.Context) error { return st.Join(c) })
			case st == stage.OnStage && rand.N(10) < 6:
				s.react(u, "viewer.leave", 5*time.Second+rand.N(35*time.Second), func(st *client.Stage, c context.Context) error { return st.Leave(c) })
			}
		}
	})
}

// react runs a viewer's action after d, as one of the bounded actions.
func (s *soak) react(u *user, kind string, d time.Duration, fn func(*client.Stage, context.Context) error) {
	s.scheduled.Add(1)
	go func() { // not in actWG (Add from here could race its Wait); act checks actCtx
		select {
		case <-s.actCtx.Done():
			return
		case <-time.After(d):
		}
		s.act(u, kind, fn)
	}()
}

// act runs fn on u's meeting, unless u is busy or too many actions are in
// flight, and records the outcome.
func (s *soak) act(u *user, kind string, fn func(*client.Stage, context.Context) error) {
	if s.actCtx.Err() != nil {
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		s.mu.Lock()
		s.skipped++
		s.mu.Unlock()
		return
	}
	defer func() { <-s.sem }()
	if s.actCtx.Err() != nil { // stopped while waiting: see drain
		return
	}
	if !u.mu.TryLock() {
		s.mu.Lock()
		s.skipped++
		s.mu.Unlock()
		return
	}
	defer u.mu.Unlock()
	m := u.m.Load()
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s.record(kind, fn(m.Stage(), ctx))
}

// viewerAction makes a random viewer do something fitting its status, now
// and then something the server must refuse.
func (s *soak) viewerAction() {
	u := s.viewers[rand.N(len(s.viewers))]
	m := u.m.Load()
	if m == nil {
		return
	}
	type op struct {
		kind string
		fn   func(*client.Stage, context.Context) error
	}
	request := op{"viewer.request", func(st *client.Stage, c context.Context) error { return st.RequestAccess(c) }}
	cancelReq := op{"viewer.cancel", func(st *client.Stage, c context.Context) error { return st.CancelRequestAccess(c) }}
	join := op{"viewer.join", func(st *client.Stage, c context.Context) error { return st.Join(c) }}
	leave := op{"viewer.leave", func(st *client.Stage, c context.Context) error { return st.Leave(c) }}
	grant := op{"viewer.grant", func(st *client.Stage, c context.Context) error { // not a host: 2001
		return st.GrantAccess(c, []string{s.viewers[rand.N(len(s.viewers))].p.ID})
	}}
	r := rand.N(100)
	var o op
	switch m.Stage().Status() {
	case stage.OffStage:
		o = pick(r, []int{55, 75, 85, 92}, request, join, cancelReq, grant, leave)
	case stage.Requested:
		o = pick(r, []int{50, 60}, cancelReq, request, join)
	case stage.Accepted:
		o = pick(r, []int{70}, join, leave)
	default: // ON_STAGE
		o = pick(r, []int{60, 70}, leave, request, join)
	}
	s.act(u, o.kind, o.fn)
}

// pick returns ops[i] for the first bound r is below, the last op otherwise.
func pick[T any](r int, bounds []int, ops ...T) T {
	for i, b := range bounds {
		if r < b {
			return ops[i]
		}
	}
	return ops[len(ops)-1]
}

// hostAction makes host h act on what it sees: grant or deny requests,
// kick, invite, move itself on or off stage, read the requests, and now
// and then a call the server must refuse.
func (s *soak) hostAction(h *user) {
	m := h.m.Load()
	if m == nil {
		return
	}
	reqs := m.Requests()
	var onStage, offStage, hostsSeen []string
	stageSize := 0
	for _, p := range m.Participants() {
		switch {
		case p.PresetName == stage.PresetWebinarHost:
			hostsSeen = append(hostsSeen, p.UserID)
		case p.StageStatus == stage.OnStage || p.StageStatus == stage.Accepted:
			onStage = append(onStage, p.UserID)
			stageSize++
		case p.StageStatus == stage.OffStage:
			offStage = append(offStage, p.UserID)
		}
	}
	reqIDs := make([]string, len(reqs))
	for i, r := range reqs {
		reqIDs[i] = r.UserID
	}
	some := func(ids []string, max int) []string {
		ids = slices.Clone(ids)
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		return ids[:min(len(ids), 1+rand.N(max))]
	}
	grant := func(ids []string) {
		s.act(h, "host.grant", func(st *client.Stage, c context.Context) error { return st.GrantAccess(c, ids) })
	}
	deny := func(ids []string) {
		s.act(h, "host.deny", func(st *client.Stage, c context.Context) error { return st.DenyAccess(c, ids) })
	}
	kick := func(ids []string) {
		s.act(h, "host.kick", func(st *client.Stage, c context.Context) error { return st.Kick(c, ids) })
	}

	r := rand.N(100)
	switch {
	case len(reqIDs) > 40 && r < 50:
		deny(reqIDs[:10]) // keep the queue bounded: deny the oldest
	case len(reqIDs) > 0 && r < 45:
		if stageSize < s.cfg.maxStage {
			grant(some(reqIDs, 3))
		} else {
			deny(some(reqIDs, 3))
		}
	case len(reqIDs) > 0 && r < 60:
		deny(some(reqIDs, 3))
	case r < 75:
		if len(onStage) > 0 {
			kick(some(onStage, 2))
		} else if len(hostsSeen) > 0 {
			kick(hostsSeen[:1]) // the other host: ON_STAGE → ACCEPTED, or 2006
		}
	case r < 80:
		if len(offStage) > 0 && stageSize < s.cfg.maxStage {
			grant(some(offStage, 1)) // an invitation
		}
	case r < 84:
		if len(offStage) > 0 { // a batch naming someone not in the room: 2101, nothing applied
			grant([]string{offStage[rand.N(len(offStage))], "no-such-user-" + strconv.Itoa(rand.N(1000))})
		}
	case r < 90:
		s.act(h, "host.stage", func(st *client.Stage, c context.Context) error {
			if st.Status() == stage.OnStage {
				return st.Leave(c)
			}
			return st.Join(c)
		})
	case r < 94:
		s.act(h, "host.getRequests", func(st *client.Stage, c context.Context) error {
			_, err := st.GetAccessRequests(c)
			return err
		})
	case r < 97:
		if len(offStage) > 0 { // deny someone who did not ask: 2006
			deny(offStage[:1])
		}
	default:
		s.act(h, "host.request", func(st *client.Stage, c context.Context) error { return st.RequestAccess(c) }) // ALLOWED: stays ACCEPTED
	}
}

// randomUser is any client, hosts included (one in ten picks).
func (s *soak) randomUser() *user {
	if rand.N(10) == 0 {
		return s.hosts[rand.N(len(s.hosts))]
	}
	return s.viewers[rand.N(len(s.viewers))]
}

// cutOne cuts a random client's connection; a quarter of the cuts also
// refuse new connections for up to 4 s. The client reconnects by itself.
func (s *soak) cutOne() {
	u := s.randomUser()
	if rand.N(4) == 0 {
		s.cutsDown.Add(1)
		u.px.SetDown(true)
		d := 500*time.Millisecond + rand.N(3500*time.Millisecond)
		time.AfterFunc(d, func() { u.px.SetDown(false) })
	}
	s.cuts.Add(1)
	u.px.Cut()
}

// holeOne black-holes a random client's connection for 3 to 75 s: short
// ones the connection survives, longer ones outlast the server's ping
// (it drops the connection) and some the grace period (the user leaves the
// room and comes back as a new member when the path is restored).
func (s *soak) holeOne() {
	active := 0
	for _, u := range s.users {
		if u.inHole.Load() {
			active++
		}
	}
	if active >= s.cfg.maxHoles {
		return
	}
	u := s.randomUser()
	if !u.inHole.CompareAndSwap(false, true) {
		return
	}
	s.holes.Add(1)
	u.px.BlackHole(true)
	d := 3*time.Second + rand.N(72*time.Second)
	s.actWG.Add(1)
	go func() {
		defer s.actWG.Done()
		select {
		case <-time.After(d):
		case <-s.actCtx.Done():
		}
		u.px.BlackHole(false)
		u.inHole.Store(false)
	}()
}

// restartOne closes a random client (as a crashed page would: no leave)
// and starts it anew with the same token, as a new process would: Init,
// Join. Within the grace period the server keeps the user's place.
func (s *soak) restartOne() {
	u := s.randomUser()
	if u.inHole.Load() || !u.mu.TryLock() {
		return
	}
	defer u.mu.Unlock()
	s.restarts.Add(1)
	if old := u.m.Load(); old != nil {
		old.Close()
	}
	u.connected.Store(false)
	var last error
	for attempt := 0; attempt < 6; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Second)
		}
		err := s.connect(context.Background(), u)
		if err == nil {
			return
		}
		last = err
		code := client.CodeOf(err)
		s.mu.Lock()
		s.initFails[code]++
		s.mu.Unlock()
		if code != protocol.CodeUnreachable && !transientCodes[code] {
			break
		}
	}
	s.fail("%s: restart failed: %v", u.label(), last)
}

// state reads the server's stage state.
func (s *soak) state(ctx context.Context) (rest.StageState, error) {
	var st rest.StageState
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := s.srv.rest.Do(ctx, "GET", "/v1/meetings/"+s.meetingID+"/stage", nil, http.StatusOK, &st)
	return st, err
}

// checkLoop checks the server's invariants every checkEvery.
func (s *soak) checkLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.checkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.srv.alive() {
			s.fail("the server exited: %v", s.srv.cmd.ProcessState)
			return
		}
		// Not ctx: a request cut short when the loop stops would make the
		// server log an error.
		st, err := s.state(context.Background())
		if err != nil {
			s.fail("GET stage: %v", err)
			continue
		}
		s.mu.Lock()
		s.checks++
		s.mu.Unlock()
		for _, d := range checkInvariants(st, s.known) {
			s.fail("invariant: %s", d)
		}
	}
}

func (s *soak) sampleLoop(ctx context.Context) {
	s.sampleNow()
	t := time.NewTicker(s.cfg.sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sampleNow()
		}
	}
}

func (s *soak) sampleNow() {
	if !s.srv.alive() {
		return
	}
	ps, err := harness.ReadProcStatus(s.srv.cmd.Process.Pid)
	if err != nil {
		return
	}
	s.srv.mu.Lock()
	heap := 0
	if n := len(s.srv.liveHeap); n > 0 {
		heap = s.srv.liveHeap[n-1]
	}
	s.srv.mu.Unlock()
	s.mu.Lock()
	s.samples = append(s.samples, sample{at: time.Since(s.start), rss: ps.RSS, threads: ps.Threads, heapMB: heap})
	s.mu.Unlock()
}

func (s *soak) progressLoop(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		acts := 0
		for _, v := range s.ok {
			acts += v
		}
		refusals := 0
		for _, m := range s.refused {
			for _, v := range m {
				refusals += v
			}
		}
		var rss int64
		if n := len(s.samples); n > 0 {
			rss = s.samples[n-1].rss
		}
		nFail := s.nFail
		s.mu.Unlock()
		down := 0
		for _, u := range s.users {
			if !u.connected.Load() {
				down++
			}
		}
		logf("%v: %d committed, %d refused, %d cuts, %d holes, %d restarts, %d reconnects, %d clients not connected, server RSS %.1f MiB, %d failures",
			time.Since(s.start).Truncate(time.Second), acts, refusals, s.cuts.Load(), s.holes.Load(), s.restarts.Load(),
			s.reconnected.Load(), down, float64(rss)/1024, nFail)
	}
}

// settleAndCompare polls until every client is connected and its view
// equals the server's state in two rounds in a row (a second apart), or
// settle runs out; it returns the differences of the last round.
func (s *soak) settleAndCompare(ctx context.Context) (diffs map[string][]string, inv []string, state rest.StageState) {
	deadline := time.Now().Add(s.cfg.settle)
	clean := 0
	for {
		diffs, inv = map[string][]string{}, nil
		st, err := s.state(ctx)
		if err != nil {
			inv = []string{"GET stage: " + err.Error()}
		} else {
			state = st
			inv = checkInvariants(st, s.known)
			for _, u := range s.users {
				if d := s.compare(u, st); len(d) > 0 {
					diffs[u.label()] = d
				}
			}
		}
		if len(diffs) == 0 && len(inv) == 0 {
			clean++
			if clean >= 2 {
				return diffs, inv, state
			}
		} else {
			clean = 0
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return diffs, inv, state
		}
		time.Sleep(time.Second)
	}
}

func (s *soak) compare(u *user, st rest.StageState) []string {
	m := u.m.Load()
	if m == nil {
		return []string{"no client"}
	}
	if !u.connected.Load() {
		return []string{"not connected (reconnecting)"}
	}
	self := m.Self()
	return diffView(view{Self: self.Participant, Joined: self.RoomJoined, Host: u.host,
		Participants: m.Participants(), Requests: m.Requests(), Count: m.Count()}, st)
}

// checkHostRequests asks each host's server for the pending list (the
// room's own queue order) and compares it with the host's list, exactly,
// and with the REST route's derived list.
func (s *soak) checkHostRequests(ctx context.Context, st rest.StageState) {
	for _, h := range s.hosts {
		m := h.m.Load()
		c, cancel := context.WithTimeout(ctx, 15*time.Second)
		got, err := m.Stage().GetAccessRequests(c)
		cancel()
		if err != nil {
			s.fail("%s: getAccessRequests at the end: %v", h.label(), err)
			continue
		}
		if mine := m.Requests(); !slices.Equal(mine, got) {
			s.fail("%s: its pending list %s, the room's queue %s", h.label(), fmtReqs(mine), fmtReqs(got))
		}
		for _, d := range diffRequests(got, st.Pending) {
			s.fail("%s: the room's queue vs GET stage: %s", h.label(), d)
		}
	}
}

type summaryInput struct {
	actionsFor, settledIn time.Duration
	diffs                 map[string][]string
	inv                   []string
	state                 rest.StageState
	samples               []sample
	final                 harness.ProcStatus
	alive                 bool
	exit                  string
	goroutinesBefore      int
	goroutinesAfter       int
	cpu                   time.Duration // the server's CPU time during the actions
}

// flatLimit is how much the last third's median RSS may exceed the first
// third's.
const flatLimit = 1.15

func (s *soak) summary(in summaryInput) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	pass := true
	failWhy := []string{}
	p := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	p("")
	p("==== stagekit soak summary ====")
	p("duration          %v of actions (asked %v); settled in %v", in.actionsFor.Truncate(time.Second), s.cfg.duration, in.settledIn.Truncate(time.Millisecond))
	p("clients           %d hosts + %d viewers, one meeting, each behind its own proxy; server -grace %s", s.cfg.hosts, s.cfg.viewers, s.cfg.grace)

	kinds := sortedKeys(s.ok)
	for k := range s.refused {
		if _, ok := s.ok[k]; !ok {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	total, totalRef := 0, 0
	p("actions           kind: committed / refused (by code)")
	for _, k := range kinds {
		var ref []string
		codes := make([]int, 0, len(s.refused[k]))
		for c := range s.refused[k] {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for _, c := range codes {
			ref = append(ref, fmt.Sprintf("%d×%d", c, s.refused[k][c]))
			totalRef += s.refused[k][c]
		}
		total += s.ok[k]
		p("  %-18s %6d / %s", k, s.ok[k], strings.Join(ref, " "))
	}
	byCode := map[int]int{}
	for _, m := range s.refused {
		for c, v := range m {
			byCode[c] += v
		}
	}
	p("  total              %d committed, %d refused %s, %d caught by a fault %s, %d not started (user busy or %d in flight), %d reactions scheduled",
		total, totalRef, fmtCodes(byCode), sum(s.transient), fmtCodes(s.transient), s.skipped, s.cfg.inFlight, s.scheduled.Load())
	p("faults            %d cuts (%d also refusing new connections for ≤4s), %d black holes (3–75s), %d restarts (Close, then Init+Join anew)%s",
		s.cuts.Load(), s.cutsDown.Load(), s.holes.Load(), s.restarts.Load(), restartFails(s.initFails))
	p("reconnects seen   %d reconnecting, %d reconnected, %d disconnected; %d rejoins (reconnects and restarts) found the grace period over and came back as a new member (new peer id)",
		s.reconnecting.Load(), s.reconnected.Load(), s.disconnected.Load(), s.renewed.Load())
	if in.cpu > 0 {
		p("server CPU        %.1f s over %v of actions: %.1f%% of one core", in.cpu.Seconds(), in.actionsFor.Truncate(time.Second), 100*in.cpu.Seconds()/in.actionsFor.Seconds())
	}
	s.srv.mu.Lock()
	closes := fmt.Sprint(s.srv.events)
	bad, badCount, heaps := slices.Clone(s.srv.bad), s.srv.badCount, slices.Clone(s.srv.liveHeap)
	s.srv.mu.Unlock()
	p("server closes     %s", closes)
	p("invariant checks  %d (every %v)", s.checks, s.cfg.checkEvery)

	// Memory.
	var rss []int64
	for _, sm := range in.samples {
		rss = append(rss, sm.rss)
	}
	if len(rss) > 0 {
		third := max(1, len(rss)/3)
		first, last := median(rss[:third]), median(rss[len(rss)-third:])
		ratio := float64(last) / float64(first)
		p("server RSS        %d samples every %v: first %s, median %s, last %s, max %s; median of the last third / first third = %.3f (limit %.2f)",
			len(rss), s.cfg.sampleEvery, mib(rss[0]), mib(median(rss)), mib(rss[len(rss)-1]), mib(slices.Max(rss)), ratio, flatLimit)
		var line []string
		for _, sm := range in.samples {
			line = append(line, fmt.Sprintf("%s:%.0f", sm.at.Truncate(time.Second), float64(sm.rss)/1024))
		}
		p("  samples (MiB)   %s", strings.Join(line, " "))
		var heap []int64
		for _, sm := range in.samples {
			heap = append(heap, int64(sm.heapMB))
		}
		p("  live heap (MB)  at the samples: first %d, median %d, last %d, max %d (%d GCs traced)", heap[0], median(heap), heap[len(heap)-1], slices.Max(heap), len(heaps))
		p("  threads         first %d, last %d; after settling RSS %s, %d threads", in.samples[0].threads, in.samples[len(in.samples)-1].threads, mib(in.final.RSS), in.final.Threads)
		if ratio > flatLimit {
			pass = false
			failWhy = append(failWhy, fmt.Sprintf("memory grew: last-third median RSS is %.3f× the first third's", ratio))
		}
	}
	p("soak process      %d goroutines during the run's start, %d after settling", in.goroutinesBefore, in.goroutinesAfter)
	p("server process    alive at the end: %v; exit on SIGTERM: %s", in.alive, in.exit)
	if !in.alive {
		pass = false
		failWhy = append(failWhy, "the server died")
	}
	if badCount > 0 {
		pass = false
		failWhy = append(failWhy, fmt.Sprintf("%d panic/fatal/ERROR lines in the server's log", badCount))
		for _, l := range bad {
			p("  server log: %s", l)
		}
	}
	onStage, requested, accepted := 0, 0, 0
	for _, m := range in.state.Members {
		switch m.StageStatus {
		case stage.OnStage:
			onStage++
		case stage.Requested:
			requested++
		case stage.Accepted:
			accepted++
		}
	}
	p("final state       %d members (count %d): %d ON_STAGE, %d ACCEPTED, %d REQUESTED (pending %d)",
		len(in.state.Members), in.state.Count, onStage, accepted, requested, len(in.state.Pending))
	if len(in.state.Members) != s.cfg.hosts+s.cfg.viewers {
		pass = false
		failWhy = append(failWhy, fmt.Sprintf("%d members at the end, %d clients", len(in.state.Members), s.cfg.hosts+s.cfg.viewers))
	}
	if len(in.inv) > 0 {
		pass = false
		failWhy = append(failWhy, fmt.Sprintf("%d invariants broken at the end", len(in.inv)))
		for _, d := range in.inv {
			p("  invariant: %s", d)
		}
	}
	if len(in.diffs) > 0 {
		pass = false
		failWhy = append(failWhy, fmt.Sprintf("%d clients disagree with the server after %v", len(in.diffs), s.cfg.settle))
		shown := 0
		for _, who := range sortedKeys(in.diffs) {
			if shown == 20 {
				p("  … and %d more clients", len(in.diffs)-shown)
				break
			}
			shown++
			d := in.diffs[who]
			p("  %s: %d differences", who, len(d))
			for i, line := range d {
				if i == 10 {
					p("      … %d more", len(d)-i)
					break
				}
				p("      %s", line)
			}
		}
	} else {
		p("final comparison  every client's view equals the server's (self, participants with status, hosts' pending lists, count)")
	}
	if s.nFail > 0 {
		pass = false
		failWhy = append(failWhy, fmt.Sprintf("%d failures during the run", s.nFail))
		for _, f := range s.failures {
			p("  failure: %s", f)
		}
	}
	if pass {
		p("RESULT            PASS")
	} else {
		p("RESULT            FAIL: %s", strings.Join(failWhy, "; "))
	}
	return pass
}

func fmtCodes(m map[int]int) string {
	if len(m) == 0 {
		return "(none)"
	}
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, m[c]))
	}
	return "(" + strings.Join(parts, " ") + ")"
}

func restartFails(m map[int]int) string {
	if len(m) == 0 {
		return ""
	}
	return "; Init/Join attempts failed during restarts " + fmtCodes(m) + " (retried)"
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func median(xs []int64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
