package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/harness"
	"github.com/stagekit/stagekit/stage"
)

// The REST stage control and webhook figures of issue 20:
//
//	go test -run='^$' -bench='RESTGrant|WebhookLatency' -benchtime=1x ./bench
//
//	BenchmarkRESTGrant/viewers=N  a room of N viewers (default 10000,
//	                              $STAGEKIT_BENCH_REST_VIEWERS): REST grant
//	                              of one viewer → that viewer's
//	                              stageStatusUpdate (ACCEPTED), p50/p99 of
//	                              restSamples, each followed by a REST kick
//	BenchmarkWebhookLatency/sqlite  100 meetings, REST grants and kicks at
//	                              1,000 changes/s in all for 10 s: the REST
//	                              answer (the change stored) → its webhook
//	                              received by a local HTTP receiver, p50/p99,
//	                              and the changes/s the server kept up with
//	.../cluster-postgres          the same on two nodes sharing PostgreSQL

const (
	restSamples      = 200
	webhookMeetings  = 100
	webhookRate      = 1000 // changes/s, all meetings together
	webhookDuration  = 10 * time.Second
	webhookDrainWait = 60 * time.Second // a bound on a hang, not a figure
)

// stageCall posts a REST stage action and returns the seq of its event.
func stageCall(ctx context.Context, hc *http.Client, base, meetingID, action, userID, key string) (int64, error) {
	body, _ := json.Marshal(map[string][]string{"user_ids": {userID}})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/meetings/"+meetingID+"/stage/"+action, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %d %s", action, res.StatusCode, raw)
	}
	var out struct{ Data struct{ Seq int64 } }
	err = json.Unmarshal(raw, &out)
	return out.Data.Seq, err
}

func restViewers() int {
	if v, err := strconv.Atoi(os.Getenv("STAGEKIT_BENCH_REST_VIEWERS")); err == nil && v > 0 {
		return v
	}
	return 10000
}

func BenchmarkRESTGrant(b *testing.B) {
	skipUnlessBench(b)
	n := restViewers()
	b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			benchRESTGrant(b, n)
		}
	})
}

func benchRESTGrant(b *testing.B, n int) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := harness.RaiseNoFile(uint64(n + 1024)); err != nil {
		b.Fatal(err)
	}
	srv, err := startServer(serverOptions{})
	if err != nil {
		b.Fatal(err)
	}
	a := &audience{srv: srv, newReq: make(chan hostSample, 1), acceptedAt: make(chan time.Time, 1)}
	defer a.close()
	if err := a.setup(ctx, n); err != nil {
		b.Fatal(err)
	}
	// Each sampled viewer reports its statuses on its own channel.
	seen := make([]chan stage.Status, restSamples)
	for i := range seen {
		seen[i] = make(chan stage.Status, 8)
	}
	sem := make(chan struct{}, joinInFlight)
	var wg sync.WaitGroup
	var joinErr error
	var mu sync.Mutex
	for i := range a.viewers {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var on func(stage.Status)
			if i < restSamples {
				ch := seen[i]
				on = func(s stage.Status) { ch <- s }
			}
			v, err := dialLean(ctx, srv.URL, a.tokens[i], on)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && joinErr == nil {
				joinErr = err
			}
			a.viewers[i] = v
		}()
	}
	wg.Wait()
	if joinErr != nil {
		b.Fatalf("joins: %v", joinErr)
	}
	load := loadAvg()
	hc := &http.Client{Timeout: 30 * time.Second}
	wait := func(i int, want stage.Status) error {
		for {
			select {
			case s := <-seen[i]:
				if s == want {
					return nil
				}
			case <-time.After(30 * time.Second):
				return fmt.Errorf("viewer %d never saw %s", i, want)
			}
		}
	}
	lat := make([]time.Duration, 0, restSamples)
	b.StartTimer()
	for i := 0; i < restSamples; i++ {
		t0 := time.Now()
		if _, err := stageCall(ctx, hc, srv.URL, a.meetingID, "grant", a.ids[i], fmt.Sprint("g", i)); err != nil {
			b.Fatal(err)
		}
		if err := wait(i, stage.Accepted); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if _, err := stageCall(ctx, hc, srv.URL, a.meetingID, "kick", a.ids[i], fmt.Sprint("k", i)); err != nil {
			b.Fatal(err)
		}
		if err := wait(i, stage.OffStage); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(lat, 0.5)), "grant-p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "grant-p99-ms")
	b.Logf("%d viewers, load average %s (at the samples' start), now %s: REST grant → stageStatusUpdate p50 %.2f ms, p99 %.2f ms over %d grants",
		n, load, loadAvg(), ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), len(lat))
}

