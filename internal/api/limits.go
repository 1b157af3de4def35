package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/limit"
)

// Limits are the rate limits of the REST API, each per API key and per
// client address: token minting (generate_join_client_token,
// refresh_client_token, opening a meeting link; the last two need no API
// key, so only the address counts), and every other write (POST, PATCH,
// DELETE). Reads are not limited. A nil limiter limits nothing.
type Limits struct {
	Tokens, Writes *limit.Keyed
	Client         httpx.ClientAddr
}

// WithLimits sets the API's rate limits.
func WithLimits(l Limits) Option { return func(a *API) { a.limits = l } }

// mints are the routes that mint client tokens.
var mints = map[string]bool{
	"POST /v2/rooms/{room_id}/actions/generate_join_client_token": true,
	"POST /v2/rooms/{room_id}/actions/refresh_client_token":       true,
	"POST /roomsd/links/actions/open":                             true,
}

// withLimits refuses, with 429 and Retry-After, a request over its rate
// limit; nothing of it is done.
func (a *API) withLimits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			l             *limit.Keyed
			what, setting string
		)
		_, pattern := a.mux.Handler(r)
		switch {
		case mints[pattern]:
			l, what, setting = a.limits.Tokens, "client tokens", "ROOMSD_LIMIT_TOKENS"
		case r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodDelete:
			l, what, setting = a.limits.Writes, "changes", "ROOMSD_LIMIT_WRITES"
		}
		if l == nil {
			next.ServeHTTP(w, r)
			return
		}
		keys := []string{"addr:" + a.limits.Client.Key(r)}
		if id, _ := r.Context().Value(apiKeyIDKey).(string); id != "" {
			keys = append(keys, id)
		}
		for _, key := range keys {
			if ok, wait := l.Allow(key); !ok {
				by := "client address"
				if strings.HasPrefix(key, "key:") {
					by = "API key"
				}
				httpx.TooManyRequests(w, wait, fmt.Sprintf("This %s has asked for more %s than the server allows: %s (%s).",
					by, what, l.Rate(), setting))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
