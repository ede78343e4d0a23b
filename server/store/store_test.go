package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stagekit/stagekit/internal/clusterenv"
)

func open(t *testing.T, dir string) *SQLite {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backend opens handles on one database of one implementation: each open
// is another handle on the same data (a reopen, or a second process).
type backend struct {
	name    string
	openErr func() (Store, error)
	setNow  func(Store, func() time.Time)
}

func (b backend) open(t *testing.T) Store {
	t.Helper()
	s, err := b.openErr()
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openAt opens a handle whose clock is now.
func (b backend) openAt(t *testing.T, now func() time.Time) Store {
	s := b.open(t)
	b.setNow(s, now)
	return s
}

// forEachStore runs fn against SQLite and against PostgreSQL, each on a
// fresh database.
func forEachStore(t *testing.T, fn func(*testing.T, backend)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, backend{name: "sqlite", openErr: func() (Store, error) { return Open(dir) },
			setNow: func(s Store, now func() time.Time) { s.(*SQLite).now = now }})
	})
	t.Run("postgres", func(t *testing.T) {
		url := clusterenv.PostgresURL(t)
		fn(t, backend{name: "postgres", openErr: func() (Store, error) { return OpenPostgres(context.Background(), url) },
			setNow: func(s Store, now func() time.Time) { s.(*Postgres).now = now }})
	})
}

func TestMain(m *testing.M) { os.Exit(clusterenv.Run(m)) }

func TestOpenCreatesWALDatabaseAndSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s := open(t, dir)
	if want := filepath.Join(dir, FileName); s.Path() != want {
		t.Errorf("Path() = %q, want %q", s.Path(), want)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database mode %o, want 600", perm)
	}
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := s.db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
	if v, err := s.version(); err != nil || v != SchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", v, err, SchemaVersion)
	}
	if SchemaVersion < 1 {
		t.Errorf("SchemaVersion = %d", SchemaVersion)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenPathNeedingEscapes(t *testing.T) {
	// '?', '#', '%' and spaces would break a file: URI built by concatenation.
	dir := filepath.Join(t.TempDir(), "we?ird #dir %41")
	s := open(t, dir)
	ctx := context.Background()
	m, err := s.CreateMeeting(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("database not at the escaped path: %v", err)
	}
	s.Close()
	s2 := open(t, dir)
	if _, err := s2.GetMeeting(ctx, m.ID); err != nil {
		t.Fatalf("meeting lost: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file); err == nil {
		t.Error("Open on a regular file succeeded")
	}
	// A file that is not a database.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("Open on garbage succeeded")
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.db.Exec(`UPDATE schema_version SET version = ?`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(dir)
	if err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
	t.Logf("error: %v", err)
}

func TestReopenIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		var rows int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("open #%d: schema_version rows = %d, %v", i, rows, err)
		}
		s.Close()
	}
}

func TestMeetings(t *testing.T) { forEachStore(t, testMeetings) }

