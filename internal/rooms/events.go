package rooms

import (
	"context"
	"errors"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// WithEventNotifier registers a function called after every committed
// change that may have added webhook events (the dispatcher's wake-up).
// It must not block.
func WithEventNotifier(fn func()) Option { return func(s *Service) { s.notify = fn } }

func (s *Service) notifyEvents() {
	if s.notify != nil {
		s.notify()
	}
}

// destination is where an event goes: a room's or a composition's
// webhook settings at the moment of the event.
type destination struct {
	url, failover *string
	timeout       *int
}

func roomDestination(r domain.Room) destination {
	return destination{url: r.WebhookEventURL, failover: r.WebhookEventFailoverURL, timeout: r.WebhookTimeoutSecs}
}

// emit adds ev to the outbox, in the caller's transaction, when the
// destination has a webhook URL.
func (s *Service) emit(ctx context.Context, q store.Queries, to destination, ev domain.Event, now time.Time) error {
	if to.url == nil || *to.url == "" {
		return nil
	}
	ev.ID, ev.OccurredAt = s.newID(), now
	d := domain.Delivery{Event: ev, URL: *to.url, TimeoutSecs: to.timeout, Status: domain.DeliveryPending,
		NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	if to.failover != nil {
		d.FailoverURL = *to.failover
	}
	return q.AppendDelivery(ctx, d)
}

// roomOf returns the destination of a room's events; a room that no
// longer exists has none.
func roomOf(ctx context.Context, q store.Queries, roomID string) (destination, error) {
	r, err := q.GetRoom(ctx, roomID)
	if errors.Is(err, domain.ErrNotFound) {
		return destination{}, nil
	}
	if err != nil {
		return destination{}, err
	}
	return roomDestination(r), nil
}

func seconds(from, to time.Time) *int {
	d := int(to.Sub(from).Round(time.Second) / time.Second)
	return &d
}

func leftEvent(sess domain.Session, p domain.Participant) domain.Event {
	return domain.Event{Type: domain.EventParticipantLeft, RoomID: sess.RoomID, SessionID: sess.ID, ParticipantID: p.ID,
		Context: p.Context, DurationSecs: seconds(p.JoinedAt, *p.LeftAt), Reason: p.LeftReason}
}

// endSessionTx ends an active session inside a transaction: everyone
// present leaves for participantReason, the session ends for
// sessionReason, and the events go out in that order.
func (s *Service) endSessionTx(ctx context.Context, q store.Queries, sess domain.Session, sessionReason, participantReason string) (domain.Session, []domain.Participant, error) {
	to, err := roomOf(ctx, q, sess.RoomID)
	if err != nil {
		return sess, nil, err
	}
	present, err := q.PresentParticipants(ctx, sess.ID)
	if err != nil {
		return sess, nil, err
	}
	now := domain.Advance(sess.UpdatedAt, s.now())
	if err := q.LeaveAll(ctx, sess.ID, now, participantReason); err != nil {
		return sess, nil, err
	}
	for _, p := range present {
		p.LeftAt, p.LeftReason = &now, participantReason
		if err := s.emit(ctx, q, to, leftEvent(sess, p), now); err != nil {
			return sess, nil, err
		}
	}
	sess.Active, sess.EndedAt, sess.UpdatedAt, sess.EndedReason = false, &now, now, sessionReason
	if err := q.UpdateSession(ctx, sess); err != nil {
		return sess, nil, err
	}
	err = s.emit(ctx, q, to, domain.Event{Type: domain.EventSessionEnded, RoomID: sess.RoomID, SessionID: sess.ID,
		DurationSecs: seconds(sess.CreatedAt, now), Reason: sessionReason}, now)
	return sess, present, err
}

// CompleteComposition marks a composition rendered and downloadable, and
// sends video.room.composition.completed to the composition's webhook.
func (s *Service) CompleteComposition(ctx context.Context, id string, sizeMB float64, durationSecs int, downloadURL string) (domain.Composition, error) {
	var c domain.Composition
	err := s.store.InTx(ctx, func(q store.Queries) error {
		var err error
		if c, err = q.GetComposition(ctx, id); err != nil {
			return err
		}
		if c.Status == domain.CompositionCompleted {
			return errAlreadyDone // once only: no second event
		}
		now := domain.Advance(c.UpdatedAt, s.now())
		if c.StartedAt == nil {
			c.StartedAt = &now
		}
		c.Status, c.EndedAt, c.CompletedAt, c.UpdatedAt = domain.CompositionCompleted, &now, &now, now
		c.SizeMB, c.DurationSecs, c.DownloadURL = &sizeMB, &durationSecs, &downloadURL
		if err := q.UpdateComposition(ctx, c); err != nil {
			return err
		}
		to := destination{url: c.WebhookEventURL, failover: c.WebhookEventFailoverURL, timeout: c.WebhookTimeoutSecs}
		return s.emit(ctx, q, to, domain.Event{Type: domain.EventCompositionCompleted, RoomID: c.RoomID, SessionID: c.SessionID,
			CompositionID: c.ID, SizeMB: c.SizeMB, DurationSecs: c.DurationSecs, DownloadURL: downloadURL,
			Format: c.Format, Resolution: c.Resolution}, now)
	})
	if errors.Is(err, errAlreadyDone) {
		return c, nil
	}
	if err == nil {
		s.notifyEvents()
	}
	return c, err
}

// ListDeliveries returns recent webhook deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, f store.DeliveryFilter, p store.Page) ([]domain.Delivery, int, error) {
	return s.store.ListDeliveries(ctx, f, p)
}
