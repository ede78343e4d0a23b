package auth

// The token's claims are decoded with easyjson's generated code
// (claims_easyjson.go; go generate after a change here): encoding/json's
// reflection over them (and the stack it grew in each new connection's
// goroutine) was a tenth of an edge's CPU for a join. Only decoding is
// generated code; tokens are still encoded by encoding/json.
// TestClaimsCodec checks that the two decoders agree.

//go:generate go run github.com/mailru/easyjson/easyjson -no_std_marshalers -output_filename claims_easyjson.go claims.go

import (
	"github.com/golang-jwt/jwt/v5"
	"github.com/mailru/easyjson/jlexer"
)

// claims is the token's payload.
//
//easyjson:json
type claims struct {
	MeetingID string `json:"mid"`
	// Generation is the participant's token generation at issue (absent: 0);
	// a regeneration moves the participant on and revokes older tokens.
	Generation int64 `json:"gen,omitempty"`
	jwt.RegisteredClaims
}

// UnmarshalJSON is what the JWT parser's encoding/json calls.
func (c *claims) UnmarshalJSON(data []byte) error {
	l := jlexer.Lexer{Data: data}
	c.UnmarshalEasyJSON(&l)
	return l.Error()
}
