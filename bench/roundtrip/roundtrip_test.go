// Package roundtrip measures one stage method's round trip from the native
// client core, the counterpart of bench/browser's in-page measurement of
// the same calls through the wasm SDK (`make bench-browser` prints both).
//
//	go test -run='^$' -bench=RequestCancelNative -benchtime=400x ./bench/roundtrip
//
// One op is one call: requestAccess and cancelRequestAccess alternate, each
// timed from the call to its return, i.e. until the server committed it and
// the client applied the event (see package client). ns/op is the mean;
// p50-ns, p90-ns, p99-ns and max-ns are per-call figures of the same calls.
//
// The server limits each connection to 50 messages/s with a burst of 100 and
// answers 4020 beyond; a long back-to-back run on one socket would measure
// refusals. So each viewer makes at most callsPerViewer calls back to back and
// then leaves, and the next viewer (created and joined with the timer
// stopped) continues. The browser side does the same.
//
// By default the server runs in-process (internal/testserver). With
// STAGEKIT_BENCH_URL and STAGEKIT_BENCH_API_KEY set, the benchmark uses that
// server instead (bench/browser points it at the stageserver process its
// pages use, so both sides talk to the same server).
package roundtrip

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stagekit/stagekit/client"
	"github.com/stagekit/stagekit/internal/testserver"
)

// callsPerViewer keeps each socket inside the server's burst (100 messages,
// hello and join included). Even, so every viewer ends OFF_STAGE.
const callsPerViewer = 80

const callTimeout = 10 * time.Second

type target struct {
	url, key, meetingID string
}

func newTarget(b *testing.B) *target {
	t := &target{url: os.Getenv("STAGEKIT_BENCH_URL"), key: os.Getenv("STAGEKIT_BENCH_API_KEY")}
	if t.url == "" {
		t.url, t.key = testserver.Start(b, 20*time.Second).URL, testserver.APIKey
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := t.rest("POST", "/v1/meetings", map[string]string{"title": "roundtrip"}, &m); err != nil {
		b.Fatal(err)
	}
	t.meetingID = m.ID
	return t
}

func (t *target) rest(method, path string, body, out any) error {
	data, _ := json.Marshal(body)
	req, err := http.NewRequest(method, t.url+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}

// viewer creates a webinar_viewer (CAN_REQUEST) through REST and joins it.
func (t *target) viewer(b *testing.B, n int) *client.Meeting {
	var p struct {
		Token string `json:"token"`
	}
	if err := t.rest("POST", "/v1/meetings/"+t.meetingID+"/participants",
		map[string]string{"name": fmt.Sprintf("viewer-%d", n), "preset_name": "webinar_viewer"}, &p); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	m, err := client.Init(ctx, client.Options{BaseURI: t.url, AuthToken: p.Token})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Join(ctx); err != nil {
		b.Fatal(err)
	}
	return m
}

func leave(m *client.Meeting) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_ = m.Leave(ctx)
	m.Close()
}

// BenchmarkRequestCancelNative: await requestAccess, await
// cancelRequestAccess, … from client.Meeting over a real WebSocket on
// loopback.
func BenchmarkRequestCancelNative(b *testing.B) {
	t := newTarget(b)
	lat := make([]time.Duration, 0, b.N)
	var m *client.Meeting
	viewers := 0
	defer func() {
		if m != nil {
			leave(m)
		}
	}()
	b.ResetTimer()
	for i := range b.N {
		if i%callsPerViewer == 0 {
			b.StopTimer()
			if m != nil {
				leave(m)
			}
			viewers++
			m = t.viewer(b, viewers)
			b.StartTimer()
		}
		st := m.Stage()
		call, name := st.RequestAccess, "requestAccess"
		if i%2 == 1 {
			call, name = st.CancelRequestAccess, "cancelRequestAccess"
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		t0 := time.Now()
		err := call(ctx)
		lat = append(lat, time.Since(t0))
		cancel()
		if err != nil {
			b.Fatalf("call %d (%s, viewer %d): %v", i, name, viewers, err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(pct(lat, 50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(pct(lat, 90).Nanoseconds()), "p90-ns")
	b.ReportMetric(float64(pct(lat, 99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
	b.ReportMetric(float64(viewers), "viewers")
}

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(rank, 1)-1]
}
