package sfu

import (
	"strings"
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

// The policy alone (the forwarding is tested end to end in client/media's
// TestScreenShare): a user needs its preset, ON_STAGE, and the room below
// max_screenshare_count; a share is counted once, until it stops or the
// user leaves the stage.
func TestAdmitScreenshare(t *testing.T) {
	m := &meeting{users: map[string]*user{}}
	host := m.userLocked("host")
	guest := m.userLocked("guest")
	unknown := m.userLocked("unknown") // no SetPermissions yet
	hostPerms := stage.BuiltinPresets()[stage.PresetWebinarHost].Permissions
	host.screen.perms, host.screen.known = hostPerms, true
	noShare := stage.BuiltinPresets()[stage.PresetWebinarViewer].Permissions
	noShare.Media.Screenshare.CanProduce = stage.NotAllowed
	guest.screen.perms, guest.screen.known = noShare, true
	for _, u := range []*user{host, guest, unknown} {
		u.allow.Store(1) // ON_STAGE
	}

	admit := func(u *user, wants bool, code int) bool {
		t.Helper()
		started, err := m.admitScreenshare(u, wants)
		if codeOf(err) != code {
			t.Fatalf("%s: admitScreenshare(%v) = %v, want code %d", u.id, wants, err, code)
		}
		return started
	}
	admit(guest, true, int(stage.CodePermissionDenied))
	admit(unknown, true, int(stage.CodePermissionDenied))
	if !admit(host, true, 0) {
		t.Fatal("the host's share did not start")
	}
	if admit(host, true, 0) {
		t.Fatal("a renegotiation of the same share started another")
	}
	// A second sharer with the room full.
	other := m.userLocked("other")
	other.screen.perms, other.screen.known = hostPerms, true
	other.allow.Store(1)
	admit(other, true, int(stage.CodeScreenshareLimit))
	admit(host, false, 0) // the host stops
	admit(other, true, 0)
	// Off stage: refused; leaving the stage forgets the share.
	host.allow.Store(0)
	admit(host, true, int(stage.CodeBadStatus))
	other.allow.Store(0)
	admit(host, true, int(stage.CodeBadStatus))
	host.allow.Store(1)
	admit(host, true, 0) // other is off stage: its share no longer counts

	// A share relayed in from another node counts: the room is the
	// cluster's. Its own user's (moved here) does not.
	admit(host, false, 0)
	far := &Participant{standIn: true, u: &user{id: "far"}}
	m.sources = append(m.sources, &source{owner: far, info: protocol.TrackInfo{UserID: "far", Source: protocol.SourceScreenshare}})
	admit(host, true, int(stage.CodeScreenshareLimit))
	far.u.id = "host"
	admit(host, true, 0)
}
