package protocol_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

func ptr[T any](v T) *T { return &v }

// idList renders n JSON strings of the form "u0", "u1", ...
func idList(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", fmt.Sprintf("u%d", i))
	}
	return "[" + strings.Join(ids, ",") + "]"
}

func idSlice(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%d", i)
	}
	return ids
}

type validCase struct {
	name string
	in   string
	want protocol.ClientMessage
}

func validCases() []validCase {
	token := strings.Repeat("t", protocol.MaxTokenBytes)
	longID := strings.Repeat("x", protocol.MaxUserIDBytes)
	// A ping padded with trailing whitespace to exactly MaxFrameBytes.
	ping := `{"v":1,"id":99,"type":"ping"}`
	padded := ping + strings.Repeat(" ", protocol.MaxFrameBytes-len(ping))
	return []validCase{
		{"hello", `{"v":1,"id":1,"type":"hello","token":"abc.def.ghi"}`,
			protocol.ClientMessage{V: 1, ID: 1, Type: "hello", Token: "abc.def.ghi"}},
		{"hello with MaxTokenBytes token", `{"v":1,"id":1,"type":"hello","token":"` + token + `"}`,
			protocol.ClientMessage{V: 1, ID: 1, Type: "hello", Token: token}},
		{"join", `{"v":1,"id":2,"type":"join"}`, protocol.ClientMessage{V: 1, ID: 2, Type: "join"}},
		{"leave", `{"v":1,"id":3,"type":"leave"}`, protocol.ClientMessage{V: 1, ID: 3, Type: "leave"}},
		{"snapshot", `{"v":1,"id":4,"type":"snapshot"}`, protocol.ClientMessage{V: 1, ID: 4, Type: "snapshot"}},
		{"stage.request", `{"v":1,"id":5,"type":"stage.request"}`, protocol.ClientMessage{V: 1, ID: 5, Type: "stage.request"}},
		{"stage.cancel", `{"v":1,"id":6,"type":"stage.cancel"}`, protocol.ClientMessage{V: 1, ID: 6, Type: "stage.cancel"}},
		{"stage.grant", `{"v":1,"id":7,"type":"stage.grant","userIds":["a","b"]}`,
			protocol.ClientMessage{V: 1, ID: 7, Type: "stage.grant", UserIDs: []string{"a", "b"}}},
		{"stage.grant with expect", `{"v":1,"id":7,"type":"stage.grant","userIds":["a","b","c"],"expect":["REQUESTED_TO_JOIN_STAGE","","OFF_STAGE"]}`,
			protocol.ClientMessage{V: 1, ID: 7, Type: "stage.grant", UserIDs: []string{"a", "b", "c"}, Expect: []stage.Status{stage.Requested, "", stage.OffStage}}},
		{"stage.deny", `{"v":1,"id":8,"type":"stage.deny","userIds":["a"]}`,
			protocol.ClientMessage{V: 1, ID: 8, Type: "stage.deny", UserIDs: []string{"a"}}},
		{"stage.kick", `{"v":1,"id":9,"type":"stage.kick","userIds":["a"],"expect":["ON_STAGE"]}`,
			protocol.ClientMessage{V: 1, ID: 9, Type: "stage.kick", UserIDs: []string{"a"}, Expect: []stage.Status{stage.OnStage}}},
		{"stage.kick of MaxBatch", `{"v":1,"id":9,"type":"stage.kick","userIds":` + idList(stage.MaxBatch) + `}`,
			protocol.ClientMessage{V: 1, ID: 9, Type: "stage.kick", UserIDs: idSlice(stage.MaxBatch)}},
		{"stage.grant of a MaxUserIDBytes id", `{"v":1,"id":9,"type":"stage.grant","userIds":["` + longID + `"]}`,
			protocol.ClientMessage{V: 1, ID: 9, Type: "stage.grant", UserIDs: []string{longID}}},
		{"stage.join", `{"v":1,"id":10,"type":"stage.join"}`, protocol.ClientMessage{V: 1, ID: 10, Type: "stage.join"}},
		{"stage.leave", `{"v":1,"id":11,"type":"stage.leave"}`, protocol.ClientMessage{V: 1, ID: 11, Type: "stage.leave"}},
		{"stage.requests", `{"v":1,"id":12,"type":"stage.requests"}`, protocol.ClientMessage{V: 1, ID: 12, Type: "stage.requests"}},
		{"ping", `{"v":1,"id":13,"type":"ping"}`, protocol.ClientMessage{V: 1, ID: 13, Type: "ping"}},
		{"media.offer", `{"v":1,"id":14,"type":"media.offer","pc":"publish","sdp":"v=0\r\n"}`,
			protocol.ClientMessage{V: 1, ID: 14, Type: "media.offer", PC: "publish", SDP: "v=0\r\n"}},
		{"media.answer", `{"v":1,"id":15,"type":"media.answer","pc":"subscribe","sdp":"v=0\r\n"}`,
			protocol.ClientMessage{V: 1, ID: 15, Type: "media.answer", PC: "subscribe", SDP: "v=0\r\n"}},
		{"media.candidate", `{"v":1,"id":16,"type":"media.candidate","pc":"subscribe","candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"uf"}}`,
			protocol.ClientMessage{V: 1, ID: 16, Type: "media.candidate", PC: "subscribe", Candidate: &protocol.ICECandidate{
				Candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0)), UsernameFragment: ptr("uf")}}},
		{"media.candidate end of candidates", `{"v":1,"id":17,"type":"media.candidate","pc":"publish","candidate":{"candidate":""}}`,
			protocol.ClientMessage{V: 1, ID: 17, Type: "media.candidate", PC: "publish", Candidate: &protocol.ICECandidate{}}},
		{"surrounding whitespace", " \r\n\t{\"v\":1,\"id\":18,\"type\":\"ping\"}\n ", protocol.ClientMessage{V: 1, ID: 18, Type: "ping"}},
		{"largest id", `{"v":1,"id":18446744073709551615,"type":"ping"}`, protocol.ClientMessage{V: 1, ID: 1<<64 - 1, Type: "ping"}},
		{"unknown fields ignored", `{"v":1,"id":19,"type":"ping","future":{"x":[1,2]}}`, protocol.ClientMessage{V: 1, ID: 19, Type: "ping"}},
		{"exactly MaxFrameBytes", padded, protocol.ClientMessage{V: 1, ID: 99, Type: "ping"}},
	}
}

