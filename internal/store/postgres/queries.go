package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// dbtx is what *pgxpool.Pool and pgx.Tx have in common.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queries implements store.Queries, on the pool outside transactions and
// on one transaction inside.
type queries struct {
	db dbtx
	// pager, outside transactions, remembers where served list pages
	// ended, so that the next page is a seek (pager.go).
	pager *pager
	// tx, inside transactions, is the room lock the transaction holds
	// (locks.go).
	tx *txLocks
}

type scanner interface{ Scan(dest ...any) error }

const roomColumns = `r.id, r.unique_name, r.max_participants, r.enable_recording, r.webhook_event_url,
	r.webhook_event_failover_url, r.webhook_timeout_secs, r.created_at, r.updated_at,
	(SELECT s.id FROM room_sessions s WHERE s.room_id = r.id AND s.active) AS active_session_id`

// scanRoom reads roomColumns, then any extra columns into extra.
func scanRoom(sc scanner, extra ...any) (domain.Room, error) {
	var (
		r                domain.Room
		created, updated int64
	)
	dest := append([]any{&r.ID, &r.UniqueName, &r.MaxParticipants, &r.EnableRecording, &r.WebhookEventURL,
		&r.WebhookEventFailoverURL, &r.WebhookTimeoutSecs, &created, &updated, &r.ActiveSessionID}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return r, err
	}
	r.CreatedAt = fromMicros(created)
	r.UpdatedAt = fromMicros(updated)
	return r, nil
}

const roomByIDSQL = `SELECT ` + roomColumns + ` FROM rooms r WHERE r.id = $1`

func (q queries) GetRoom(ctx context.Context, id string) (domain.Room, error) {
	r, err := scanRoom(q.db.QueryRow(ctx, roomByIDSQL, id))
	return r, wrap("get room", err)
}

// LockRoom reads the room with SELECT … FOR UPDATE: the row stays locked
// until the transaction ends, so a concurrent LockRoom of the same room
// waits for it (see locks.go). Outside a transaction the lock would end
// with the statement; it is then a plain read.
func (q queries) LockRoom(ctx context.Context, id string) (domain.Room, error) {
	if q.tx == nil {
		return q.GetRoom(ctx, id)
	}
	r, err := scanRoom(q.db.QueryRow(ctx, roomByIDSQL+` FOR UPDATE OF r`, id))
	if err != nil {
		return r, wrap("lock room", err)
	}
	q.tx.hold(r.ID)
	return r, nil
}

func (q queries) InsertRoom(ctx context.Context, r domain.Room) error {
	_, err := q.db.Exec(ctx, `INSERT INTO rooms (id, unique_name, max_participants, enable_recording,
		webhook_event_url, webhook_event_failover_url, webhook_timeout_secs, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.UniqueName, r.MaxParticipants, r.EnableRecording, r.WebhookEventURL, r.WebhookEventFailoverURL,
		r.WebhookTimeoutSecs, micros(r.CreatedAt), micros(r.UpdatedAt))
	if isTakenName(err) {
		return duplicateName()
	}
	return wrap("insert room", err)
}

func (q queries) UpdateRoom(ctx context.Context, r domain.Room) error {
	tag, err := q.db.Exec(ctx, `UPDATE rooms SET unique_name = $1, max_participants = $2, enable_recording = $3,
		webhook_event_url = $4, webhook_event_failover_url = $5, webhook_timeout_secs = $6, updated_at = $7
		WHERE id = $8`,
		r.UniqueName, r.MaxParticipants, r.EnableRecording, r.WebhookEventURL, r.WebhookEventFailoverURL,
		r.WebhookTimeoutSecs, micros(r.UpdatedAt), r.ID)
	if isTakenName(err) {
		return duplicateName()
	}
	return affected("update room", tag, err)
}

// DeleteRoom deletes the room; its sessions and their participants go
// with it (ON DELETE CASCADE), its recordings and compositions stay.
func (q queries) DeleteRoom(ctx context.Context, id string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM rooms WHERE id = $1`, id)
	return affected("delete room", tag, err)
}

// affected is the outcome of a write that must change one row.
func affected(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return domain.ErrNotFound
	}
	return nil
}

func (q queries) ListRooms(ctx context.Context, f store.RoomFilter, p store.Page) ([]domain.Room, int, error) {
	return roomsListing(f).read(ctx, q, p)
}

// roomsListing is ListRooms for f.
func roomsListing(f store.RoomFilter) listing[domain.Room] {
	var w where
	w.timeRange("created_at", f.CreatedAt)
	w.timeRange("updated_at", f.UpdatedAt)
	if f.UniqueName != nil {
		w.add("unique_name = ", *f.UniqueName)
	}
	l := listing[domain.Room]{op: "list rooms", from: "rooms r", table: "rooms", columns: roomColumns, pk: "id",
		order: order{"created_at", "id"}, prefix: "r.", w: w, scan: scanRoom,
		key: func(r domain.Room) []any { return []any{micros(r.CreatedAt), r.ID} }}
	if len(w.conds) == 0 {
		// The counter rows, not the table: the unfiltered total costs
		// the same however many rooms there are, so every page carries it.
		l.countSQL, l.cheapCount = `SELECT sum(n)::bigint FROM room_count`, true
	}
	return l
}

const sessionColumns = `id, room_id, active, created_at, updated_at, ended_at, ended_reason, node_id`

func scanSession(sc scanner, extra ...any) (domain.Session, error) {
	var (
		s                domain.Session
		created, updated int64
		ended            *int64
	)
	if err := sc.Scan(append([]any{&s.ID, &s.RoomID, &s.Active, &created, &updated, &ended, &s.EndedReason, &s.NodeID}, extra...)...); err != nil {
		return s, err
	}
	s.CreatedAt, s.UpdatedAt, s.EndedAt = fromMicros(created), fromMicros(updated), fromNullMicros(ended)
	return s, nil
}

