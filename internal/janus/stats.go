package janus

import (
	"maps"

	"github.com/roomsd/roomsd/internal/wsq"
)

// Stats is what the Janus front holds now and has refused so far, for
// metrics.
type Stats struct {
	// Sockets are the Janus WebSocket connections open now.
	Sockets int
	// Refused counts sessions and joins refused, by reason (the
	// Refused* constants).
	Refused map[string]uint64
}

// Reasons a session or join is refused.
const (
	RefusedUnauthorized = "unauthorized" // no, a bad or an expired token
	RefusedRoomFull     = "room_full"
	RefusedKicked       = "kicked"
	RefusedNotFound     = "not_found"
	RefusedElsewhere    = "elsewhere" // another node holds the room's meeting
	RefusedUnavailable  = "unavailable"
	RefusedRateLimited  = wsq.RefusedRateLimited
	RefusedServerFull   = wsq.RefusedServerFull
)

// RefusedReasons lists every reason, for a metric that shows them all.
func RefusedReasons() []string {
	return []string{RefusedUnauthorized, RefusedRoomFull, RefusedKicked, RefusedNotFound, RefusedElsewhere, RefusedUnavailable,
		RefusedRateLimited, RefusedServerFull}
}

func (h *Handler) refused(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refusals == nil {
		h.refusals = map[string]uint64{}
	}
	h.refusals[reason]++
}

// Stats reports the open sockets and the refusals so far.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Sockets: h.gate.Open(), Refused: maps.Clone(h.refusals)}
}
