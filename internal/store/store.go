// Package store declares the persistence seam of roomsd: the queries the
// domain layer needs, a transaction runner, and the list parameters. Every
// backend (SQLite today, PostgreSQL next) implements Store and passes the
// contract suite in package storetest.
package store

import (
	"context"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

// TimeRange is a half-open interval [From, Until). A zero bound is open.
type TimeRange struct {
	From  time.Time
	Until time.Time
}

// IsZero reports whether the range does not restrict anything.
func (r TimeRange) IsZero() bool { return r.From.IsZero() && r.Until.IsZero() }

// Page selects a window of a list ordered newest first.
type Page struct {
	Number int // 1-based
	Size   int
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// RoomFilter restricts a room listing. Zero fields do not filter.
type RoomFilter struct {
	CreatedAt  TimeRange
	UpdatedAt  TimeRange
	UniqueName *string
}

// Queries are the reads and writes one request or one transaction performs.
// Implementations return domain.ErrNotFound for a missing row and a
// *domain.ValidationError of KindDuplicate for a taken unique_name.
type Queries interface {
	// GetRoom returns one room with its active session id.
	GetRoom(ctx context.Context, id string) (domain.Room, error)
	// LockRoom reads a room and holds it against concurrent writers until
	// the surrounding transaction ends. Use it before read-modify-write.
	LockRoom(ctx context.Context, id string) (domain.Room, error)
	InsertRoom(ctx context.Context, r domain.Room) error
	UpdateRoom(ctx context.Context, r domain.Room) error
	// DeleteRoom removes a room and everything that hangs on it.
	DeleteRoom(ctx context.Context, id string) error
	// ListRooms returns one page, newest first (created_at, then id, both
	// descending), and the number of rooms matching the filter.
	ListRooms(ctx context.Context, f RoomFilter, p Page) ([]domain.Room, int, error)

	GetSession(ctx context.Context, id string) (domain.Session, error)
	// ActiveSession returns the room's active session or domain.ErrNotFound.
	ActiveSession(ctx context.Context, roomID string) (domain.Session, error)
	InsertSession(ctx context.Context, s domain.Session) error
	UpdateSession(ctx context.Context, s domain.Session) error
	// SessionsByRooms returns the sessions of the given rooms, newest first.
	SessionsByRooms(ctx context.Context, roomIDs []string) ([]domain.Session, error)

	GetParticipant(ctx context.Context, id string) (domain.Participant, error)
	InsertParticipant(ctx context.Context, p domain.Participant) error
	UpdateParticipant(ctx context.Context, p domain.Participant) error
	// CountPresent counts the session's participants who have not left.
	CountPresent(ctx context.Context, sessionID string) (int, error)
	// LeaveAll sets left_at and updated_at on everyone still present.
	LeaveAll(ctx context.Context, sessionID string, at time.Time) error
	// ParticipantsBySessions returns the participants of the given
	// sessions in join order.
	ParticipantsBySessions(ctx context.Context, sessionIDs []string) ([]domain.Participant, error)
}

// Store is a database: Queries outside any transaction, InTx for atomic
// work, and the API key table.
type Store interface {
	Queries
	// InTx runs fn in one serializable write transaction. It commits when
	// fn returns nil and rolls back otherwise.
	InTx(ctx context.Context, fn func(q Queries) error) error

	// APIKeyHashes returns the stored SHA-256 hashes of API keys.
	APIKeyHashes(ctx context.Context) ([][]byte, error)
	// InsertAPIKeyHash stores the hash of a newly created API key.
	InsertAPIKeyHash(ctx context.Context, hash []byte, at time.Time) error

	Close() error
}
