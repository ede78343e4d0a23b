package jsbridge

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stagekit/stagekit/protocol"
)

type coderErr struct{ code int }

func (e coderErr) Error() string  { return fmt.Sprintf("coder %d", e.code) }
func (e coderErr) ErrorCode() int { return e.code }

type stageCode int

type fieldErr struct {
	Code    stageCode
	Message string
}

func (e *fieldErr) Error() string { return fmt.Sprintf("[ERR%d] %s", e.Code, e.Message) }

type methodErr struct{}

func (methodErr) Error() string   { return "method" }
func (methodErr) Code() stageCode { return 2006 }

type strCodeErr struct{ Code string }

func (strCodeErr) Error() string { return "string code" }

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		ok   bool
	}{
		{"nil", nil, 0, false},
		{"plain", errors.New("x"), 0, false},
		{"ErrorCoder", coderErr{2001}, 2001, true},
		{"Code field of a named int type", &fieldErr{Code: 2003}, 2003, true},
		{"Code() method", methodErr{}, 2006, true},
		{"string Code field is no code", strCodeErr{"x"}, 0, false},
		{"wrapped ErrorCoder", fmt.Errorf("ctx: %w", coderErr{4010}), 4010, true},
		{"wrapped Code field", fmt.Errorf("ctx: %w", &fieldErr{Code: 2005}), 2005, true},
		{"joined", errors.Join(errors.New("a"), &fieldErr{Code: 2002}), 2002, true},
		{"nil *fieldErr", (*fieldErr)(nil), 0, false},
		{"ErrorCoder wins over a Code field deeper", fmt.Errorf("%w %w", &fieldErr{Code: 1}, coderErr{2}), 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ok := CodeOf(tt.err)
			if code != tt.code || ok != tt.ok {
				t.Errorf("CodeOf = %d, %v; want %d, %v", code, ok, tt.code, tt.ok)
			}
		})
	}
}

func TestFormatMessage(t *testing.T) {
	tests := []struct{ code, msg, want string }{
		{"2001", "permission denied", "[ERR2001]: permission denied"},
		{"2001", "[ERR2001] permission denied", "[ERR2001]: permission denied"},
		{"2001", "[ERR2001]: permission denied", "[ERR2001]: permission denied"},
		{"2001", "[ERR2002] other", "[ERR2001]: [ERR2002] other"},
		{"5000", "", "[ERR5000]"},
		{"5000", "[ERR5000]", "[ERR5000]"},
		{"E_X", "named", "[ERRE_X]: named"},
	}
	for _, tt := range tests {
		if got := FormatMessage(tt.code, tt.msg); got != tt.want {
			t.Errorf("FormatMessage(%q, %q) = %q, want %q", tt.code, tt.msg, got, tt.want)
		}
	}
}

func TestCodeString(t *testing.T) {
	tests := []struct {
		code any
		want string
	}{
		{2001, "2001"}, {stageCode(2003), "2003"}, {uint16(4005), "4005"}, {"2006", "2006"},
		{nil, "5000"}, {1.5, "5000"},
	}
	for _, tt := range tests {
		if got := codeString(tt.code); got != tt.want {
			t.Errorf("codeString(%#v) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// The jsbridge codes mean what the protocol's do.
func TestCodesMatchProtocol(t *testing.T) {
	if CodeInternal != protocol.CodeInternal || CodeBadArgs != protocol.CodeBadArgs {
		t.Errorf("CodeInternal=%d CodeBadArgs=%d; protocol has %d and %d",
			CodeInternal, CodeBadArgs, protocol.CodeInternal, protocol.CodeBadArgs)
	}
}
