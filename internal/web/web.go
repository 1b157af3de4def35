// Package web serves the meeting page: a plain HTML and JavaScript client
// of the signaling protocol, embedded in the binary, that shows the local
// camera and everyone else in the room. It needs no API key: the page holds
// no secret, and joining takes a client token.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// CSP lets the page load only its own script and style, and talk only to
// its own server (the signaling socket).
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; media-src 'self' blob: mediastream:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type file struct {
	name, ctype, etag string
	body              []byte
}

// Handler serves the page and its assets; mount it on Paths.
type Handler struct{ files map[string]file }

// Paths are the URL paths the handler answers, as http.ServeMux patterns
// for GET: the page at / and /join, and its script and style sheet.
var Paths = []string{"/{$}", "/join", "/web/app.js", "/web/style.css"}

// types are set here rather than looked up, as the system's MIME table
// varies.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// New returns the handler of the embedded page and its assets.
func New() *Handler {
	h := &Handler{files: map[string]file{}}
	for urlPath, name := range map[string]string{"/": "index.html", "/join": "index.html", "/web/app.js": "app.js", "/web/style.css": "style.css"} {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			panic("web: missing embedded " + name)
		}
		sum := sha256.Sum256(b)
		h.files[urlPath] = file{name: name, ctype: types[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`, body: b}
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	// Links to the page carry a token: keep it out of Referer headers.
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Permissions-Policy", "camera=(self), microphone=(self)")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
