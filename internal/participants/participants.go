// Package participants runs the lifecycle of a participant that every
// signaling front end shares: admission in the database (where the room's
// max_participants is enforced), the join to the media server, a second
// look for a kick, end or delete that landed in between, and, once the
// media server lets the participant go for whatever reason, recording the
// leave. A front end brings the wire protocol: how a client asks to join,
// how it is told, and what it subscribes to.
package participants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/sfu"
)

// recordTimeout bounds the database write that records a leave, which
// happens after the request that joined is gone.
const recordTimeout = 10 * time.Second

// ErrUnavailable is returned by Join when the media server does not take
// the participant (it is shutting down, or failed to set up the
// connection); the admission is undone.
var ErrUnavailable = errors.New("the media server is not accepting participants")

// ErrServerFull is returned by Join when this server holds as many
// participants as it may; nothing changed. It matches ErrUnavailable.
var ErrServerFull = fmt.Errorf("%w: this server holds as many participants as it may", ErrUnavailable)

// Service joins participants and records their leaves.
type Service struct {
	rooms *rooms.Service
	media *sfu.Manager
	log   *slog.Logger

	// max caps the participants in the media server at once (0: none);
	// live counts them, with the joins under way.
	max  int64
	live atomic.Int64

	mu      sync.Mutex
	closing bool
	leaves  sync.WaitGroup // one per participant in the media server
	// unrecorded holds the leaves whose recording failed: participant
	// id → reason. RetryLeaves records them.
	unrecorded map[string]string
}

// New returns the service. maxParticipants caps the participants this
// server holds at once (0: no cap).
func New(r *rooms.Service, media *sfu.Manager, log *slog.Logger, maxParticipants int) *Service {
	return &Service{rooms: r, media: media, log: log, unrecorded: map[string]string{}, max: int64(maxParticipants)}
}

// Request is one participant asking to join a room.
type Request struct {
	RoomID  string
	Context string // the client's own label, kept with the participant
	// Origin is where the client's token came from (see rooms.JoinFrom).
	Origin domain.Origin
	// Subscriptions is the front end's policy: what the participant
	// receives.
	Subscriptions sfu.Subscriptions
	// OwnConns: the front end opens the participant's media connections
	// itself (sfu.Participant.NewConn), so the participant joins without
	// a main connection and subscribes through those.
	OwnConns bool
	// Admitted runs once the database has admitted the participant and
	// before it joins the media server: the front end tells its client
	// there, before the first media event.
	Admitted func(domain.Participant)
	// Events receives the media server's events for the participant (see
	// sfu.Manager.Join).
	Events func(sfu.Event)
	// Left runs once the participant is gone from the media server and
	// its leave is recorded, with the reason (a domain.Reason*).
	Left func(p *sfu.Participant, reason string)
}

// Join admits a participant and joins it to the media server. The errors
// are domain.ErrRoomFull and domain.ErrNotFound (nothing changed),
// ErrUnavailable (the admission was undone), or a database error.
func (s *Service) Join(ctx context.Context, req Request) (_ *sfu.Participant, err error) {
	// A place on this server is taken first, so that a full server
	// changes nothing in the database; it is given back when the join
	// fails or the participant is gone.
	if n := s.live.Add(1); s.max > 0 && n > s.max {
		s.live.Add(-1)
		return nil, ErrServerFull
	}
	defer func() {
		if err != nil {
			s.live.Add(-1)
		}
	}()
	part, err := s.rooms.JoinFrom(ctx, req.RoomID, req.Context, req.Origin)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.leaves.Add(1) // before Wait can begin: see Wait
	}
	s.mu.Unlock()
	if closing {
		s.record(part.ID, domain.ReasonDisconnected)
		return nil, ErrUnavailable
	}
	if req.Admitted != nil {
		req.Admitted(part)
	}
	var p *sfu.Participant
	if req.OwnConns {
		p, err = s.media.JoinWithoutConn(req.RoomID, part.SessionID, part.ID, req.Context, req.Events)
	} else {
		p, err = s.media.Join(req.RoomID, part.SessionID, part.ID, req.Context, req.Events, req.Subscriptions)
	}
	if err != nil {
		s.log.Error("media join", "room_id", req.RoomID, "err", err)
		s.record(part.ID, domain.ReasonDisconnected)
		s.leaves.Done()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	go func() {
		defer s.leaves.Done()
		defer s.live.Add(-1)
		<-p.Done()
		reason := p.Reason()
		s.record(p.ID(), rooms.LeftReason(reason))
		if req.Left != nil {
			req.Left(p, reason)
		}
	}()
	// A kick, end or delete that landed between the admission and the
	// media join found nobody to disconnect; look again now that the
	// participant is reachable.
	if now, err := s.rooms.GetParticipant(ctx, part.ID); errors.Is(err, domain.ErrNotFound) {
		p.Close(domain.ReasonDeleted)
	} else if err == nil && now.LeftAt != nil {
		p.Close(now.LeftReason)
	}
	return p, nil
}

// record writes a participant's leave; one already recorded (a kick, an
// end) or deleted stays as it is.
func (s *Service) record(participantID, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if _, err := s.rooms.Leave(ctx, participantID, reason); err != nil && !errors.Is(err, domain.ErrNotFound) {
		s.log.Error("record leave; it is tried again", "participant_id", participantID, "err", err)
		s.mu.Lock()
		s.unrecorded[participantID] = reason
		s.mu.Unlock()
	}
}

// RetryLeaves records again the leaves that could not be recorded when
// they happened (the database was unreachable), so that nobody holds a
// max_participants slot after leaving; it says how many are still
// unrecorded. The node's reconciler calls it periodically.
func (s *Service) RetryLeaves(ctx context.Context) int {
	s.mu.Lock()
	todo := maps.Clone(s.unrecorded)
	s.mu.Unlock()
	for id, reason := range todo {
		if _, err := s.rooms.Leave(ctx, id, reason); err != nil && !errors.Is(err, domain.ErrNotFound) {
			continue
		}
		s.mu.Lock()
		delete(s.unrecorded, id)
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.unrecorded)
}

// Wait refuses joins from now on and returns once every participant that
// joined has left and its leave is recorded; call it after closing the
// media server and before closing the database.
func (s *Service) Wait() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.leaves.Wait()
}
