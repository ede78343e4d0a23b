package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOutbox: events committed with a change reach the outbox of each
// webhook that takes them, in order per (webhook, meeting); a failed
// attempt holds its queue back until its retry; the log and the keys are
// kept.
func TestOutbox(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t)
		m1, _ := s.CreateMeeting(ctx, "one")
		m2, _ := s.CreateMeeting(ctx, "two")
		all, err := s.CreateWebhook(ctx, Webhook{Name: "all", URL: "http://127.0.0.1:1/all", Secret: "whsec_x", Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		joins, _ := s.CreateWebhook(ctx, Webhook{Name: "joins", URL: "http://127.0.0.1:1/joins", Secret: "whsec_y", Events: []string{"meeting.participantJoined"}})
		ev := func(m string, seq int64, typ string) StageEvent {
			return StageEvent{Seq: seq, ID: fmt.Sprintf("evt_%s_%d", m, seq), Type: typ, At: 1000 + seq, Actor: "api", UserID: "u", Payload: []byte(`{"n":1}`)}
		}
		commit := func(m string, key string, evs ...StageEvent) int64 {
			t.Helper()
			queued, err := s.CommitStage(ctx, m, 0, StageCommit{Events: evs, IdempotencyKey: key, Response: []byte("answer " + key)})
			if err != nil {
				t.Fatal(err)
			}
			return queued
		}
		// The deliveries a commit queued: each event once per webhook taking it.
		if q := commit(m1.ID, "k1", ev(m1.ID, 1, "meeting.participantJoined"), ev(m1.ID, 2, "meeting.stageRequested")); q != 3 {
			t.Errorf("a commit of a join and a request queued %d deliveries, want 3 (all: 2, joins: 1)", q)
		}
		if q := commit(m2.ID, "", ev(m2.ID, 1, "meeting.participantJoined")); q != 2 {
			t.Errorf("a commit of a join queued %d deliveries, want 2", q)
		}
		commit(m1.ID, "", ev(m1.ID, 3, "meeting.stageAccessGranted"))
		if seq, err := s.LastStageSeq(ctx, m1.ID); err != nil || seq != 3 {
			t.Fatalf("LastStageSeq = %d, %v", seq, err)
		}
		if got, err := s.IdempotentResponse(ctx, m1.ID, "k1"); err != nil || string(got) != "answer k1" {
			t.Fatalf("IdempotentResponse = %q, %v", got, err)
		}
		if _, err := s.IdempotentResponse(ctx, m2.ID, "k1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a key of another meeting: %v", err)
		}
		log, err := s.StageEvents(ctx, m1.ID, 1, 10)
		if err != nil || len(log) != 2 || log[0].Seq != 2 || log[1].Type != "meeting.stageAccessGranted" || string(log[1].Payload) != `{"n":1}` {
			t.Fatalf("StageEvents = %+v, %v", log, err)
		}
		if n, _ := s.PendingDeliveries(ctx); n != 6 { // all: 4, joins: 2
			t.Fatalf("pending = %d, want 6", n)
		}
		heads := func(now int64) []string {
			t.Helper()
			ds, err := s.DueDeliveries(ctx, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, d := range ds {
				out = append(out, d.Webhook.Name+":"+d.Event.ID)
			}
			slices.Sort(out)
			return out
		}
		wantHeads := []string{"all:evt_" + m1.ID + "_1", "joins:evt_" + m1.ID + "_1", "all:evt_" + m2.ID + "_1", "joins:evt_" + m2.ID + "_1"}
		slices.Sort(wantHeads)
		want := fmt.Sprint(wantHeads)
		if got := fmt.Sprint(heads(5000)); got != want {
			t.Fatalf("heads = %s\nwant %s", got, want)
		}
		ds, _ := s.DueDeliveries(ctx, 5000, 10)
		i := slices.IndexFunc(ds, func(d Delivery) bool { return d.Webhook.ID == all.ID && d.Event.MeetingID == m1.ID })
		d := ds[i]
		// A failed attempt: m1's queue of "all" waits for the retry.
		if err := s.FinishAttempts(ctx, []Finished{{d, Attempt{EventID: d.Event.ID, EventType: d.Event.Type, MeetingID: m1.ID, Seq: 1, Attempt: 1, At: time.UnixMilli(5000), StatusCode: 503, Error: "503"}, DeliveryPending, 9000}}); err != nil {
			t.Fatal(err)
		}
		for _, h := range heads(5000) {
			if h == "all:evt_"+m1.ID+"_2" || h == "all:evt_"+m1.ID+"_1" {
				t.Fatalf("queue not held back by a retry: %v", heads(5000))
			}
		}
		if err := s.FinishAttempts(ctx, []Finished{{d, Attempt{EventID: d.Event.ID, Attempt: 2, At: time.UnixMilli(9000), StatusCode: 204}, DeliveryDelivered, 0}}); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(heads(9000)); !strings.Contains(got, "all:evt_"+m1.ID+"_2") {
			t.Fatalf("after delivery, heads = %v", got)
		}
		if log, err := s.DeliveryLog(ctx, all.ID, 10); err != nil || len(log) != 2 || log[0].StatusCode != 204 || log[1].StatusCode != 503 {
			t.Fatalf("DeliveryLog = %+v, %v", log, err)
		}
		// Deleting an endpoint drops what it had not received.
		if err := s.DeleteWebhook(ctx, joins.ID); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.PendingDeliveries(ctx); n != 3 {
			t.Fatalf("pending after delete = %d, want 3", n)
		}
		// Leases: one owner at a time until expiry.
		if ok, err := s.AcquireLease(ctx, "webhooks", "a", 100, 200); !ok || err != nil {
			t.Fatalf("first lease: %v %v", ok, err)
		}
		if ok, _ := s.AcquireLease(ctx, "webhooks", "b", 150, 250); ok {
			t.Fatal("b took a's live lease")
		}
		if ok, _ := s.AcquireLease(ctx, "webhooks", "a", 150, 250); !ok {
			t.Fatal("a could not renew")
		}
		if ok, _ := s.AcquireLease(ctx, "webhooks", "b", 251, 350); !ok {
			t.Fatal("b could not take an expired lease")
		}
		// Limits and presets.
		if _, err := s.MeetingLimits(ctx, m1.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("limits before any: %v", err)
		}
		if err := s.SetMeetingLimits(ctx, m1.ID, Limits{MaxOnStage: 3, RequestTTLms: 60000}); err != nil {
			t.Fatal(err)
		}
		if l, err := s.MeetingLimits(ctx, m1.ID); err != nil || l != (Limits{MaxOnStage: 3, RequestTTLms: 60000}) {
			t.Fatalf("limits = %+v, %v", l, err)
		}
		if err := s.SetMeetingLimits(ctx, "nope", Limits{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("limits of an unknown meeting: %v", err)
		}
		if ok, _ := s.PutPreset(ctx, "p", []byte(`{"a":1}`), true); !ok {
			t.Fatal("new preset not stored")
		}
		if ok, _ := s.PutPreset(ctx, "p", []byte(`{"a":2}`), true); ok {
			t.Fatal("onlyNew replaced a preset")
		}
		s.PutPreset(ctx, "p", []byte(`{"a":3}`), false)
		if ps, err := s.ListPresets(ctx); err != nil || len(ps) != 1 || string(ps[0].Body) != `{"a":3}` {
			t.Fatalf("ListPresets = %+v, %v", ps, err)
		}
		if err := s.DeletePreset(ctx, "p"); err != nil || !errors.Is(s.DeletePreset(ctx, "p"), ErrNotFound) {
			t.Fatalf("DeletePreset: %v", err)
		}
	})
}

