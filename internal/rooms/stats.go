package rooms

import (
	"errors"
	"sync/atomic"

	"github.com/roomsd/roomsd/internal/domain"
)

// TokenStats counts client tokens minted and refused since the service
// started, for metrics.
type TokenStats struct {
	// Minted: by generate_join_client_token (Issued), by
	// refresh_client_token (Refreshed), and by opening a meeting link
	// (Link).
	Issued, Refreshed, Link uint64
	// Refused: join tokens, refresh tokens and meeting links that did not
	// allow what they were presented for (expired, forged, for another
	// room, of a deleted room, revoked).
	RefusedJoin, RefusedRefresh, RefusedLink uint64
}

type tokenCounts struct {
	issued, refreshed, link                   atomic.Uint64
	refusedJoin, refusedRefresh, refusedLinks atomic.Uint64
}

// TokenStats reports the tokens minted and refused so far.
func (s *Service) TokenStats() TokenStats {
	c := &s.tokens
	return TokenStats{Issued: c.issued.Load(), Refreshed: c.refreshed.Load(), Link: c.link.Load(),
		RefusedJoin: c.refusedJoin.Load(), RefusedRefresh: c.refusedRefresh.Load(), RefusedLink: c.refusedLinks.Load()}
}

// counted adds one to ok when err is nil, and to refused when err is a
// refusal (not a database failure).
func counted(err error, ok, refused *atomic.Uint64) {
	switch {
	case err == nil:
		ok.Add(1)
	case errors.Is(err, domain.ErrForbidden), errors.Is(err, domain.ErrNotFound),
		errors.Is(err, ErrLinkExpired), errors.Is(err, ErrLinkRevoked):
		if refused != nil {
			refused.Add(1)
		}
	}
}