func TestDecodeClientValid(t *testing.T) {
	for _, c := range validCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := protocol.DecodeClient([]byte(c.in))
			if err != nil {
				t.Fatalf("DecodeClient: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
			// What a client encodes decodes to the same message.
			enc, merr := json.Marshal(got)
			if merr != nil {
				t.Fatal(merr)
			}
			again, err := protocol.DecodeClient(enc)
			if err != nil || !reflect.DeepEqual(again, c.want) {
				t.Fatalf("re-decoded %s: %+v, %v", enc, again, err)
			}
		})
	}
}

func TestDecodeClientErrors(t *testing.T) {
	const tooBig = protocol.MaxFrameBytes + 1
	ping := `{"v":1,"id":5,"type":"ping"}`
	cases := []struct {
		name string
		in   string
		code int
		id   uint64 // the id handed back so the error can answer the request
	}{
		{"empty", ``, 4001, 0},
		{"whitespace", " \n", 4001, 0},
		{"not JSON", `hello`, 4001, 0},
		{"unquoted keys", `{v:1,id:5,type:"ping"}`, 4001, 0},
		{"truncated", `{"v":1,"id":5,"type":"ping"`, 4001, 0},
		{"array", `[{"v":1,"id":5,"type":"ping"}]`, 4001, 0},
		{"string", `"ping"`, 4001, 0},
		{"number", `42`, 4001, 0},
		{"null", `null`, 4001, 0},
		{"true", `true`, 4001, 0},
		{"v is a string", `{"v":"1","id":5,"type":"ping"}`, 4001, 5},
		{"type is a number", `{"v":1,"id":5,"type":7}`, 4001, 5},
		{"negative id", `{"v":1,"id":-5,"type":"ping"}`, 4001, 0},
		{"fractional id", `{"v":1,"id":5.5,"type":"ping"}`, 4001, 0},
		{"id overflows", `{"v":1,"id":18446744073709551616,"type":"ping"}`, 4001, 0},
		{"userIds is a string", `{"v":1,"id":5,"type":"stage.grant","userIds":"a"}`, 4001, 5},
		{"candidate is a string", `{"v":1,"id":5,"type":"media.candidate","pc":"publish","candidate":"c"}`, 4001, 5},

		{"two messages", ping + ` ` + ping, 4001, 5},
		{"trailing garbage", ping + `x`, 4001, 5},
		{"trailing brace", ping + `}`, 4001, 5},
		{"trailing bracket", ping + `]`, 4001, 5},
		{"trailing null", ping + `null`, 4001, 5},
		{"trailing comma", ping + `,`, 4001, 5},

		{"no version", `{"id":5,"type":"ping"}`, 4004, 5},
		{"version 0", `{"v":0,"id":5,"type":"ping"}`, 4004, 5},
		{"version 2", `{"v":2,"id":5,"type":"ping"}`, 4004, 5},
		{"version -1", `{"v":-1,"id":5,"type":"ping"}`, 4004, 5},

		{"no type", `{"v":1,"id":5}`, 4002, 5},
		{"unknown type", `{"v":1,"id":5,"type":"stage.promote"}`, 4002, 5},
		{"server type", `{"v":1,"id":5,"type":"result"}`, 4002, 5},
		{"type case", `{"v":1,"id":5,"type":"PING"}`, 4002, 5},
		{"long unknown type", `{"v":1,"id":5,"type":"` + strings.Repeat("z", 10000) + `"}`, 4002, 5},

		{"no id", `{"v":1,"type":"ping"}`, 4005, 0},
		{"zero id", `{"v":1,"id":0,"type":"stage.request"}`, 4005, 0},

		{"hello without token", `{"v":1,"id":5,"type":"hello"}`, 4010, 5},
		{"hello with empty token", `{"v":1,"id":5,"type":"hello","token":""}`, 4010, 5},
		{"hello with oversize token", `{"v":1,"id":5,"type":"hello","token":"` + strings.Repeat("t", protocol.MaxTokenBytes+1) + `"}`, 4011, 5},

		{"grant without userIds", `{"v":1,"id":5,"type":"stage.grant"}`, 2102, 5},
		{"deny with empty userIds", `{"v":1,"id":5,"type":"stage.deny","userIds":[]}`, 2102, 5},
		{"kick with null userIds", `{"v":1,"id":5,"type":"stage.kick","userIds":null}`, 2102, 5},
		{"grant of MaxBatch+1", `{"v":1,"id":5,"type":"stage.grant","userIds":` + idList(stage.MaxBatch+1) + `}`, 2103, 5},
		{"kick of MaxBatch+1", `{"v":1,"id":5,"type":"stage.kick","userIds":` + idList(stage.MaxBatch+1) + `}`, 2103, 5},
		{"empty user id", `{"v":1,"id":5,"type":"stage.grant","userIds":["a",""]}`, 4005, 5},
		{"too long user id", `{"v":1,"id":5,"type":"stage.deny","userIds":["` + strings.Repeat("x", protocol.MaxUserIDBytes+1) + `"]}`, 4005, 5},
		{"expect shorter than userIds", `{"v":1,"id":5,"type":"stage.grant","userIds":["a","b"],"expect":["OFF_STAGE"]}`, 2105, 5},
		{"expect longer than userIds", `{"v":1,"id":5,"type":"stage.kick","userIds":["a"],"expect":["ON_STAGE","ON_STAGE"]}`, 2105, 5},
		{"expect not a status", `{"v":1,"id":5,"type":"stage.grant","userIds":["a"],"expect":["REQUESTED"]}`, 4005, 5},

		{"offer on the subscribe pc", `{"v":1,"id":5,"type":"media.offer","pc":"subscribe","sdp":"v=0"}`, 4005, 5},
		{"offer without sdp", `{"v":1,"id":5,"type":"media.offer","pc":"publish"}`, 4005, 5},
		{"answer on the publish pc", `{"v":1,"id":5,"type":"media.answer","pc":"publish","sdp":"v=0"}`, 4005, 5},
		{"answer without sdp", `{"v":1,"id":5,"type":"media.answer","pc":"subscribe"}`, 4005, 5},
		{"candidate without pc", `{"v":1,"id":5,"type":"media.candidate","candidate":{"candidate":"c"}}`, 4005, 5},
		{"candidate on an unknown pc", `{"v":1,"id":5,"type":"media.candidate","pc":"both","candidate":{"candidate":"c"}}`, 4005, 5},
		{"candidate without candidate", `{"v":1,"id":5,"type":"media.candidate","pc":"publish"}`, 4005, 5},

		{"over-large frame of a valid message", ping + strings.Repeat(" ", tooBig-len(ping)), 4003, 0},
		{"over-large frame of garbage", strings.Repeat("{", tooBig), 4003, 0},
		{"over-large batch", `{"v":1,"id":5,"type":"stage.grant","userIds":["` + strings.Repeat("x", tooBig) + `"]}`, 4003, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := protocol.DecodeClient([]byte(c.in))
			if err == nil {
				t.Fatalf("decoded %+v, want error %d", got, c.code)
			}
			if err.Code != c.code {
				t.Fatalf("code %d (%v), want %d", err.Code, err, c.code)
			}
			if prefix := fmt.Sprintf("[ERR%d] ", c.code); !strings.HasPrefix(err.Error(), prefix) || err.Message == "" {
				t.Errorf("message %q", err.Error())
			}
			if len(err.Error()) > 400 {
				t.Errorf("error message of %d bytes echoes the input", len(err.Error()))
			}
			if got.ID != c.id {
				t.Errorf("id = %d, want %d", got.ID, c.id)
			}
		})
	}
}