// TestNextInQueueKeepsOrder: a worker that has just sent an event asks for
// its queue's next; when that next is pending but not due (its retry is
// later), nothing after it is handed out, even if due. (This happens when
// a sent event's record was lost and it is sent again while its successor
// waits for a retry.)
func TestNextInQueueKeepsOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t)
		m, _ := s.CreateMeeting(ctx, "m")
		if _, err := s.CreateWebhook(ctx, Webhook{Name: "all", URL: "http://127.0.0.1:1/all", Secret: "whsec_x", Events: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		var evs []StageEvent
		for seq := int64(1); seq <= 3; seq++ {
			evs = append(evs, StageEvent{Seq: seq, ID: fmt.Sprintf("evt_%d", seq), Type: "meeting.stageRequested", At: 1000 + seq, Actor: "api", UserID: "u", Payload: []byte(`{}`)})
		}
		if _, err := s.CommitStage(ctx, m.ID, 0, StageCommit{Events: evs}); err != nil {
			t.Fatal(err)
		}
		next := func(after Delivery, now int64) string {
			t.Helper()
			d, ok, err := s.NextInQueue(ctx, after, now)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return "none"
			}
			return d.Event.ID
		}
		ds, err := s.DueDeliveries(ctx, 5000, 10)
		if err != nil || len(ds) != 1 || ds[0].Event.Seq != 1 {
			t.Fatalf("due = %+v, %v", ds, err)
		}
		first := ds[0]
		if got := next(first, 5000); got != "evt_2" {
			t.Fatalf("after 1, next = %s, want evt_2", got)
		}
		second, _, _ := s.NextInQueue(ctx, first, 5000)
		// 2's first attempt failed: retried at 9000.
		if err := s.FinishAttempts(ctx, []Finished{{second, Attempt{EventID: "evt_2", Seq: 2, Attempt: 1, At: time.UnixMilli(5000), StatusCode: 503}, DeliveryPending, 9000}}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			now  int64
			want string
		}{{5000, "none"}, {8999, "none"}, {9000, "evt_2"}} {
			if got := next(first, c.now); got != c.want {
				t.Errorf("after 1 at %d (2 retried at 9000), next = %s, want %s", c.now, got, c.want)
			}
		}
		if got := next(second, 5000); got != "evt_3" {
			t.Errorf("after 2, next = %s, want evt_3", got)
		}
	})
}

