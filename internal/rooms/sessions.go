package rooms

import (
	"context"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// ListSessionsParams selects a page of sessions.
type ListSessionsParams struct {
	// Room, when set, scopes the list to one room, which must exist.
	Room                string
	Filter              store.SessionFilter
	Page                store.Page
	IncludeParticipants bool
}

// ListSessions returns a page of sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, p ListSessionsParams) ([]SessionView, int, error) {
	if p.Room != "" {
		if _, err := s.store.GetRoom(ctx, p.Room); err != nil {
			return nil, 0, err
		}
		p.Filter.RoomID = &p.Room
	}
	sessions, total, err := s.store.ListSessions(ctx, p.Filter, p.Page)
	if err != nil {
		return nil, 0, err
	}
	views := make([]SessionView, len(sessions))
	for i, ss := range sessions {
		views[i].Session = ss
	}
	if p.IncludeParticipants {
		if err := s.attachParticipants(ctx, views); err != nil {
			return nil, 0, err
		}
	}
	return views, total, nil
}

// ViewSession returns one session, with its participants when asked for.
func (s *Service) ViewSession(ctx context.Context, id string, includeParticipants bool) (SessionView, error) {
	ss, err := s.store.GetSession(ctx, id)
	if err != nil {
		return SessionView{}, err
	}
	views := []SessionView{{Session: ss}}
	if includeParticipants {
		if err := s.attachParticipants(ctx, views); err != nil {
			return SessionView{}, err
		}
	}
	return views[0], nil
}

// attachParticipants loads the participants of all sessions in one query.
func (s *Service) attachParticipants(ctx context.Context, views []SessionView) error {
	ids := make([]string, len(views))
	idx := make(map[string]int, len(views))
	for i := range views {
		ids[i] = views[i].ID
		idx[views[i].ID] = i
		views[i].Participants = []domain.Participant{}
	}
	parts, err := s.store.ParticipantsBySessions(ctx, ids)
	if err != nil {
		return err
	}
	for _, p := range parts {
		v := &views[idx[p.SessionID]]
		v.Participants = append(v.Participants, p)
	}
	return nil
}

// ListParticipants returns a page of participants, latest joined first.
// A non-empty session scopes the list to that session, which must exist.
func (s *Service) ListParticipants(ctx context.Context, session string, f store.ParticipantFilter, p store.Page) ([]domain.Participant, int, error) {
	if session != "" {
		if _, err := s.store.GetSession(ctx, session); err != nil {
			return nil, 0, err
		}
		f.SessionID = &session
	}
	return s.store.ListParticipants(ctx, f, p)
}

// GetParticipant returns one participant.
func (s *Service) GetParticipant(ctx context.Context, id string) (domain.Participant, error) {
	return s.store.GetParticipant(ctx, id)
}
