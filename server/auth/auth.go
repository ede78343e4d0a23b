// Package auth issues and verifies participant tokens: HS256 JWTs bound to a
// meeting and a participant, with an expiry. A token is honoured only while
// its participant still exists in the store, so deleting one revokes it.
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/presets"
	"github.com/stagekit/stagekit/server/store"
)

const (
	issuer     = "stagekit"
	audience   = "stagekit-participant"
	keySetting = "jwt_signing_key"
)

type claims struct {
	MeetingID string `json:"mid"`
	jwt.RegisteredClaims
}

// Authenticator issues and verifies tokens.
type Authenticator struct {
	key     []byte
	ttl     time.Duration
	store   *store.Store
	presets *presets.Registry
	now     func() time.Time
}

// New loads (or creates and persists) the signing key.
func New(ctx context.Context, st *store.Store, reg *presets.Registry, ttl time.Duration) (*Authenticator, error) {
	key, err := st.Setting(ctx, keySetting, func() ([]byte, error) {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	})
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &Authenticator{key: key, ttl: ttl, store: st, presets: reg, now: time.Now}, nil
}

// SetClock replaces the clock (tests).
func (a *Authenticator) SetClock(now func() time.Time) { a.now = now }

// Issue signs a token for a participant of a meeting.
func (a *Authenticator) Issue(meetingID, participantID string) (string, error) {
	now := a.now()
	c := claims{MeetingID: meetingID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Audience: jwt.ClaimStrings{audience}, Subject: participantID,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.key)
}

// Authenticate verifies the token and that its participant and meeting still
// exist. Errors are *protocol.ErrorBody (4011 invalid, 4012 expired, 4013 revoked).
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Identity, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(a.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, protocol.NewError(protocol.CodeTokenExpired, "token expired")
	case err != nil:
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "invalid token")
	case c.MeetingID == "" || c.Subject == "":
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "token names no meeting or participant")
	}
	p, err := a.store.GetParticipant(ctx, c.MeetingID, c.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, protocol.NewError(protocol.CodeTokenRevoked, "participant no longer exists")
	}
	if err != nil {
		return Identity{}, protocol.NewError(protocol.CodeInternal, "cannot check the participant")
	}
	preset, ok := a.presets.Get(p.PresetName)
	if !ok {
		return Identity{}, protocol.NewError(protocol.CodeTokenRevoked, "preset %q no longer exists", p.PresetName)
	}
	return Identity{MeetingID: p.MeetingID, UserID: p.ID, Name: p.Name, Preset: preset}, nil
}
