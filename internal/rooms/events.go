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

// commit runs fn in one transaction and, once it has committed, logs the
// events fn emitted and wakes the webhook dispatcher.
func (s *Service) commit(ctx context.Context, fn func(q store.Queries) error) error {
	var events []domain.Event
	err := s.store.InTx(ctx, func(q store.Queries) error {
		events = events[:0]
		return fn(logged{Queries: q, events: &events})
	})
	if err == nil {
		s.logEvents(events)
		s.notifyEvents()
	}
	return err
}

// logged is a transaction's queries with the events emitted in it, which
// are logged once it commits.
type logged struct {
	store.Queries
	events *[]domain.Event
}

// logEvents writes one info line per committed room event: ids and
// reasons, never a participant's context (an application's label, which
// may name a person) or anything secret.
func (s *Service) logEvents(events []domain.Event) {
	for _, ev := range events {
		attrs := []any{"room_id", ev.RoomID, "session_id", ev.SessionID}
		msg := ""
		switch ev.Type {
		case domain.EventSessionStarted:
			msg = "session started"
			attrs = append(attrs, "node_id", s.node)
		case domain.EventSessionEnded:
			msg = "session ended"
			attrs = append(attrs, "reason", ev.Reason, "duration_secs", deref(ev.DurationSecs))
		case domain.EventParticipantJoined:
			msg = "participant joined"
			attrs = append(attrs, "participant_id", ev.ParticipantID)
		case domain.EventParticipantLeft:
			msg = "participant left"
			attrs = append(attrs, "participant_id", ev.ParticipantID, "reason", ev.Reason, "duration_secs", deref(ev.DurationSecs))
		default:
			continue
		}
		s.log.Info(msg, attrs...)
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

func compositionDestination(c domain.Composition) destination {
	return destination{url: c.WebhookEventURL, failover: c.WebhookEventFailoverURL, timeout: c.WebhookTimeoutSecs}
}

// emit adds ev to the outbox, in the caller's transaction, when the
// destination has a webhook URL.
func (s *Service) emit(ctx context.Context, q store.Queries, to destination, ev domain.Event, now time.Time) error {
	if l, ok := q.(logged); ok {
		*l.events = append(*l.events, ev)
	}
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
	// The node holding the session's media may be another one.
	if err := q.NotifyRoom(ctx, sess.RoomID); err != nil {
		return sess, nil, err
	}
	err = s.emit(ctx, q, to, domain.Event{Type: domain.EventSessionEnded, RoomID: sess.RoomID, SessionID: sess.ID,
		DurationSecs: seconds(sess.CreatedAt, now), Reason: sessionReason}, now)
	return sess, present, err
}

// ListDeliveries returns recent webhook deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, f store.DeliveryFilter, p store.Page) ([]domain.Delivery, int, error) {
	return s.store.ListDeliveries(ctx, f, p)
}
