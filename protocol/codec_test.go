package protocol_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// The clients' codec (easyjson's generated code) must read what the server
// writes with encoding/json exactly as encoding/json reads it, and write
// ClientMessages as encoding/json does, byte for byte but for the escapes of
// control characters (the browser loader's early hello, whose token has
// none, is compared byte for byte).

var someParticipant = protocol.Participant{PeerID: "p-1", UserID: "u-1", Name: "Ada <&> \u2028 é", PresetName: "webinar_host",
	StageStatus: stage.OnStage, CustomParticipantID: "c-1", IsHost: true}

var serverMessages = []protocol.ServerMessage{
	{Type: protocol.TypeResult, ID: 1, Hello: &protocol.HelloResult{MeetingID: "m-1", Self: someParticipant,
		Permissions: protocol.Permissions{StageEnabled: true, StageAccess: stage.CanRequest, AcceptStageRequests: true, SeeAllParticipants: true},
		GraceMs:     30000, Nodes: []string{"http://a:1", "http://b:2"}}},
	{Type: protocol.TypeResult, ID: 2, Snapshot: &protocol.Snapshot{Seq: 9, Self: someParticipant,
		Participants: []protocol.Participant{someParticipant, {PeerID: "p-2"}},
		Requests:     []protocol.StageRequest{{DisplayName: "B", UserID: "u-2", PeerID: "p-2", RequestedAt: 1764633600123}}, Count: 3}},
	{Type: protocol.TypeResult, ID: 3, Status: stage.Requested, Requests: []protocol.StageRequest{}},
	{Type: protocol.TypeError, ID: 4, Error: &protocol.ErrorBody{Code: 4050, Message: "elsewhere", UserIDs: []string{"u-1"}, Redirect: "http://c:3", LeaseMs: 4200}},
	{Type: protocol.TypeBatch, Seq: 12, Events: []protocol.ServerMessage{
		{Type: protocol.TypeEvent, Seq: 10, Event: "stage", Changes: []protocol.Change{{UserID: "u-2", PeerID: "p-2", From: stage.Requested,
			To: stage.Accepted, Cause: "grant", Name: "B", PresetName: "webinar_viewer", CustomParticipantID: "c-2", IsHost: false, Hidden: true}},
			RequestsRemoved: []string{"u-2"}, RequestsAdded: []protocol.StageRequest{{UserID: "u-3"}}},
		{Type: protocol.TypeEvent, Seq: 11, Event: "participant.joined", Participant: &someParticipant, Count: 4},
	}},
	{Type: protocol.TypePart, Participants: []protocol.Participant{someParticipant}},
	{Type: protocol.TypeEvent, Event: "media.offer", PC: "sub", SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n",
		Candidate: &protocol.ICECandidate{Candidate: "candidate:1 1 udp 2122252543 192.168.1.20 61012 typ host", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0)), UsernameFragment: ptr("ab")},
		Tracks:    []protocol.TrackInfo{{PeerID: "p-1", UserID: "u-1", Kind: "video", TrackID: "t", StreamID: "s"}}},
	{},
}

