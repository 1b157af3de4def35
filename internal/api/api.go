// Package api is the REST transport of roomsd: a Telnyx-compatible route
// table under /v2, middleware (request id, panic recovery, access log, API
// key auth), query and body parsing, and the JSON shapes. Handlers parse and
// validate input, call package rooms, and encode the result; nothing else.
package api

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/roomsd/roomsd/internal/auth"
	"github.com/roomsd/roomsd/internal/rooms"
)

// API serves the REST routes.
type API struct {
	rooms *rooms.Service
	keys  *auth.Keyring
	log   *slog.Logger
	mux   *http.ServeMux
}

// New returns the HTTP handler for the whole REST API.
func New(svc *rooms.Service, keys *auth.Keyring, log *slog.Logger) http.Handler {
	a := &API{rooms: svc, keys: keys, log: log, mux: http.NewServeMux()}
	a.routes()
	return a.withRequestID(a.withRecover(a.withAccessLog(a.withAuth(http.HandlerFunc(a.route)))))
}

// routes is the whole route table.
func (a *API) routes() {
	a.mux.HandleFunc("GET /v2/rooms", a.listRooms)
	a.mux.HandleFunc("POST /v2/rooms", a.createRoom)
	a.mux.HandleFunc("GET /v2/rooms/{room_id}", a.viewRoom)
	a.mux.HandleFunc("PATCH /v2/rooms/{room_id}", a.updateRoom)
	a.mux.HandleFunc("DELETE /v2/rooms/{room_id}", a.deleteRoom)
	a.mux.HandleFunc("GET /v2/rooms/{room_id}/sessions", a.listSessions)
	a.mux.HandleFunc("POST /v2/rooms/{room_id}/actions/generate_join_client_token", a.generateToken)
	a.mux.HandleFunc("POST /v2/rooms/{room_id}/actions/refresh_client_token", a.refreshToken)

	a.mux.HandleFunc("GET /v2/room_sessions", a.listSessions)
	a.mux.HandleFunc("GET /v2/room_sessions/{room_session_id}", a.viewSession)
	a.mux.HandleFunc("GET /v2/room_sessions/{room_session_id}/participants", a.listParticipants)
	a.mux.HandleFunc("POST /v2/room_sessions/{room_session_id}/actions/{action}", a.sessionAction)

	a.mux.HandleFunc("GET /v2/room_participants", a.listParticipants)
	a.mux.HandleFunc("GET /v2/room_participants/{room_participant_id}", a.viewParticipant)

	a.mux.HandleFunc("GET /v2/room_recordings", a.listRecordings)
	a.mux.HandleFunc("DELETE /v2/room_recordings", a.deleteRecordings)
	a.mux.HandleFunc("GET /v2/room_recordings/{room_recording_id}", a.viewRecording)
	a.mux.HandleFunc("DELETE /v2/room_recordings/{room_recording_id}", a.deleteRecording)

	a.mux.HandleFunc("GET /v2/room_compositions", a.listCompositions)
	a.mux.HandleFunc("POST /v2/room_compositions", a.createComposition)
	a.mux.HandleFunc("GET /v2/room_compositions/{room_composition_id}", a.viewComposition)
	a.mux.HandleFunc("DELETE /v2/room_compositions/{room_composition_id}", a.deleteComposition)

	a.mux.HandleFunc("GET /.well-known/jwks.json", a.jwks)
}

// isPublic reports whether a request is served without an API key: the
// token-signing public key, and token refresh, whose refresh token is
// itself the credential (browsers call it and hold no API key).
func isPublic(r *http.Request) bool {
	if r.URL.Path == "/.well-known/jwks.json" {
		return true
	}
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v2/rooms/") &&
		strings.HasSuffix(r.URL.Path, "/actions/refresh_client_token") && strings.Count(r.URL.Path, "/") == 5
}

// route dispatches to the mux, answering unknown paths and methods with
// the JSON error envelope instead of the mux's plain-text replies.
func (a *API) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	if pattern != "" {
		// ServeHTTP, not h: only the mux fills in the path values.
		a.mux.ServeHTTP(w, r)
		return
	}
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		writeJSON(w, http.StatusMethodNotAllowed, errorsBody{Errors: []*apiError{newError(http.StatusMethodNotAllowed,
			codeBadRequest, "Method not allowed", r.Method+" is not supported on "+r.URL.Path+"; allowed: "+probe.header.Get("Allow")+".")}})
		return
	}
	a.fail(w, r, notFound("No route "+r.Method+" "+r.URL.Path+"; the API lives under /v2."), "")
}

// statusProbe records what the mux would answer for an unmatched request.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }
