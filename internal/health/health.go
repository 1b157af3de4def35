// Package health answers an orchestrator's questions: is the process
// alive (/healthz), and is it ready to take work (/readyz): the checks
// it is given all pass. Both are public and cheap.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Check is one condition of readiness: nil when it holds.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Alive answers 200 while the process serves HTTP at all.
func Alive() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusOK, answer{Status: "ok"})
	})
}

// Ready answers 200 when every check passes (each within a second), and
// 503 naming what failed otherwise.
func Ready(checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer{Status: "ready", Checks: map[string]string{}}
		code := http.StatusOK
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			err := c.Fn(ctx)
			cancel()
			if err != nil {
				a.Status, code = "not ready", http.StatusServiceUnavailable
				a.Checks[c.Name] = err.Error()
				continue
			}
			a.Checks[c.Name] = "ok"
		}
		write(w, code, a)
	})
}

type answer struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func write(w http.ResponseWriter, code int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}
