package client

import (
	"context"
	"errors"

	"github.com/stagekit/stagekit/protocol"
)

// Error is a coded failure: the server's refusal (stage codes 2001–2104,
// protocol and token codes 4001–4041, 5000) or one raised by the client
// itself (see the Code constants). Error() reads "[ERR<code>] message", with
// the offending user ids appended when a batch named some.
//
// It is protocol.ErrorBody, so the server's wire errors are returned as they
// were sent. Test with errors.As(err, &e) where e is a *client.Error, or with
// CodeOf.
type Error = protocol.ErrorBody

// Codes the client returns itself, besides those the server sends.
const (
	// CodeNotJoined (2005): a stage method was called before Join; nothing
	// was sent.
	CodeNotJoined = protocol.CodeNotJoined
	// CodeTooLarge (4003): the request would exceed protocol.MaxFrameBytes;
	// nothing was sent.
	CodeTooLarge = protocol.CodeTooLarge
	// CodeTokenMissing (4010): Init without an AuthToken.
	CodeTokenMissing = protocol.CodeTokenMissing
	// CodeBadArgs (4005): Init with an unusable BaseURI, or SendMedia with a
	// message type that is not media signaling.
	CodeBadArgs = protocol.CodeBadArgs
	// CodeUnreachable (5001): the server could not be reached.
	CodeUnreachable = protocol.CodeUnreachable
	// CodeDisconnected (5002): the connection dropped before the answer came,
	// or the meeting is reconnecting. The action may or may not have been
	// applied; the state after the resync tells.
	CodeDisconnected = protocol.CodeDisconnected
	// CodeTimeout (5003): no answer within RequestTimeout, or the caller's
	// context ended first. The action may still be applied by the server; its
	// events then arrive as usual.
	CodeTimeout = protocol.CodeTimeout
	// CodeClosed (5004): the meeting was left or closed.
	CodeClosed = protocol.CodeClosed
)

// CodeOf returns the code of a *Error in err's chain, or 0.
func CodeOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func newError(code int, format string, args ...any) *Error {
	return protocol.NewError(code, format, args...)
}

// ctxError converts an ended context to a 5003 error.
func ctxError(ctx context.Context) *Error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return newError(CodeTimeout, "cancelled before the server answered")
	}
	return newError(CodeTimeout, "no answer from the server in time")
}

// isFatal says whether a close or hello error code forbids reconnecting: the
// token is bad, expired or revoked, the participant was removed or connected
// elsewhere, or the protocol itself is broken (reconnecting would only repeat
// it).
func isFatal(code int) bool {
	switch {
	case code >= protocol.CodeMalformed && code <= protocol.CodeTokenRevoked:
		// 4001–4013: malformed, unknown type, too large, bad version, bad
		// args, hello first, token missing/invalid/expired/revoked.
		return true
	case code == protocol.CodeReplaced, code == protocol.CodeRemoved:
		return true
	}
	return false
}
