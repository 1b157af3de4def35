package httpx

import (
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Guard wraps the whole HTTP handler of roomsd:
//
//   - every response carries X-Content-Type-Options: nosniff;
//   - a path that is not in canonical form (with //, /./ or /../) is a
//     JSON 404, where http.ServeMux would redirect with an HTML body: a
//     cleaned path may name another resource than the client meant;
//   - an error answer (status 400 and above) that a handler or library
//     wrote as anything but JSON, such as http.Error's plain text, is
//     replaced by the Telnyx envelope for its status.
func Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		jw := &jsonErrorWriter{ResponseWriter: w, head: r.Method == http.MethodHead}
		if !Canonical(r.URL.Path) {
			e := ForStatus(http.StatusNotFound)
			e.Detail = "The path " + Quote(r.URL.Path) + " is not in canonical form (it has //, /./ or /../ in it); send the path itself."
			WriteError(jw, e)
			return
		}
		next.ServeHTTP(jw, r)
	})
}

// Canonical reports whether p is an absolute path that cleaning would not
// change: no empty, "." or ".." segments. A trailing slash is kept, as
// http.ServeMux keeps it.
func Canonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if p[len(p)-1] == '/' && clean != "/" {
		clean += "/"
	}
	return clean == p
}

// jsonErrorWriter passes a response through unless it is an error answer
// without a JSON body; then it writes the envelope for that status instead
// and drops what the handler writes after.
type jsonErrorWriter struct {
	http.ResponseWriter
	head     bool // a HEAD request: headers only
	wrote    bool // the status line has been decided
	replaced bool // the envelope was written in place of the handler's body
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 200 {
		// Informational answers (100 Continue, 101 Switching Protocols
		// before a hijack) pass; the final status is still to come.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wrote = true
	if code < 400 || isJSON(w.Header().Get("Content-Type")) {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	body := ForStatus(code).Marshal()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.ResponseWriter.WriteHeader(code)
	if !w.head {
		w.ResponseWriter.Write(body)
	}
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and websocket upgrades reach the
// connection (Hijack, Flush, deadlines).
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isJSON reports whether a Content-Type is JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && JSONMediaType(mt)
}

// JSONMediaType reports whether a parsed media type is JSON:
// application/json or any application/*+json.
func JSONMediaType(mt string) bool {
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
