package app_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stagekit/stagekit/protocol"
	"github.com/stagekit/stagekit/server/app"
)

// helloCode says how the server answered a hello with token: 0 when it was
// accepted, else the refusal's code (from the error answer or the close).
func helloCode(t *testing.T, url, token string) int {
	t.Helper()
	w, err := dial(t, url, "")
	if err != nil {
		t.Fatal(err)
	}
	w.send(protocol.ClientMessage{ID: 1, Type: protocol.TypeHello, Token: token})
	m, err := w.read(1)
	switch {
	case err != nil:
		return int(websocket.CloseStatus(err))
	case m.Error != nil:
		return m.Error.Code
	case m.Hello == nil:
		t.Fatalf("hello answered %+v", m)
	}
	return 0
}

func TestRegeneratedTokenRevokesTheOld(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir()})
	mid, ps := s.meetingWith("Host", "Viewer")
	viewer := ps[1]
	path := "/v1/meetings/" + mid + "/participants/" + viewer.ID + "/token"
	var first, second struct{ Token string }
	s.call("POST", path, nil, 200, &first)
	s.call("POST", path, nil, 200, &second)
	if first.Token == "" || second.Token == "" || first.Token == second.Token {
		t.Fatalf("regenerated tokens %q, %q", first.Token, second.Token)
	}
	for name, tok := range map[string]string{"creation token": viewer.Token, "first regenerated token": first.Token} {
		if code := helloCode(t, s.url, tok); code != protocol.CodeTokenRevoked {
			t.Errorf("%s after regeneration: hello answered %d, want %d", name, code, protocol.CodeTokenRevoked)
		}
	}
	if code := helloCode(t, s.url, second.Token); code != 0 {
		t.Errorf("the newest token was refused with %d", code)
	}
	// Another participant's token is not touched.
	if code := helloCode(t, s.url, ps[0].Token); code != 0 {
		t.Errorf("the host's token was refused with %d after the viewer's regeneration", code)
	}
	// The store survives a restart with the revocation in force.
	dir := s.app.Config().DataDir
	s.stop()
	s2 := start(t, app.Config{APIKey: key, DataDir: dir})
	if code := helloCode(t, s2.url, first.Token); code != protocol.CodeTokenRevoked {
		t.Errorf("revoked token after restart: %d", code)
	}
	if code := helloCode(t, s2.url, second.Token); code != 0 {
		t.Errorf("newest token after restart: %d", code)
	}
	// An unknown participant: 404, nothing issued.
	s2.call("POST", "/v1/meetings/"+mid+"/participants/nobody/token", nil, 404, nil)
}

// The README says it: a token is checked at hello only, so an open socket
// outlives its token's expiry and its regeneration; the next hello with it
// is refused.
func TestOpenSocketOutlivesItsToken(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir(), TokenTTL: time.Hour})
	mid, ps := s.meetingWith("Host")
	w, err := dial(t, s.url, "")
	if err != nil {
		t.Fatal(err)
	}
	w.helloJoin(ps[0].Token)
	s.call("POST", "/v1/meetings/"+mid+"/participants/"+ps[0].ID+"/token", nil, 200, nil)
	s.app.Auth().SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	defer s.app.Auth().SetClock(nil)

	w.send(protocol.ClientMessage{ID: 7, Type: protocol.TypePing})
	if m, err := w.read(7); err != nil || m.Error != nil {
		t.Fatalf("the open socket after its token expired: %+v, %v", m, err)
	}
	if code := helloCode(t, s.url, ps[0].Token); code != protocol.CodeTokenExpired {
		t.Errorf("a new hello with the expired token: %d, want %d", code, protocol.CodeTokenExpired)
	}
}