// BenchmarkOutbox is what the stage log and the webhook outbox add to a
// stage change on SQLite: the same change (one upsert with its fence
// check) stored alone, then with its event and the outbox row of one
// webhook that takes it, in the same transaction. The difference is the
// outbox's cost.
func BenchmarkOutbox(b *testing.B) {
	for _, withEvent := range []bool{false, true} {
		name := "change-only"
		if withEvent {
			name = "change+event+outbox"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			m, err := s.CreateMeeting(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.CreateWebhook(ctx, Webhook{URL: "http://127.0.0.1:1/", Secret: "whsec_x", Events: []string{"*"}}); err != nil {
				b.Fatal(err)
			}
			payload := []byte(`{"event":"meeting.stageRequested","id":"evt_0123456789abcdef01234567","seq":1,"at":"2026-12-06T08:00:00.000Z","actor":{"type":"participant","id":"u"},"meeting":{"id":"m","sessionId":"s","title":"bench","status":"LIVE"},"participant":{"peerId":"p","userId":"u","userDisplayName":"n","presetName":"webinar_viewer","stageStatus":"REQUESTED_TO_JOIN_STAGE"},"stage":{"from":"OFF_STAGE","to":"REQUESTED_TO_JOIN_STAGE","cause":"request"}}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := StageMember{UserID: fmt.Sprintf("u%d", i%1000), PeerID: "p", Name: "n", PresetName: "webinar_viewer",
					Status: "REQUESTED_TO_JOIN_STAGE", RequestedAt: int64(i + 1), RequestOrder: int64(i + 1)}
				c := StageCommit{Upserts: []StageMember{rec}}
				if withEvent {
					c.Events = []StageEvent{{Seq: int64(i + 1), ID: fmt.Sprintf("evt_%d", i), Type: "meeting.stageRequested", At: int64(i), Actor: "participant:u", UserID: rec.UserID, Payload: payload}}
				}
				if _, err := s.CommitStage(ctx, m.ID, 0, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
