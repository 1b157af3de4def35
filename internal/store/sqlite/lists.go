package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/pagemarks"
)

// listing is one list query: its statements, its filter's arguments and
// how to read its rows.
type listing[T any] struct {
	op       string
	countSQL string
	// page is the page statement. With seek it reads the rows after a
	// sort key (the filter's arguments, the key's values, the size);
	// without, the rows at an offset (the filter's arguments, the size,
	// the offset). With count it carries countSQL as an extra last
	// column, taking the filter's arguments once more before the others,
	// so that page and total come from one snapshot; without, the column
	// is 0.
	page func(seek, count bool) string
	args []any
	// seekArgs are the arguments of the filter as a seek uses it (see
	// order.seekWhere).
	seekArgs []any
	ident    string // the query, for the pager
	scan     func(scanner, ...any) (T, error)
	key      func(T) []any // a row's values in the list's order columns
}

// tableListing lists the rows of table matching w in order o.
func tableListing[T any](op, table, columns string, w where, o order, scan func(scanner, ...any) (T, error),
	key func(T) []any) listing[T] {
	countSQL := `SELECT count(*) FROM ` + table + w.sql()
	sw := o.seekWhere(w)
	return listing[T]{op: op, countSQL: countSQL, args: w.args, seekArgs: sw.args, ident: pagemarks.QueryKey(op, w.sql(), w.args),
		scan: scan, key: key,
		page: func(seek, count bool) string {
			extra, cond, limit := "0", w.sql(), " LIMIT ? OFFSET ?"
			if count {
				extra = "(" + countSQL + ")"
			}
			if seek {
				cond, limit = sw.and(o.after()), " LIMIT ?"
			}
			return `SELECT ` + columns + `, ` + extra + ` FROM ` + table + cond + ` ORDER BY ` + o.sql("") + limit
		}}
}

// listPage reads page p of the rows of table matching w, in order o, and
// how many rows match.
func listPage[T any](ctx context.Context, q queries, op, table, columns string, w where, o order, p store.Page,
	scan func(scanner, ...any) (T, error), key func(T) []any) ([]T, int, error) {
	return tableListing(op, table, columns, w, o, scan, key).read(ctx, q, p)
}

// read reads page p and the total. Outside transactions the pager may
// know where page p-1 ended: then the page is read by seeking past it,
// and the total is reused if the database has not changed (see pager).
func (l listing[T]) read(ctx context.Context, q queries, p store.Page) ([]T, int, error) {
	var (
		v    dbVersion
		vok  bool
		m    pagemarks.Mark[dbVersion]
		seek bool
	)
	if q.pager != nil {
		var err error
		if v, vok, err = q.pager.version(ctx); err != nil {
			return nil, 0, wrap(l.op, err)
		}
		if vok && p.Number > 1 {
			m, seek = q.pager.marks.Get(pagemarks.Key{Query: l.ident, Size: p.Size, Number: p.Number - 1})
		}
	}
	reuse := seek && m.At == v
	args := make([]any, 0, 2*len(l.args)+len(m.Last)+2)
	if !reuse {
		args = append(args, l.args...)
	}
	if seek {
		args = append(append(append(args, l.seekArgs...), m.Last...), p.Size)
	} else {
		args = append(append(args, l.args...), p.Size, p.Offset())
	}
	rows, err := q.query(ctx, l.page(seek, !reuse), args...)
	if err != nil {
		return nil, 0, wrap(l.op, err)
	}
	defer rows.Close()
	var total, ignored int
	into := &total
	if reuse {
		into = &ignored
	}
	out := make([]T, 0, p.Size)
	for rows.Next() {
		row, err := l.scan(rows, into)
		if err != nil {
			return nil, 0, wrap(l.op, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, wrap(l.op, err)
	}
	stale := false
	if reuse {
		total = m.Total
		// A commit between the version's read and the page's own makes
		// the remembered total stale: count.
		if now, ok, err := q.pager.version(ctx); err != nil || !ok || now != v {
			stale = true
		}
	}
	if stale || (!reuse && len(out) == 0) {
		if err := q.queryRow(ctx, l.countSQL, l.args...).Scan(&total); err != nil {
			return nil, 0, wrap(l.op, err)
		}
	}
	if q.pager != nil {
		switch {
		case seek:
			q.pager.seeks.Add(1)
		case p.Number > 1:
			q.pager.offsets.Add(1)
			q.pager.skipped.Add(int64(p.Offset()))
		}
		if vok && len(out) > 0 {
			q.pager.marks.Put(pagemarks.Mark[dbVersion]{Key: pagemarks.Key{Query: l.ident, Size: p.Size, Number: p.Number},
				Last: l.key(out[len(out)-1]), Total: total, At: v})
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
	w.eq("node_id", f.NodeID)
	if f.Active != nil {
		w.add("active = ?", *f.Active)
	}
	return listPage(ctx, q, "list sessions", "room_sessions", sessionColumns, w, order{"created_at", "id"}, p, scanSession,
		func(s domain.Session) []any { return []any{micros(s.CreatedAt), s.ID} })
}

func (q queries) ListParticipants(ctx context.Context, f store.ParticipantFilter, p store.Page) ([]domain.Participant, int, error) {
	var w where
	w.timeRange("joined_at", f.JoinedAt)
	w.timeRange("updated_at", f.UpdatedAt)
	w.timeRange("left_at", f.LeftAt)
	w.eq("context", f.Context)
	w.eq("session_id", f.SessionID)
	return listPage(ctx, q, "list participants", "room_participants", participantColumns, w, order{"joined_at", "id"}, p,
		scanParticipant, func(x domain.Participant) []any { return []any{micros(x.JoinedAt), x.ID} })
}

func (q queries) PresentParticipants(ctx context.Context, sessionID string) ([]domain.Participant, error) {
	return collect(ctx, q.r, "present participants", scanParticipant, `SELECT `+participantColumns+` FROM room_participants
		WHERE session_id = ? AND left_at IS NULL ORDER BY joined_at, id`, sessionID)
}

// SigningKeySeed implements store.Store.
func (s *Store) SigningKeySeed(ctx context.Context, purpose string) ([]byte, error) {
	var seed []byte
	err := s.reader.QueryRowContext(ctx, `SELECT seed FROM signing_keys WHERE purpose = ? ORDER BY created_at, kid LIMIT 1`, purpose).Scan(&seed)
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
