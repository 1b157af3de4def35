package rooms

import (
	"context"
	"errors"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// servedElsewhere returns a *domain.ElsewhereError when the node serving
// sess is alive, and nil when it is gone (silent for longer than the
// lease, or never registered).
func (s *Service) servedElsewhere(ctx context.Context, q store.Queries, sess domain.Session) error {
	n, err := q.GetNode(ctx, sess.NodeID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return nil
	case err != nil:
		return err
	case n.Alive(s.now(), s.lease):
		return &domain.ElsewhereError{NodeID: n.ID, URL: n.URL}
	}
	return nil
}

// staleBatch is how many lost sessions EndLostSessions reads at a time.
const staleBatch = 100

// EndLostSessions ends the active sessions of the nodes that stopped
// renewing their heartbeat for longer than the lease: their participants
// leave as disconnected and the sessions end with reason node_lost,
// with the webhooks of any other end. A participant rejoins through a
// live node, which opens the room's next session. Several nodes may run
// it at once: each session is ended once. It says how many it ended; it
// does nothing outside a cluster (no lease).
func (s *Service) EndLostSessions(ctx context.Context) (int, error) {
	if s.lease <= 0 {
		return 0, nil
	}
	n := 0
	for {
		// Not this node's own (its heartbeat lapsed: its sessions are
		// still here), nor those of no node (from before nodes were
		// named, or written by a tool on the database), which are ended
		// when a node starts, not taken over.
		stale, err := s.store.StaleSessions(ctx, s.node, s.now().Add(-s.lease), staleBatch)
		if err != nil {
			return n, err
		}
		progress := false
		for _, sess := range stale {
			err := s.commit(ctx, func(q store.Queries) error {
				cur, err := activeSession(ctx, q, sess.ID)
				if err != nil {
					return err
				}
				if err := s.servedElsewhere(ctx, q, cur); err != nil {
					return err // the node came back meanwhile
				}
				_, _, err = s.endSessionTx(ctx, q, cur, domain.ReasonNodeLost, domain.ReasonDisconnected)
				return err
			})
			var elsewhere *domain.ElsewhereError
			switch {
			case err == nil:
				n++
				progress = true
			case errors.Is(err, domain.ErrSessionEnded), errors.Is(err, domain.ErrNotFound), errors.As(err, &elsewhere):
			default:
				return n, err
			}
		}
		if len(stale) < staleBatch || !progress {
			return n, nil
		}
	}
}

// ReconcileRoom brings this node's media for a room in line with what
// the database says, after a change that may have been made by another
// node (a kick, mute, end or delete served elsewhere), or that this node
// may have missed: a participant connected here who has left in the
// database (kicked, session ended, room deleted, node lost) is
// disconnected with the recorded reason, audio is muted or unmuted as
// recorded, and the room's enable_recording applies to its tracks.
// Changes already applied are left alone, so running it twice, or after
// the node applied the change itself, does nothing more.
func (s *Service) ReconcileRoom(ctx context.Context, roomID string) error {
	if s.media == nil {
		return nil
	}
	live := s.media.Live(roomID)
	if len(live) == 0 {
		return nil
	}
	room, err := s.store.GetRoom(ctx, roomID)
	if errors.Is(err, domain.ErrNotFound) {
		s.media.CloseRoom(roomID, domain.ReasonDeleted)
		return nil
	}
	if err != nil {
		return err
	}
	if s.rec != nil {
		s.rec.Ensure(roomID, room.EnableRecording)
	}
	present := map[string]domain.Participant{}
	read := map[string]bool{}
	for _, l := range live {
		if read[l.SessionID] {
			continue
		}
		read[l.SessionID] = true
		ps, err := s.store.PresentParticipants(ctx, l.SessionID)
		if err != nil {
			return err
		}
		for _, p := range ps {
			present[p.ID] = p
		}
	}
	var mute, unmute []string
	for _, l := range live {
		p, ok := present[l.ParticipantID]
		if !ok {
			gone, err := s.store.GetParticipant(ctx, l.ParticipantID)
			switch {
			case errors.Is(err, domain.ErrNotFound):
				s.media.Disconnect([]string{l.ParticipantID}, domain.ReasonDeleted)
			case err != nil:
				return err
			case gone.LeftAt != nil:
				s.media.Disconnect([]string{l.ParticipantID}, gone.LeftReason)
			}
			continue
		}
		switch {
		case p.AudioMuted && !l.Muted:
			mute = append(mute, p.ID)
		case !p.AudioMuted && l.Muted:
			unmute = append(unmute, p.ID)
		}
	}
	if len(mute) > 0 {
		s.media.SetMuted(mute, true)
	}
	if len(unmute) > 0 {
		s.media.SetMuted(unmute, false)
	}
	return nil
}

// LiveRooms lists the rooms with someone connected to this node's media.
func (s *Service) LiveRooms() []string {
	if s.media == nil {
		return nil
	}
	return s.media.Rooms()
}

// EndIdleSession ends the room's active session for reason empty if it is
// this node's and nobody is connected to it here (a retry of an end that
// failed after the empty timeout). A session of another node, or one
// someone joined again, is left alone.
func (s *Service) EndIdleSession(ctx context.Context, roomID string) error {
	err := s.commit(ctx, func(q store.Queries) error {
		if _, err := q.LockRoom(ctx, roomID); err != nil {
			return err
		}
		sess, err := q.ActiveSession(ctx, roomID)
		if err != nil {
			return err
		}
		if sess.NodeID != s.node || (s.media != nil && len(s.media.Live(roomID)) > 0) {
			return nil
		}
		_, _, err = s.endSessionTx(ctx, q, sess, domain.ReasonEmpty, domain.ReasonDisconnected)
		return err
	})
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	return err
}

// Locate returns a *domain.ElsewhereError naming the node whose media
// holds a participant, when that is another live node of the cluster, and
// nil otherwise (this node, no cluster, or no such participant present).
func (s *Service) Locate(ctx context.Context, participantID string) error {
	if s.lease <= 0 {
		return nil
	}
	p, err := s.store.GetParticipant(ctx, participantID)
	if err != nil || p.LeftAt != nil {
		return nil
	}
	sess, err := s.store.GetSession(ctx, p.SessionID)
	if err != nil || !sess.Active || sess.NodeID == s.node {
		return nil
	}
	return s.servedElsewhere(ctx, s.store, sess)
}
