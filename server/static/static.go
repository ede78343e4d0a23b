// Package static serves the browser SDK and the demo from a directory, with
// precompressed copies (.br, .gz) chosen by the request's Accept-Encoding.
package static

import (
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

func init() {
	// Browsers need application/wasm for streaming instantiation; not every
	// system's MIME table has it.
	mime.AddExtensionType(".wasm", "application/wasm")
	mime.AddExtensionType(".js", "text/javascript; charset=utf-8")
	mime.AddExtensionType(".mjs", "text/javascript; charset=utf-8")
	mime.AddExtensionType(".ts", "text/plain; charset=utf-8")
}

// Handler serves files under dir at the URL prefix (e.g. "/sdk/"). A
// directory is served only through its index.html; without one it is 404.
func Handler(prefix, dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.StripPrefix(strings.TrimSuffix(prefix, "/"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		name := path.Clean("/" + r.URL.Path)
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		if enc, file := precompressed(dir, name, r.Header.Get("Accept-Encoding")); enc != "" {
			if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
				// Lets the loader show download progress in decoded bytes.
				w.Header().Set("X-Decoded-Length", strconv.FormatInt(st.Size(), 10))
			}
			w.Header().Set("Content-Encoding", enc)
			w.Header().Add("Vary", "Accept-Encoding")
			http.ServeFile(w, r, file)
			return
		}
		if isBareDirectory(dir, name) {
			http.NotFound(w, r) // no listings: they would show every file name
			return
		}
		files.ServeHTTP(w, r)
	}))
}

// isBareDirectory tells whether name is a directory without an index.html
// (a directory with one, like /demo/, serves its page).
func isBareDirectory(dir, name string) bool {
	st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil || !st.IsDir() {
		return false
	}
	idx, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name), "index.html"))
	return err != nil || !idx.Mode().IsRegular()
}

// precompressed picks a .br or .gz sibling of name that the client accepts.
func precompressed(dir, name, accept string) (encoding, file string) {
	if strings.HasSuffix(name, "/") {
		return "", ""
	}
	for _, c := range []struct{ enc, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
		if !accepts(accept, c.enc) {
			continue
		}
		f := filepath.Join(dir, filepath.FromSlash(name)+c.ext)
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			return c.enc, f
		}
	}
	return "", ""
}

func accepts(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), enc) && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}
