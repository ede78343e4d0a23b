//go:build linux

package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/stage"
)

// view is what one client shows of the room.
type view struct {
	Self         protocol.Participant
	Joined       bool // Self().RoomJoined
	Host         bool // its preset accepts stage requests (it sees everyone)
	Participants []protocol.Participant
	Requests     []protocol.StageRequest
	Count        int
}

// presets are the built-in presets, by name.
var presets = stage.BuiltinPresets()

// inView is the audience rule (docs/architecture.md, "Who sees whom"): a
// member is seen by everyone when ON_STAGE or when its preset is ALLOWED on
// stage.
func inView(m rest.StageMember) bool {
	return m.StageStatus == stage.OnStage || presets[m.PresetName].StageAccess == stage.Allowed
}

// diffView compares a client's view with the server's state and returns
// every difference, each a readable line; none when they agree.
//
// Self: the member with the client's user id, same peer id and status.
// Participants (compared by user id; order is not part of the contract for
// the audience, which sees people come into view in event order): for a
// host every other member, for a viewer every other member in view; each
// with the same peer id, name, preset and status. Requests: for a host the
// server's pending list, order included, except that requests made in the
// same millisecond may be in either order (the server's list orders them by
// join, see rest.StageStateOf); for a viewer none. Count: the server's.
func diffView(v view, srv rest.StageState) []string {
	var d []string
	add := func(format string, args ...any) { d = append(d, fmt.Sprintf(format, args...)) }
	if !v.Joined {
		add("not joined")
	}
	byUser := make(map[string]rest.StageMember, len(srv.Members))
	for _, m := range srv.Members {
		byUser[m.UserID] = m
	}
	if me, ok := byUser[v.Self.UserID]; !ok {
		add("self %s: not a member on the server", v.Self.UserID)
	} else {
		if me.PeerID != v.Self.PeerID {
			add("self peerId %s, server %s", v.Self.PeerID, me.PeerID)
		}
		if me.StageStatus != v.Self.StageStatus {
			add("self status %s, server %s", v.Self.StageStatus, me.StageStatus)
		}
	}

	want := map[string]rest.StageMember{}
	for _, m := range srv.Members {
		if m.UserID != v.Self.UserID && (v.Host || inView(m)) {
			want[m.UserID] = m
		}
	}
	got := map[string]protocol.Participant{}
	for _, p := range v.Participants {
		if _, dup := got[p.UserID]; dup {
			add("participant %s listed twice", p.UserID)
		}
		got[p.UserID] = p
	}
	for _, id := range sortedKeys(want) {
		m := want[id]
		p, ok := got[id]
		switch {
		case !ok:
			add("missing participant %s (%s %s)", id, m.PresetName, m.StageStatus)
		case p.PeerID != m.PeerID || p.Name != m.Name || p.PresetName != m.PresetName || p.StageStatus != m.StageStatus:
			add("participant %s: client {%s %s %s %s}, server {%s %s %s %s}", id,
				p.PeerID, p.Name, p.PresetName, p.StageStatus, m.PeerID, m.Name, m.PresetName, m.StageStatus)
		}
	}
	for _, id := range sortedKeys(got) {
		if _, ok := want[id]; !ok {
			p := got[id]
			if m, member := byUser[id]; member {
				add("extra participant %s (%s, client %s, server %s: not in view)", id, p.PresetName, p.StageStatus, m.StageStatus)
			} else {
				add("extra participant %s (%s %s): not a member on the server", id, p.PresetName, p.StageStatus)
			}
		}
	}

	if v.Host {
		d = append(d, diffRequests(v.Requests, srv.Pending)...)
	} else if len(v.Requests) > 0 {
		add("a viewer holds %d requests", len(v.Requests))
	}
	if v.Count != srv.Count {
		add("count %d, server %d", v.Count, srv.Count)
	}
	return d
}

