package rooms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// Join adds a participant to the room's active session, opening a session
// when there is none. The cap is checked in the same transaction as the
// insert, so concurrent joins cannot exceed max_participants.
func (s *Service) Join(ctx context.Context, roomID, context string) (domain.Participant, error) {
	return s.JoinFrom(ctx, roomID, context, domain.Origin{})
}

// JoinFrom is Join for a participant whose client token has an origin
// (token family, meeting link): one kept out of the room since a kick is
// refused with a *domain.KeptOutError, and the origin is recorded so that
// a kick keeps it out.
func (s *Service) JoinFrom(ctx context.Context, roomID, context string, origin domain.Origin) (domain.Participant, error) {
	var p domain.Participant
	err := s.commit(ctx, func(q store.Queries) error {
		room, err := q.LockRoom(ctx, roomID)
		if err != nil {
			return err
		}
		now := s.clock()
		if until, banned, err := q.BannedUntil(ctx, room.ID, origin.Subjects(), now); err != nil {
			return err
		} else if banned {
			return &domain.KeptOutError{Until: until}
		}
		to := roomDestination(room)
		sess, err := q.ActiveSession(ctx, room.ID)
		if err == nil && s.lease > 0 && sess.NodeID != "" && sess.NodeID != s.node {
			// Another node serves the session: the participant joins it
			// there, unless that node is gone, when this one ends the
			// session and opens the room's next. (A session of no node,
			// written by a tool on the database, is joined here.)
			if err := s.servedElsewhere(ctx, q, sess); err != nil {
				return err
			}
			if _, _, err := s.endSessionTx(ctx, q, sess, domain.ReasonNodeLost, domain.ReasonDisconnected); err != nil {
				return err
			}
			err = domain.ErrNotFound
		}
		switch {
		case errors.Is(err, domain.ErrNotFound):
			sess = domain.Session{ID: s.newID(), RoomID: room.ID, Active: true, CreatedAt: now, UpdatedAt: now, NodeID: s.node}
			if err := q.InsertSession(ctx, sess); err != nil {
				return err
			}
			if err := s.emit(ctx, q, to, domain.Event{Type: domain.EventSessionStarted, RoomID: room.ID, SessionID: sess.ID}, now); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			n, err := q.CountPresent(ctx, sess.ID)
			if err != nil {
				return err
			}
			if n >= room.MaxParticipants {
				return domain.ErrRoomFull
			}
		}
		p = domain.Participant{ID: s.newID(), SessionID: sess.ID, Context: context, JoinedAt: now, UpdatedAt: now}
		if err := q.InsertParticipant(ctx, p); err != nil {
			return err
		}
		if origin != (domain.Origin{}) {
			if err := q.SetOrigin(ctx, p.ID, origin); err != nil {
				return err
			}
		}
		return s.emit(ctx, q, to, domain.Event{Type: domain.EventParticipantJoined, RoomID: room.ID, SessionID: sess.ID,
			ParticipantID: p.ID, Context: context}, now)
	})
	return p, err
}

// Leave records that a participant left, for the given reason. Leaving
// twice is not an error; the first left_at stands.
func (s *Service) Leave(ctx context.Context, participantID, reason string) (domain.Participant, error) {
	var p domain.Participant
	err := s.commit(ctx, func(q store.Queries) error {
		var err error
		p, err = q.GetParticipant(ctx, participantID)
		if err != nil || p.LeftAt != nil {
			return err
		}
		now := domain.Advance(p.UpdatedAt, s.now())
		p.LeftAt, p.UpdatedAt, p.LeftReason = &now, now, reason
		if err := q.UpdateParticipant(ctx, p); err != nil {
			return err
		}
		sess, err := q.GetSession(ctx, p.SessionID)
		if err != nil {
			return err
		}
		to, err := roomOf(ctx, q, sess.RoomID)
		if err != nil {
			return err
		}
		return s.emit(ctx, q, to, leftEvent(sess, p), now)
	})
	return p, err
}

