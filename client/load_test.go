//go:build !js

package client_test

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
	"github.com/stagekit/stagekit/stage"
)

// TestManyClients connects STAGEKIT_LOAD_CLIENTS viewers (default 100; 0
// skips; 1000 takes ~12 s without -race) to one meeting, 50 at a time, has
// every one request at once and one host grant them all in one call, and
// waits until every client has been told. It logs the time of each phase.
func TestManyClients(t *testing.T) {
	n := 100
	if v := os.Getenv("STAGEKIT_LOAD_CLIENTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if n == 0 || testing.Short() {
		t.Skip("load test skipped")
	}
	r := newRoom(t, 30*time.Second)
	host := r.join("Host", stage.PresetWebinarHost)
	ps := make([]testserver.Participant, n)
	for i := range ps {
		ps[i] = r.add("V"+strconv.Itoa(i), stage.PresetWebinarViewer)
	}
	before := runtime.NumGoroutine()
	ms := make([]*client.Meeting, n)
	var granted sync.WaitGroup // one per viewer, done on its approval
	granted.Add(n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	sem := make(chan struct{}, 50) // connect 50 at a time
	for i := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			m, err := client.Init(ctx, client.Options{BaseURI: r.srv.URL, AuthToken: ps[i].Token})
			if err != nil {
				errs <- err
				return
			}
			ms[i] = m
			var once sync.Once
			m.On(func(e client.Event) {
				if e.Name == client.EventStageRequestApproved {
					once.Do(granted.Done)
				}
			})
			errs <- m.Join(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.Close()
		}
	})
	t.Logf("%d clients joined in %v", n, time.Since(start))
	host.until("everyone", func() bool { return len(host.m.Participants()) == n })
	start = time.Now()
	errs = make(chan error, n)
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- m.Stage().RequestAccess(ctx) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	host.until("all requests", func() bool { return len(host.m.Requests()) == n })
	t.Logf("%d requests seen by the host in %v", n, time.Since(start))
	ids := make([]string, n)
	for i, p := range ps {
		ids[i] = p.ID
	}
	start = time.Now()
	must(t, host.m.Stage().GrantAccess(ctx, ids))
	done := make(chan struct{})
	go func() { granted.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("not every viewer was told of the grant")
	}
	t.Logf("grant of %d reached every client in %v", n, time.Since(start))
	for _, m := range ms {
		if m.Stage().Status() != stage.Accepted {
			t.Fatalf("a viewer is %s", m.Stage().Status())
		}
	}
	t.Logf("goroutines: %d before the clients, %d with them (server side included: ~3 per connection there, 1 per client here)", before, runtime.NumGoroutine())
}
