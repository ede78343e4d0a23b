package stage_test

import (
	"fmt"
	"testing"

	"github.com/stagekit/stagekit/stage"
)

// benchSize is the number of viewers in a benchmark room (plus one host).
const benchSize = 1000

const benchHost = "host"

// benchIDs are the ids of a benchmark room's users.
var benchIDs = func() []string {
	ids := make([]string, benchSize)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%04d", i)
	}
	return ids
}()

// benchRoom returns a room with a host and benchSize users of preset, each
// driven to status st, and their ids in the order they entered (and, for
// REQUESTED, asked). The ids are shared: callers must not modify them.
func benchRoom(tb testing.TB, preset string, st stage.Status) (*stage.Room, []string) {
	tb.Helper()
	r := stage.NewRoom()
	must := func(_ any, err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(r.Enter(stage.Member{UserID: benchHost, PeerID: "p-host", Preset: builtins[host]}))
	p := builtins[preset]
	for _, id := range benchIDs {
		must(r.Enter(stage.Member{UserID: id, PeerID: id, Name: id, Preset: p}))
	}
	if preset == viewer && st != stage.OffStage {
		for i, id := range benchIDs {
			must(r.Apply(stage.Action{Kind: stage.ActRequest, Actor: id, At: int64(i + 1)}))
		}
		if st != stage.Requested {
			must(r.Apply(stage.Action{Kind: stage.ActGrant, Actor: benchHost, Targets: benchIDs}))
		}
	}
	if st == stage.OnStage {
		for _, id := range benchIDs {
			must(r.Apply(stage.Action{Kind: stage.ActJoin, Actor: id}))
		}
	}
	for _, id := range []string{benchIDs[0], benchIDs[benchSize-1]} {
		if m, _ := r.Member(id); m.Status != st {
			tb.Fatalf("benchRoom: %s is %s, want %s", id, m.Status, st)
		}
	}
	return r, benchIDs
}

// cycled runs op b.N times, on rooms from setup: each room serves one op per
// id, after which a fresh one is made with the timer stopped.
func cycled(b *testing.B, setup func() (*stage.Room, []string), op func(r *stage.Room, ids []string, i int) error) {
	b.ReportAllocs()
	var (
		r   *stage.Room
		ids []string
		i   int
	)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		if i == len(ids) {
			b.StopTimer()
			r, ids = setup()
			i = 0
			b.StartTimer()
		}
		if err := op(r, ids, i); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func apply(r *stage.Room, a stage.Action) error {
	_, err := r.Apply(a)
	return err
}

// BenchmarkRequest: a viewer asks; the pending list grows to benchSize.
func BenchmarkRequest(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.OffStage) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActRequest, Actor: ids[i], At: int64(i + 1)})
		})
}

// BenchmarkCancel: requesters cancel, oldest first, from a list of benchSize.
func BenchmarkCancel(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.Requested) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActCancel, Actor: ids[i]})
		})
}

// BenchmarkGrantOne: a host grants one request at a time, oldest first.
func BenchmarkGrantOne(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.Requested) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActGrant, Actor: benchHost, Targets: ids[i : i+1]})
		})
}

// BenchmarkInviteOne: a host invites one viewer at a time.
func BenchmarkInviteOne(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.OffStage) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActGrant, Actor: benchHost, Targets: ids[i : i+1]})
		})
}

// BenchmarkGrant1000: one grant naming all benchSize requesters.
func BenchmarkGrant1000(b *testing.B) {
	var targets []string
	cycled(b, func() (*stage.Room, []string) {
		var r *stage.Room
		r, targets = benchRoom(b, viewer, stage.Requested)
		return r, []string{"one batch per room"}
	}, func(r *stage.Room, _ []string, _ int) error {
		res, err := r.Apply(stage.Action{Kind: stage.ActGrant, Actor: benchHost, Targets: targets})
		if err == nil && (len(res.Changes) != benchSize || len(r.Pending()) != 0) {
			err = fmt.Errorf("%d changes, %d pending", len(res.Changes), len(r.Pending()))
		}
		return err
	})
}

// BenchmarkGrant1000Refused: the same batch with one unknown id at the end.
func BenchmarkGrant1000Refused(b *testing.B) {
	r, ids := benchRoom(b, viewer, stage.Requested)
	targets := append(ids[:benchSize-1:benchSize-1], "ghost")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := r.Apply(stage.Action{Kind: stage.ActGrant, Actor: benchHost, Targets: targets}); stage.CodeOf(err) != stage.CodeUnknownUser {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeny: a host denies one request at a time, oldest first.
func BenchmarkDeny(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.Requested) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActDeny, Actor: benchHost, Targets: ids[i : i+1]})
		})
}

// BenchmarkKick: a host kicks one of benchSize on-stage viewers at a time.
func BenchmarkKick(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.OnStage) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActKick, Actor: benchHost, Targets: ids[i : i+1]})
		})
}

// BenchmarkJoin: an ACCEPTED user joins the stage.
func BenchmarkJoin(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.Accepted) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActJoin, Actor: ids[i]})
		})
}

// BenchmarkLeave: an ON_STAGE user leaves the stage.
func BenchmarkLeave(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.OnStage) },
		func(r *stage.Room, ids []string, i int) error {
			return apply(r, stage.Action{Kind: stage.ActLeave, Actor: ids[i]})
		})
}

// BenchmarkJoinLeave: an ALLOWED user joins and leaves (two actions per op),
// in a room of benchSize viewers.
func BenchmarkJoinLeave(b *testing.B) {
	r, _ := benchRoom(b, viewer, stage.OffStage)
	if _, err := r.Enter(stage.Member{UserID: "speaker", Preset: builtins[host]}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := apply(r, stage.Action{Kind: stage.ActJoin, Actor: "speaker"}); err != nil {
			b.Fatal(err)
		}
		if err := apply(r, stage.Action{Kind: stage.ActLeave, Actor: "speaker"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnterExit: a user enters a room of benchSize and exits again (two
// calls per op); the exit removes the newest member.
func BenchmarkEnterExit(b *testing.B) {
	r, _ := benchRoom(b, viewer, stage.OffStage)
	m := stage.Member{UserID: "visitor", PeerID: "p-visitor", Name: "Visitor", Preset: builtins[viewer]}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := r.Enter(m); err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.Exit(m.UserID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExitRequester: requesters exit, oldest first, from a room of
// benchSize requesters (both the member and the pending list shrink).
func BenchmarkExitRequester(b *testing.B) {
	cycled(b, func() (*stage.Room, []string) { return benchRoom(b, viewer, stage.Requested) },
		func(r *stage.Room, ids []string, i int) error {
			_, _, err := r.Exit(ids[i])
			return err
		})
}
