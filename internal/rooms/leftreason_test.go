package rooms_test

import (
	"testing"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
)

// A leave is recorded with the media server's close reason when it is one
// of the domain's; anything else (a dropped socket, failed ICE, a server
// stopping) is recorded as disconnected.
func TestLeftReason(t *testing.T) {
	for in, want := range map[string]string{
		domain.ReasonLeft:         domain.ReasonLeft,
		domain.ReasonKicked:       domain.ReasonKicked,
		domain.ReasonEnded:        domain.ReasonEnded,
		domain.ReasonDeleted:      domain.ReasonDeleted,
		domain.ReasonDisconnected: domain.ReasonDisconnected,
		"":                        domain.ReasonDisconnected,
		"ice_failed":              domain.ReasonDisconnected,
		domain.ReasonRestart:      domain.ReasonDisconnected,
		domain.ReasonShutdown:     domain.ReasonDisconnected,
	} {
		if got := rooms.LeftReason(in); got != want {
			t.Errorf("LeftReason(%q) = %q, want %q", in, got, want)
		}
	}
}
