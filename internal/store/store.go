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

// SessionFilter restricts a session listing. Zero fields do not filter.
type SessionFilter struct {
	CreatedAt TimeRange
	UpdatedAt TimeRange
	EndedAt   TimeRange
	RoomID    *string
	Active    *bool
	// NodeID selects the sessions a node serves.
	NodeID *string
}

// ParticipantFilter restricts a participant listing.
type ParticipantFilter struct {
	JoinedAt  TimeRange
	UpdatedAt TimeRange
	LeftAt    TimeRange
	Context   *string
	SessionID *string
}

// IntRange is an inclusive range; a nil bound is open.
type IntRange struct {
	Min, Max *int
}

// RecordingFilter restricts a recording listing or bulk delete.
type RecordingFilter struct {
	StartedAt     TimeRange
	EndedAt       TimeRange
	RoomID        *string
	SessionID     *string
	ParticipantID *string
	Status        *string
	Type          *string
	DurationSecs  IntRange
}

// IsZero reports whether the filter selects every recording.
func (f RecordingFilter) IsZero() bool { return len(f.Conditions()) == 0 }

// Conditions names the columns the filter restricts: started_at,
// ended_at, room_id, session_id, participant_id, status, type and
// duration_secs. A bulk delete checks it against the filters it was given.
func (f RecordingFilter) Conditions() []string {
	var c []string
	for _, t := range []struct {
		name string
		on   bool
	}{
		{"started_at", !f.StartedAt.IsZero()}, {"ended_at", !f.EndedAt.IsZero()},
		{"room_id", f.RoomID != nil}, {"session_id", f.SessionID != nil},
		{"participant_id", f.ParticipantID != nil}, {"status", f.Status != nil}, {"type", f.Type != nil},
		{"duration_secs", f.DurationSecs.Min != nil || f.DurationSecs.Max != nil},
	} {
		if t.on {
			c = append(c, t.name)
		}
	}
	return c
}

// CompositionFilter restricts a composition listing.
type CompositionFilter struct {
	CreatedAt TimeRange
	SessionID *string
	Status    *string
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
	// LeaveAll sets left_at, left_reason and updated_at on everyone
	// still present.
	LeaveAll(ctx context.Context, sessionID string, at time.Time, reason string) error
	// PresentParticipants returns who has not left the session, in join order.
	PresentParticipants(ctx context.Context, sessionID string) ([]domain.Participant, error)
	// ParticipantsBySessions returns the participants of the given
	// sessions in join order.
	ParticipantsBySessions(ctx context.Context, sessionIDs []string) ([]domain.Participant, error)

	// ListSessions returns one page of sessions, newest first, and the
	// number matching.
	ListSessions(ctx context.Context, f SessionFilter, p Page) ([]domain.Session, int, error)
	// ListParticipants returns one page of participants, latest joined
	// first, and the number matching.
	ListParticipants(ctx context.Context, f ParticipantFilter, p Page) ([]domain.Participant, int, error)

	InsertRecording(ctx context.Context, r domain.Recording) error
	UpdateRecording(ctx context.Context, r domain.Recording) error
	GetRecording(ctx context.Context, id string) (domain.Recording, error)
	// ListRecordings returns one page, latest started first.
	ListRecordings(ctx context.Context, f RecordingFilter, p Page) ([]domain.Recording, int, error)
	DeleteRecording(ctx context.Context, id string) error
	// DeleteRecordings deletes the recordings matching f (only those on
	// page p when p is not nil) and returns the ids it deleted.
	DeleteRecordings(ctx context.Context, f RecordingFilter, p *Page) ([]string, error)

	InsertComposition(ctx context.Context, c domain.Composition) error
	UpdateComposition(ctx context.Context, c domain.Composition) error
	GetComposition(ctx context.Context, id string) (domain.Composition, error)
	// ListCompositions returns one page, newest first.
	ListCompositions(ctx context.Context, f CompositionFilter, p Page) ([]domain.Composition, int, error)
	DeleteComposition(ctx context.Context, id string) error

	// AppendDelivery adds an event to the webhook outbox. Call it in the
	// transaction of the change that caused the event.
	AppendDelivery(ctx context.Context, d domain.Delivery) error

	InsertLink(ctx context.Context, l domain.Link) error
	// GetLink returns a meeting link, or domain.ErrNotFound.
	GetLink(ctx context.Context, id string) (domain.Link, error)
	// ListLinks returns a room's meeting links, newest first.
	ListLinks(ctx context.Context, roomID string) ([]domain.Link, error)
	// RevokeLink sets a link's revoked_at (once: a revoked link keeps its
	// first time).
	RevokeLink(ctx context.Context, id string, at time.Time) error

	// SetOrigin records where a participant's token came from.
	SetOrigin(ctx context.Context, participantID string, o domain.Origin) error
	// GetOrigin returns it (a zero Origin for a participant without one).
	GetOrigin(ctx context.Context, participantID string) (domain.Origin, error)
	// Ban keeps subjects (domain.Origin.Subjects) out of a room until a
	// time; a later time wins over an earlier one.
	Ban(ctx context.Context, roomID string, subjects []string, until time.Time) error
	// BannedUntil returns the latest time until which any of subjects is
	// kept out of the room, if that is after now.
	BannedUntil(ctx context.Context, roomID string, subjects []string, now time.Time) (until time.Time, banned bool, err error)

	// GetNode returns a registered node, or domain.ErrNotFound.
	GetNode(ctx context.Context, id string) (domain.Node, error)
	// NotifyRoom tells every node listening (Store.Listen) that the room
	// changed, when the surrounding transaction commits (at once outside
	// one). A store shared by one process only may do nothing.
	NotifyRoom(ctx context.Context, roomID string) error
}

