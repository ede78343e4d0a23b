package auth

import (
	"encoding/base64"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs any header and claims text with the key, as a token of
// this server would be if it had written them.
func signRaw(t testing.TB, key []byte, header, payload string) string {
	t.Helper()
	text := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(text, key)
	if err != nil {
		t.Fatal(err)
	}
	return text + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// libraryParse is the JWT library's own parse with the same options.
func libraryParse(a *Authenticator, token string) (claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil }, a.parserOptions()...)
	return c, err
}

// checkKnownHeaderPath: the known header's path accepts a token only when
// the library accepts it, with the same claims.
func checkKnownHeaderPath(t *testing.T, a *Authenticator, token string) bool {
	t.Helper()
	got, ok := a.parseKnownHeader(token)
	want, err := libraryParse(a, token)
	if ok && err != nil {
		t.Errorf("%q: accepted; the library refuses it: %v", token, err)
	}
	if ok && !reflect.DeepEqual(got, want) {
		t.Errorf("%q:\n got %+v\nwant %+v", token, got, want)
	}
	return ok
}

func TestKnownHeaderPath(t *testing.T) {
	f := setup(t, t.TempDir())
	a := f.a
	now := f.clk.Now().Unix()
	if h, _, _ := strings.Cut(issue(t, a, f.m.ID, f.viewr.ID), "."); h != knownHeader {
		t.Fatalf("issued header %q, known %q", h, knownHeader)
	}
	claimsText := func(extra string) string {
		return `{"mid":"m1","iss":"stagekit","sub":"p1","aud":["stagekit-participant"],"exp":` +
			itoa(now+3600) + `,"iat":` + itoa(now) + extra + `}`
	}
	good := issue(t, a, f.m.ID, f.viewr.ID)
	head, _, _ := strings.Cut(good, ".")
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name   string
		token  string
		accept bool // by the known header's path
	}{
		{"issued", good, true},
		{"issued, generation 3", mustSign(t, a, f.m.ID, "p9", 3), true},
		{"raw, same claims", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, claimsText("")), true},
		{"other header text", signRaw(t, a.key, `{"typ":"JWT","alg":"HS256"}`, claimsText("")), false},
		{"alg none header", signRaw(t, a.key, `{"alg":"none","typ":"JWT"}`, claimsText("")), false},
		{"bad signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), false},
		{"other key", signRaw(t, make([]byte, 32), `{"alg":"HS256","typ":"JWT"}`, claimsText("")), false},
		{"four segments", good + ".x", false},
		{"two segments", parts[0] + "." + parts[1], false},
		{"header only", head, false},
		{"bad base64 claims", head + ".!!!." + parts[2], false},
		{"trailing data", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, claimsText("")+" x"), false},
		{"invalid JSON", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `{"mid":"m1",}`), false},
		{"null claims", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `null`), false},
		{"array claims", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `[]`), false},
		{"mid a number", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, claimsText(`,"mid":5`)), false},
		{"extra fields", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, claimsText(`,"x":[1,{"y":null}]`)), true},
		{"expired", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `{"mid":"m1","iss":"stagekit","sub":"p1","aud":"stagekit-participant","exp":`+itoa(now-60)+`}`), false},
		{"within the leeway", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `{"mid":"m1","iss":"stagekit","sub":"p1","aud":"stagekit-participant","exp":`+itoa(now-2)+`}`), true},
		{"no expiry", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `{"mid":"m1","iss":"stagekit","sub":"p1","aud":"stagekit-participant"}`), false},
		{"issued in the future", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, claimsText("")[:len(claimsText(""))-1]+`,"iat":`+itoa(now+60)+`}`), false},
		{"other issuer", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `{"mid":"m1","iss":"x","sub":"p1","aud":"stagekit-participant","exp":`+itoa(now+60)+`}`), false},
		{"other audience", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, `{"mid":"m1","iss":"stagekit","sub":"p1","aud":"x","exp":`+itoa(now+60)+`}`), false},
		{"not yet valid", signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, claimsText(`,"nbf":`+itoa(now+60))), false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok := checkKnownHeaderPath(t, a, tc.token); ok != tc.accept {
				t.Errorf("accepted %v, want %v", ok, tc.accept)
			}
			// Authenticate's parse gives the library's error whenever the
			// path does not accept.
			_, perr := a.parse(tc.token)
			_, lerr := libraryParse(a, tc.token)
			if (perr == nil) != (lerr == nil) || (perr != nil && perr.Error() != lerr.Error()) {
				t.Errorf("parse: %v; the library: %v", perr, lerr)
			}
		})
	}
}

