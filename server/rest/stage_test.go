package rest_test

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"

	"github.com/stagekit/stagekit/server/rest"
	"github.com/stagekit/stagekit/stage"
)

func TestStage(t *testing.T) {
	host := stage.Preset{Name: stage.PresetWebinarHost}
	viewer := stage.Preset{Name: stage.PresetWebinarViewer}
	mem := func(id string, p stage.Preset, st stage.Status, at int64) stage.Member {
		return stage.Member{UserID: id, PeerID: "p-" + id, Name: "N " + id, Preset: p, Status: st, RequestedAt: at}
	}
	out := func(id, preset string, st stage.Status, at int64) rest.StageMember {
		return rest.StageMember{UserID: id, PeerID: "p-" + id, Name: "N " + id, PresetName: preset, StageStatus: st, RequestedAt: at}
	}
	const h, v = stage.PresetWebinarHost, stage.PresetWebinarViewer
	cases := []struct {
		name    string
		live    bool // the meeting has a live room
		members []stage.Member
		want    rest.StageState
	}{
		{"no live room", false, nil,
			rest.StageState{Members: []rest.StageMember{}, Pending: []rest.StageMember{}}},
		{"empty live room", true, []stage.Member{},
			rest.StageState{Members: []rest.StageMember{}, Pending: []rest.StageMember{}}},
		{"host alone", true, []stage.Member{mem("h", host, stage.Accepted, 0)},
			rest.StageState{Members: []rest.StageMember{out("h", h, stage.Accepted, 0)}, Pending: []rest.StageMember{}, Count: 1}},
		{"every status, pending by requestedAt then join order", true,
			[]stage.Member{
				mem("h", host, stage.OnStage, 0),
				mem("v1", viewer, stage.Requested, 300),
				mem("v2", viewer, stage.OffStage, 0),
				mem("v3", viewer, stage.Requested, 100),
				mem("v4", viewer, stage.OnStage, 0),
				mem("v5", viewer, stage.Requested, 100), // same ms as v3, joined after it
				mem("v6", viewer, stage.Accepted, 0),
			},
			rest.StageState{
				Members: []rest.StageMember{
					out("h", h, stage.OnStage, 0), out("v1", v, stage.Requested, 300), out("v2", v, stage.OffStage, 0),
					out("v3", v, stage.Requested, 100), out("v4", v, stage.OnStage, 0), out("v5", v, stage.Requested, 100),
					out("v6", v, stage.Accepted, 0),
				},
				Pending: []rest.StageMember{out("v3", v, stage.Requested, 100), out("v5", v, stage.Requested, 100), out("v1", v, stage.Requested, 300)},
				Count:   7,
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			m := e.meeting("stage")
			if c.live {
				e.live.set(m.ID, c.members)
			}
			res := e.do("GET", "/v1/meetings/"+m.ID+"/stage", "")
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.raw)
			}
			var got rest.StageState
			res.data(t, &got)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			// Lists are [] when empty, never null.
			for _, field := range []string{`"members":`, `"pending":`} {
				if bytes.Contains(res.raw, []byte(field+"null")) {
					t.Errorf("%snull in %s", field, res.raw)
				}
			}
			if res := e.do("HEAD", "/v1/meetings/"+m.ID+"/stage", ""); res.status != http.StatusOK {
				t.Errorf("HEAD: %d", res.status)
			}
		})
	}
}

// TestStageShape pins the JSON field names of a member.
func TestStageShape(t *testing.T) {
	e := newEnv(t)
	m := e.meeting("shape")
	e.live.set(m.ID, []stage.Member{{UserID: "u", PeerID: "p", Name: "Una",
		Preset: stage.Preset{Name: stage.PresetWebinarViewer}, Status: stage.Requested, RequestedAt: 42}})
	res := e.do("GET", "/v1/meetings/"+m.ID+"/stage", "")
	member := `{"userId":"u","peerId":"p","name":"Una","presetName":"webinar_viewer","stageStatus":"REQUESTED_TO_JOIN_STAGE","requestedAt":42}`
	want := `{"success":true,"data":{"members":[` + member + `],"pending":[` + member + `],"count":1}}`
	if got := string(bytes.TrimSpace(res.raw)); got != want {
		t.Errorf("body %s\nwant %s", got, want)
	}
	// Another meeting's room is not shown.
	other := e.meeting("other")
	res = e.do("GET", "/v1/meetings/"+other.ID+"/stage", "")
	if !bytes.Contains(res.raw, []byte(`"members":[],"pending":[],"count":0`)) {
		t.Errorf("other meeting: %s", res.raw)
	}
}

func TestStageWithoutRoomReader(t *testing.T) {
	e := bareEnv(t, nil)
	m := e.meeting("x")
	res := e.do("GET", "/v1/meetings/"+m.ID+"/stage", "")
	if res.status != http.StatusOK || !bytes.Contains(res.raw, []byte(`"members":[],"pending":[],"count":0`)) {
		t.Errorf("without a room reader: %d %s", res.status, res.raw)
	}
	e.do("GET", "/v1/meetings/nope/stage", "").wantError(t, 404, rest.CodeMeetingNotFound)
}
