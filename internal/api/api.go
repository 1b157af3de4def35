// Package api is the REST transport of roomsd: a Telnyx-compatible route
// table under /v2, middleware (request id, panic recovery, access log, API
// key auth), query and body parsing, and the JSON shapes. Handlers parse and
// validate input, call package rooms, and encode the result; nothing else.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/roomsd/roomsd/internal/auth"
	"github.com/roomsd/roomsd/internal/blob"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/download"
	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// API serves the REST routes.
type API struct {
	rooms      *rooms.Service
	keys       *auth.Keyring
	log        *slog.Logger
	mux        *http.ServeMux
	webhookKey string
	publicURL  string
	links      *download.Signer
	files      blob.Store
	limits     Limits
}

// Option tunes the API.
type Option func(*API)

// WithPublicURL is the server's address as clients reach it, which the
// meeting links it makes name.
func WithPublicURL(u string) Option { return func(a *API) { a.publicURL = strings.TrimSuffix(u, "/") } }

// WithWebhookPublicKey publishes the key that verifies webhooks.
func WithWebhookPublicKey(base64Key string) Option { return func(a *API) { a.webhookKey = base64Key } }

// New returns the HTTP handler for the whole REST API.
func New(svc *rooms.Service, keys *auth.Keyring, log *slog.Logger, opts ...Option) http.Handler {
	a := &API{rooms: svc, keys: keys, log: log, mux: http.NewServeMux()}
	for _, o := range opts {
		o(a)
	}
	a.routes()
	return httpx.RouteOf(a.mux, a.withRequestID(a.withRecover(a.withAccessLog(a.withAuth(a.withLimits(a.withQuery(a.mux)))))))
}

// routes is the whole route table.
func (a *API) routes() {
	a.mux.HandleFunc("GET /v2/rooms", a.listRooms)
	a.mux.HandleFunc("POST /v2/rooms", a.createRoom)
	a.mux.HandleFunc("GET /v2/rooms/{room_id}",
		viewIncluding(a, "room_id", "room", "include_sessions", a.rooms.ViewRoom, toRoomJSON))
	a.mux.HandleFunc("PATCH /v2/rooms/{room_id}", a.updateRoom)
	a.mux.HandleFunc("DELETE /v2/rooms/{room_id}", deleteByID(a, "room_id", "room", a.rooms.DeleteRoom))
	a.mux.HandleFunc("GET /v2/rooms/{room_id}/sessions", a.listSessions)
	a.mux.HandleFunc("POST /v2/rooms/{room_id}/actions/generate_join_client_token", a.generateToken)
	a.mux.HandleFunc("POST /v2/rooms/{room_id}/actions/refresh_client_token", a.refreshToken)

	a.mux.HandleFunc("GET /v2/room_sessions", a.listSessions)
	a.mux.HandleFunc("GET /v2/room_sessions/{room_session_id}",
		viewIncluding(a, "room_session_id", "room session", "include_participants", a.rooms.ViewSession, toSessionJSON))
	a.mux.HandleFunc("GET /v2/room_sessions/{room_session_id}/participants", a.listParticipants)
	a.mux.HandleFunc("POST /v2/room_sessions/{room_session_id}/actions/{action}", a.sessionAction)

	a.mux.HandleFunc("GET /v2/room_participants", a.listParticipants)
	a.mux.HandleFunc("GET /v2/room_participants/{room_participant_id}",
		viewByID(a, "room_participant_id", "room participant", a.rooms.GetParticipant, toParticipantJSON))

	a.mux.HandleFunc("GET /v2/room_recordings", listFiltered(a, recordingFilter, a.rooms.ListRecordings, a.recordingJSON))
	a.mux.HandleFunc("DELETE /v2/room_recordings", a.deleteRecordings)
	a.mux.HandleFunc("GET /v2/room_recordings/{room_recording_id}",
		viewByID(a, "room_recording_id", "room recording", a.rooms.GetRecording, a.recordingJSON))
	a.mux.HandleFunc("GET /v2/room_recordings/{room_recording_id}/download",
		serveDownload(a, download.Recordings, "room_recording_id", "room recording", a.rooms.GetRecording, recordingMedia, domain.RecordingKey))
	a.mux.HandleFunc("DELETE /v2/room_recordings/{room_recording_id}",
		deleteByID(a, "room_recording_id", "room recording", a.rooms.DeleteRecording))

	a.mux.HandleFunc("GET /v2/room_compositions", listFiltered(a, compositionFilter, a.rooms.ListCompositions, a.compositionJSON))
	a.mux.HandleFunc("POST /v2/room_compositions", a.createComposition)
	a.mux.HandleFunc("GET /v2/room_compositions/{room_composition_id}",
		viewByID(a, "room_composition_id", "room composition", a.rooms.GetComposition, a.compositionJSON))
	a.mux.HandleFunc("GET /v2/room_compositions/{room_composition_id}/download",
		serveDownload(a, download.Compositions, "room_composition_id", "room composition", a.rooms.GetComposition, compositionMedia, domain.CompositionKey))
	a.mux.HandleFunc("DELETE /v2/room_compositions/{room_composition_id}",
		deleteByID(a, "room_composition_id", "room composition", a.rooms.DeleteComposition))

	a.mux.HandleFunc("GET /v2/webhook_deliveries", listFiltered(a, deliveryFilter, a.rooms.ListDeliveries, toDeliveryJSON))

	// roomsd's own: meeting links.
	a.mux.HandleFunc("POST /roomsd/rooms/{room_id}/links", a.createLink)
	a.mux.HandleFunc("GET /roomsd/rooms/{room_id}/links", a.listLinks)
	a.mux.HandleFunc("POST /roomsd/links/{link_id}/actions/revoke", a.revokeLink)
	a.mux.HandleFunc("POST /roomsd/links/actions/open", a.openLink)

	a.mux.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	a.mux.HandleFunc("GET /.well-known/webhook-public-key", a.webhookPublicKey)
	a.mux.HandleFunc("/", a.noRoute)
}

