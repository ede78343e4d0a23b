package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"hash"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// The JWT library decodes every token's header into a map with
// encoding/json's reflection: with the stack it grows in a new connection's
// goroutine, the larger part of a token's check. Every token this server
// signs has the same header, so a token whose header segment is that
// header's exact text skips its decoding; its signature is checked as the
// HS256 method's Verify does (HMAC-SHA256 of the first two segments,
// compared in constant time), with a keyed HMAC reused from a pool, and its
// claims by the library's Validator with the parser's options. Any other
// token, and any token this path
// refuses, goes through jwt.ParseWithClaims, whose error is the one
// reported: the path only ever accepts, never refuses.

// knownHeader is the header segment of the tokens sign makes.
var knownHeader = func() string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{}).SigningString()
	if err != nil {
		panic(err)
	}
	head, _, _ := strings.Cut(s, ".")
	return head
}()

// parserOptions are what a token must satisfy besides its signature.
func (a *Authenticator) parserOptions() []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(a.now),
	}
}

// parse verifies the token's signature and claims.
func (a *Authenticator) parse(token string) (claims, error) {
	if c, ok := a.parseKnownHeader(token); ok {
		return c, nil
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil }, a.parserOptions()...)
	return c, err
}

// parseKnownHeader accepts a token with this server's header whose
// signature and claims check out, as jwt.ParseWithClaims would; false
// for anything else.
func (a *Authenticator) parseKnownHeader(token string) (claims, bool) {
	head, rest, _ := strings.Cut(token, ".")
	payload, sig, ok := strings.Cut(rest, ".")
	if head != knownHeader || !ok || strings.Contains(sig, ".") {
		return claims{}, false
	}
	p := jwt.NewParser()
	raw, err := p.DecodeSegment(payload)
	// The library's json.Unmarshal checks the whole text, then hands an
	// object to claims' UnmarshalJSON: the same here, objects only.
	if err != nil || len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' || !json.Valid(raw) {
		return claims{}, false
	}
	var c claims
	if c.UnmarshalJSON(raw) != nil {
		return claims{}, false
	}
	signature, err := p.DecodeSegment(sig)
	if err != nil || !a.signed(token[:len(head)+1+len(payload)], signature) {
		return claims{}, false
	}
	if a.claimChecks.Validate(&c) != nil {
		return claims{}, false
	}
	return c, true
}

// signed reports whether sig is the HS256 signature of signing with the
// key, as jwt.SigningMethodHS256.Verify decides. Keying an HMAC (two blocks
// hashed, its states allocated) was most of a token's check: the keyed
// states are kept in a pool and Reset, which restores the keyed state.
func (a *Authenticator) signed(signing string, sig []byte) bool {
	mac, _ := a.macs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha256.New, a.key)
	} else {
		mac.Reset()
	}
	mac.Write([]byte(signing))
	var sum [sha256.Size]byte
	ok := hmac.Equal(sig, mac.Sum(sum[:0]))
	a.macs.Put(mac)
	return ok
}
