package static

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrecompressedAndTypes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stagekit.wasm", "raw")
	write("stagekit.wasm.br", "brotli")
	write("stagekit.wasm.gz", "gzip")
	write("stagekit.js", "export default {}")
	h := Handler("/sdk/", dir)
	cases := []struct {
		path, accept, wantBody, wantEnc, wantType string
		status                                    int
	}{
		{"/sdk/stagekit.wasm", "gzip, deflate, br", "brotli", "br", "application/wasm", 200},
		{"/sdk/stagekit.wasm", "gzip", "gzip", "gzip", "application/wasm", 200},
		{"/sdk/stagekit.wasm", "br;q=0, gzip", "gzip", "gzip", "application/wasm", 200},
		{"/sdk/stagekit.wasm", "", "raw", "", "application/wasm", 200},
		{"/sdk/stagekit.js", "br", "export default {}", "", "text/javascript; charset=utf-8", 200},
		{"/sdk/missing.js", "", "", "", "", 404},
		{"/sdk/../../etc/passwd", "", "", "", "", 404},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", c.path, nil)
		if c.accept != "" {
			req.Header.Set("Accept-Encoding", c.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("%s (%q): status %d, want %d", c.path, c.accept, rec.Code, c.status)
			continue
		}
		if c.status != http.StatusOK {
			continue
		}
		if got := rec.Body.String(); got != c.wantBody {
			t.Errorf("%s (%q): body %q, want %q", c.path, c.accept, got, c.wantBody)
		}
		if got := rec.Header().Get("Content-Encoding"); got != c.wantEnc {
			t.Errorf("%s (%q): encoding %q, want %q", c.path, c.accept, got, c.wantEnc)
		}
		if c.wantEnc != "" && rec.Header().Get("X-Decoded-Length") != "3" {
			t.Errorf("%s: X-Decoded-Length %q, want the raw size 3", c.path, rec.Header().Get("X-Decoded-Length"))
		}
		if got := rec.Header().Get("Content-Type"); got != c.wantType {
			t.Errorf("%s: type %q, want %q", c.path, got, c.wantType)
		}
	}
}

func TestDirectoriesAreNotListed(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stagekit.js", "sub/secret-name.js"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := Handler("/sdk/", dir)
	for _, p := range []string{"/sdk/", "/sdk/sub/", "/sdk/sub", "/sdk/./sub/"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, rec.Code)
		}
		if body := rec.Body.String(); strings.Contains(body, "stagekit.js") || strings.Contains(body, "secret-name") {
			t.Errorf("GET %s lists the directory: %q", p, body)
		}
	}
	// Files are still served, and a directory with an index.html (the
	// demo) serves its page.
	if err := os.MkdirAll(filepath.Join(dir, "page"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "page", "index.html"), []byte("<p>page</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/sdk/sub/secret-name.js": "x", "/sdk/page/": "<p>page</p>"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Errorf("GET %s: status %d body %q, want 200 %q", p, rec.Code, rec.Body, want)
		}
	}
}
