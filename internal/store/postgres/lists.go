package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/pagemarks"
)

// where collects SQL conditions and their arguments, numbered $1, $2, …
// in the order they were added.
type where struct {
	conds []string
	args  []any
}

// add adds the condition expr followed by a parameter holding v, as in
// add("created_at >= ", t).
func (w *where) add(expr string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, expr+"$"+strconv.Itoa(len(w.args)))
}

func (w *where) timeRange(col string, r store.TimeRange) {
	if !r.From.IsZero() {
		w.add(col+" >= ", micros(r.From))
	}
	if !r.Until.IsZero() {
		w.add(col+" < ", micros(r.Until))
	}
}

func (w *where) eq(col string, v *string) {
	if v != nil {
		w.add(col+" = ", *v)
	}
}

// sql is the WHERE clause, or "" when nothing is filtered.
func (w *where) sql() string { return whereSQL(w.conds) }

func whereSQL(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// order is a list's order: its columns, every one descending, the last
// unique, so that a row's values in them place it exactly.
type order []string

// sql is the ORDER BY clause, each column qualified by prefix ("" or
// "r.").
func (o order) sql(prefix string) string {
	cols := make([]string, len(o))
	for i, c := range o {
		cols[i] = prefix + c + " DESC"
	}
	return strings.Join(cols, ", ")
}

// listing is one list query: its table, filter and order, and how to read
// its rows.
type listing[T any] struct {
	op      string
	from    string // the FROM item of the page statement: "rooms r", "room_sessions"
	table   string // the table alone
	columns string
	pk      string // the table's primary key column
	order   order
	prefix  string // how columns is qualified: "r." or ""
	w       where
	// countSQL counts the matching rows, with w's arguments; by default
	// count(*) over the table. cheapCount says it costs next to nothing,
	// so that every page carries it.
	countSQL   string
	cheapCount bool
	scan       func(scanner, ...any) (T, error)
	key        func(T) []any // a row's values in the order columns
}

// ident names the query for the pager: what it lists and its filter,
// with each argument's type and value.
func (l listing[T]) ident() string {
	return pagemarks.QueryKey(l.op, l.w.sql(), l.w.args)
}

func (l listing[T]) count() string {
	if l.countSQL != "" {
		return l.countSQL
	}
	return `SELECT count(*) FROM ` + l.table + l.w.sql()
}

// pageSQL is the statement of one page and its arguments. With last, it
// reads the rows after the row whose order values are last (a seek down
// the list's index); without, the rows at p's offset. The statement's
// extra last columns are the number of matching rows (when counted; 0
// otherwise) and the snapshot the statement read, so that page, total
// and snapshot agree.
func (l listing[T]) pageSQL(p store.Page, last []any, counted bool) (string, []any) {
	args := slices.Clip(l.w.args)
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	total := "0::bigint"
	if counted {
		// The filter's parameters serve the count too.
		total = "(" + l.count() + ")"
	}
	sel := `SELECT ` + l.columns + `, ` + total + `, pg_current_snapshot()::text FROM ` + l.from
	switch {
	case last != nil:
		cols, vals := make([]string, len(l.order)), make([]string, len(l.order))
		for i, c := range l.order {
			cols[i], vals[i] = l.prefix+c, param(last[i])
		}
		conds := append(slices.Clip(l.w.conds), "("+strings.Join(cols, ", ")+") < ("+strings.Join(vals, ", ")+")")
		return sel + whereSQL(conds) + ` ORDER BY ` + l.order.sql(l.prefix) + ` LIMIT ` + param(p.Size), args
	case p.Offset() == 0:
		return sel + l.w.sql() + ` ORDER BY ` + l.order.sql(l.prefix) + ` LIMIT ` + param(p.Size), args
	default:
		// The inner select walks the list's index for the keys of the
		// page alone, so the rows an OFFSET skips are never fetched.
		inner := `SELECT ` + l.pk + ` FROM ` + l.table + l.w.sql() + ` ORDER BY ` + l.order.sql("") +
			` LIMIT ` + param(p.Size) + ` OFFSET ` + param(p.Offset())
		return sel + ` WHERE ` + l.prefix + l.pk + ` IN (` + inner + `) ORDER BY ` + l.order.sql(l.prefix), args
	}
}

// read reads page p and the total. Outside transactions the pager may
// know where page p-1 ended: then the page is read by seeking past it.
// Such a page is read without its count, which is taken from the mark
// if no transaction has committed since (the page's snapshot is the
// mark's) and counted again otherwise.
func (l listing[T]) read(ctx context.Context, q queries, p store.Page) ([]T, int, error) {
	var (
		m     pagemarks.Mark[string]
		seek  bool
		ident string
	)
	if q.pager != nil {
		ident = l.ident()
		if p.Number > 1 {
			m, seek = q.pager.marks.Get(pagemarks.Key{Query: ident, Size: p.Size, Number: p.Number - 1})
		}
	}
	counted := !seek || l.cheapCount
	var last []any
	if seek {
		last = m.Last
	}
	query, args := l.pageSQL(p, last, counted)
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		return nil, 0, wrap(l.op, err)
	}
	defer rows.Close()
	var (
		total    int
		snapshot string
	)
	out := make([]T, 0, min(p.Size, 1000))
	for rows.Next() {
		row, err := l.scan(rows, &total, &snapshot)
		if err != nil {
			return nil, 0, wrap(l.op, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, wrap(l.op, err)
	}
	rows.Close()
	switch {
	case !counted && len(out) > 0 && snapshot == m.At:
		total = m.Total // nothing has changed since page p-1
	case !counted || len(out) == 0:
		// No row carried the count, or it was left out: count.
		if err := q.db.QueryRow(ctx, l.count(), l.w.args...).Scan(&total); err != nil {
			return nil, 0, wrap(l.op, err)
		}
	}
	if q.pager != nil {
		if seek {
			q.pager.seeks.Add(1)
		} else if p.Number > 1 {
			q.pager.offsets.Add(1)
		}
		if len(out) > 0 {
			q.pager.marks.Put(pagemarks.Mark[string]{Key: pagemarks.Key{Query: ident, Size: p.Size, Number: p.Number},
				Last: l.key(out[len(out)-1]), Total: total, At: snapshot})
		}
	}
	return out, total, nil
}

// tableListing lists the rows of table matching w in order o.
func tableListing[T any](op, table, columns, pk string, w where, o order, scan func(scanner, ...any) (T, error),
	key func(T) []any) listing[T] {
	return listing[T]{op: op, from: table, table: table, columns: columns, pk: pk, order: o, w: w, scan: scan, key: key}
}

func (q queries) ListSessions(ctx context.Context, f store.SessionFilter, p store.Page) ([]domain.Session, int, error) {
	var w where
	w.timeRange("created_at", f.CreatedAt)
	w.timeRange("updated_at", f.UpdatedAt)
	w.timeRange("ended_at", f.EndedAt)
	w.eq("room_id", f.RoomID)
	w.eq("node_id", f.NodeID)
	if f.Active != nil {
		w.add("active = ", *f.Active)
	}
	return tableListing("list sessions", "room_sessions", sessionColumns, "id", w, order{"created_at", "id"}, scanSession,
		func(s domain.Session) []any { return []any{micros(s.CreatedAt), s.ID} }).read(ctx, q, p)
}

func (q queries) ListParticipants(ctx context.Context, f store.ParticipantFilter, p store.Page) ([]domain.Participant, int, error) {
	var w where
	w.timeRange("joined_at", f.JoinedAt)
	w.timeRange("updated_at", f.UpdatedAt)
	w.timeRange("left_at", f.LeftAt)
	w.eq("context", f.Context)
	w.eq("session_id", f.SessionID)
	return tableListing("list participants", "room_participants", participantColumns, "id", w, order{"joined_at", "id"},
		scanParticipant, func(x domain.Participant) []any { return []any{micros(x.JoinedAt), x.ID} }).read(ctx, q, p)
}