// LeftReason maps why a participant's connection ended (the media
// server's close reason) to the reason its leave is recorded with: a
// reason of the domain stands, anything else is a disconnection.
func LeftReason(r string) string {
	switch r {
	case domain.ReasonLeft, domain.ReasonKicked, domain.ReasonEnded, domain.ReasonDeleted:
		return r
	}
	return domain.ReasonDisconnected
}

// EndSession ends an active session: everyone still present leaves, and the
// room no longer has an active session. It returns the ended session and
// the participants who were still present.
func (s *Service) EndSession(ctx context.Context, sessionID, reason string) (domain.Session, []domain.Participant, error) {
	var (
		sess    domain.Session
		present []domain.Participant
	)
	err := s.commit(ctx, func(q store.Queries) error {
		cur, err := activeSession(ctx, q, sessionID)
		if err != nil {
			return err
		}
		sess, present, err = s.endSessionTx(ctx, q, cur, reason, domain.ReasonEnded)
		return err
	})
	if err == nil && s.media != nil {
		s.media.CloseSession(sess.RoomID, sess.ID, domain.ReasonEnded)
	}
	return sess, present, err
}

// EndRoomSession ends the room's active session, if it has one.
func (s *Service) EndRoomSession(ctx context.Context, roomID, reason string) error {
	sess, err := s.store.ActiveSession(ctx, roomID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, _, err = s.EndSession(ctx, sess.ID, reason)
	if errors.Is(err, domain.ErrSessionEnded) {
		return nil
	}
	return err
}

// EndStaleSessions ends the active sessions of this node, and those of
// before nodes were named. At start-up no media connection of this node
// survives from before, so such a session was cut short by a stop; its
// participants leave as disconnected. The sessions of other nodes on the
// same database are theirs and are left alone.
func (s *Service) EndStaleSessions(ctx context.Context) (int, error) {
	n := 0
	for _, node := range []string{s.node, ""} {
		m, err := s.endSessionsOf(ctx, node, domain.ReasonRestart)
		n += m
		if err != nil || s.node == "" {
			return n, err
		}
	}
	return n, nil
}

// EndOwnSessions ends the active sessions of this node for reason (the
// server is stopping: its media is gone); their participants still
// present leave as disconnected. Sessions of other nodes, and of no node,
// are left alone.
func (s *Service) EndOwnSessions(ctx context.Context, reason string) (int, error) {
	if s.node == "" {
		return 0, nil
	}
	return s.endSessionsOf(ctx, s.node, reason)
}

func (s *Service) endSessionsOf(ctx context.Context, node, reason string) (int, error) {
	n := 0
	active := true
	for {
		sessions, _, err := s.store.ListSessions(ctx, store.SessionFilter{Active: &active, NodeID: &node}, store.Page{Number: 1, Size: 100})
		if err != nil || len(sessions) == 0 {
			return n, err
		}
		for _, sess := range sessions {
			err := s.commit(ctx, func(q store.Queries) error {
				cur, err := activeSession(ctx, q, sess.ID)
				if err != nil {
					return err
				}
				_, _, err = s.endSessionTx(ctx, q, cur, reason, domain.ReasonDisconnected)
				return err
			})
			if err != nil && !errors.Is(err, domain.ErrSessionEnded) {
				return n, err
			}
			n++
		}
	}
}

func activeSession(ctx context.Context, q store.Queries, id string) (domain.Session, error) {
	sess, err := q.GetSession(ctx, id)
	if err != nil {
		return sess, err
	}
	if !sess.Active {
		return sess, domain.ErrSessionEnded
	}
	return sess, nil
}

// Selection names participants of one session: everyone present, or a
// list of ids, minus the excluded ids.
type Selection struct {
	All     bool
	IDs     []string
	Exclude []string
}

// resolve returns the present participants the selection names. An id that
// is not a participant of the session is an error naming its position;
// one who already left is skipped.
func (sel Selection) resolve(ctx context.Context, q store.Queries, sessionID string) ([]domain.Participant, error) {
	present, err := q.PresentParticipants(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]domain.Participant, len(present))
	for _, p := range present {
		byID[p.ID] = p
	}
	inSession := func(field, id string) error {
		if _, ok := byID[id]; ok {
			return nil
		}
		p, err := q.GetParticipant(ctx, id)
		if errors.Is(err, domain.ErrNotFound) || (err == nil && p.SessionID != sessionID) {
			return domain.Invalid(field, "participant %s is not in session %s", id, sessionID)
		}
		return err
	}
	excluded := make(map[string]bool, len(sel.Exclude))
	for i, id := range sel.Exclude {
		if err := inSession(fmt.Sprintf("exclude/%d", i), id); err != nil {
			return nil, err
		}
		excluded[id] = true
	}
	var out []domain.Participant
	if sel.All {
		for _, p := range present {
			if !excluded[p.ID] {
				out = append(out, p)
			}
		}
		return out, nil
	}
	seen := make(map[string]bool, len(sel.IDs))
	for i, id := range sel.IDs {
		if err := inSession(fmt.Sprintf("participants/%d", i), id); err != nil {
			return nil, err
		}
		if p, ok := byID[id]; ok && !excluded[id] && !seen[id] {
			seen[id] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// Kick removes the selected participants from an active session and
// returns them, so the media server can disconnect them.
func (s *Service) Kick(ctx context.Context, sessionID string, sel Selection) ([]domain.Participant, error) {
	kicked, err := s.updateSelected(ctx, sessionID, sel, true, func(p *domain.Participant, now time.Time) bool {
		p.LeftAt, p.LeftReason = &now, domain.ReasonKicked
		return true
	})
	if err == nil && s.media != nil && len(kicked) > 0 {
		s.media.Disconnect(ids(kicked), domain.ReasonKicked)
	}
	return kicked, err
}

func ids(ps []domain.Participant) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// SetMuted mutes or unmutes the audio of the selected participants and
// returns those whose state changed.
func (s *Service) SetMuted(ctx context.Context, sessionID string, sel Selection, muted bool) ([]domain.Participant, error) {
	changed, err := s.updateSelected(ctx, sessionID, sel, false, func(p *domain.Participant, _ time.Time) bool {
		if p.AudioMuted == muted {
			return false
		}
		p.AudioMuted = muted
		return true
	})
	if err == nil && len(changed) > 0 {
		verb := "participants unmuted"
		if muted {
			verb = "participants muted"
		}
		s.log.Info(verb, "session_id", sessionID, "participant_ids", ids(changed))
		if s.media != nil {
			s.media.SetMuted(ids(changed), muted)
		}
	}
	return changed, err
}

// updateSelected applies change to each selected participant in one
// transaction and stores those it changed; with leaving set, each changed
// participant's leave is reported as an event.
func (s *Service) updateSelected(ctx context.Context, sessionID string, sel Selection, leaving bool,
	change func(p *domain.Participant, now time.Time) bool) ([]domain.Participant, error) {
	var changed []domain.Participant
	err := s.commit(ctx, func(q store.Queries) error {
		changed = changed[:0]
		sess, err := activeSession(ctx, q, sessionID)
		if err != nil {
			return err
		}
		to, err := roomOf(ctx, q, sess.RoomID)
		if err != nil {
			return err
		}
		selected, err := sel.resolve(ctx, q, sessionID)
		if err != nil {
			return err
		}
		for _, p := range selected {
			now := domain.Advance(p.UpdatedAt, s.now())
			if !change(&p, now) {
				continue
			}
			p.UpdatedAt = now
			if err := q.UpdateParticipant(ctx, p); err != nil {
				return err
			}
			if len(changed) == 0 {
				// The node holding the session's media may be another one.
				if err := q.NotifyRoom(ctx, sess.RoomID); err != nil {
					return err
				}
			}
			if leaving {
				if err := s.emit(ctx, q, to, leftEvent(sess, p), now); err != nil {
					return err
				}
				// Its token and meeting link stay out of the room a while.
				o, err := q.GetOrigin(ctx, p.ID)
				if err != nil {
					return err
				}
				if err := q.Ban(ctx, sess.RoomID, o.Subjects(), now.Add(s.kickBan)); err != nil {
					return err
				}
			}
			changed = append(changed, p)
		}
		return nil
	})
	return changed, err
}
