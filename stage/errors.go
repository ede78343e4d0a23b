package stage

import (
	"errors"
	"fmt"
	"strings"
)

// Code is a documented error code. The 2001–2006 codes are RealtimeKit's; the
// others are this project's and are listed in the README.
type Code int

const (
	// RealtimeKit's stage codes.
	CodePermissionDenied Code = 2001 // the preset does not allow it
	CodeStageDisabled    Code = 2003 // stage is disabled for this preset
	CodeNotInRoom        Code = 2005 // action not permitted without joining the room
	CodeBadStatus        Code = 2006 // action not permitted in the current stage status

	// This project's stage codes.
	CodeUnknownUser   Code = 2101 // a batch names a user who is not in the room
	CodeEmptyBatch    Code = 2102 // a batch names nobody
	CodeBatchTooLarge Code = 2103 // a batch names more users than MaxBatch
	CodeAlreadyInRoom Code = 2104 // the user is already in the room
	CodeBadExpect     Code = 2105 // expected statuses do not match the user ids
	// CodeScreenshareLimit refuses a screen share when the room already has
	// as many as the sharer's preset allows (max_screenshare_count).
	CodeScreenshareLimit Code = 2106
	CodeStageFull        Code = 2107 // a grant or join would put more users on stage than the room's limit
)

// MaxBatch is the most user ids one grant, deny or kick may name.
const MaxBatch = 2000

// Error is a refused action. The room is unchanged when one is returned.
type Error struct {
	Code    Code
	Message string
	// UserIDs names the users of a batch that caused the refusal, if any.
	UserIDs []string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("[ERR%d] %s", e.Code, e.Message)
	if len(e.UserIDs) > 0 {
		const shown = 10
		ids := e.UserIDs
		more := ""
		if len(ids) > shown {
			more = fmt.Sprintf(" and %d more", len(ids)-shown)
			ids = ids[:shown]
		}
		msg += ": " + strings.Join(ids, ", ") + more
	}
	return msg
}

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of a stage error, or 0 for any other error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}
