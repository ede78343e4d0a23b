package protocol_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/stage"
)

// decodeCodes are the codes DecodeClient may answer with, as documented in
// the README's error table.
var decodeCodes = map[int]bool{
	protocol.CodeMalformed:       true, // 4001
	protocol.CodeUnknownType:     true, // 4002
	protocol.CodeTooLarge:        true, // 4003
	protocol.CodeBadVersion:      true, // 4004
	protocol.CodeBadArgs:         true, // 4005
	protocol.CodeTokenMissing:    true, // 4010
	protocol.CodeTokenInvalid:    true, // 4011
	int(stage.CodeEmptyBatch):    true, // 2102
	int(stage.CodeBatchTooLarge): true, // 2103
	int(stage.CodeBadExpect):     true, // 2105
}

var clientTypes = map[string]bool{
	"hello": true, "join": true, "leave": true, "snapshot": true,
	"stage.request": true, "stage.cancel": true, "stage.grant": true, "stage.deny": true,
	"stage.kick": true, "stage.join": true, "stage.leave": true, "stage.requests": true,
	"ping": true, "media.offer": true, "media.answer": true, "media.candidate": true,
}

// normalize maps empty slices to nil: the encoder omits both, so a decoded
// `"userIds":[]` comes back as nil and that is not a difference.
func normalize(m protocol.ClientMessage) protocol.ClientMessage {
	if len(m.UserIDs) == 0 {
		m.UserIDs = nil
	}
	if len(m.Expect) == 0 {
		m.Expect = nil
	}
	return m
}

func FuzzDecodeClient(f *testing.F) {
	for _, c := range validCases() {
		if len(c.in) < 64<<10 {
			f.Add([]byte(c.in))
		}
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"v":1}`, `{"v":1,"id":1,"type":"ping"}}`, `{"v":1,"id":1,"type":"ping"} {}`,
		`{"v":1,"id":1,"type":"hello"}`, `{"v":1,"id":1,"type":"stage.grant","userIds":[]}`,
		`{"v":1,"id":1,"type":"stage.grant","userIds":["a"],"expect":["X"]}`,
		`{"v":1,"id":1,"type":"stage.deny","userIds":["a"],"expect":[]}`,
		`{"v":1,"id":1,"type":"ping","userIds":[]}`,
		`{"V":1,"ID":2,"TYPE":"ping","v":2}`,
		"{\"v\":1,\"id\":1,\"type\":\"hello\",\"token\":\"\xff\xfe<>&\u2028\"}",
		`{"v":1,"id":1,"type":"media.candidate","pc":"publish","candidate":{"candidate":"c","sdpMid":null,"sdpMLineIndex":65535}}`,
		`{"v":1,"id":1,"type":"media.candidate","pc":"publish","candidate":{"sdpMLineIndex":65536}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.DecodeClient(data)
		if err != nil {
			if !decodeCodes[err.Code] {
				t.Fatalf("undocumented code %d: %v", err.Code, err)
			}
			if err.Message == "" || !strings.HasPrefix(err.Error(), fmt.Sprintf("[ERR%d] ", err.Code)) {
				t.Fatalf("error %q", err.Error())
			}
			return
		}
		checkDecoded(t, m)

		enc, merr := json.Marshal(m)
		if merr != nil {
			t.Fatalf("Marshal(%+v): %v", m, merr)
		}
		again, err := protocol.DecodeClient(enc)
		if len(enc) > protocol.MaxFrameBytes {
			// Escaping can grow a message that was just under the limit.
			if err == nil || err.Code != protocol.CodeTooLarge {
				t.Fatalf("re-encoded message of %d bytes: %v", len(enc), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(m)) {
			t.Fatalf("round trip changed the message:\nfirst  %+v\nsecond %+v\nvia %s", m, again, enc)
		}
	})
}

// checkDecoded checks the documented constraints on a decoded message.
func checkDecoded(t *testing.T, m protocol.ClientMessage) {
	t.Helper()
	if m.V != protocol.Version || m.ID == 0 || !clientTypes[m.Type] {
		t.Fatalf("decoded %+v: version, id or type", m)
	}
	switch m.Type {
	case "hello":
		if m.Token == "" || len(m.Token) > protocol.MaxTokenBytes {
			t.Fatalf("hello with a %d-byte token", len(m.Token))
		}
	case "stage.grant", "stage.deny", "stage.kick":
		if len(m.UserIDs) == 0 || len(m.UserIDs) > stage.MaxBatch {
			t.Fatalf("%s of %d ids", m.Type, len(m.UserIDs))
		}
		for _, id := range m.UserIDs {
			if id == "" || len(id) > protocol.MaxUserIDBytes {
				t.Fatalf("%s with a %d-byte id", m.Type, len(id))
			}
		}
		if len(m.Expect) != 0 && len(m.Expect) != len(m.UserIDs) {
			t.Fatalf("%d expected statuses for %d ids", len(m.Expect), len(m.UserIDs))
		}
		for _, s := range m.Expect {
			if s != "" && !s.Valid() {
				t.Fatalf("expected status %q", s)
			}
		}
	case "media.offer":
		if m.PC != "publish" || m.SDP == "" {
			t.Fatalf("media.offer %+v", m)
		}
	case "media.answer":
		if m.PC != "subscribe" || m.SDP == "" {
			t.Fatalf("media.answer %+v", m)
		}
	case "media.candidate":
		if (m.PC != "publish" && m.PC != "subscribe") || m.Candidate == nil {
			t.Fatalf("media.candidate %+v", m)
		}
	}
}
