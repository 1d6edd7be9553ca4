// Package web serves Switchboard's browser dashboard: the page, its
// scripts and styles, and xterm.js, all embedded in the binary so the page
// works on a network with no route to the internet. It also takes the
// page's error reports (POST /api/client-log) into the relay's log.
//
// The files come from web/ at the repository root (package
// switchboard/web): the page's sources at /, the vendored modules under
// /vendor/. Both are committed, so any build of the relay, go install
// included, serves the whole page.
//
// The page speaks only the dashboard protocol of docs/protocol.md over
// /ws/dashboard; this package knows nothing of the relay and the relay
// nothing of it. cmd/relay mounts both on one mux.
package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	page "switchboard/web"
)

// Handler serves the dashboard at / and its assets below it, accepts
// client logs at POST /api/client-log and writes them to log (nil means
// slog.Default()), and passes every other request to next, the relay's
// own handler (nil: 404). The dashboard claims only the exact paths of
// its files, so the relay keeps every endpoint it has or will have.
func Handler(log *slog.Logger, next http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	if next == nil {
		next = http.NotFoundHandler()
	}
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.Handle("POST /api/client-log", newClientLog(log, clientLogRate, clientLogBurst))
	a := newAssets(page.Files)
	mux.Handle("GET /{$}", a)
	for p := range a.files {
		if p != "/" {
			mux.Handle("GET "+p, a)
		}
	}
	return mux
}

// asset is one embedded file, read once at start.
type asset struct {
	data  []byte
	ctype string
	etag  string
}

// assets serves the embedded files from memory with strong ETags, so a
// browser revalidates each load (Cache-Control: no-cache) and gets 304s for
// what did not change: a new relay build never leaves a stale script behind.
type assets struct {
	files map[string]asset // by URL path, "/" for index.html
}

// newAssets reads the page's files: src/ at /, vendor/ at /vendor/.
func newAssets(fsys fs.FS) *assets {
	a := &assets{files: make(map[string]asset)}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		url := "/" + strings.TrimPrefix(p, "src/")
		a.files[url] = asset{data: data, ctype: contentType(p), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if idx, ok := a.files["/index.html"]; ok {
		a.files["/"] = idx
	}
	return a
}

// contentType names the type of an asset by its extension, with fixed
// answers for the types the page uses so that they do not depend on the
// host's MIME tables (a module script served as text/plain will not run).
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".map", ".json":
		return "application/json"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if f.ctype == "text/html; charset=utf-8" {
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// csp allows the page its own scripts, styles and WebSocket, and nothing
// from elsewhere. xterm.js sets inline styles on its elements, hence
// 'unsafe-inline' for styles only.
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self'; img-src 'self' data:; font-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
