package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/stagekit/stagekit/stage"
)

// Protocol, auth and transport error codes. Stage codes live in package
// stage. Codes 4000–4999 double as WebSocket close codes when the server
// closes a connection for that reason.
const (
	CodeMalformed     = 4001 // not a JSON object of the protocol's shape
	CodeUnknownType   = 4002 // unknown message type
	CodeTooLarge      = 4003 // message over MaxFrameBytes
	CodeBadVersion    = 4004 // unsupported protocol version
	CodeBadArgs       = 4005 // a field is missing, empty or too long
	CodeHelloFirst    = 4006 // hello missing, late, or sent twice
	CodeTokenMissing  = 4010
	CodeTokenInvalid  = 4011 // bad signature, shape or claims
	CodeTokenExpired  = 4012
	CodeTokenRevoked  = 4013 // participant deleted or meeting gone
	CodeRateLimited   = 4020 // too many messages (or connections opened); slow down
	CodeTooManyConns  = 4021 // the participant already has MaxConnsPerParticipant connections open
	CodeReplaced      = 4030 // the same participant connected elsewhere
	CodeRemoved       = 4031 // the participant was deleted by an admin
	CodeSlowConsumer  = 4032 // the client fell too far behind the room's events
	CodePresetChanged = 4033 // close: the user's preset changed on a node that serves it as an edge; reconnect at once to take it up
	CodeMediaRefused  = 4040 // media offered by a user who is not ON_STAGE
	CodeMediaFailed   = 4041 // the media negotiation failed (bad SDP, closed PC)
	// Clustered servers: a room lives on one node at a time.
	CodeElsewhere    = 4050 // hello: the room is served by another node; the error's Redirect is its base URL
	CodeRoomMoved    = 4051 // this node no longer serves the room (its lease moved): reconnect
	CodeUnavailable  = 4052 // hello: this node cannot place the room now (no Redis): try another node
	CodeNodeLeaving  = 4053 // close: this node is shutting down; the close reason is the base URL to go to ("": any other node)
	CodeInternal     = 5000 // the server failed; nothing was changed
	CodeUnreachable  = 5001 // client side: the server cannot be reached
	CodeDisconnected = 5002 // client side: the connection dropped before an answer
	CodeTimeout      = 5003 // client side: no answer in time
	CodeClosed       = 5004 // client side: the meeting was left or closed
	CodeNotJoined    = int(stage.CodeNotInRoom)
)

