package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// listPage reads page p of the rows of table matching w, in the given
// order, and how many rows match.
func listPage[T any](ctx context.Context, q queries, op, table, columns string, w where, order string, p store.Page,
	scan func(scanner, ...any) (T, error)) ([]T, int, error) {
	countSQL := `SELECT count(*) FROM ` + table + w.sql()
	pageSQL := `SELECT ` + columns + `, (` + countSQL + `) FROM ` + table + w.sql() + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	return readPage(ctx, q, op, countSQL, pageSQL, w.args, p, scan)
}

// readPage reads page p with pageSQL, which carries countSQL as an extra
// last column, so page and total come from one snapshot; only an empty
// page needs countSQL on its own for the total. pageSQL takes the filter
// arguments twice (count, then page), then the page size and offset.
func readPage[T any](ctx context.Context, q queries, op, countSQL, pageSQL string, filterArgs []any, p store.Page,
	scan func(scanner, ...any) (T, error)) ([]T, int, error) {
	args := make([]any, 0, 2*len(filterArgs)+2)
	args = append(append(append(args, filterArgs...), filterArgs...), p.Size, p.Offset())
	rows, err := q.query(ctx, pageSQL, args...)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	defer rows.Close()
	var total int
	out := make([]T, 0, p.Size)
	for rows.Next() {
		v, err := scan(rows, &total)
		if err != nil {
			return nil, 0, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, wrap(op, err)
	}
	if len(out) == 0 {
		if err := q.queryRow(ctx, countSQL, filterArgs...).Scan(&total); err != nil {
			return nil, 0, wrap(op, err)
		}
	}
	return out, total, nil
}

// collect runs query on db and returns its rows, each read by scan.
func collect[T any](ctx context.Context, db dbtx, op string, scan func(scanner, ...any) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
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

func (w *where) eq(col string, v *string) {
	if v != nil {
		w.add(col+" = ?", *v)
	}
}

func (q queries) ListSessions(ctx context.Context, f store.SessionFilter, p store.Page) ([]domain.Session, int, error) {
	var w where
	w.timeRange("created_at", f.CreatedAt)
	w.timeRange("updated_at", f.UpdatedAt)
	w.timeRange("ended_at", f.EndedAt)
	w.eq("room_id", f.RoomID)
	if f.Active != nil {
		w.add("active = ?", *f.Active)
	}
	return listPage(ctx, q, "list sessions", "room_sessions", sessionColumns, w, "created_at DESC, id DESC", p, scanSession)
}

func (q queries) ListParticipants(ctx context.Context, f store.ParticipantFilter, p store.Page) ([]domain.Participant, int, error) {
	var w where
	w.timeRange("joined_at", f.JoinedAt)
	w.timeRange("updated_at", f.UpdatedAt)
	w.timeRange("left_at", f.LeftAt)
	w.eq("context", f.Context)
	w.eq("session_id", f.SessionID)
	return listPage(ctx, q, "list participants", "room_participants", participantColumns, w, "joined_at DESC, id DESC", p, scanParticipant)
}

func (q queries) PresentParticipants(ctx context.Context, sessionID string) ([]domain.Participant, error) {
	return collect(ctx, q.r, "present participants", scanParticipant, `SELECT `+participantColumns+` FROM room_participants
		WHERE session_id = ? AND left_at IS NULL ORDER BY joined_at, id`, sessionID)
}

// SigningKeySeed implements store.Store.
func (s *Store) SigningKeySeed(ctx context.Context, purpose string) ([]byte, error) {
	var seed []byte
	err := s.reader.QueryRowContext(ctx, `SELECT seed FROM signing_keys WHERE purpose = ? ORDER BY created_at DESC LIMIT 1`, purpose).Scan(&seed)
	if err != nil {
		return nil, wrap("signing key", err)
	}
	return seed, nil
}

// InsertSigningKeySeed implements store.Store.
func (s *Store) InsertSigningKeySeed(ctx context.Context, purpose, kid string, seed []byte, at time.Time) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO signing_keys (kid, seed, created_at, purpose) VALUES (?, ?, ?, ?)`, kid, seed, micros(at), purpose)
	return wrap("insert signing key", err)
}

func nullFloat(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}

func nullInt(v sql.NullInt64) *int {
	if !v.Valid {
		return nil
	}
	i := int(v.Int64)
	return &i
}
