package httpx

import (
	"context"
	"net/http"
)

type routeKey struct{}

// WithRouteSlot gives r a place where the muxes that route it note the
// pattern that matched (see RouteOf), and returns the slot.
func WithRouteSlot(r *http.Request) (*http.Request, *string) {
	slot := new(string)
	return r.WithContext(context.WithValue(r.Context(), routeKey{}, slot)), slot
}

// RouteOf notes, in r's route slot (if it has one), the pattern of mux
// that matches r, then serves r with next (mux itself, or a chain that
// ends in it). The pattern is noted before next runs, so that requests a
// middleware answers (401, say) are counted under their route too; a mux
// deeper in the chain notes its own pattern over it.
func RouteOf(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slot, ok := r.Context().Value(routeKey{}).(*string); ok {
			if _, pattern := mux.Handler(r); pattern != "" {
				*slot = pattern
			}
		}
		next.ServeHTTP(w, r)
	})
}
