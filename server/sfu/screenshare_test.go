package sfu

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

func TestCheckSources(t *testing.T) {
	many := map[string]string{}
	for i := 0; i <= maxSources; i++ {
		many[strings.Repeat("m", i+1)] = protocol.SourceScreenshare
	}
	tests := []struct {
		name    string
		sources map[string]string
		ok      bool
	}{
		{"none", nil, true},
		{"screen video and audio", map[string]string{"2": protocol.SourceScreenshare, "3": protocol.SourceScreenshare}, true},
		{"unknown source", map[string]string{"2": "camera"}, false},
		{"empty mid", map[string]string{"": protocol.SourceScreenshare}, false},
		{"long mid", map[string]string{strings.Repeat("m", protocol.MaxUserIDBytes+1): protocol.SourceScreenshare}, false},
		{"too many", many, false},
	}
	for _, tt := range tests {
		err := checkSources(tt.sources)
		if tt.ok != (err == nil) || (err != nil && codeOf(err) != protocol.CodeBadArgs) {
			t.Errorf("%s: checkSources = %v, want ok %v (else 4005)", tt.name, err, tt.ok)
		}
	}
}

// stageSlots is the SFU's Screenshares over the stage's own rule: one
// stage.Room per meeting, as the hub keeps it (the hub's side, in the
// room's order and across nodes, is tested in server/signal and
// cmd/stageserver).
type stageSlots struct {
	mu     sync.Mutex
	rooms  map[string]*stage.Room
	claims int // calls of ClaimScreenshare
}

func (s *stageSlots) ClaimScreenshare(meetingID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	return s.rooms[meetingID].ClaimScreenshare(userID)
}

func (s *stageSlots) ReleaseScreenshare(meetingID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms[meetingID].ReleaseScreenshare(userID)
}

func (s *stageSlots) shares(meetingID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.rooms[meetingID].Screenshares() {
		out = append(out, m.UserID)
	}
	return out
}

// The SFU's part of the policy alone (the forwarding is tested end to end
// in client/media's TestScreenShare): an offer with a share asks the
// room's stage for a slot and passes its refusal on; a renegotiation of
// the same share starts none and asks nothing; the slot goes back when the share ends (an
// offer without it once its track is gone, the track ending, a failed
// offer) and not while its track is forwarded; leaving ON_STAGE leaves the
// slot to the stage, and a user who left the meeting gives nothing back.
func TestClaimScreenshare(t *testing.T) {
	room := stage.NewRoom()
	presets := stage.BuiltinPresets()
	noShare := presets[stage.PresetWebinarHost]
	noShare.Name, noShare.Media.Screenshare.CanProduce = "no_share", stage.NotAllowed
	for id, p := range map[string]stage.Preset{"host": presets[stage.PresetWebinarHost], "other": presets[stage.PresetWebinarHost], "guest": noShare} {
		room.Enter(stage.Member{UserID: id, Preset: p})
		if _, err := room.Apply(stage.Action{Kind: stage.ActJoin, Actor: id}); err != nil {
			t.Fatal(err)
		}
	}
	slots := &stageSlots{rooms: map[string]*stage.Room{"m": room}}
	m := &meeting{s: &SFU{cfg: Config{Screenshares: slots}}, id: "m", users: map[string]*user{}}
	host, other, guest := m.userLocked("host"), m.userLocked("other"), m.userLocked("guest")
	claim := func(u *user, wants bool, code int) bool {
		t.Helper()
		started, err := m.claimScreenshare(u, wants)
		if codeOf(err) != code || (err != nil) != (code != 0) {
			t.Fatalf("%s: claimScreenshare(%v) = %v, want code %d", u.id, wants, err, code)
		}
		return started
	}
	wantShares := func(want ...string) {
		t.Helper()
		if got := slots.shares("m"); !slices.Equal(got, want) {
			t.Fatalf("the stage's shares %q, want %q", got, want)
		}
	}
	claim(guest, true, int(stage.CodePermissionDenied))
	if !claim(host, true, 0) {
		t.Fatal("the host's share did not start")
	}
	if claim(host, true, 0) {
		t.Fatal("a renegotiation of the same share started another")
	}
	if slots.claims != 2 { // the guest's and the host's first
		t.Fatalf("%d claims reached the stage; a renegotiation asks nothing", slots.claims)
	}
	claim(other, true, int(stage.CodeScreenshareLimit))
	wantShares("host")

	// An offer without the share before its track came: the slot goes back.
	claim(host, false, 0)
	wantShares()
	claim(other, true, 0)

	// Its track forwarded, the share outlives an offer without it, and
	// ends with the track.
	p := &Participant{u: other, m: m}
	screen := &source{owner: p, info: protocol.TrackInfo{UserID: "other", Source: protocol.SourceScreenshare}, done: make(chan struct{})}
	m.sources = append(m.sources, screen)
	m.screenArrived(other)
	claim(other, false, 0)
	wantShares("other")
	claim(host, true, int(stage.CodeScreenshareLimit))
	m.removeSource(screen)
	wantShares()

	// A failed offer gives its slot back.
	if !claim(host, true, 0) {
		t.Fatal("the host's share did not start")
	}
	m.endScreenshare(host)
	wantShares()

	// Leaving ON_STAGE: the stage ends the slot, the SFU forgets it.
	claim(host, true, 0)
	if _, err := room.Apply(stage.Action{Kind: stage.ActLeave, Actor: "host"}); err != nil {
		t.Fatal(err)
	}
	wantShares()
	m.mu.Lock()
	host.screen.held, host.screen.pending = false, false // as SetPublishing(false) leaves them
	m.mu.Unlock()
	claim(host, true, int(stage.CodeBadStatus))

	// A user who left the meeting gives nothing back: the stage ended its
	// slot, and the same user may hold a new one by now.
	claim(other, true, 0)
	delete(m.users, "other")
	m.endScreenshare(other)
	wantShares("other")
}