// diffRequests compares a host's pending list with the server's: the same
// requests (user, peer, name, requestedAt) in the same order, where a run
// of equal requestedAt may be in any order.
func diffRequests(host []protocol.StageRequest, srv []rest.StageMember) []string {
	type req struct {
		user, peer, name string
		at               int64
	}
	h := make([]req, len(host))
	for i, r := range host {
		h[i] = req{r.UserID, r.PeerID, r.DisplayName, r.RequestedAt}
	}
	s := make([]req, len(srv))
	for i, m := range srv {
		s[i] = req{m.UserID, m.PeerID, m.Name, m.RequestedAt}
	}
	var d []string
	for i := 1; i < len(h); i++ {
		if h[i].at < h[i-1].at {
			d = append(d, fmt.Sprintf("requests out of order: %s (%d) after %s (%d)", h[i].user, h[i].at, h[i-1].user, h[i-1].at))
		}
	}
	key := func(a, b req) int { return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.user, b.user)) }
	hs, ss := slices.Clone(h), slices.Clone(s)
	slices.SortFunc(hs, key)
	slices.SortFunc(ss, key)
	if !slices.Equal(hs, ss) {
		d = append(d, fmt.Sprintf("requests: client %s\n      server %s", fmtReqs(host), fmtPending(srv)))
	}
	return d
}

func fmtReqs(rs []protocol.StageRequest) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s@%d", r.UserID, r.RequestedAt)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtPending(ms []rest.StageMember) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s@%d", m.UserID, m.RequestedAt)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkInvariants checks the server's state on its own: every member
// known (its name and preset as created), user and peer ids unique, each
// status one the member's preset may hold (ALLOWED presets: ACCEPTED or
// ON_STAGE), requestedAt set exactly while REQUESTED, the pending list
// exactly the REQUESTED members oldest first, and the count the number of
// members. known maps user id → participant as created.
func checkInvariants(st rest.StageState, known map[string]participant) []string {
	var d []string
	add := func(format string, args ...any) { d = append(d, fmt.Sprintf(format, args...)) }
	users, peers := map[string]bool{}, map[string]bool{}
	requested := map[string]rest.StageMember{}
	for _, m := range st.Members {
		if users[m.UserID] {
			add("user %s is a member twice", m.UserID)
		}
		users[m.UserID] = true
		if peers[m.PeerID] {
			add("peer id %s used twice", m.PeerID)
		}
		peers[m.PeerID] = true
		p, ok := known[m.UserID]
		switch {
		case !ok:
			add("member %s was never created", m.UserID)
		case p.Name != m.Name || p.PresetName != m.PresetName:
			add("member %s is {%s %s}, created as {%s %s}", m.UserID, m.Name, m.PresetName, p.Name, p.PresetName)
		}
		if m.PeerID == "" {
			add("member %s has no peer id", m.UserID)
		}
		preset, ok := presets[m.PresetName]
		switch {
		case !m.StageStatus.Valid():
			add("member %s has status %q", m.UserID, m.StageStatus)
		case !ok:
			add("member %s has an unknown preset %q", m.UserID, m.PresetName)
		case preset.StageAccess == stage.Allowed && m.StageStatus != stage.Accepted && m.StageStatus != stage.OnStage:
			add("member %s (%s, ALLOWED) is %s", m.UserID, m.PresetName, m.StageStatus)
		case preset.StageAccess == stage.NotAllowed && m.StageStatus != stage.OffStage:
			add("member %s (%s, NOT_ALLOWED) is %s", m.UserID, m.PresetName, m.StageStatus)
		}
		if (m.StageStatus == stage.Requested) != (m.RequestedAt > 0) {
			add("member %s is %s with requestedAt %d", m.UserID, m.StageStatus, m.RequestedAt)
		}
		if m.StageStatus == stage.Requested {
			requested[m.UserID] = m
		}
	}
	if st.Count != len(st.Members) {
		add("count %d, %d members", st.Count, len(st.Members))
	}
	if len(st.Pending) != len(requested) {
		add("pending has %d entries, %d members are REQUESTED", len(st.Pending), len(requested))
	}
	for i, p := range st.Pending {
		if m, ok := requested[p.UserID]; !ok || m != p {
			add("pending entry %s (%s) is not a REQUESTED member", p.UserID, p.StageStatus)
		}
		if i > 0 && p.RequestedAt < st.Pending[i-1].RequestedAt {
			add("pending out of order at %s", p.UserID)
		}
	}
	return d
}
