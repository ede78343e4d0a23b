package demo

import "net/http"

// PageCSP is the demo page's Content-Security-Policy: its own scripts and
// styles only, the wasm SDK compiled ('wasm-unsafe-eval'), fetch and the
// signaling WebSocket to its own origin, camera and remote media shown from
// MediaStreams. Its URL carries a participant token, so no script from
// elsewhere may run in it, no site may frame it, and no Referer carries
// the URL away.
const PageCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// otherCSP is for the other files under /demo/: the browser tests' harness
// pages (blank.html), which run code the tests send them, need no script
// policy, but are not to be framed either.
const otherCSP = "frame-ancestors 'none'; base-uri 'none'"

// Pages adds the security headers to everything served under /demo/ (the
// page itself gets PageCSP). It serves whether or not demo mode is on.
func Pages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		csp := otherCSP
		switch r.URL.Path {
		case "/demo/", "/demo/index.html", "/demo/demo.js", "/demo/demo.css":
			csp = PageCSP
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
