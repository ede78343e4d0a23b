package rest_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stagekit/stagekit/server/config"
	"github.com/stagekit/stagekit/server/rest"
)

// TestTrickledBodyIsCut: a body sent one byte a second is answered 408
// (4114) once the body deadline passes, and the connection is closed; the
// server does not wait for the rest.
func TestTrickledBodyIsCut(t *testing.T) {
	e := newEnv(t)
	api, err := rest.New(rest.Options{APIKey: key, Store: e.st, Tokens: e.au, Presets: config.BuiltinPresets(), BodyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	head := "POST /v1/meetings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte a second until the test ends
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound on a hang, not a timing check
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled body: %v", err)
	}
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := res.Body.Read(buf)
	b.Write(buf[:n])
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(b.String(), `"code":4114`) {
		t.Fatalf("trickled body: %d %s", res.StatusCode, b.String())
	}
}