// FuzzKnownHeaderPath: whatever the text, the known header's path accepts
// only what the library accepts, with the same claims.
func FuzzKnownHeaderPath(f *testing.F) {
	a := &Authenticator{key: []byte("0123456789abcdef0123456789abcdef")}
	a.SetClock(func() time.Time { return time.Unix(1750000100, 0) })
	a.claimChecks = jwt.NewValidator(a.parserOptions()...)
	f.Add(`{"mid":"m1","iss":"stagekit","sub":"p1","aud":["stagekit-participant"],"exp":1750000300,"iat":1750000000}`, "")
	f.Add(`{"mid":"m1","gen":2,"iss":"stagekit","sub":"p1","aud":"stagekit-participant","exp":1750000300.5}`, "")
	f.Add(`{"mid":"m1","iss":"stagekit","sub":"p1","aud":"stagekit-participant","exp":1750000300,"nbf":1750000000}`, "x")
	f.Fuzz(func(t *testing.T, payload, suffix string) {
		tok := signRaw(t, a.key, `{"alg":"HS256","typ":"JWT"}`, payload) + suffix
		checkKnownHeaderPath(t, a, tok)
	})
}

func mustSign(t *testing.T, a *Authenticator, meetingID, participantID string, gen int64) string {
	t.Helper()
	tok, err := a.sign(meetingID, participantID, gen)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// BenchmarkTokenParse: a token's check, the JWT library's parse against
// the known header's path.
func BenchmarkTokenParse(b *testing.B) {
	a := &Authenticator{key: []byte("0123456789abcdef0123456789abcdef"), ttl: time.Hour}
	a.SetClock(nil)
	a.claimChecks = jwt.NewValidator(a.parserOptions()...)
	tok, err := a.Issue("meeting-0123456789", "participant-0123456789")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := libraryParse(a, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("known-header", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.parse(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// signed decides as the library's HS256 Verify, however its pooled keyed
// states were left by earlier checks (accepted, refused, any length), and
// from many goroutines at once (with -race: no state shared by two).
func TestSignedAsLibrary(t *testing.T) {
	a := &Authenticator{key: []byte("0123456789abcdef0123456789abcdef")}
	sign := func(key []byte, s string) []byte {
		sig, err := jwt.SigningMethodHS256.Sign(s, key)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	type check struct {
		signing string
		sig     []byte
	}
	var checks []check
	for _, s := range []string{"", "a.b", strings.Repeat("x", 63), strings.Repeat("y", 64), strings.Repeat("z", 1000)} {
		good := sign(a.key, s)
		flipped := append([]byte(nil), good...)
		flipped[len(flipped)-1] ^= 1
		checks = append(checks,
			check{s, good},
			check{s, flipped},
			check{s, good[:len(good)-1]},
			check{s, append(append([]byte(nil), good...), 0)},
			check{s, nil},
			check{s, sign(make([]byte, 32), s)},
			check{s + "!", good},
		)
	}
	want := func(c check) bool { return jwt.SigningMethodHS256.Verify(c.signing, c.sig, a.key) == nil }
	accepted := 0
	for round := range 3 {
		for i, c := range checks {
			if got := a.signed(c.signing, c.sig); got != want(c) {
				t.Fatalf("round %d, check %d (%q): signed %v, the library %v", round, i, c.signing, got, want(c))
			}
			if round == 0 && want(c) {
				accepted++
			}
		}
	}
	if accepted != 5 {
		t.Fatalf("%d checks accepted by the library, want 5 (one per text)", accepted)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 200 {
				c := checks[(g*31+k)%len(checks)]
				if got := a.signed(c.signing, c.sig); got != want(c) {
					t.Errorf("concurrent check %q: signed %v, the library %v", c.signing, got, want(c))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzSigned: signed decides as the library's Verify for any text and
// signature, including the text's own signature with a byte changed.
func FuzzSigned(f *testing.F) {
	a := &Authenticator{key: []byte("0123456789abcdef0123456789abcdef")}
	f.Add("a.b", []byte{}, -1)
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30", []byte{1, 2, 3}, 5)
	f.Fuzz(func(t *testing.T, signing string, other []byte, flip int) {
		sig, err := jwt.SigningMethodHS256.Sign(signing, a.key)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range [][]byte{sig, other} {
			if flip >= 0 && len(s) > 0 {
				s = append([]byte(nil), s...)
				s[flip%len(s)] ^= byte(flip>>8) | 1
			}
			if got, want := a.signed(signing, s), jwt.SigningMethodHS256.Verify(signing, s, a.key) == nil; got != want {
				t.Fatalf("%q %x: signed %v, the library %v", signing, s, got, want)
			}
		}
	})
}
