package api

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/auth"
	"github.com/roomsd/roomsd/internal/httpx"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	queryKey
	apiKeyIDKey
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID gives every request an id, taken from a well-formed
// incoming X-Request-Id or made fresh, and echoes it on the response.
func (a *API) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// withRecover turns a panic into a logged 500, never a stack trace on the wire.
func (a *API) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.ErrorContext(r.Context(), "panic serving request", "request_id", requestID(r.Context()),
					"panic", v, "stack", string(debug.Stack()))
				a.fail(w, r, panicError{}, "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type panicError struct{}

func (panicError) Error() string { return "panic" }

// withAccessLog logs each request at debug level.
func (a *API) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &httpx.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		a.log.DebugContext(r.Context(), "request", "request_id", requestID(r.Context()), "method", r.Method,
			"path", r.URL.Path, "status", sw.Status, "duration", time.Since(start))
	})
}

// withAuth requires "Authorization: Bearer <api key>" on every path that
// is not public.
func (a *API) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPublic(r) {
			next.ServeHTTP(w, r)
			return
		}
		scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || !a.keys.Valid(strings.TrimSpace(key)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="roomsd"`)
			a.fail(w, r, newError(http.StatusUnauthorized, codeAuthFailed, "Authentication failed",
				"Send a roomsd API key as 'Authorization: Bearer <key>'. The key is printed once when roomsd first starts, or set with ROOMSD_API_KEYS."), "")
			return
		}
		// The key's identity (a hash prefix, never the key) for the rate
		// limits, which are per key.
		id := "key:" + hex.EncodeToString(auth.Hash(strings.TrimSpace(key))[:8])
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiKeyIDKey, id)))
	})
}
