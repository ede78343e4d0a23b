package signal

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mailru/easyjson"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/auth"
	"github.com/stagekit/stagekit/stage"
)

// The edges' calls and answers cross in easyjson's generated code: it
// must read what encoding/json writes and write what it reads, for every
// preset and a batch with each kind of call and answer.
func TestEdgeWireCodec(t *testing.T) {
	var calls []edgeCall
	var answers []edgeAnswer
	for name, p := range stage.BuiltinPresets() {
		id := &auth.Identity{MeetingID: "m", UserID: "u-" + name, Name: "N " + name, CustomID: "c", Preset: p, MeetingTitle: "T"}
		calls = append(calls, edgeCall{Op: "join", User: id.UserID, Ident: id, PeerID: "p-" + name, Conn: 2})
		self := protocol.Participant{UserID: id.UserID, Name: id.Name, PresetName: name, StageStatus: p.InitialStatus()}
		answers = append(answers, edgeAnswer{Seq: 7, Snapshot: &protocol.Snapshot{Self: self, Participants: []protocol.Participant{self}, Count: 3, StartedAt: 12}})
	}
	calls = append(calls,
		edgeCall{Op: "act", User: "v", Msg: &protocol.ClientMessage{V: 1, ID: 9, Type: protocol.TypeStageGrant, UserIDs: []string{"a", "b"}}},
		edgeCall{Op: "leave", User: "w", Conn: 3}, edgeCall{Op: "drop", User: "x", Conn: 1 << 40})
	answers = append(answers,
		edgeAnswer{Seq: 8, Status: stage.Requested},
		edgeAnswer{Error: protocol.NewError(protocol.CodeRoomMoved, "moved")},
		edgeAnswer{Seq: 9, Requests: []protocol.StageRequest{{UserID: "a", DisplayName: "A", PeerID: "pa", RequestedAt: 5}}})
	for _, v := range []struct{ in, std, gen any }{
		{edgeCall{Op: "batch", Meeting: "m", Node: "http://n", User: "u", Calls: calls}, &edgeCall{}, &edgeCall{}},
		{edgeAnswer{Seq: 9, Answers: answers}, &edgeAnswer{}, &edgeAnswer{}},
	} {
		gen, err := easyjson.Marshal(v.in.(easyjson.Marshaler))
		if err != nil {
			t.Fatal(err)
		}
		std, err := json.Marshal(v.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(gen, v.std); err != nil { // generated → encoding/json
			t.Fatal(err)
		}
		if err := easyjson.Unmarshal(std, v.gen.(easyjson.Unmarshaler)); err != nil { // encoding/json → generated
			t.Fatal(err)
		}
		want := reflect.New(reflect.TypeOf(v.in))
		want.Elem().Set(reflect.ValueOf(v.in))
		if !reflect.DeepEqual(v.std, want.Interface()) || !reflect.DeepEqual(v.gen, want.Interface()) {
			t.Errorf("round trips differ:\nin  %+v\nstd %+v\ngen %+v", v.in, v.std, v.gen)
		}
	}
}

// The stage log's payloads are written by easyjson's generated code: the
// same JSON as encoding/json's, for each optional part present or not.
func TestPayloadCodec(t *testing.T) {
	full := payload{Event: EventParticipantJoined, ID: "evt_1", Seq: 3, At: stampMs(5), Actor: payloadActor{Type: "participant", ID: "u"},
		Meeting: payloadMeeting{ID: "m", SessionID: "s", Title: "T <&> \"q\" é", Status: "LIVE", CreatedAt: stampMs(1), StartedAt: stampMs(2), EndedAt: stampMs(9)},
		Participant: &payloadParticipant{PeerID: "p", UserID: "u", UserDisplayName: "N", CustomParticipantID: "c", PresetName: "webinar_viewer",
			StageStatus: stage.Requested, JoinedAt: stampMs(3), LeftAt: stampMs(4)},
		Stage:  &payloadStage{From: stage.OffStage, To: stage.Requested, Cause: stage.Cause("request")},
		Reason: "r"}
	for _, p := range []payload{full, {Event: EventMeetingStarted, ID: "evt_2", Seq: 1, At: stampMs(0), Actor: payloadActor{Type: ActorSystem}}} {
		gen, err := easyjson.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		std, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(gen, &a); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(std, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("payload:\ngenerated     %s\nencoding/json %s", gen, std)
		}
	}
}

// readBody reads a body whole, of its announced size or not, and fails on
// one shorter than announced.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		size int64
		err  bool
	}{{3000, false}, {-1, false}, {0, false}, {maxEdgeCallBytes + 1, false}, {4000, true}} {
		got, err := readBody(strings.NewReader(body), tc.size)
		if (err != nil) != tc.err {
			t.Errorf("size %d: error %v", tc.size, err)
		}
		if !tc.err && string(got) != body {
			t.Errorf("size %d: read %d bytes", tc.size, len(got))
		}
	}
}