func (q queries) GetSession(ctx context.Context, id string) (domain.Session, error) {
	if err := q.lockRoomOf(ctx, sessionRoom, id); err != nil {
		return domain.Session{}, err
	}
	s, err := scanSession(q.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM room_sessions WHERE id = $1`, id))
	return s, wrap("get session", err)
}

func (q queries) ActiveSession(ctx context.Context, roomID string) (domain.Session, error) {
	if err := q.lockRoomOf(ctx, theRoom, roomID); err != nil {
		return domain.Session{}, err
	}
	s, err := scanSession(q.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM room_sessions WHERE room_id = $1 AND active`, roomID))
	return s, wrap("active session", err)
}

func (q queries) InsertSession(ctx context.Context, s domain.Session) error {
	_, err := q.db.Exec(ctx, `INSERT INTO room_sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.ID, s.RoomID, s.Active, micros(s.CreatedAt), micros(s.UpdatedAt), nullMicros(s.EndedAt), s.EndedReason, s.NodeID)
	return wrap("insert session", err)
}

func (q queries) UpdateSession(ctx context.Context, s domain.Session) error {
	tag, err := q.db.Exec(ctx, `UPDATE room_sessions SET active = $1, updated_at = $2, ended_at = $3, ended_reason = $4 WHERE id = $5`,
		s.Active, micros(s.UpdatedAt), nullMicros(s.EndedAt), s.EndedReason, s.ID)
	return affected("update session", tag, err)
}

func (q queries) SessionsByRooms(ctx context.Context, roomIDs []string) ([]domain.Session, error) {
	if len(roomIDs) == 0 {
		return nil, nil
	}
	return collect(ctx, q.db, "sessions by rooms", scanSession, `SELECT `+sessionColumns+` FROM room_sessions
		WHERE room_id = ANY($1) ORDER BY room_id, created_at DESC, id DESC`, roomIDs)
}

const participantColumns = `id, session_id, context, joined_at, updated_at, left_at, audio_muted, left_reason`

func scanParticipant(sc scanner, extra ...any) (domain.Participant, error) {
	var (
		p               domain.Participant
		joined, updated int64
		left            *int64
	)
	if err := sc.Scan(append([]any{&p.ID, &p.SessionID, &p.Context, &joined, &updated, &left, &p.AudioMuted, &p.LeftReason}, extra...)...); err != nil {
		return p, err
	}
	p.JoinedAt, p.UpdatedAt, p.LeftAt = fromMicros(joined), fromMicros(updated), fromNullMicros(left)
	return p, nil
}

func (q queries) GetParticipant(ctx context.Context, id string) (domain.Participant, error) {
	if err := q.lockRoomOf(ctx, participantRoom, id); err != nil {
		return domain.Participant{}, err
	}
	p, err := scanParticipant(q.db.QueryRow(ctx, `SELECT `+participantColumns+` FROM room_participants WHERE id = $1`, id))
	return p, wrap("get participant", err)
}

func (q queries) InsertParticipant(ctx context.Context, p domain.Participant) error {
	_, err := q.db.Exec(ctx, `INSERT INTO room_participants (`+participantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		p.ID, p.SessionID, p.Context, micros(p.JoinedAt), micros(p.UpdatedAt), nullMicros(p.LeftAt), p.AudioMuted, p.LeftReason)
	return wrap("insert participant", err)
}

func (q queries) UpdateParticipant(ctx context.Context, p domain.Participant) error {
	tag, err := q.db.Exec(ctx, `UPDATE room_participants SET context = $1, updated_at = $2, left_at = $3,
		audio_muted = $4, left_reason = $5 WHERE id = $6`,
		p.Context, micros(p.UpdatedAt), nullMicros(p.LeftAt), p.AudioMuted, p.LeftReason, p.ID)
	return affected("update participant", tag, err)
}

func (q queries) CountPresent(ctx context.Context, sessionID string) (int, error) {
	if err := q.lockRoomOf(ctx, sessionRoom, sessionID); err != nil {
		return 0, err
	}
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM room_participants WHERE session_id = $1 AND left_at IS NULL`, sessionID).Scan(&n)
	return n, wrap("count present", err)
}

func (q queries) LeaveAll(ctx context.Context, sessionID string, at time.Time, reason string) error {
	_, err := q.db.Exec(ctx, `UPDATE room_participants SET left_at = $1, updated_at = $1, left_reason = $2
		WHERE session_id = $3 AND left_at IS NULL`, micros(at), reason, sessionID)
	return wrap("leave all", err)
}

func (q queries) PresentParticipants(ctx context.Context, sessionID string) ([]domain.Participant, error) {
	if err := q.lockRoomOf(ctx, sessionRoom, sessionID); err != nil {
		return nil, err
	}
	return collect(ctx, q.db, "present participants", scanParticipant, `SELECT `+participantColumns+` FROM room_participants
		WHERE session_id = $1 AND left_at IS NULL ORDER BY joined_at, id`, sessionID)
}

func (q queries) ParticipantsBySessions(ctx context.Context, sessionIDs []string) ([]domain.Participant, error) {
	if len(sessionIDs) == 0 {
		return nil, nil
	}
	return collect(ctx, q.db, "participants by sessions", scanParticipant, `SELECT `+participantColumns+` FROM room_participants
		WHERE session_id = ANY($1) ORDER BY session_id, joined_at, id`, sessionIDs)
}

// collect runs query on db and returns its rows, each read by scan.
func collect[T any](ctx context.Context, db dbtx, op string, scan func(scanner, ...any) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	return out, wrap(op, rows.Err())
}
