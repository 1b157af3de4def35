// Package domain holds the video-rooms entities, their invariants and the
// errors the rest of roomsd speaks in. It imports nothing but the standard
// library; storage, HTTP and media code all depend on it, never the reverse.
package domain

import (
	"time"
)

// Limits on room fields. They mirror the public Telnyx contract.
const (
	MinParticipants       = 2
	MaxParticipants       = 50
	DefaultMaxParticipant = 10
	MaxWebhookTimeoutSecs = 30
	MaxUniqueNameLen      = 255
	MaxURLLen             = 2000
)

// Room is a named place people join. Its active session, when there is one,
// is derived from the sessions table rather than stored twice.
type Room struct {
	ID                      string
	UniqueName              *string
	MaxParticipants         int
	EnableRecording         bool
	WebhookEventURL         *string
	WebhookEventFailoverURL *string
	WebhookTimeoutSecs      *int
	ActiveSessionID         *string
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Session is one continuous period during which a room had participants.
type Session struct {
	ID        string
	RoomID    string
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	EndedAt   *time.Time
}

// Participant is one person's presence in one session.
type Participant struct {
	ID        string
	SessionID string
	Context   string
	JoinedAt  time.Time
	UpdatedAt time.Time
	LeftAt    *time.Time
}

// Timestamp normalises a time to what roomsd stores and prints: UTC,
// microsecond precision.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Advance returns now, or one microsecond after prev when the clock has not
// moved past it, so that an update always moves updated_at forward.
func Advance(prev, now time.Time) time.Time {
	now = Timestamp(now)
	if !now.After(prev) {
		return prev.Add(time.Microsecond)
	}
	return now
}
