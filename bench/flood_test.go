//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagekit/stagekit/internal/harness"
	"github.com/stagekit/stagekit/protocol"
)

// BenchmarkFlood measures what one flooding viewer costs the room: in a
// room of floodViewers lean viewers and a host, one viewer sends request
// and cancel as fast as it can for floodWindow, reconnecting at once
// whenever the server closes it, while the host pings the server every
// 20 ms. Reported, beside the same host pings with nobody flooding:
//
//	host-ping-p50-ms, -p99-ms     the host's ping round trip during the flood
//	quiet-ping-p50-ms, -p99-ms    the same without a flood
//	flood-through/s               the flooder's actions that reached the room
//	                              (committed, or refused by the stage rules)
//	flood-reconnects              the flooder's connections
//	flood-srv-cpu-%               server CPU during the flood, % of one core
//
// STAGEKIT_BENCH_SERVER runs another binary (an older build, to compare).
func BenchmarkFlood(b *testing.B) {
	skipUnlessBench(b)
	for i := 0; i < b.N; i++ {
		benchFlood(b)
	}
}

const (
	floodViewers = 300
	floodWindow  = 5 * time.Second
)

func benchFlood(b *testing.B) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := harness.RaiseNoFile(floodViewers + 1024); err != nil {
		b.Fatal(err)
	}
	srv, err := startServer(serverOptions{})
	if err != nil {
		b.Fatal(err)
	}
	a := &audience{srv: srv, newReq: make(chan hostSample, 16), acceptedAt: make(chan time.Time, 1)}
	defer a.close()
	if err := a.setup(ctx, floodViewers+1); err != nil {
		b.Fatal(err)
	}
	flooderToken := a.tokens[floodViewers]
	a.viewers, a.tokens = a.viewers[:floodViewers], a.tokens[:floodViewers]
	if err := a.connectViewers(ctx); err != nil {
		b.Fatal(err)
	}
	quiet := a.hostPings(ctx, floodWindow)

	var commits, reconnects atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := dialLean(ctx, srv.URL, flooderToken, nil)
			if err != nil {
				time.Sleep(5 * time.Millisecond) // refused (rate or cap): try again soon
				continue
			}
			reconnects.Add(1)
			flood(ctx, c, stop, &commits)
			c.close()
		}
	}()
	b.StartTimer()
	ph := startPhase(srv, "flood")
	during := a.hostPings(ctx, floodWindow)
	cpu := ph.end()
	b.StopTimer()
	close(stop)
	<-done

	b.ReportMetric(ms(percentile(during, 0.5)), "host-ping-p50-ms")
	b.ReportMetric(ms(percentile(during, 0.99)), "host-ping-p99-ms")
	b.ReportMetric(ms(percentile(quiet, 0.5)), "quiet-ping-p50-ms")
	b.ReportMetric(ms(percentile(quiet, 0.99)), "quiet-ping-p99-ms")
	b.ReportMetric(float64(commits.Load())/floodWindow.Seconds(), "flood-through/s")
	b.ReportMetric(float64(reconnects.Load()), "flood-reconnects")
	b.ReportMetric(100*cpu.srv.Seconds()/cpu.wall.Seconds(), "flood-srv-cpu-%")
	b.Logf("load average %s; server: %s", loadAvg(), serverFrom())
}

func serverFrom() string {
	_, from, _ := serverBinary()
	return from
}

// flood sends request and cancel, up to 64 unanswered at a time, until the
// connection ends or stop closes, counting the committed ones.
func flood(ctx context.Context, c *leanClient, stop <-chan struct{}, commits *atomic.Int64) {
	sem := make(chan struct{}, 64)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-c.done:
			return
		case sem <- struct{}{}:
		}
		typ := protocol.TypeStageRequest
		if i%2 == 1 {
			typ = protocol.TypeStageCancel
		}
		go func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := c.call(cctx, protocol.ClientMessage{Type: typ})
			var eb *protocol.ErrorBody
			if err == nil || (errors.As(err, &eb) && eb.Code != protocol.CodeRateLimited) {
				commits.Add(1) // it reached the room
			}
		}()
	}
}

// hostPings has the host ping the server every 20 ms for d and returns the
// round trips.
func (a *audience) hostPings(ctx context.Context, d time.Duration) []time.Duration {
	var out []time.Duration
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		t0 := time.Now()
		if err := a.host.Ping(ctx); err != nil {
			panic(fmt.Sprintf("host ping: %v", err))
		}
		out = append(out, time.Since(t0))
		time.Sleep(20 * time.Millisecond)
	}
	return out
}
