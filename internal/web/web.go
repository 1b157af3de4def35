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
	"regexp"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the page's Content-Security-Policy for the host it was asked
// for: the page loads only its own script and style, and talks only to its
// own server, over HTTP(S) for the REST API and over WebSocket for
// signaling, and over WebSocket to the peers (in a cluster, the other
// nodes' host[:port], where a join may be redirected). A Host header that
// is not a plain host[:port] gets 'self' alone, which current browsers
// also apply to WebSockets; so is a peer that is not one left out.
func CSP(host string, peers ...string) string {
	connect := "'self'"
	seen := map[string]bool{}
	for _, h := range append([]string{host}, peers...) {
		if hostRE.MatchString(h) && !seen[h] {
			seen[h] = true
			connect += " ws://" + h + " wss://" + h
		}
	}
	return "default-src 'self'; connect-src " + connect + "; img-src 'self' data:; media-src 'self' blob: mediastream:; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// hostRE is a host name or IP address with an optional port, and nothing
// that could end a CSP directive.
var hostRE = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

type file struct {
	name, ctype, etag string
	body              []byte
}

// Handler serves the page and its assets; mount it on Paths.
type Handler struct {
	files map[string]file
	peers func() []string
}

// Option configures a Handler.
type Option func(*Handler)

// WithPeers names, through fn, the hosts (host[:port]) of the other nodes
// of a cluster: the page may open its signaling socket there when a join
// is redirected.
func WithPeers(fn func() []string) Option { return func(h *Handler) { h.peers = fn } }

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
func New(opts ...Option) *Handler {
	h := &Handler{files: map[string]file{}, peers: func() []string { return nil }}
	for _, o := range opts {
		o(h)
	}
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
	hd.Set("Content-Security-Policy", CSP(r.Host, h.peers()...))
	hd.Set("X-Content-Type-Options", "nosniff")
	// Links to the page carry a token: keep it out of Referer headers.
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Permissions-Policy", "camera=(self), microphone=(self)")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	// Its error answers (416 for a range past the end) are plain text;
	// the server's guard turns them into the JSON envelope.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