// isPublic reports whether a request is served without an API key: the
// token-signing public key, and token refresh, whose refresh token is
// itself the credential (browsers call it and hold no API key).
func isPublic(r *http.Request) bool {
	if r.URL.Path == "/.well-known/jwks.json" || r.URL.Path == "/.well-known/webhook-public-key" || isDownload(r) {
		return true
	}
	if r.Method == http.MethodPost && r.URL.Path == "/roomsd/links/actions/open" {
		return true // the link's secret is the credential
	}
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v2/rooms/") &&
		strings.HasSuffix(r.URL.Path, "/actions/refresh_client_token") && strings.Count(r.URL.Path, "/") == 5
}

// noRoute answers every request no pattern claims, with the JSON error
// envelope: 405 and an Allow header when the path exists for other
// methods, 404 otherwise.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		a.fail(w, r, newError(http.StatusMethodNotAllowed, codeBadRequest, "Method not allowed",
			r.Method+" is not supported on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", ")+"."), "")
		return
	}
	a.fail(w, r, notFound("No route "+r.Method+" "+r.URL.Path+"; the API lives under /v2."), "")
}

// viewByID serves GET of one resource by the UUID in path parameter
// param: 200 with its JSON, 400 for a malformed id, 404 naming the noun.
func viewByID[T, J any](a *API, param, noun string, get func(context.Context, string) (T, error), encode func(T) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r.PathValue(param), param)
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
		v, err := get(r.Context(), id)
		if err != nil {
			a.fail(w, r, err, noSuch(noun, id))
			return
		}
		writeJSON(w, http.StatusOK, dataBody{Data: encode(v)})
	}
}

// viewIncluding is viewByID for a resource whose view can embed its
// children when the true/false query parameter include asks for them.
func viewIncluding[T, J any](a *API, param, noun, include string, view func(context.Context, string, bool) (T, error), encode func(T) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r.PathValue(param), param)
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
		q := newQuery(r)
		inc := q.bool(include)
		q.done()
		if q.err != nil {
			a.fail(w, r, q.err, "")
			return
		}
		v, err := view(r.Context(), id, inc)
		if err != nil {
			a.fail(w, r, err, noSuch(noun, id))
			return
		}
		writeJSON(w, http.StatusOK, dataBody{Data: encode(v)})
	}
}

// deleteByID serves DELETE of one resource by id: 204, 400 or 404.
func deleteByID(a *API, param, noun string, del func(context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r.PathValue(param), param)
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
		if err := del(r.Context(), id); err != nil {
			a.fail(w, r, err, noSuch(noun, id))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// listFiltered serves a list whose filter comes from the query alone:
// 200 with the page, 422 for a malformed parameter.
func listFiltered[F, T, J any](a *API, filter func(*query) F, list func(context.Context, F, store.Page) ([]T, int, error), encode func(T) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := newQuery(r)
		f, page := filter(q), q.page()
		q.done()
		if q.err != nil {
			a.fail(w, r, q.err, "")
			return
		}
		items, total, err := list(r.Context(), f, page)
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
		writeList(w, page, total, items, encode)
	}
}

// noSuch is the detail of a 404 for a resource looked up by id.
func noSuch(noun, id string) string { return "No " + noun + " with id " + id + "." }
