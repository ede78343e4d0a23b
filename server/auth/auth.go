// Package auth issues and verifies participant tokens: HS256 JWTs that bind a
// participant (sub) to a meeting (mid), with an issue time and an expiry.
//
// The signing key is 32 random bytes made on first start and kept in the
// store, so tokens survive a restart. A token is honoured only while its
// participant still exists in the store and is still at the token's
// generation: deleting the participant, or Reissue, revokes it.
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

// Token claims fixed by this server.
const (
	Issuer   = "stagekit"
	Audience = "stagekit-participant"
	// DefaultTTL is how long a token is valid when Options.TTL is zero.
	DefaultTTL = 24 * time.Hour
	// Leeway is how far past exp, or before iat, a token is still honoured:
	// it absorbs a small step of the server's clock (NTP). This server checks
	// only tokens it signed itself, so there is no skew between machines.
	Leeway = 5 * time.Second
	// KeySetting is the store setting that holds the signing key.
	KeySetting = "jwt_signing_key_v1"
	keyBytes   = 32
)

// PresetSource resolves preset names; *config.Presets is one.
type PresetSource interface {
	Get(name string) (stage.Preset, bool)
}

// Options configure an Authenticator.
type Options struct {
	Store   store.Store  // required
	Presets PresetSource // required
	TTL     time.Duration
	Now     func() time.Time // the clock; default time.Now
}

// Authenticator issues tokens and verifies them against the store.
type Authenticator struct {
	key     []byte
	ttl     time.Duration
	store   store.Store
	presets PresetSource
	clock   atomic.Pointer[func() time.Time]
	// claimChecks validates a token's claims (parseKnownHeader).
	claimChecks *jwt.Validator
	// macs holds HMAC-SHA256 states keyed with key (signed).
	macs sync.Pool
}

// New loads the signing key from the store, making and storing one on first
// start.
func New(ctx context.Context, o Options) (*Authenticator, error) {
	if o.Store == nil || o.Presets == nil {
		return nil, errors.New("auth: a store and presets are required")
	}
	if o.TTL < 0 {
		return nil, fmt.Errorf("auth: negative token TTL %v", o.TTL)
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	key, err := o.Store.SettingOrInit(ctx, KeySetting, func() ([]byte, error) {
		k := make([]byte, keyBytes)
		_, err := rand.Read(k)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	if len(key) != keyBytes {
		return nil, fmt.Errorf("auth: stored signing key has %d bytes, want %d", len(key), keyBytes)
	}
	a := &Authenticator{key: key, ttl: o.TTL, store: o.Store, presets: o.Presets}
	a.SetClock(o.Now)
	a.claimChecks = jwt.NewValidator(a.parserOptions()...)
	return a, nil
}

// SetClock replaces the clock used to stamp and check tokens; nil restores
// time.Now. Safe while the server runs (tests issue expired tokens with it).
func (a *Authenticator) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	a.clock.Store(&now)
}

func (a *Authenticator) now() time.Time { return (*a.clock.Load())() }

// TTL is how long issued tokens are valid.
func (a *Authenticator) TTL() time.Duration { return a.ttl }

// Issue signs a first-generation token for participant participantID of
// meeting meetingID. It does not look the participant up: callers issue for
// participants they just stored. Once Reissue was called for a participant,
// only Reissue gives it tokens that authenticate.
func (a *Authenticator) Issue(meetingID, participantID string) (string, error) {
	return a.sign(meetingID, participantID, 0)
}

// Reissue revokes every token of the participant issued so far and returns a
// new one; store.ErrNotFound for an unknown participant.
func (a *Authenticator) Reissue(ctx context.Context, meetingID, participantID string) (string, error) {
	if meetingID == "" || participantID == "" {
		return "", errors.New("auth: a token needs a meeting id and a participant id")
	}
	gen, err := a.store.NextTokenGeneration(ctx, meetingID, participantID)
	if err != nil {
		return "", err
	}
	return a.sign(meetingID, participantID, gen)
}

func (a *Authenticator) sign(meetingID, participantID string, gen int64) (string, error) {
	if meetingID == "" || participantID == "" {
		return "", errors.New("auth: a token needs a meeting id and a participant id")
	}
	now := a.now()
	c := claims{MeetingID: meetingID, Generation: gen, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    Issuer,
		Audience:  jwt.ClaimStrings{Audience},
		Subject:   participantID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.key)
}

// Authenticate verifies the token and that its participant and meeting still
// exist. Errors are *protocol.ErrorBody with code protocol.CodeTokenInvalid
// (4011: malformed, bad signature, wrong claims, or a meeting that does not
// match the participant's), CodeTokenExpired (4012), CodeTokenRevoked (4013:
// participant deleted, meeting gone, a newer token issued by Reissue, or its
// preset no longer configured), or
// CodeInternal (5000) when the store cannot answer.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, protocol.NewError(protocol.CodeTokenMissing, "no token")
	}
	if len(token) > protocol.MaxTokenBytes {
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "token longer than %d bytes", protocol.MaxTokenBytes)
	}
	c, err := a.parse(token)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired): // only reported once the signature checked out
		return Identity{}, protocol.NewError(protocol.CodeTokenExpired, "token expired")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "invalid token: bad signature")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "invalid token: malformed")
	default:
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "invalid token: claims refused")
	}
	if c.MeetingID == "" || c.Subject == "" {
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "invalid token: names no meeting or participant")
	}

	p, title, err := a.store.LookupIdentity(ctx, c.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, merr := a.store.GetMeeting(ctx, c.MeetingID); errors.Is(merr, store.ErrNotFound) {
			return Identity{}, protocol.NewError(protocol.CodeTokenRevoked, "token revoked: the meeting no longer exists")
		}
		return Identity{}, protocol.NewError(protocol.CodeTokenRevoked, "token revoked: the participant was removed")
	case err != nil:
		return Identity{}, protocol.NewError(protocol.CodeInternal, "cannot check the token now")
	case p.MeetingID != c.MeetingID:
		return Identity{}, protocol.NewError(protocol.CodeTokenInvalid, "invalid token: participant does not belong to its meeting")
	case c.Generation != p.TokenGeneration:
		return Identity{}, protocol.NewError(protocol.CodeTokenRevoked, "token revoked: a newer token was issued for this participant")
	}
	preset, ok := a.presets.Get(p.PresetName)
	if !ok {
		return Identity{}, protocol.NewError(protocol.CodeTokenRevoked,
			"token revoked: the participant's preset %q is not configured on this server", p.PresetName)
	}
	return Identity{MeetingID: p.MeetingID, UserID: p.ID, Name: p.Name, CustomID: p.CustomParticipantID, Preset: preset, MeetingTitle: title}, nil
}
