package app

import (
	"net"
	"net/http"
	"path"
	"strings"
	"sync/atomic"

	"github.com/stagekit/stagekit/server/rest"
)

// hostGuard refuses requests whose Host header is not one of the server's
// names. It defeats DNS rebinding: a page on evil.example whose name is made
// to resolve to this server sends "Host: evil.example" and a matching
// Origin, which the WebSocket's origin check alone lets through.
//
// Accepted: any IP literal (a browser sends one only when the user typed the
// address, so it cannot be a rebound name); localhost and *.localhost when the
// server listens on loopback or on every address (browsers resolve those
// names to loopback themselves); the host of the listen address when it is
// a name; the hosts of Config.AllowedOrigins; Config.AllowedHosts (patterns
// as in path.Match, e.g. "*.example.com"). Ports are not compared: the name
// is what a rebinding attacker controls.
type hostGuard struct {
	patterns []string
	loopback atomic.Bool // localhost names accepted
}

func newHostGuard(addr string, origins, hosts []string) *hostGuard {
	g := &hostGuard{}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = normalizeHost(host)
	ip := net.ParseIP(host)
	switch {
	case host == "" || host == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())):
		g.loopback.Store(true)
	case ip == nil:
		g.patterns = append(g.patterns, host)
	}
	for _, o := range origins {
		if h := originPatternHost(o); h != "" {
			g.patterns = append(g.patterns, h)
		}
	}
	for _, h := range hosts {
		if h = normalizeHost(h); h != "" {
			g.patterns = append(g.patterns, h)
		}
	}
	return g
}

// servingOn notes the listener's address: one on loopback accepts the
// localhost names whatever Config.Addr said.
func (g *hostGuard) servingOn(a net.Addr) {
	if tcp, ok := a.(*net.TCPAddr); ok && (tcp.IP.IsLoopback() || tcp.IP.IsUnspecified()) {
		g.loopback.Store(true)
	}
}

func (g *hostGuard) allows(hostHeader string) bool {
	host, _, err := net.SplitHostPort(hostHeader)
	if err != nil {
		host = hostHeader // no port
	}
	host = normalizeHost(host)
	switch {
	case host == "":
		return false
	case net.ParseIP(host) != nil:
		return true
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return g.loopback.Load()
	}
	for _, p := range g.patterns {
		if ok, _ := path.Match(p, host); ok {
			return true
		}
	}
	return false
}

// wrap puts the check in front of next; /healthz stays open to probes that
// address the server by any name.
func (g *hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && !g.allows(r.Host) {
			rest.WriteError(w, http.StatusForbidden, rest.CodeHostNotAllowed,
				"host "+truncateHost(r.Host)+" is not a name of this server; add it with -allowed-hosts")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]")), ".")
}

// originPatternHost is the host part of an allowed-origin pattern
// ("https://app.example:*" → "app.example").
func originPatternHost(p string) string {
	if _, after, ok := strings.Cut(p, "://"); ok {
		p = after
	}
	if h, _, err := net.SplitHostPort(p); err == nil {
		p = h
	}
	return normalizeHost(p)
}

func truncateHost(h string) string {
	if len(h) > 80 {
		h = h[:80] + "…"
	}
	return "\"" + strings.ToValidUTF8(h, "?") + "\""
}