func BenchmarkWebhookLatency(b *testing.B) {
	skipUnlessBench(b)
	b.Run("sqlite", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			srv, err := startServer(serverOptions{})
			if err != nil {
				b.Fatal(err)
			}
			benchWebhookLatency(b, srv)
			srv.stop()
		}
	})
	// Two nodes on one PostgreSQL and Redis: the REST calls and the rooms
	// on the first, the delivery lease wherever it lands.
	b.Run("cluster-postgres", func(b *testing.B) {
		pg, rd, stop := clusterBackends(b)
		defer stop()
		for i := 0; i < b.N; i++ {
			a, err := startNode(pg, rd, "a", 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			other, err := startNode(pg, rd, "b", 5*time.Second)
			if err != nil {
				a.stop()
				b.Fatal(err)
			}
			benchWebhookLatency(b, a)
			a.stop()
			other.stop()
		}
	})
}

type eventKey struct {
	meeting string
	seq     int64
}

func benchWebhookLatency(b *testing.B, srv *server) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The receiver: a real HTTP server in this process.
	var mu sync.Mutex
	received := map[eventKey]time.Time{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	rc := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		raw, _ := io.ReadAll(r.Body)
		var ev struct {
			Seq     int64
			Meeting struct{ ID string }
		}
		json.Unmarshal(raw, &ev)
		mu.Lock()
		if _, dup := received[eventKey{ev.Meeting.ID, ev.Seq}]; !dup {
			received[eventKey{ev.Meeting.ID, ev.Seq}] = at
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go rc.Serve(ln)
	defer rc.Close()

	rest := srv.rest
	if err := rest.Do(ctx, "POST", "/v1/webhooks", map[string]any{"url": "http://" + ln.Addr().String() + "/hook",
		"events": []string{"meeting.stageInvited", "meeting.stageKicked"}}, http.StatusCreated, nil); err != nil {
		b.Fatal(err)
	}
	type mtg struct {
		id, user string
		v        *leanClient
	}
	meetings := make([]mtg, webhookMeetings)
	for i := range meetings {
		id, err := createMeeting(ctx, rest, fmt.Sprint("webhooks ", i))
		if err != nil {
			b.Fatal(err)
		}
		ps, err := addParticipants(ctx, rest, id, presetViewer, "viewer", 1, 1)
		if err != nil {
			b.Fatal(err)
		}
		v, err := dialLean(ctx, srv.URL, ps[0].Token, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer v.close()
		meetings[i] = mtg{id: id, user: ps[0].ID, v: v}
	}
	load := loadAvg()
	// Each meeting alternates grant and kick at webhookRate/meetings a
	// second; acks records when each change's answer came.
	var ackMu sync.Mutex
	acked := map[eventKey]time.Time{}
	errs := make(chan error, webhookMeetings)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: webhookMeetings}}
	per := time.Second * webhookMeetings / webhookRate
	b.StartTimer()
	ph := startPhase(srv, "webhooks")
	start := time.Now()
	var wg sync.WaitGroup
	for i, m := range meetings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(per * time.Duration(i) / webhookMeetings)
			for n := 0; time.Since(start) < webhookDuration; n++ {
				time.Sleep(time.Until(next))
				next = next.Add(per)
				action := "grant"
				if n%2 == 1 {
					action = "kick"
				}
				seq, err := stageCall(ctx, hc, srv.URL, m.id, action, m.user, fmt.Sprint(i, "-", n))
				if err != nil {
					errs <- err
					return
				}
				ackMu.Lock()
				acked[eventKey{m.id, seq}] = time.Now()
				ackMu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	// Wait for the last deliveries.
	deadline := time.Now().Add(webhookDrainWait)
	for {
		mu.Lock()
		missing := 0
		for k := range acked {
			if _, ok := received[k]; !ok {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d acknowledged changes not delivered after %v", missing, len(acked), webhookDrainWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpu := ph.end()
	b.StopTimer()
	mu.Lock()
	lat := make([]time.Duration, 0, len(acked))
	for k, at := range acked {
		// A delivery may beat the REST answer to the client: count it as 0.
		lat = append(lat, max(0, received[k].Sub(at)))
	}
	mu.Unlock()
	rate := float64(len(acked)) / elapsed.Seconds()
	b.ReportMetric(rate, "changes/s")
	b.ReportMetric(ms(percentile(lat, 0.5)), "webhook-p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "webhook-p99-ms")
	b.ReportMetric(float64(cpu.srv.Microseconds())/float64(len(acked)), "server-cpu-µs/change")
	b.ReportMetric(cpu.otherPct(), "other-cpu-%")
	b.Logf("%d meetings, %d changes in %v (%.0f/s, asked %d/s), load average at start %s, at end %s: stored → webhook received p50 %.2f ms, p99 %.2f ms; server CPU %v (%.0f µs a change, REST, commit and delivery), this process %v, other processes %.0f%% of the machine",
		webhookMeetings, len(acked), elapsed.Round(time.Millisecond), rate, webhookRate, load, loadAvg(), ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)),
		cpu.srv.Round(time.Millisecond), float64(cpu.srv.Microseconds())/float64(len(acked)), cpu.cli.Round(time.Millisecond), cpu.otherPct())
}