// NewError builds an ErrorBody.
func NewError(code int, format string, args ...any) *ErrorBody {
	return &ErrorBody{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *ErrorBody) Error() string {
	return (&stage.Error{Code: stage.Code(e.Code), Message: e.Message, UserIDs: e.UserIDs}).Error()
}

// ErrorCode exposes the code to glue that maps errors to other languages.
func (e *ErrorBody) ErrorCode() int { return e.Code }

// ErrorOf converts a stage error (or any error) to its wire form.
func ErrorOf(err error) *ErrorBody {
	if se, ok := err.(*stage.Error); ok {
		return &ErrorBody{Code: int(se.Code), Message: se.Message, UserIDs: se.UserIDs}
	}
	if eb, ok := err.(*ErrorBody); ok {
		return eb
	}
	return NewError(CodeInternal, "internal error")
}

var needsUserIDs = map[string]bool{TypeStageGrant: true, TypeStageDeny: true, TypeStageKick: true}

var knownTypes = map[string]bool{
	TypeHello: true, TypeJoin: true, TypeLeave: true, TypeSnapshot: true,
	TypeStageRequest: true, TypeStageCancel: true, TypeStageGrant: true, TypeStageDeny: true,
	TypeStageKick: true, TypeStageJoin: true, TypeStageLeave: true, TypeStageRequests: true,
	TypePing: true, TypeMediaOffer: true, TypeMediaAnswer: true, TypeMediaCandidate: true, TypeMediaRestart: true,
}

// DecodeClient parses and validates one client message. On error the id is
// returned when it could be read, so the error can answer the request.
func DecodeClient(data []byte) (ClientMessage, *ErrorBody) { return decodeClient(data, true) }

// decodeClient is DecodeClient; plain reads the plainest messages without
// encoding/json (decodePlain).
func decodeClient(data []byte, plain bool) (ClientMessage, *ErrorBody) {
	var m ClientMessage
	if len(data) > MaxFrameBytes {
		return m, NewError(CodeTooLarge, "message of %d bytes exceeds %d", len(data), MaxFrameBytes)
	}
	// JSON null would decode into the zero message without error; only an
	// object is a message.
	if rest := bytes.TrimLeft(data, jsonSpace); len(rest) == 0 || rest[0] != '{' {
		return m, NewError(CodeMalformed, "malformed message: not a JSON object")
	}
	if pm, ok := decodePlain(data); ok && plain {
		m = pm
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&m); err != nil {
			return ClientMessage{ID: m.ID}, NewError(CodeMalformed, "malformed message: %v", err)
		}
		// Only whitespace may follow the object. (Decoder.More is not enough: it
		// reports false for a trailing '}' or ']'.)
		if rest := bytes.TrimLeft(data[dec.InputOffset():], jsonSpace); len(rest) > 0 {
			return ClientMessage{ID: m.ID}, NewError(CodeMalformed, "malformed message: trailing data")
		}
	}
	if m.V != Version {
		return m, NewError(CodeBadVersion, "protocol version %d not supported; want %d", m.V, Version)
	}
	if !knownTypes[m.Type] {
		return m, NewError(CodeUnknownType, "unknown message type %q", truncate(m.Type, 64))
	}
	if m.ID == 0 {
		return m, NewError(CodeBadArgs, "message needs a non-zero id")
	}
	if m.Type == TypeHello {
		if m.Token == "" {
			return m, NewError(CodeTokenMissing, "hello needs a token")
		}
		if len(m.Token) > MaxTokenBytes {
			return m, NewError(CodeTokenInvalid, "token longer than %d bytes", MaxTokenBytes)
		}
	}
	if needsUserIDs[m.Type] {
		if len(m.UserIDs) == 0 {
			return m, NewError(int(stage.CodeEmptyBatch), "%s needs at least one user id", m.Type)
		}
		if len(m.UserIDs) > stage.MaxBatch {
			return m, NewError(int(stage.CodeBatchTooLarge), "%s names %d users; at most %d per call", m.Type, len(m.UserIDs), stage.MaxBatch)
		}
		if len(m.Expect) > 0 && len(m.Expect) != len(m.UserIDs) {
			return m, NewError(int(stage.CodeBadExpect), "%d expected statuses for %d user ids", len(m.Expect), len(m.UserIDs))
		}
		for _, s := range m.Expect {
			if s != "" && !s.Valid() {
				return m, NewError(CodeBadArgs, "unknown expected status %q", truncate(string(s), 32))
			}
		}
		for _, id := range m.UserIDs {
			if id == "" || len(id) > MaxUserIDBytes {
				return m, NewError(CodeBadArgs, "user id must be 1 to %d bytes", MaxUserIDBytes)
			}
		}
	}
	switch m.Type {
	case TypeMediaOffer, TypeMediaAnswer:
		want := PCPublish
		if m.Type == TypeMediaAnswer {
			want = PCSubscribe
		}
		if m.PC != want {
			return m, NewError(CodeBadArgs, "%s needs pc %q", m.Type, want)
		}
		if m.SDP == "" {
			return m, NewError(CodeBadArgs, "%s needs an sdp", m.Type)
		}
	case TypeMediaRestart:
		if m.PC != PCSubscribe {
			return m, NewError(CodeBadArgs, "%s needs pc %q", m.Type, PCSubscribe)
		}
	case TypeMediaCandidate:
		if m.PC != PCPublish && m.PC != PCSubscribe {
			return m, NewError(CodeBadArgs, "media.candidate needs pc %q or %q", PCPublish, PCSubscribe)
		}
		if m.Candidate == nil {
			return m, NewError(CodeBadArgs, "media.candidate needs a candidate")
		}
	}
	return m, nil
}

// jsonSpace is the whitespace JSON allows between tokens.
const jsonSpace = " \t\r\n"

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