var clientMessages = []protocol.ClientMessage{
	{V: protocol.Version, ID: 1, Type: protocol.TypeHello, Token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2ln"},
	{V: protocol.Version, ID: 2, Type: "stage.grant", UserIDs: []string{"u-1", "u-2"}, Expect: []stage.Status{stage.Requested, ""}},
	{V: protocol.Version, ID: 3, Type: "media.candidate", PC: "pub", SDP: "a=<&>\u2028\u2029 é \x00 \xff",
		Candidate: &protocol.ICECandidate{Candidate: "candidate:x", SDPMid: ptr(""), SDPMLineIndex: ptr(uint16(65535))}},
	{V: protocol.Version, ID: 4, Type: "stage.kick", UserIDs: []string{}, Expect: []stage.Status{}},
	{},
}

func checkServerMessage(t *testing.T, wire []byte) {
	t.Helper()
	var want, got protocol.ServerMessage
	if err := json.Unmarshal(wire, &want); err != nil {
		t.Fatalf("encoding/json cannot read %q: %v", wire, err)
	}
	if err := protocol.DecodeServer(wire, &got); err != nil {
		t.Fatalf("DecodeServer(%q): %v", wire, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeServer(%q):\n got %#v\nwant %#v", wire, got, want)
	}
}

// checkServerEncoding: EncodeServer writes m as encoding/json reads back
// to what it reads from encoding/json's bytes. With bytes, the two must be
// equal byte for byte (they differ only in how control characters are
// escaped: \u0008 against \b).
func checkServerEncoding(t *testing.T, m protocol.ServerMessage, bytesToo bool) {
	t.Helper()
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.EncodeServer(m)
	if err != nil {
		t.Fatalf("EncodeServer(%#v): %v", m, err)
	}
	if bytesToo && !bytes.Equal(got, want) {
		t.Errorf("EncodeServer(%#v):\n got %s\nwant %s", m, got, want)
	}
	var back protocol.ServerMessage
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("encoding/json cannot read EncodeServer's %q: %v", got, err)
	}
	if again, _ := json.Marshal(back); !bytes.Equal(again, want) {
		t.Errorf("EncodeServer's %s reads back as %s, want %s", got, again, want)
	}
}

// checkClientMessage: EncodeClient writes m as encoding/json reads as it
// reads m's own encoding. With bytes, the two must be equal byte for byte (as for
// the server, they differ only in how control characters are escaped; a
// hello's token has none).
func checkClientMessage(t *testing.T, m protocol.ClientMessage, bytesToo bool) {
	t.Helper()
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.EncodeClient(m)
	if err != nil {
		t.Fatalf("EncodeClient(%#v): %v", m, err)
	}
	if bytesToo && !bytes.Equal(got, want) {
		t.Errorf("EncodeClient(%#v):\n got %s\nwant %s", m, got, want)
	}
	var back, wantBack protocol.ClientMessage
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("encoding/json cannot read EncodeClient's %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &wantBack); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, wantBack) {
		t.Errorf("EncodeClient's %s reads back as %#v, want %#v", got, back, wantBack)
	}
}

func TestCodecMatchesEncodingJSON(t *testing.T) {
	for _, m := range serverMessages {
		wire, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		checkServerMessage(t, wire)
		checkServerEncoding(t, m, true)
	}
	for _, m := range clientMessages {
		checkClientMessage(t, m, true)
	}
}

func TestDecodeServerRefusesWhatIsNotJSON(t *testing.T) {
	for _, wire := range []string{"", "{", `{"type":}`, `{"id":-1}`, `{"id":"1"}`, `{"hello":{"self":{"name":1}}}`, `[1]`, `{"count":1.5}`} {
		var m protocol.ServerMessage
		if err := protocol.DecodeServer([]byte(wire), &m); err == nil {
			t.Errorf("DecodeServer(%q) = nil error, read %#v", wire, m)
		}
	}
}

// FuzzCodecMatchesEncodingJSON: whatever encoding/json reads as a message,
// written back by encoding/json (the server's bytes), DecodeServer reads the
// same, and EncodeServer writes what encoding/json reads as it; so does
// EncodeClient for a ClientMessage. Any input
// leaves DecodeServer without a panic.
func FuzzCodecMatchesEncodingJSON(f *testing.F) {
	for _, m := range serverMessages {
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	for _, m := range clientMessages {
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var any protocol.ServerMessage
		_ = protocol.DecodeServer(data, &any)
		var sm protocol.ServerMessage
		if json.Unmarshal(data, &sm) == nil {
			wire, err := json.Marshal(sm)
			if err != nil {
				t.Fatal(err)
			}
			checkServerMessage(t, wire)
			checkServerEncoding(t, sm, false)
		}
		var cm protocol.ClientMessage
		if json.Unmarshal(data, &cm) == nil {
			checkClientMessage(t, cm, false)
		}
	})
}
