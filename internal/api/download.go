package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/download"
)

// WithDownloads serves recorded and rendered files from files, and shows
// every download_url of roomsd's own signed by links.
func WithDownloads(links *download.Signer, files blob.Store) Option {
	return func(a *API) { a.links, a.files = links, files }
}

// signed returns a stored download address as it is shown: signed afresh
// when it is one of roomsd's own.
func (a *API) signed(u *string) *string {
	if u == nil || a.links == nil {
		return u
	}
	s := a.links.Sign(*u)
	return &s
}

// isDownload reports whether a request is for a file: it carries its own
// credential (a signed link) or the API key, checked by the handler.
func isDownload(r *http.Request) bool {
	p := r.URL.Path
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !strings.HasSuffix(p, "/download") || strings.Count(p, "/") != 4 {
		return false
	}
	return strings.HasPrefix(p, "/v2/"+download.Recordings+"/") || strings.HasPrefix(p, "/v2/"+download.Compositions+"/")
}

// media is what a download needs of a recording or composition.
type media struct {
	ready bool   // the file is whole (or what is left of a failed one)
	ext   string // file name extension
	ctype string // Content-Type
}

func recordingMedia(r domain.Recording) media {
	m := media{ready: r.HasFile()}
	switch r.Codec {
	case "opus":
		m.ext, m.ctype = "ogg", "audio/ogg"
	case "vp8":
		m.ext, m.ctype = "webm", "video/webm"
	case "h264":
		m.ext, m.ctype = "h264", "video/h264"
	default:
		m.ext, m.ctype = "bin", "application/octet-stream"
	}
	return m
}

func compositionMedia(c domain.Composition) media {
	return media{ready: c.HasFile(), ext: "mp4", ctype: "video/mp4"}
}

// serveDownload streams a file: to a holder of the API key, or of a
// signed link that has not expired. Range requests are answered (206)
// by http.ServeContent.
func serveDownload[T any](a *API, kind, param, noun string, get func(context.Context, string) (T, error),
	describe func(T) media, key func(string) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r.PathValue(param), param)
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
		if !a.downloadAllowed(w, r, kind, id) {
			return
		}
		v, err := get(r.Context(), id)
		if err != nil {
			a.fail(w, r, err, noSuch(noun, id))
			return
		}
		m := describe(v)
		if !m.ready || a.files == nil {
			a.fail(w, r, notFound("The "+noun+" "+id+" has no file to download yet; its download_url is set once it is completed."), "")
			return
		}
		f, err := a.files.Open(r.Context(), key(id))
		if errors.Is(err, blob.ErrNotFound) {
			a.fail(w, r, notFound("The file of "+noun+" "+id+" is missing from the server's data directory."), "")
			return
		}
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
		defer f.Close()
		// A large file over a slow link takes longer than the server's
		// write timeout allows an API answer.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		w.Header().Set("Content-Type", m.ctype)
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+"."+m.ext+`"`)
		w.Header().Set("Cache-Control", "private, no-store")
		http.ServeContent(w, r, "", f.Info().ModTime, f)
	}
}

// downloadAllowed checks the API key, else the link's signature, and
// answers the request itself when neither holds.
func (a *API) downloadAllowed(w http.ResponseWriter, r *http.Request, kind, id string) bool {
	scheme, k, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if strings.EqualFold(scheme, "Bearer") && a.keys.Valid(strings.TrimSpace(k)) {
		return true
	}
	err := download.ErrUnsigned
	if a.links != nil {
		err = a.links.Check(kind, id, newQuery(r).values)
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, download.ErrUnsigned):
		w.Header().Set("WWW-Authenticate", `Bearer realm="roomsd"`)
		a.fail(w, r, newError(http.StatusUnauthorized, codeAuthFailed, "Authentication failed",
			"Send a roomsd API key as 'Authorization: Bearer <key>', or use the signed download_url the API returns."), "")
	case errors.Is(err, download.ErrExpired):
		a.fail(w, r, newError(http.StatusForbidden, codeForbidden, "Link expired",
			"This download link "+strings.TrimPrefix(err.Error(), "download: link ")+"; fetch the recording or composition again for a fresh download_url."), "")
	default:
		a.fail(w, r, newError(http.StatusForbidden, codeForbidden, "Authorization failed",
			"The download link's signature does not match; use the download_url exactly as the API returned it."), "")
	}
	return false
}

// recordingJSON encodes a recording with its download link signed.
func (a *API) recordingJSON(r domain.Recording) recordingJSON {
	j := toRecordingJSON(r)
	j.DownloadURL = a.signed(j.DownloadURL)
	return j
}

// compositionJSON encodes a composition with its download link signed.
func (a *API) compositionJSON(c domain.Composition) compositionJSON {
	j := toCompositionJSON(c)
	j.DownloadURL = a.signed(j.DownloadURL)
	return j
}
