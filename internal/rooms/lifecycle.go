package rooms

import (
	"context"
	"errors"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// Join adds a participant to the room's active session, opening a session
// when there is none. The cap is checked in the same transaction as the
// insert, so concurrent joins cannot exceed max_participants.
func (s *Service) Join(ctx context.Context, roomID, context string) (domain.Participant, error) {
	var p domain.Participant
	err := s.store.InTx(ctx, func(q store.Queries) error {
		room, err := q.LockRoom(ctx, roomID)
		if err != nil {
			return err
		}
		now := s.clock()
		sess, err := q.ActiveSession(ctx, room.ID)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			sess = domain.Session{ID: s.newID(), RoomID: room.ID, Active: true, CreatedAt: now, UpdatedAt: now}
			if err := q.InsertSession(ctx, sess); err != nil {
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
		return q.InsertParticipant(ctx, p)
	})
	return p, err
}

// Leave records that a participant left. Leaving twice is not an error; the
// first left_at stands.
func (s *Service) Leave(ctx context.Context, participantID string) (domain.Participant, error) {
	var p domain.Participant
	err := s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		p, err = q.GetParticipant(ctx, participantID)
		if err != nil || p.LeftAt != nil {
			return err
		}
		now := domain.Advance(p.UpdatedAt, s.now())
		p.LeftAt, p.UpdatedAt = &now, now
		return q.UpdateParticipant(ctx, p)
	})
	return p, err
}

// EndSession ends an active session: everyone still present leaves, and the
// room no longer has an active session.
func (s *Service) EndSession(ctx context.Context, sessionID string) (domain.Session, error) {
	var sess domain.Session
	err := s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		sess, err = q.GetSession(ctx, sessionID)
		if err != nil {
			return err
		}
		if !sess.Active {
			return domain.ErrSessionEnded
		}
		now := domain.Advance(sess.UpdatedAt, s.now())
		sess.Active, sess.EndedAt, sess.UpdatedAt = false, &now, now
		if err := q.LeaveAll(ctx, sess.ID, now); err != nil {
			return err
		}
		return q.UpdateSession(ctx, sess)
	})
	return sess, err
}