func TestErrorOf(t *testing.T) {
	se := &stage.Error{Code: stage.CodeUnknownUser, Message: "not in the room", UserIDs: []string{"a", "b"}}
	if got, want := protocol.ErrorOf(se), (&protocol.ErrorBody{Code: 2101, Message: "not in the room", UserIDs: []string{"a", "b"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("ErrorOf(stage error) = %+v, want %+v", got, want)
	}
	if got := protocol.ErrorOf(se).Error(); got != se.Error() {
		t.Errorf("wire error prints %q, stage error %q", got, se.Error())
	}
	eb := protocol.NewError(protocol.CodeRateLimited, "slow down after %d", 3)
	if got := protocol.ErrorOf(eb); got != eb || got.ErrorCode() != 4020 || got.Error() != "[ERR4020] slow down after 3" {
		t.Errorf("ErrorOf(ErrorBody) = %+v", got)
	}
	if got := protocol.ErrorOf(errors.New("disk on fire")); got.Code != protocol.CodeInternal || strings.Contains(got.Message, "disk") {
		t.Errorf("ErrorOf(other) = %+v, want a 5000 that hides the cause", got)
	}
}

func TestConversions(t *testing.T) {
	m := stage.Member{UserID: "u", PeerID: "p", Name: "N", Status: stage.Requested, RequestedAt: 1234,
		Preset: stage.BuiltinPresets()[stage.PresetWebinarViewer]}
	if got, want := protocol.ParticipantOf(m), (protocol.Participant{PeerID: "p", UserID: "u", Name: "N", PresetName: "webinar_viewer", StageStatus: stage.Requested}); got != want {
		t.Errorf("ParticipantOf = %+v, want %+v", got, want)
	}
	if got, want := protocol.RequestOf(m), (protocol.StageRequest{DisplayName: "N", UserID: "u", PeerID: "p", RequestedAt: 1234}); got != want {
		t.Errorf("RequestOf = %+v, want %+v", got, want)
	}
	c := stage.Change{UserID: "u", PeerID: "p", From: stage.Requested, To: stage.Accepted, Cause: stage.CauseGrant}
	if got, want := protocol.ChangeOf(c), (protocol.Change{UserID: "u", PeerID: "p", From: stage.Requested, To: stage.Accepted, Cause: stage.CauseGrant}); got != want {
		t.Errorf("ChangeOf = %+v, want %+v", got, want)
	}
	if got, want := protocol.PermissionsOf(m.Preset.Permissions), (protocol.Permissions{StageEnabled: true, StageAccess: stage.CanRequest, ScreenshareAccess: stage.CanRequest, MaxScreenshareCount: 1}); got != want {
		t.Errorf("PermissionsOf = %+v, want %+v", got, want)
	}
	// The JSON names the JS side reads.
	b, err := json.Marshal(protocol.RequestOf(m))
	if err != nil || string(b) != `{"displayName":"N","userId":"u","peerId":"p","requestedAt":1234}` {
		t.Errorf("StageRequest JSON = %s, %v", b, err)
	}
}
