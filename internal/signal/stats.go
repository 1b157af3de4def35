package signal

import (
	"maps"
	"sync"

	"github.com/roomsd/roomsd/internal/wsq"
)

// Stats is what the signaling server holds now and has refused so far,
// for metrics.
type Stats struct {
	// Sockets are the signaling connections open now.
	Sockets int
	// Refused counts refused joins by the error code sent (unauthorized,
	// room_full, kicked, not_found, unavailable), and connections refused
	// before they open (RefusedRateLimited, RefusedServerFull).
	Refused map[string]uint64
}

// Refusals before the socket opens, counted with the join refusals: a
// client address over its connection rate, and a server holding all the
// sockets it may.
const (
	RefusedRateLimited = wsq.RefusedRateLimited
	RefusedServerFull  = wsq.RefusedServerFull
)

type counts struct {
	mu      sync.Mutex
	refused map[string]uint64
}

func (c *counts) refuse(code string) {
	c.mu.Lock()
	if c.refused == nil {
		c.refused = map[string]uint64{}
	}
	c.refused[code]++
	c.mu.Unlock()
}

// Stats reports the open sockets and the joins refused so far.
func (h *Handler) Stats() Stats {
	h.counts.mu.Lock()
	defer h.counts.mu.Unlock()
	return Stats{Sockets: h.gate.Open(), Refused: maps.Clone(h.counts.refused)}
}