func testMeetings(t *testing.T, b backend) {
	ctx := context.Background()
	fixed := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
	s := b.openAt(t, func() time.Time { return fixed })

	m, err := s.CreateMeeting(ctx, "Town hall ✓")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(m.ID); err != nil {
		t.Errorf("meeting id %q is not a UUID: %v", m.ID, err)
	}
	wantAt := fixed.UTC().Truncate(time.Millisecond)
	if !m.CreatedAt.Equal(wantAt) || m.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", m.CreatedAt, wantAt)
	}
	got, err := s.GetMeeting(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != m {
		t.Errorf("GetMeeting = %+v, want %+v", got, m)
	}
	m2, err := s.CreateMeeting(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if m2.ID == m.ID {
		t.Error("two meetings share an id")
	}
	if _, err := s.GetMeeting(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetMeeting(unknown) = %v, want ErrNotFound", err)
	}
}

func TestParticipants(t *testing.T) { forEachStore(t, testParticipants) }

func testParticipants(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m, _ := s.CreateMeeting(ctx, "a")
	other, _ := s.CreateMeeting(ctx, "b")

	empty, err := s.ListParticipants(ctx, m.ID)
	if err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("ListParticipants(empty meeting) = %#v, %v; want empty non-nil", empty, err)
	}

	var added []Participant
	for i := 0; i < 5; i++ {
		p, err := s.AddParticipant(ctx, Participant{
			ID: "ignored", MeetingID: m.ID, Name: fmt.Sprintf("user %d", i),
			PresetName: "webinar_viewer", CustomParticipantID: fmt.Sprintf("c%d", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.ID == "ignored" || p.CreatedAt.IsZero() {
			t.Fatalf("AddParticipant did not assign id and time: %+v", p)
		}
		if _, err := uuid.Parse(p.ID); err != nil {
			t.Errorf("participant id %q: %v", p.ID, err)
		}
		added = append(added, p)
	}
	if _, err := s.AddParticipant(ctx, Participant{MeetingID: other.ID, Name: "elsewhere", PresetName: "x"}); err != nil {
		t.Fatal(err)
	}

	list, err := s.ListParticipants(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(added) {
		t.Fatalf("listed %d participants, want %d", len(list), len(added))
	}
	for i := range list {
		if list[i] != added[i] {
			t.Errorf("list[%d] = %+v, want %+v (oldest first)", i, list[i], added[i])
		}
	}

	got, err := s.GetParticipant(ctx, m.ID, added[2].ID)
	if err != nil || got != added[2] {
		t.Errorf("GetParticipant = %+v, %v; want %+v", got, err, added[2])
	}
	if _, err := s.GetParticipant(ctx, other.ID, added[2].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetParticipant in the wrong meeting = %v, want ErrNotFound", err)
	}
	if got, err := s.LookupParticipant(ctx, added[2].ID); err != nil || got != added[2] {
		t.Errorf("LookupParticipant = %+v, %v", got, err)
	}
	if got, title, err := s.LookupIdentity(ctx, added[2].ID); err != nil || got != added[2] || title != m.Title {
		t.Errorf("LookupIdentity = %+v %q, %v; want %+v %q", got, title, err, added[2], m.Title)
	}
	if _, _, err := s.LookupIdentity(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupIdentity(unknown) = %v", err)
	}
	if _, err := s.LookupParticipant(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupParticipant(unknown) = %v", err)
	}

	if _, err := s.AddParticipant(ctx, Participant{MeetingID: "no-such-meeting", Name: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddParticipant to an unknown meeting = %v, want ErrNotFound", err)
	}
	if _, err := s.ListParticipants(ctx, "no-such-meeting"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListParticipants(unknown meeting) = %v, want ErrNotFound", err)
	}

	// Delete: the wrong meeting does not delete; the right one does, once.
	if err := s.DeleteParticipant(ctx, other.ID, added[1].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteParticipant in the wrong meeting = %v, want ErrNotFound", err)
	}
	if err := s.DeleteParticipant(ctx, m.ID, added[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteParticipant(ctx, m.ID, added[1].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteParticipant = %v, want ErrNotFound", err)
	}
	if _, err := s.GetParticipant(ctx, m.ID, added[1].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted participant still found: %v", err)
	}
	list, _ = s.ListParticipants(ctx, m.ID)
	if len(list) != 4 {
		t.Errorf("after delete: %d participants, want 4", len(list))
	}
	for _, p := range list {
		if p.ID == added[1].ID {
			t.Error("deleted participant still listed")
		}
	}
}

func TestSurvivesCloseAndReopen(t *testing.T) { forEachStore(t, testSurvivesCloseAndReopen) }

func testSurvivesCloseAndReopen(t *testing.T, b backend) {
	ctx := context.Background()
	s, err := b.openErr()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s.CreateMeeting(ctx, "persisted")
	p1, _ := s.AddParticipant(ctx, Participant{MeetingID: m.ID, Name: "Ann", PresetName: "webinar_host", CustomParticipantID: "ann@x"})
	p2, _ := s.AddParticipant(ctx, Participant{MeetingID: m.ID, Name: "Bob", PresetName: "webinar_viewer"})
	p3, _ := s.AddParticipant(ctx, Participant{MeetingID: m.ID, Name: "Cy", PresetName: "webinar_viewer"})
	if err := s.DeleteParticipant(ctx, m.ID, p2.ID); err != nil {
		t.Fatal(err)
	}
	key, err := s.SettingOrInit(ctx, "k", func() ([]byte, error) { return []byte{0, 1, 2, 255}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeeting(ctx, m.ID); err == nil {
		t.Error("GetMeeting on a closed store succeeded")
	}

	s2 := b.open(t)
	gm, err := s2.GetMeeting(ctx, m.ID)
	if err != nil || gm != m {
		t.Errorf("after reopen GetMeeting = %+v, %v; want %+v", gm, err, m)
	}
	list, err := s2.ListParticipants(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0] != p1 || list[1] != p3 {
		t.Errorf("after reopen participants = %+v, want [%+v %+v]", list, p1, p3)
	}
	if _, err := s2.GetParticipant(ctx, m.ID, p2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted participant came back: %v", err)
	}
	got, err := s2.SettingOrInit(ctx, "k", func() ([]byte, error) { return []byte("new"), nil })
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("after reopen setting = %x, %v; want %x", got, err, key)
	}
}

func TestSettings(t *testing.T) { forEachStore(t, testSettings) }

func testSettings(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	if _, err := s.Setting(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Setting(absent) = %v, want ErrNotFound", err)
	}
	calls := 0
	init := func() ([]byte, error) { calls++; return []byte(fmt.Sprint("v", calls)), nil }
	a, err := s.SettingOrInit(ctx, "k", init)
	if err != nil || string(a) != "v1" {
		t.Fatalf("first SettingOrInit = %q, %v", a, err)
	}
	again, err := s.SettingOrInit(ctx, "k", init)
	if err != nil || string(again) != "v1" || calls != 1 {
		t.Errorf("second SettingOrInit = %q, %v (init called %d times); want v1, once", again, err, calls)
	}
	boom := errors.New("boom")
	if _, err := s.SettingOrInit(ctx, "other", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("init error not returned: %v", err)
	}
	if _, err := s.Setting(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed init stored something: %v", err)
	}
}

func TestSettingOrInitRaceKeepsFirstValue(t *testing.T) {
	forEachStore(t, testSettingOrInitRaceKeepsFirstValue)
}

func testSettingOrInitRaceKeepsFirstValue(t *testing.T, b backend) {
	ctx := context.Background()
	s1 := b.open(t)
	s2 := b.open(t) // a second handle on the same database
	// s2 inserts between s1's read and s1's insert.
	v, err := s1.SettingOrInit(ctx, "k", func() ([]byte, error) {
		if _, err := s2.SettingOrInit(ctx, "k", func() ([]byte, error) { return []byte("second"), nil }); err != nil {
			return nil, err
		}
		return []byte("first"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(v) != "second" {
		t.Errorf("SettingOrInit = %q, want the value stored first (second)", v)
	}
}

func TestConcurrentWriters(t *testing.T) { forEachStore(t, testConcurrentWriters) }

func testConcurrentWriters(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m, _ := s.CreateMeeting(ctx, "busy")
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := s.AddParticipant(ctx, Participant{MeetingID: m.ID, Name: "x", PresetName: "webinar_viewer"})
			if err == nil {
				_, err = s.GetParticipant(ctx, m.ID, p.ID)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	list, _ := s.ListParticipants(ctx, m.ID)
	if len(list) != n {
		t.Errorf("%d participants, want %d", len(list), n)
	}
}

func TestCancelledContext(t *testing.T) { forEachStore(t, testCancelledContext) }

func testCancelledContext(t *testing.T, b backend) {
	s := b.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CreateMeeting(ctx, "x"); err == nil {
		t.Error("CreateMeeting with a cancelled context succeeded")
	}
	if _, err := s.GetMeeting(ctx, "x"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("GetMeeting with a cancelled context = %v, want a context error", err)
	}
}

// The foreign key cascades: removing a meeting row removes its participants.
func TestMeetingRowDeletionCascades(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	m, _ := s.CreateMeeting(ctx, "x")
	p, _ := s.AddParticipant(ctx, Participant{MeetingID: m.ID, Name: "a", PresetName: "b"})
	if _, err := s.db.Exec(`DELETE FROM meetings WHERE id = ?`, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupParticipant(ctx, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("participant of a deleted meeting = %v, want ErrNotFound", err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM participants`).Scan(&n); err != nil || n != 0 {
		t.Errorf("participants rows = %d, %v", n, err)
	}
}

func TestNextTokenGeneration(t *testing.T) { forEachStore(t, testNextTokenGeneration) }

func testNextTokenGeneration(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m, _ := s.CreateMeeting(ctx, "m")
	p, err := s.AddParticipant(ctx, Participant{MeetingID: m.ID, Name: "P", PresetName: "x"})
	if err != nil || p.TokenGeneration != 0 {
		t.Fatalf("new participant %+v, %v", p, err)
	}
	for want := int64(1); want <= 2; want++ {
		if gen, err := s.NextTokenGeneration(ctx, m.ID, p.ID); err != nil || gen != want {
			t.Fatalf("NextTokenGeneration = %d, %v; want %d", gen, err, want)
		}
	}
	if _, err := s.NextTokenGeneration(ctx, "other", p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("other meeting: %v", err)
	}
	if _, err := s.NextTokenGeneration(ctx, m.ID, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown participant: %v", err)
	}
	s.Close()
	s = b.open(t)
	if got, err := s.LookupParticipant(ctx, p.ID); err != nil || got.TokenGeneration != 2 {
		t.Errorf("after reopen: %+v, %v", got, err)
	}
}

func TestDemoMeetings(t *testing.T) { forEachStore(t, testDemoMeetings) }

func testDemoMeetings(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	admin, _ := s.CreateMeeting(ctx, "admin")
	demo, err := s.CreateDemoMeeting(ctx, "demo", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetMeeting(ctx, demo.ID); err != nil || got != demo {
		t.Errorf("demo meeting %+v, %v", got, err)
	}
	if _, err := s.DemoCreatorSecretHash(ctx, admin.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("an admin meeting counts as a demo one: %v", err)
	}
	if _, err := s.CreateDemoMeeting(ctx, "x", nil); err == nil {
		t.Error("a demo meeting without a secret hash was stored")
	}
	s.Close()
	s = b.open(t)
	if h, err := s.DemoCreatorSecretHash(ctx, demo.ID); err != nil || string(h) != "hash" {
		t.Errorf("after reopen: %q, %v", h, err)
	}
}

// BenchmarkSaveStage is the cost of storing one stage change (a request:
// one upsert in its own transaction, with its fence check), what every
// committed change pays, in SQLite and in PostgreSQL (a local server,
// fsync off as in the tests: the round trips, not the disk).
func BenchmarkSaveStage(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchSaveStage(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		s, err := OpenPostgres(context.Background(), clusterenv.PostgresURL(b))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchSaveStage(b, s)
	})
}

func benchSaveStage(b *testing.B, s Store) {
	ctx := context.Background()
	m, err := s.CreateMeeting(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := StageMember{UserID: fmt.Sprintf("u%d", i%1000), PeerID: "p", Name: "n", PresetName: "webinar_viewer",
			Status: "REQUESTED_TO_JOIN_STAGE", RequestedAt: int64(i + 1), RequestOrder: int64(i + 1)}
		if err := s.SaveStage(ctx, m.ID, 0, []StageMember{rec}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStage(t *testing.T) { forEachStore(t, testStage) }

// A room's durable members round-trip: upserts replace, drops forget,
// requests come back in request order after the others, across a reopen.
func testStage(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m, _ := s.CreateMeeting(ctx, "stage")
	if got, err := s.ClaimStage(ctx, m.ID, 0); err != nil || len(got) != 0 {
		t.Fatalf("ClaimStage(new room) = %v, %v; want none", got, err)
	}
	host := StageMember{UserID: "h", PeerID: "ph", Name: "Host", PresetName: "webinar_host", Status: "ON_STAGE"}
	r2 := StageMember{UserID: "b", PeerID: "pb", Name: "B", PresetName: "webinar_viewer", Status: "REQUESTED_TO_JOIN_STAGE", RequestedAt: 1700000000002, RequestOrder: 2}
	r1 := StageMember{UserID: "z", PeerID: "pz", Name: "Z", PresetName: "webinar_viewer", Status: "REQUESTED_TO_JOIN_STAGE", RequestedAt: 1700000000001, RequestOrder: 1}
	gone := StageMember{UserID: "g", PeerID: "pg", Name: "G", PresetName: "webinar_viewer", Status: "ACCEPTED_TO_JOIN_STAGE"}
	if err := s.SaveStage(ctx, m.ID, 0, []StageMember{r2, gone}, nil); err != nil {
		t.Fatal(err)
	}
	host.Status = "ACCEPTED_TO_JOIN_STAGE"
	if err := s.SaveStage(ctx, m.ID, 0, []StageMember{host, r1}, nil); err != nil {
		t.Fatal(err)
	}
	host.Status = "ON_STAGE"
	if err := s.SaveStage(ctx, m.ID, 0, []StageMember{host}, []string{"g", "never-there"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveStage(ctx, "no-such-meeting", 0, []StageMember{host}, nil); err == nil {
		t.Error("SaveStage for an unknown meeting succeeded")
	}
	s.Close()
	s = b.open(t)
	got, err := s.ClaimStage(ctx, m.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []StageMember{host, r1, r2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ClaimStage = %+v\nwant %+v", got, want)
	}
	if got, err := s.ClaimStage(ctx, "no-such-meeting", 3); err != nil || len(got) != 0 {
		t.Errorf("ClaimStage(unknown meeting) = %v, %v", got, err)
	}
}

func TestStageFencing(t *testing.T) { forEachStore(t, testStageFencing) }

// Once a newer epoch claimed the room, the older owner's writes and claims
// are refused (ErrFenced) and change nothing; the new owner's go through.
func testStageFencing(t *testing.T, b backend) {
	ctx := context.Background()
	oldOwner, newOwner := b.open(t), b.open(t) // two nodes on one database
	m, _ := oldOwner.CreateMeeting(ctx, "fenced")
	if _, err := oldOwner.ClaimStage(ctx, m.ID, 1); err != nil {
		t.Fatal(err)
	}
	a := StageMember{UserID: "a", PeerID: "pa", Name: "A", PresetName: "webinar_viewer", Status: "REQUESTED_TO_JOIN_STAGE", RequestedAt: 5, RequestOrder: 1}
	if err := oldOwner.SaveStage(ctx, m.ID, 1, []StageMember{a}, nil); err != nil {
		t.Fatal(err)
	}
	if err := oldOwner.SaveStage(ctx, m.ID, 0, []StageMember{a}, nil); !errors.Is(err, ErrFenced) {
		t.Errorf("SaveStage under epoch 0 after a claim at 1 = %v, want ErrFenced", err)
	}
	got, err := newOwner.ClaimStage(ctx, m.ID, 2)
	if err != nil || len(got) != 1 || got[0] != a {
		t.Fatalf("the new owner's claim = %+v, %v; want [%+v]", got, err, a)
	}
	late := a
	late.Status = "ACCEPTED_TO_JOIN_STAGE"
	if err := oldOwner.SaveStage(ctx, m.ID, 1, []StageMember{late}, nil); !errors.Is(err, ErrFenced) {
		t.Errorf("the old owner's save after the takeover = %v, want ErrFenced", err)
	}
	if err := oldOwner.SaveStage(ctx, m.ID, 1, nil, []string{"a"}); !errors.Is(err, ErrFenced) {
		t.Errorf("the old owner's drop after the takeover = %v, want ErrFenced", err)
	}
	if _, err := oldOwner.ClaimStage(ctx, m.ID, 1); !errors.Is(err, ErrFenced) {
		t.Errorf("a claim under an older epoch = %v, want ErrFenced", err)
	}
	// A fenced commit stores none of its parts (PostgreSQL checks the fence
	// in the same pipeline as the writes).
	evs := []StageEvent{{Seq: 1, ID: "evt_1", Type: "meeting.participantJoined", At: 1, Actor: "api", UserID: "c", Payload: []byte(`{}`)},
		{Seq: 2, ID: "evt_2", Type: "meeting.stageRequested", At: 2, Actor: "api", UserID: "c", Payload: []byte(`{}`)}}
	c := StageMember{UserID: "c", PeerID: "pc", Name: "C", PresetName: "webinar_viewer", Status: "REQUESTED_TO_JOIN_STAGE", RequestedAt: 6, RequestOrder: 2}
	if _, err := oldOwner.CommitStage(ctx, m.ID, 1, StageCommit{Upserts: []StageMember{c}, Events: evs, IdempotencyKey: "k"}); !errors.Is(err, ErrFenced) {
		t.Errorf("the old owner's commit after the takeover = %v, want ErrFenced", err)
	}
	if seq, err := newOwner.LastStageSeq(ctx, m.ID); err != nil || seq != 0 {
		t.Errorf("after a fenced commit the last event is %d, %v; want none", seq, err)
	}
	b2 := StageMember{UserID: "b", PeerID: "pb", Name: "B", PresetName: "webinar_host", Status: "ON_STAGE"}
	if err := newOwner.SaveStage(ctx, m.ID, 2, []StageMember{b2}, nil); err != nil {
		t.Fatal(err)
	}
	got, err = newOwner.ClaimStage(ctx, m.ID, 2) // a reclaim at the same epoch (a restart of the owner)
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]StageMember{b2, a}) {
		t.Errorf("after the takeover the room holds %+v, %v; want [%+v %+v] (the old owner's writes refused)", got, err, b2, a)
	}
}

func TestStageFenceRace(t *testing.T) { forEachStore(t, testStageFenceRace) }

// Saves under the old epoch racing with a claim under the new one: every
// save that succeeded is seen by the claim (committed before it), and none
// succeeds after it.
func testStageFenceRace(t *testing.T, b backend) {
	ctx := context.Background()
	oldOwner, newOwner := b.open(t), b.open(t)
	m, _ := oldOwner.CreateMeeting(ctx, "race")
	if _, err := oldOwner.ClaimStage(ctx, m.ID, 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := fmt.Sprintf("u%d-%d", w, i)
				err := oldOwner.SaveStage(ctx, m.ID, 1, []StageMember{{UserID: id, PeerID: "p", Name: "n", PresetName: "webinar_viewer", Status: "ON_STAGE"}}, nil)
				if errors.Is(err, ErrFenced) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[id] = true // an acknowledged save the claim did not see would be a second owner's commit
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	got, err := newOwner.ClaimStage(ctx, m.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, g := range got {
		seen[g.UserID] = true
	}
	for id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged save %s is not in the new owner's claim", id)
		}
	}
	if len(acked) == 0 {
		t.Log("no save committed before the claim (the race was lost by every writer)")
	}
}

// Concurrent identity lookups (a join wave's hellos; on PostgreSQL they
// share queries) each get their own participant, or ErrNotFound; a lookup
// given up by its caller fails alone.
func TestConcurrentIdentityLookups(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		s := b.open(t)
		ctx := context.Background()
		m, err := s.CreateMeeting(ctx, "wave")
		if err != nil {
			t.Fatal(err)
		}
		var added []Participant
		for i := range 40 {
			p, err := s.AddParticipant(ctx, Participant{MeetingID: m.ID, Name: fmt.Sprintf("viewer %d", i), PresetName: "webinar_viewer"})
			if err != nil {
				t.Fatal(err)
			}
			added = append(added, p)
		}
		gone, cancel := context.WithCancel(ctx)
		cancel()
		var wg sync.WaitGroup
		for round := range 3 {
			for i, p := range added {
				wg.Go(func() {
					got, title, err := s.LookupIdentity(ctx, p.ID)
					if err != nil || got != p || title != "wave" {
						t.Errorf("LookupIdentity(%s) = %+v %q, %v; want %+v", p.ID, got, title, err, p)
					}
				})
				if i%10 == 0 {
					wg.Go(func() {
						if _, _, err := s.LookupIdentity(ctx, fmt.Sprintf("nobody-%d-%d", round, i)); !errors.Is(err, ErrNotFound) {
							t.Errorf("LookupIdentity(unknown) = %v, want ErrNotFound", err)
						}
					})
					wg.Go(func() {
						if _, _, err := s.LookupIdentity(gone, p.ID); err == nil {
							t.Error("a lookup whose context had ended succeeded")
						}
					})
				}
			}
		}
		wg.Wait()
	})
}

func TestStageCommitMany(t *testing.T) { forEachStore(t, testStageCommitMany) }

// One commit of a batch's many rows (a join wave's events, a storm's
// requests, a grant of them all) stores every row, in order: each event
// with its own seq, user and payload, read back in seq order; each member
// upserted twice in the commit keeps its last row, a member dropped and
// upserted again in one commit is there, one dropped is gone.
func testStageCommitMany(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.open(t)
	m, _ := s.CreateMeeting(ctx, "many")
	member := func(i int, status string, order int64) StageMember {
		return StageMember{UserID: fmt.Sprintf("u%03d", i), PeerID: fmt.Sprintf("p%03d", i), Name: fmt.Sprintf("N %d", i),
			PresetName: "webinar_viewer", Status: status, RequestedAt: 1700000000000 + order, RequestOrder: order}
	}
	// Before: u000..u009 requested (orders 1..10).
	var before []StageMember
	for i := range 10 {
		before = append(before, member(i, "REQUESTED_TO_JOIN_STAGE", int64(i+1)))
	}
	if err := s.SaveStage(ctx, m.ID, 0, before, nil); err != nil {
		t.Fatal(err)
	}
	const joins = 200
	var events []StageEvent
	for i := range joins {
		seq := int64(i + 1)
		events = append(events, StageEvent{Seq: seq, ID: fmt.Sprintf("evt_%d", seq), Type: "meeting.participantJoined", At: 2000 + seq,
			Actor: "participant:" + fmt.Sprintf("j%03d", i), UserID: fmt.Sprintf("j%03d", i), Payload: []byte(fmt.Sprintf(`{"seq":%d,"u":"j%03d","n":"\"q\" \\ {,} é"}`, seq, i))})
	}

	// The commit: u000..u004 dropped (u002 comes back below), u010..u149
	// request (orders 11..150), u020 and u030 twice (withdrawn, then again:
	// the last row wins), u002 requested anew.
	var ups []StageMember
	for i := 10; i < 150; i++ {
		ups = append(ups, member(i, "REQUESTED_TO_JOIN_STAGE", int64(i+1)))
	}
	ups = append(ups, member(20, "ACCEPTED_TO_JOIN_STAGE", 0), member(30, "ACCEPTED_TO_JOIN_STAGE", 0))
	ups = append(ups, member(20, "REQUESTED_TO_JOIN_STAGE", 151), member(2, "REQUESTED_TO_JOIN_STAGE", 152))
	if _, err := s.CommitStage(ctx, m.ID, 0, StageCommit{Upserts: ups, Drops: []string{"u000", "u001", "u002", "u003", "u004"}, Events: events}); err != nil {
		t.Fatal(err)
	}
	log, err := s.StageEvents(ctx, m.ID, 0, 2*joins)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != joins {
		t.Fatalf("StageEvents: %d events, want %d", len(log), joins)
	}
	for i, e := range log {
		w := events[i]
		if e.Seq != w.Seq || e.ID != w.ID || e.UserID != w.UserID || e.Actor != w.Actor || e.At != w.At || string(e.Payload) != string(w.Payload) {
			t.Fatalf("event %d = %+v, want %+v", i, e, w)
		}
	}
	// Payloads that cannot go separated (one holds the unit separator) go
	// as an array literal.
	more := []StageEvent{{Seq: joins + 1, ID: "evt_x1", Type: "meeting.participantLeft", At: 9000, Actor: "api", UserID: "j000", Payload: []byte("{\"s\":\"a\x1fb\"}")},
		{Seq: joins + 2, ID: "evt_x2", Type: "meeting.participantLeft", At: 9001, Actor: "api", UserID: "j001", Payload: []byte(`{"s":"\"q\""}`)}}
	if _, err := s.CommitStage(ctx, m.ID, 0, StageCommit{Events: more}); err != nil {
		t.Fatal(err)
	}
	if log, err = s.StageEvents(ctx, m.ID, joins, 10); err != nil || len(log) != len(more) {
		t.Fatalf("StageEvents after %d: %d events (%v), want %d", joins, len(log), err, len(more))
	}
	for i, e := range log {
		if w := more[i]; e.Seq != w.Seq || e.ID != w.ID || string(e.Payload) != string(w.Payload) {
			t.Fatalf("event %d = %+v, want %+v", i, e, w)
		}
	}
	got, err := s.ClaimStage(ctx, m.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []StageMember
	want = append(want, member(30, "ACCEPTED_TO_JOIN_STAGE", 0)) // order 0 first
	for i := 5; i < 150; i++ {
		if i == 20 || i == 30 {
			continue
		}
		want = append(want, member(i, "REQUESTED_TO_JOIN_STAGE", int64(i+1)))
	}
	want = append(want, member(20, "REQUESTED_TO_JOIN_STAGE", 151), member(2, "REQUESTED_TO_JOIN_STAGE", 152))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ClaimStage = %+v\nwant %+v", got, want)
	}
}

// BenchmarkCommitJoins is the store's part of an edge's batch of joins at
// the owner: one commit of joinBatchBench participantJoined events (the
// events and their outbox rows, no member rows: a viewer off stage is not
// stored), in PostgreSQL (a local server, fsync off as in the tests), at
// two batch sizes; cpu-µs/join is this process's CPU only.
func BenchmarkCommitJoins(b *testing.B) {
	s, err := OpenPostgres(context.Background(), clusterenv.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, n := range []int{16, 64} {
		b.Run(fmt.Sprintf("joins=%d", n), func(b *testing.B) { benchCommitJoins(b, s, n) })
	}
}

func benchCommitJoins(b *testing.B, s Store, joinBatchBench int) {
	ctx := context.Background()
	m, err := s.CreateMeeting(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	meetingID := m.ID
	batches := make([][]StageEvent, b.N)
	seq := int64(0)
	for i := range batches {
		evs := make([]StageEvent, joinBatchBench)
		for k := range evs {
			seq++
			uid := fmt.Sprintf("viewer-%d-%d", i, k)
			evs[k] = StageEvent{Seq: seq, ID: fmt.Sprintf("evt_%024d", seq), Type: "meeting.participantJoined", At: 1700000000000 + seq,
				Actor: "participant:" + uid, UserID: uid,
				Payload: []byte(`{"event":"meeting.participantJoined","meeting":{"id":"` + meetingID + `","sessionId":"s_1234567890"},"participant":{"userId":"` + uid + `","peerId":"p-` + uid + `","name":"Viewer \"` + uid + `\"","presetName":"webinar_viewer","stageStatus":"OFF_STAGE"},"at":"2026-12-07T00:00:00.000Z"}`)}
		}
		batches[i] = evs
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for _, evs := range batches {
		if _, err := s.CommitStage(ctx, meetingID, 0, StageCommit{Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// This process's CPU, not PostgreSQL's: what the owner pays.
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*joinBatchBench)/1e3, "cpu-µs/join")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
