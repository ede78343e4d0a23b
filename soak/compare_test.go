//go:build linux

package main

import (
	"strings"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/stage"
)

const (
	h = stage.PresetWebinarHost
	v = stage.PresetWebinarViewer
)

func member(id, preset string, st stage.Status, at int64) rest.StageMember {
	return rest.StageMember{UserID: id, PeerID: "p-" + id, Name: "n-" + id, PresetName: preset, StageStatus: st, RequestedAt: at}
}

func part(m rest.StageMember) protocol.Participant {
	return protocol.Participant{PeerID: m.PeerID, UserID: m.UserID, Name: m.Name, PresetName: m.PresetName, StageStatus: m.StageStatus}
}

func req(m rest.StageMember) protocol.StageRequest {
	return protocol.StageRequest{DisplayName: m.Name, UserID: m.UserID, PeerID: m.PeerID, RequestedAt: m.RequestedAt}
}

// room: a host on stage, another host, viewers in every status; v3 and v4
// requested in the same millisecond.
func room() rest.StageState {
	ms := []rest.StageMember{
		member("h1", h, stage.OnStage, 0), member("h2", h, stage.Accepted, 0),
		member("v1", v, stage.OffStage, 0), member("v2", v, stage.Requested, 50),
		member("v3", v, stage.Requested, 10), member("v4", v, stage.Requested, 10),
		member("v5", v, stage.Accepted, 0), member("v6", v, stage.OnStage, 0),
	}
	return rest.StageState{Members: ms, Pending: []rest.StageMember{ms[4], ms[5], ms[3]}, Count: len(ms)}
}

func hostView(st rest.StageState) view {
	vw := view{Self: part(st.Members[0]), Joined: true, Host: true, Count: st.Count}
	for _, m := range st.Members[1:] {
		vw.Participants = append(vw.Participants, part(m))
	}
	for _, m := range st.Pending {
		vw.Requests = append(vw.Requests, req(m))
	}
	return vw
}

// viewerView is v1's view: the hosts and v6, who is on stage.
func viewerView(st rest.StageState) view {
	return view{Self: part(st.Members[2]), Joined: true, Count: st.Count,
		Participants: []protocol.Participant{part(st.Members[7]), part(st.Members[0]), part(st.Members[1])}}
}

func TestDiffView(t *testing.T) {
	st := room()
	cases := []struct {
		name   string
		view   func() view
		expect string // a substring of the only difference; "" for none
	}{
		{"host agrees", func() view { return hostView(st) }, ""},
		{"viewer agrees, in any order", func() view { return viewerView(st) }, ""},
		{"host: same-millisecond requests in the other order", func() view {
			vw := hostView(st)
			vw.Requests[0], vw.Requests[1] = vw.Requests[1], vw.Requests[0]
			return vw
		}, ""},
		{"host: requests out of order", func() view {
			vw := hostView(st)
			vw.Requests[1], vw.Requests[2] = vw.Requests[2], vw.Requests[1]
			return vw
		}, "out of order"},
		{"host: a request missing", func() view {
			vw := hostView(st)
			vw.Requests = vw.Requests[:2]
			return vw
		}, "requests: client"},
		{"host: a participant's status", func() view {
			vw := hostView(st)
			vw.Participants[3].StageStatus = stage.OffStage
			return vw
		}, "participant v3"},
		{"host: a participant missing", func() view {
			vw := hostView(st)
			vw.Participants = vw.Participants[1:]
			return vw
		}, "missing participant h2"},
		{"viewer: sees an off-stage viewer", func() view {
			vw := viewerView(st)
			vw.Participants = append(vw.Participants, part(st.Members[5]))
			return vw
		}, "extra participant v4"},
		{"viewer: misses the one on stage", func() view {
			vw := viewerView(st)
			vw.Participants = vw.Participants[1:]
			return vw
		}, "missing participant v6"},
		{"viewer: holds requests", func() view {
			vw := viewerView(st)
			vw.Requests = []protocol.StageRequest{req(st.Pending[0])}
			return vw
		}, "holds 1 requests"},
		{"self status", func() view {
			vw := viewerView(st)
			vw.Self.StageStatus = stage.Requested
			return vw
		}, "self status"},
		{"self peer", func() view {
			vw := viewerView(st)
			vw.Self.PeerID = "other"
			return vw
		}, "self peerId"},
		{"not a member", func() view {
			vw := viewerView(st)
			vw.Self.UserID = "ghost"
			vw.Participants = append(vw.Participants, part(st.Members[2])) // v1 is now another member, not in view
			return vw
		}, ""}, // two differences, checked below
		{"count", func() view {
			vw := hostView(st)
			vw.Count--
			return vw
		}, "count 7, server 8"},
		{"not joined", func() view {
			vw := hostView(st)
			vw.Joined = false
			return vw
		}, "not joined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := diffView(c.view(), st)
			if c.name == "not a member" {
				if len(d) != 2 || !strings.Contains(d[0], "not a member") || !strings.Contains(d[1], "extra participant v1") {
					t.Errorf("differences %q", d)
				}
				return
			}
			switch {
			case c.expect == "" && len(d) > 0:
				t.Errorf("differences %q, want none", d)
			case c.expect != "" && (len(d) != 1 || !strings.Contains(d[0], c.expect)):
				t.Errorf("differences %q, want one with %q", d, c.expect)
			}
		})
	}
}

func TestCheckInvariants(t *testing.T) {
	known := map[string]participant{}
	for _, m := range room().Members {
		known[m.UserID] = participant{ID: m.UserID, Name: m.Name, PresetName: m.PresetName}
	}
	cases := []struct {
		name   string
		edit   func(*rest.StageState)
		expect string
	}{
		{"fine", func(*rest.StageState) {}, ""},
		{"host requested", func(st *rest.StageState) {
			st.Members[1].StageStatus, st.Members[1].RequestedAt = stage.OffStage, 0
		}, "ALLOWED) is OFF_STAGE"},
		{"unknown status", func(st *rest.StageState) { st.Members[2].StageStatus = "SOMEWHERE" }, `status "SOMEWHERE"`},
		{"requestedAt without a request", func(st *rest.StageState) { st.Members[2].RequestedAt = 5 }, "with requestedAt 5"},
		{"pending misses one", func(st *rest.StageState) { st.Pending = st.Pending[:2] }, "pending has 2 entries, 3 members"},
		{"pending out of order", func(st *rest.StageState) { st.Pending[1], st.Pending[2] = st.Pending[2], st.Pending[1] }, "out of order"},
		{"count", func(st *rest.StageState) { st.Count = 3 }, "count 3, 8 members"},
		{"twice", func(st *rest.StageState) { st.Members[3].UserID = "v1" }, "v1 is a member twice"},
		{"renamed", func(st *rest.StageState) { st.Members[2].Name = "x" }, "created as"},
		{"stranger", func(st *rest.StageState) { st.Members[2].UserID = "ghost" }, "never created"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := room()
			c.edit(&st)
			d := checkInvariants(st, known)
			switch {
			case c.expect == "" && len(d) > 0:
				t.Errorf("%q, want none", d)
			case c.expect != "" && (len(d) == 0 || !strings.Contains(strings.Join(d, "\n"), c.expect)):
				t.Errorf("%q, want %q", d, c.expect)
			}
		})
	}
}