// DeliveryFilter restricts a listing of webhook deliveries.
type DeliveryFilter struct {
	Status *string
	RoomID *string
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

	// SigningKeySeed returns the first key seed stored for a purpose
	// ("token", "webhook"), or domain.ErrNotFound when none was created
	// yet. Servers that each stored one at once all read the same.
	SigningKeySeed(ctx context.Context, purpose string) ([]byte, error)
	// InsertSigningKeySeed stores a key seed for a purpose.
	InsertSigningKeySeed(ctx context.Context, purpose, kid string, seed []byte, at time.Time) error

	// DueDeliveries returns, for each room with pending webhook events,
	// its oldest pending event if that one is due at now; at most limit.
	// Taking only the head of each room's queue keeps a room's events in
	// order.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]domain.Delivery, error)
	// PendingDeliveries counts the webhook events not yet delivered nor
	// failed for good.
	PendingDeliveries(ctx context.Context) (int, error)
	// NextDelivery returns a room's oldest pending event if it is due at
	// now; ok is false when there is none.
	NextDelivery(ctx context.Context, roomID string, now time.Time) (d domain.Delivery, ok bool, err error)
	// ClaimDelivery takes a delivery for one attempt by node, just before
	// it is made: if the delivery is still pending, due at now and has
	// made the given number of attempts, it is leased to node until
	// leaseUntil (due to nobody before then) and the claim succeeds.
	// false means another attempt, by this process or another on the
	// same database, got there first. The attempt's outcome
	// (UpdateDelivery) ends the lease; an attempt whose node died leaves
	// the delivery due again when the lease runs out, or when the node
	// starts again (ReleaseDeliveries). While a room's head is leased, its
	// later events wait, so the room's order holds across processes.
	ClaimDelivery(ctx context.Context, seq int64, attempts int, node string, now, leaseUntil time.Time) (bool, error)
	// ReleaseDeliveries makes the deliveries leased to node due at now
	// (the node restarted: its attempts in flight were cut short), and
	// says how many.
	ReleaseDeliveries(ctx context.Context, node string, now time.Time) (int, error)
	// UpdateDelivery records the outcome of an attempt.
	UpdateDelivery(ctx context.Context, d domain.Delivery) error
	// PruneDeliveries deletes up to limit deliveries that are over
	// (delivered or failed) and were created before before, oldest first,
	// and says how many it deleted. Pending ones are never deleted.
	PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
	// ListDeliveries returns recent deliveries, newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter, p Page) ([]domain.Delivery, int, error)

	// ClaimComposition takes the oldest composition (by created_at, then
	// id) that is enqueued, or processing under a lease that has passed by
	// now (its worker stopped or crashed), in one atomic step: it becomes
	// processing, leased until leaseUntil, its attempts go up by one and
	// started_at is set if it was not. ok is false when none waits. Two
	// concurrent claims never take the same composition.
	ClaimComposition(ctx context.Context, now, leaseUntil time.Time) (c domain.Composition, ok bool, err error)
	// RenewComposition extends the lease of a processing composition to
	// leaseUntil, if attempt is still its latest claim; false means the
	// worker has lost the job (taken over, finished or deleted). A lease
	// renewed to a time already passed releases the job at once.
	RenewComposition(ctx context.Context, id string, attempt int, leaseUntil time.Time) (bool, error)

	// Heartbeat registers a node, or renews its registration: its URL,
	// media address, start and heartbeat times are stored as given.
	Heartbeat(ctx context.Context, n domain.Node) error
	// Nodes returns every registered node, by id.
	Nodes(ctx context.Context) ([]domain.Node, error)
	// ForgetNode removes a node's registration if its heartbeat is still
	// heartbeatAt (it has not come back since it was found lost), and
	// says whether it did.
	ForgetNode(ctx context.Context, id string, heartbeatAt time.Time) (bool, error)
	// StaleSessions returns up to limit active sessions, oldest first,
	// of nodes other than except whose node has not renewed its heartbeat
	// since aliveSince (or is not registered at all). Sessions of no node
	// (node_id "") are not included.
	StaleSessions(ctx context.Context, except string, aliveSince time.Time, limit int) ([]domain.Session, error)
	// Listen calls fn with the id of each room named by NotifyRoom, on
	// any node sharing the database, until ctx ends or the connection
	// that listens fails (the error; a caller listens again, and looks
	// over what it may have missed meanwhile). ready is called once the
	// listener is in place. A store shared by one process only calls
	// ready and waits for ctx.
	Listen(ctx context.Context, ready func(), fn func(roomID string)) error

	// Ready checks that the database answers and that every migration
	// this build knows has been applied.
	Ready(ctx context.Context) error
	Close() error
}
