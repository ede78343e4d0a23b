package app_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stagekit/stagekit/server/app"
)

// The repository's web directory, served as the real server serves it.
var webDir = filepath.Join("..", "..", "web")

func TestDemoPagesSendSecurityHeaders(t *testing.T) {
	s := start(t, app.Config{APIKey: key, DataDir: t.TempDir(), WebDir: webDir, DemoMode: true})
	for _, path := range []string{"/demo/?token=abc&meeting=m", "/demo/index.html", "/demo/demo.js", "/demo/blank.html"} {
		res, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		h := res.Header
		for name, want := range map[string]string{
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, name, got, want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q does not forbid framing", path, csp)
		}
		if path == "/demo/blank.html" {
			continue
		}
		for _, want := range []string{"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "connect-src 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
			t.Errorf("GET %s: CSP %q allows inline code or eval", path, csp)
		}
	}
}

// The page must work under that policy: no inline scripts, styles or
// handlers, and no eval in its script (e2e/demo.test.mjs runs it for real).
func TestDemoPageFitsItsCSP(t *testing.T) {
	html, err := os.ReadFile(filepath.Join(webDir, "demo", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`<script([^>]*)>([\s\S]*?)</script>`).FindAllSubmatch(html, -1) {
		if !strings.Contains(string(m[1]), "src=") || strings.TrimSpace(string(m[2])) != "" {
			t.Errorf("index.html has an inline script %q, which the CSP blocks", m[0])
		}
	}
	for _, re := range []string{`<style`, `\sstyle=`, `\son[a-z]+=`} {
		if m := regexp.MustCompile(re).Find(html); m != nil {
			t.Errorf("index.html has %q, which the CSP blocks", m)
		}
	}
	js, err := os.ReadFile(filepath.Join(webDir, "demo", "demo.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"eval(", "new Function", "innerHTML", ".style."} {
		if strings.Contains(string(js), bad) {
			t.Errorf("demo.js uses %s", bad)
		}
	}
}
