package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/store"
	"github.com/stagekit/stagekit/stage"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	st    store.Store
	a     *Authenticator
	clk   *clock
	m     store.Meeting
	host  store.Participant
	viewr store.Participant
}

func setup(t *testing.T, dir string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	a, err := New(ctx, Options{Store: st, Presets: config.BuiltinPresets(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateMeeting(ctx, "webinar")
	if err != nil {
		t.Fatal(err)
	}
	host, err := st.AddParticipant(ctx, store.Participant{MeetingID: m.ID, Name: "Hana", PresetName: stage.PresetWebinarHost})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := st.AddParticipant(ctx, store.Participant{MeetingID: m.ID, Name: "Vic", PresetName: stage.PresetWebinarViewer})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, a: a, clk: clk, m: m, host: host, viewr: viewer}
}

func issue(t *testing.T, a *Authenticator, meetingID, participantID string) string {
	t.Helper()
	tok, err := a.Issue(meetingID, participantID)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantCode checks that err is a *protocol.ErrorBody with the code.
func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var eb *protocol.ErrorBody
	if !errors.As(err, &eb) {
		t.Fatalf("error %v (%T) is not a *protocol.ErrorBody", err, err)
	}
	if eb.Code != code {
		t.Fatalf("code %d (%s), want %d", eb.Code, eb.Message, code)
	}
	if eb.Message == "" {
		t.Error("empty error message")
	}
}

func TestValidToken(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	for _, p := range []store.Participant{f.host, f.viewr} {
		id, err := f.a.Authenticate(ctx, issue(t, f.a, f.m.ID, p.ID))
		if err != nil {
			t.Fatalf("Authenticate(%s): %v", p.Name, err)
		}
		want := Identity{MeetingID: f.m.ID, UserID: p.ID, Name: p.Name, Preset: stage.BuiltinPresets()[p.PresetName], MeetingTitle: f.m.Title}
		if id != want {
			t.Errorf("identity = %+v, want %+v", id, want)
		}
	}
}

func TestTokenClaims(t *testing.T) {
	f := setup(t, t.TempDir())
	tok := issue(t, f.a, f.m.ID, f.host.ID)
	var c claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != Issuer || len(c.Audience) != 1 || c.Audience[0] != Audience {
		t.Errorf("iss %q aud %v", c.Issuer, c.Audience)
	}
	if c.Subject != f.host.ID || c.MeetingID != f.m.ID {
		t.Errorf("sub %q mid %q", c.Subject, c.MeetingID)
	}
	if !c.IssuedAt.Time.Equal(f.clk.Now()) || !c.ExpiresAt.Time.Equal(f.clk.Now().Add(DefaultTTL)) {
		t.Errorf("iat %v exp %v, want %v and +24h", c.IssuedAt, c.ExpiresAt, f.clk.Now())
	}
	if len(tok) > protocol.MaxTokenBytes {
		t.Errorf("token of %d bytes exceeds the protocol's limit", len(tok))
	}
	if _, err := f.a.Issue("", f.host.ID); err == nil {
		t.Error("Issue without a meeting succeeded")
	}
	if _, err := f.a.Issue(f.m.ID, ""); err == nil {
		t.Error("Issue without a participant succeeded")
	}
}

func TestGarbage(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	valid := issue(t, f.a, f.m.ID, f.host.ID)
	parts := strings.Split(valid, ".")
	for _, tok := range []string{
		"x", "a.b.c", "...", "eyJ.eyJ.sig", "not a token at all",
		parts[0] + "." + parts[1],                     // no signature
		parts[0] + "." + parts[1] + ".",               // empty signature
		parts[0] + ".e30." + parts[2],                 // payload {} with the old signature
		strings.Repeat("a", protocol.MaxTokenBytes+1), // too long
		valid + "x",
	} {
		_, err := f.a.Authenticate(ctx, tok)
		wantCode(t, err, protocol.CodeTokenInvalid)
	}
	_, err := f.a.Authenticate(ctx, "")
	wantCode(t, err, protocol.CodeTokenMissing)
}

func TestWrongSignature(t *testing.T) {
	f := setup(t, t.TempDir())
	other := setup(t, t.TempDir()) // another server: another key
	ctx := context.Background()
	if string(f.a.key) == string(other.a.key) {
		t.Fatal("two stores made the same key")
	}
	// The other server's token names a participant that exists here.
	_, err := f.a.Authenticate(ctx, issue(t, other.a, f.m.ID, f.host.ID))
	wantCode(t, err, protocol.CodeTokenInvalid)

	// Same claims, other algorithms, or none.
	c := claims{MeetingID: f.m.ID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: f.host.ID,
		IssuedAt: jwt.NewNumericDate(f.clk.Now()), ExpiresAt: jwt.NewNumericDate(f.clk.Now().Add(time.Hour)),
	}}
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, c).SignedString(f.a.key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.a.Authenticate(ctx, hs512)
	wantCode(t, err, protocol.CodeTokenInvalid)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.a.Authenticate(ctx, none)
	wantCode(t, err, protocol.CodeTokenInvalid)

	// The right key and algorithm do pass (so the cases above failed for
	// the reason tested).
	good, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(f.a.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Authenticate(ctx, good); err != nil {
		t.Fatalf("hand-made HS256 token refused: %v", err)
	}
}

func TestClaimsRefused(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	now := f.clk.Now()
	base := func() claims {
		return claims{MeetingID: f.m.ID, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: f.host.ID,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
	}
	cases := map[string]func(*claims){
		"wrong issuer":   func(c *claims) { c.Issuer = "someone" },
		"no issuer":      func(c *claims) { c.Issuer = "" },
		"wrong audience": func(c *claims) { c.Audience = jwt.ClaimStrings{"other"} },
		"no audience":    func(c *claims) { c.Audience = nil },
		"no expiry":      func(c *claims) { c.ExpiresAt = nil },
		"issued later":   func(c *claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) },
		"no subject":     func(c *claims) { c.Subject = "" },
		"no meeting":     func(c *claims) { c.MeetingID = "" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c := base()
			mutate(&c)
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(f.a.key)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.a.Authenticate(ctx, tok)
			wantCode(t, err, protocol.CodeTokenInvalid)
		})
	}
}

func TestExpired(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	tok := issue(t, f.a, f.m.ID, f.viewr.ID)
	f.clk.Add(DefaultTTL - time.Second)
	if _, err := f.a.Authenticate(ctx, tok); err != nil {
		t.Fatalf("token refused a second before expiry: %v", err)
	}
	f.clk.Add(time.Second + Leeway + time.Second)
	_, err := f.a.Authenticate(ctx, tok)
	wantCode(t, err, protocol.CodeTokenExpired)

	// An expired token from another key is invalid, not expired.
	other := setup(t, t.TempDir())
	foreign := issue(t, other.a, f.m.ID, f.viewr.ID)
	other.clk.Add(48 * time.Hour)
	f.clk.Add(48 * time.Hour)
	_, err = f.a.Authenticate(ctx, foreign)
	wantCode(t, err, protocol.CodeTokenInvalid)
}

func TestConfiguredTTL(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	a, err := New(ctx, Options{Store: f.st, Presets: config.BuiltinPresets(), TTL: time.Hour, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if a.TTL() != time.Hour || f.a.TTL() != DefaultTTL {
		t.Errorf("TTL() = %v and %v", a.TTL(), f.a.TTL())
	}
	tok := issue(t, a, f.m.ID, f.host.ID)
	f.clk.Add(time.Hour + Leeway + time.Second)
	_, err = a.Authenticate(ctx, tok)
	wantCode(t, err, protocol.CodeTokenExpired)
	if _, err := New(ctx, Options{Store: f.st, Presets: config.BuiltinPresets(), TTL: -time.Second}); err == nil {
		t.Error("negative TTL accepted")
	}
	if _, err := New(ctx, Options{Presets: config.BuiltinPresets()}); err == nil {
		t.Error("missing store accepted")
	}
	if _, err := New(ctx, Options{Store: f.st}); err == nil {
		t.Error("missing presets accepted")
	}
}

func TestMeetingMismatch(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	m2, _ := f.st.CreateMeeting(ctx, "other")
	p2, _ := f.st.AddParticipant(ctx, store.Participant{MeetingID: m2.ID, Name: "Olga", PresetName: stage.PresetWebinarHost})
	// Meeting 1 with meeting 2's participant, and the reverse.
	_, err := f.a.Authenticate(ctx, issue(t, f.a, f.m.ID, p2.ID))
	wantCode(t, err, protocol.CodeTokenInvalid)
	_, err = f.a.Authenticate(ctx, issue(t, f.a, m2.ID, f.host.ID))
	wantCode(t, err, protocol.CodeTokenInvalid)
	// Each with its own meeting works.
	if id, err := f.a.Authenticate(ctx, issue(t, f.a, m2.ID, p2.ID)); err != nil || id.MeetingID != m2.ID {
		t.Errorf("own meeting: %+v, %v", id, err)
	}
}

func TestRevoked(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	tok := issue(t, f.a, f.m.ID, f.viewr.ID)
	if _, err := f.a.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteParticipant(ctx, f.m.ID, f.viewr.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.a.Authenticate(ctx, tok)
	wantCode(t, err, protocol.CodeTokenRevoked)
	// The host, not deleted, still works.
	if _, err := f.a.Authenticate(ctx, issue(t, f.a, f.m.ID, f.host.ID)); err != nil {
		t.Errorf("host refused after the viewer's deletion: %v", err)
	}
	// A meeting that does not exist (gone) revokes too.
	_, err = f.a.Authenticate(ctx, issue(t, f.a, "gone-meeting", "gone-user"))
	wantCode(t, err, protocol.CodeTokenRevoked)
}

func TestUnknownPreset(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	p, err := f.st.AddParticipant(ctx, store.Participant{MeetingID: f.m.ID, Name: "P", PresetName: "panelist"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.a.Authenticate(ctx, issue(t, f.a, f.m.ID, p.ID))
	wantCode(t, err, protocol.CodeTokenRevoked)
	if !strings.Contains(err.Error(), `"panelist"`) {
		t.Errorf("message does not name the preset: %v", err)
	}
	// With the preset configured, the same participant resolves to it.
	presets, err := config.ParsePresets([]byte(`[{"name":"panelist","stage_enabled":true,"stage_access":"ALLOWED"}]`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Options{Store: f.st, Presets: presets, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(ctx, issue(t, f.a, f.m.ID, p.ID))
	if err != nil {
		t.Fatal(err)
	}
	if id.Preset.Name != "panelist" || id.Preset.StageAccess != stage.Allowed || !id.Preset.StageEnabled {
		t.Errorf("preset = %+v", id.Preset)
	}
}

func TestKeyAndTokensSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Options{Store: st, Presets: config.BuiltinPresets()})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := st.CreateMeeting(ctx, "x")
	p, _ := st.AddParticipant(ctx, store.Participant{MeetingID: m.ID, Name: "A", PresetName: stage.PresetWebinarViewer})
	tok := issue(t, a, m.ID, p.ID)
	st.Close()

	st2, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	a2, err := New(ctx, Options{Store: st2, Presets: config.BuiltinPresets()})
	if err != nil {
		t.Fatal(err)
	}
	if string(a2.key) != string(a.key) || len(a2.key) != 32 {
		t.Fatal("signing key changed across restart")
	}
	id, err := a2.Authenticate(ctx, tok)
	if err != nil || id.UserID != p.ID {
		t.Fatalf("token from before the restart: %+v, %v", id, err)
	}
}

func TestStoreFailureIsInternal(t *testing.T) {
	f := setup(t, t.TempDir())
	tok := issue(t, f.a, f.m.ID, f.host.ID)
	f.st.Close()
	_, err := f.a.Authenticate(context.Background(), tok)
	wantCode(t, err, protocol.CodeInternal)
}

func TestBadStoredKey(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.SettingOrInit(ctx, KeySetting, func() ([]byte, error) { return []byte("short"), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, Options{Store: st, Presets: config.BuiltinPresets()}); err == nil {
		t.Error("a 5-byte signing key was accepted")
	}
}

func TestSetClockWhileAuthenticating(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	tok := issue(t, f.a, f.m.ID, f.host.ID)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			f.a.Authenticate(ctx, tok)
		}
	}()
	f.a.SetClock(func() time.Time { return f.clk.Now().Add(-48 * time.Hour) })
	old := issue(t, f.a, f.m.ID, f.host.ID)
	f.a.SetClock(nil) // back to time.Now; must not panic
	<-done
	f.a.SetClock(f.clk.Now)
	_, err := f.a.Authenticate(ctx, old)
	wantCode(t, err, protocol.CodeTokenExpired)
	if _, err := f.a.Authenticate(ctx, tok); err != nil {
		t.Errorf("current token refused after the clock was restored: %v", err)
	}
}

func TestReissueRevokesEarlierTokens(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	first := issue(t, f.a, f.m.ID, f.viewr.ID)
	second, err := f.a.Reissue(ctx, f.m.ID, f.viewr.ID)
	if err != nil {
		t.Fatal(err)
	}
	third, err := f.a.Reissue(ctx, f.m.ID, f.viewr.ID) // same clock tick as second
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{first, second} {
		_, err := f.a.Authenticate(ctx, old)
		wantCode(t, err, protocol.CodeTokenRevoked)
	}
	if id, err := f.a.Authenticate(ctx, third); err != nil || id.UserID != f.viewr.ID {
		t.Fatalf("newest token: %+v, %v", id, err)
	}
	if _, err := f.a.Authenticate(ctx, issue(t, f.a, f.m.ID, f.host.ID)); err != nil {
		t.Errorf("another participant's token refused: %v", err)
	}
	if _, err := f.a.Reissue(ctx, f.m.ID, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Reissue for an unknown participant: %v", err)
	}
	if _, err := f.a.Reissue(ctx, "other-meeting", f.viewr.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Reissue under another meeting: %v", err)
	}
	if _, err := f.a.Authenticate(ctx, third); err != nil {
		t.Errorf("a refused Reissue revoked the current token: %v", err)
	}
}

// The leeway is 5 s, for clock steps (the server checks its own tokens, so
// there is no skew between machines to absorb): a token is good until 5 s
// after its exp, and from 5 s before its iat.
func TestExpiryLeewayIsFiveSeconds(t *testing.T) {
	f := setup(t, t.TempDir())
	ctx := context.Background()
	tok := issue(t, f.a, f.m.ID, f.viewr.ID)
	start := f.clk.Now()

	// The clock steps back a little right after issue: still accepted.
	f.clk.Set(start.Add(-4 * time.Second))
	if _, err := f.a.Authenticate(ctx, tok); err != nil {
		t.Errorf("4 s before iat: %v", err)
	}
	f.clk.Set(start.Add(-6 * time.Second))
	_, err := f.a.Authenticate(ctx, tok)
	wantCode(t, err, protocol.CodeTokenInvalid)

	exp := start.Add(DefaultTTL)
	f.clk.Set(exp.Add(4 * time.Second))
	if _, err := f.a.Authenticate(ctx, tok); err != nil {
		t.Errorf("4 s after exp: %v", err)
	}
	f.clk.Set(exp.Add(6 * time.Second))
	_, err = f.a.Authenticate(ctx, tok)
	wantCode(t, err, protocol.CodeTokenExpired)
}
