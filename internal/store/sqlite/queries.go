package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/store/pagemarks"
)

// dbtx is what *sql.DB and *sql.Tx have in common.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements store.Queries. Outside a transaction r is the read
// pool and w the writer; inside one both are the transaction.
type queries struct {
	r, w dbtx
	// stmts, outside transactions, holds the hot read statements prepared
	// on the read pool, by SQL text. See prepareReads.
	stmts map[string]*sql.Stmt
	// cache, outside transactions, keeps room-list pages until the next
	// commit to the database.
	cache *pageCache
	// pager, outside transactions, remembers where served list pages
	// ended, so that the next page is a seek (pager.go).
	pager *pager
}

// prepareReads prepares the statements of the list path (every filter
// combination of ListRooms) and the room lookup once, on the read pool.
// database/sql then prepares each on a connection the first time that
// connection runs it and keeps it there, so a request no longer pays for
// parsing and planning, which was a third of a list request.
func prepareReads(ctx context.Context, db *sql.DB) (map[string]*sql.Stmt, error) {
	texts := []string{roomByIDSQL}
	t := time.Unix(0, 0)
	name := ""
	for mask := range 1 << 5 {
		var f store.RoomFilter
		if mask&1 != 0 {
			f.CreatedAt.From = t
		}
		if mask&2 != 0 {
			f.CreatedAt.Until = t
		}
		if mask&4 != 0 {
			f.UpdatedAt.From = t
		}
		if mask&8 != 0 {
			f.UpdatedAt.Until = t
		}
		if mask&16 != 0 {
			f.UniqueName = &name
		}
		count, page, _ := listRoomsSQL(f)
		texts = append(texts, count, page(false, true), page(true, true), page(true, false))
	}
	stmts := make(map[string]*sql.Stmt, len(texts))
	for _, text := range texts {
		if stmts[text] != nil {
			continue
		}
		st, err := db.PrepareContext(ctx, text)
		if err != nil {
			for _, s := range stmts {
				s.Close()
			}
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		stmts[text] = st
	}
	return stmts, nil
}

// queryRow and query run query on the read side: through its prepared
// statement when there is one (outside transactions, for the statements
// of prepareReads), directly otherwise.
func (q queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.stmts[query]; st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.r.QueryRowContext(ctx, query, args...)
}

func (q queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmts[query]; st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.r.QueryContext(ctx, query, args...)
}

const roomColumns = `r.id, r.unique_name, r.max_participants, r.enable_recording, r.webhook_event_url,
	r.webhook_event_failover_url, r.webhook_timeout_secs, r.created_at, r.updated_at,
	(SELECT s.id FROM room_sessions s WHERE s.room_id = r.id AND s.active = 1)`

type scanner interface{ Scan(dest ...any) error }

// scanRoom reads roomColumns, then any extra columns into extra.
func scanRoom(sc scanner, extra ...any) (domain.Room, error) {
	var (
		r                        domain.Room
		name, url, failover, act sql.NullString
		timeout                  sql.NullInt64
		created, updated         int64
	)
	dest := append([]any{&r.ID, &name, &r.MaxParticipants, &r.EnableRecording, &url, &failover, &timeout, &created, &updated, &act}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return r, err
	}
	r.UniqueName = strPtr(name)
	r.WebhookEventURL = strPtr(url)
	r.WebhookEventFailoverURL = strPtr(failover)
	r.WebhookTimeoutSecs = nullInt(timeout)
	r.ActiveSessionID = strPtr(act)
	r.CreatedAt = fromMicros(created)
	r.UpdatedAt = fromMicros(updated)
	return r, nil
}

func strPtr(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	s := v.String
	return &s
}

// wrap maps a driver error to a store error; nil stays nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return domain.ErrNotFound
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

const roomByIDSQL = `SELECT ` + roomColumns + ` FROM rooms r WHERE r.id = ?`

func (q queries) GetRoom(ctx context.Context, id string) (domain.Room, error) {
	r, err := scanRoom(q.queryRow(ctx, roomByIDSQL, id))
	return r, wrap("get room", err)
}

// LockRoom needs no row lock on SQLite: InTx holds the database's single
// write lock from BEGIN IMMEDIATE to COMMIT.
func (q queries) LockRoom(ctx context.Context, id string) (domain.Room, error) {
	r, err := scanRoom(q.w.QueryRowContext(ctx, roomByIDSQL, id))
	return r, wrap("lock room", err)
}

func duplicateName() error {
	return &domain.ValidationError{Field: "unique_name", Kind: domain.KindDuplicate, Detail: "a room with this unique_name already exists"}
}

func (q queries) InsertRoom(ctx context.Context, r domain.Room) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO rooms (id, unique_name, max_participants, enable_recording,
		webhook_event_url, webhook_event_failover_url, webhook_timeout_secs, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.UniqueName, r.MaxParticipants, r.EnableRecording, r.WebhookEventURL, r.WebhookEventFailoverURL,
		r.WebhookTimeoutSecs, micros(r.CreatedAt), micros(r.UpdatedAt))
	if isUnique(err) {
		return duplicateName()
	}
	return wrap("insert room", err)
}

func (q queries) UpdateRoom(ctx context.Context, r domain.Room) error {
	res, err := q.w.ExecContext(ctx, `UPDATE rooms SET unique_name = ?, max_participants = ?, enable_recording = ?,
		webhook_event_url = ?, webhook_event_failover_url = ?, webhook_timeout_secs = ?, updated_at = ?
		WHERE id = ?`,
		r.UniqueName, r.MaxParticipants, r.EnableRecording, r.WebhookEventURL, r.WebhookEventFailoverURL,
		r.WebhookTimeoutSecs, micros(r.UpdatedAt), r.ID)
	if isUnique(err) {
		return duplicateName()
	}
	return affected("update room", res, err)
}

func (q queries) DeleteRoom(ctx context.Context, id string) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM rooms WHERE id = ?`, id)
	return affected("delete room", res, err)
}

func affected(op string, res sql.Result, err error) error {
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// where collects SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
	nargs []int // how many of args each condition takes
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
	w.nargs = append(w.nargs, len(args))
}

// without is w less the condition cond, with its arguments.
func (w where) without(cond string) where {
	var out where
	at := 0
	for i, c := range w.conds {
		n := w.nargs[i]
		if c != cond {
			out.add(c, w.args[at:at+n]...)
		}
		at += n
	}
	return out
}

func (w *where) timeRange(col string, r store.TimeRange) {
	if !r.From.IsZero() {
		w.add(col+" >= ?", micros(r.From))
	}
	if !r.Until.IsZero() {
		w.add(col+" < ?", micros(r.Until))
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// and is the WHERE clause with one more condition.
func (w *where) and(cond string) string {
	return " WHERE " + strings.Join(append(slices.Clip(w.conds), cond), " AND ")
}

// roomOrder is the rooms list's order, newest first.
var roomOrder = order{"created_at", "id"}

// roomsListing is ListRooms for f: the count of matching rooms and the
// page statements (see listing). The plan test runs EXPLAIN QUERY PLAN
// on exactly these texts.
func roomsListing(f store.RoomFilter) listing[domain.Room] {
	countSQL, page, args := listRoomsSQL(f)
	return listing[domain.Room]{op: "list rooms", countSQL: countSQL, page: page, args: args,
		seekArgs: roomOrder.seekWhere(roomsWhere(f)).args, ident: pagemarks.QueryKey("list rooms", countSQL, args), scan: scanRoom,
		key: func(r domain.Room) []any { return []any{micros(r.CreatedAt), r.ID} }}
}

// listRoomsSQL builds the statements of ListRooms for f: the count of
// matching rooms, and the page statements by seek and count (see
// listing); plus the filter's arguments.
func listRoomsSQL(f store.RoomFilter) (countSQL string, page func(seek, count bool) string, args []any) {
	w := roomsWhere(f)
	countSQL = `SELECT n FROM room_count WHERE one = 1`
	if len(w.conds) > 0 {
		countSQL = `SELECT count(*) FROM rooms` + w.sql()
	}
	// The inner select walks only the (created_at, id) index to find the
	// page's rowids, so a deep offset never reads skipped rows, and a
	// seek starts where the last page ended.
	from := `rooms`
	if !f.UpdatedAt.IsZero() && f.CreatedAt.IsZero() && f.UniqueName == nil {
		// Left to itself the planner walks rooms_created in list order and
		// reads every row to test updated_at: a table scan whenever the
		// matching rooms are old. rooms_updated covers the range and the
		// sort keys, and the sort keeps only LIMIT+OFFSET rows, so the page
		// costs about what the count already does.
		from = `rooms INDEXED BY rooms_updated`
	}
	page = func(seek, count bool) string {
		extra, cond, limit, src := "0", w.sql(), " LIMIT ? OFFSET ?", from
		if count {
			extra = "(" + countSQL + ")"
		}
		if seek {
			sw := roomOrder.seekWhere(w)
			cond, limit = sw.and(roomOrder.after()), " LIMIT ?"
			if f.UniqueName == nil {
				// Down the list's index from where the last page ended,
				// testing any other filter on the way: a page costs its
				// rows, not the rows before it (rooms_updated would read
				// every match and sort them).
				src = `rooms INDEXED BY rooms_created`
			}
		}
		return `SELECT ` + roomColumns + `, ` + extra + ` FROM rooms r WHERE r.rowid IN (
			SELECT rowid FROM ` + src + cond + ` ORDER BY ` + roomOrder.sql("") + limit + `)
			ORDER BY ` + roomOrder.sql("r.")
	}
	return countSQL, page, w.args
}

// roomsWhere is the filter of ListRooms.
func roomsWhere(f store.RoomFilter) where {
	var w where
	w.timeRange("created_at", f.CreatedAt)
	w.timeRange("updated_at", f.UpdatedAt)
	if f.UniqueName != nil {
		w.add("unique_name = ?", *f.UniqueName)
	}
	return w
}

func (q queries) ListRooms(ctx context.Context, f store.RoomFilter, p store.Page) ([]domain.Room, int, error) {
	return cached(ctx, q.cache, keyOf(f, p), func() ([]domain.Room, int, error) {
		return roomsListing(f).read(ctx, q, p)
	})
}

const sessionColumns = `id, room_id, active, created_at, updated_at, ended_at, ended_reason, node_id`

func scanSession(sc scanner, extra ...any) (domain.Session, error) {
	var (
		s                domain.Session
		created, updated int64
		ended            sql.NullInt64
	)
	if err := sc.Scan(append([]any{&s.ID, &s.RoomID, &s.Active, &created, &updated, &ended, &s.EndedReason, &s.NodeID}, extra...)...); err != nil {
		return s, err
	}
	s.CreatedAt, s.UpdatedAt, s.EndedAt = fromMicros(created), fromMicros(updated), fromNullMicros(ended)
	return s, nil
}

func (q queries) GetSession(ctx context.Context, id string) (domain.Session, error) {
	s, err := scanSession(q.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM room_sessions WHERE id = ?`, id))
	return s, wrap("get session", err)
}

func (q queries) ActiveSession(ctx context.Context, roomID string) (domain.Session, error) {
	s, err := scanSession(q.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM room_sessions WHERE room_id = ? AND active = 1`, roomID))
	return s, wrap("active session", err)
}

func (q queries) InsertSession(ctx context.Context, s domain.Session) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO room_sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.RoomID, s.Active, micros(s.CreatedAt), micros(s.UpdatedAt), nullMicros(s.EndedAt), s.EndedReason, s.NodeID)
	return wrap("insert session", err)
}

func (q queries) UpdateSession(ctx context.Context, s domain.Session) error {
	res, err := q.w.ExecContext(ctx, `UPDATE room_sessions SET active = ?, updated_at = ?, ended_at = ?, ended_reason = ? WHERE id = ?`,
		s.Active, micros(s.UpdatedAt), nullMicros(s.EndedAt), s.EndedReason, s.ID)
	return affected("update session", res, err)
}

func sessionsByRoomsSQL(n int) string {
	return `SELECT ` + sessionColumns + ` FROM room_sessions WHERE room_id IN (` +
		placeholders(n) + `) ORDER BY room_id, created_at DESC, id DESC`
}

func (q queries) SessionsByRooms(ctx context.Context, roomIDs []string) ([]domain.Session, error) {
	return byIDs(ctx, q, "sessions by rooms", sessionsByRoomsSQL, roomIDs, scanSession)
}

const participantColumns = `id, session_id, context, joined_at, updated_at, left_at, audio_muted, left_reason`

func scanParticipant(sc scanner, extra ...any) (domain.Participant, error) {
	var (
		p               domain.Participant
		joined, updated int64
		left            sql.NullInt64
	)
	if err := sc.Scan(append([]any{&p.ID, &p.SessionID, &p.Context, &joined, &updated, &left, &p.AudioMuted, &p.LeftReason}, extra...)...); err != nil {
		return p, err
	}
	p.JoinedAt, p.UpdatedAt, p.LeftAt = fromMicros(joined), fromMicros(updated), fromNullMicros(left)
	return p, nil
}

func (q queries) GetParticipant(ctx context.Context, id string) (domain.Participant, error) {
	p, err := scanParticipant(q.r.QueryRowContext(ctx, `SELECT `+participantColumns+` FROM room_participants WHERE id = ?`, id))
	return p, wrap("get participant", err)
}

func (q queries) InsertParticipant(ctx context.Context, p domain.Participant) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO room_participants (`+participantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.SessionID, p.Context, micros(p.JoinedAt), micros(p.UpdatedAt), nullMicros(p.LeftAt), p.AudioMuted, p.LeftReason)
	return wrap("insert participant", err)
}

func (q queries) UpdateParticipant(ctx context.Context, p domain.Participant) error {
	res, err := q.w.ExecContext(ctx, `UPDATE room_participants SET context = ?, updated_at = ?, left_at = ?,
		audio_muted = ?, left_reason = ? WHERE id = ?`,
		p.Context, micros(p.UpdatedAt), nullMicros(p.LeftAt), p.AudioMuted, p.LeftReason, p.ID)
	return affected("update participant", res, err)
}

func (q queries) CountPresent(ctx context.Context, sessionID string) (int, error) {
	var n int
	err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM room_participants WHERE session_id = ? AND left_at IS NULL`, sessionID).Scan(&n)
	return n, wrap("count present", err)
}

func (q queries) LeaveAll(ctx context.Context, sessionID string, at time.Time, reason string) error {
	_, err := q.w.ExecContext(ctx, `UPDATE room_participants SET left_at = ?, updated_at = ?, left_reason = ?
		WHERE session_id = ? AND left_at IS NULL`, micros(at), micros(at), reason, sessionID)
	return wrap("leave all", err)
}

func participantsBySessionsSQL(n int) string {
	return `SELECT ` + participantColumns + ` FROM room_participants WHERE session_id IN (` +
		placeholders(n) + `) ORDER BY session_id, joined_at, id`
}

func (q queries) ParticipantsBySessions(ctx context.Context, sessionIDs []string) ([]domain.Participant, error) {
	return byIDs(ctx, q, "participants by sessions", participantsBySessionsSQL, sessionIDs, scanParticipant)
}

// byIDs runs the statement query(len(ids)), which takes ids as its
// arguments, and scans its rows; outside transactions through the list
// cache, where op and ids name the result.
func byIDs[T any](ctx context.Context, q queries, op string, query func(n int) string, ids []string,
	scan func(scanner, ...any) (T, error)) ([]T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out, _, err := cached(ctx, q.cache, idsKey{op, strings.Join(ids, ",")}, func() ([]T, int, error) {
		out, err := collect(ctx, q.r, op, scan, query(len(ids)), anys(ids)...)
		return out, 0, err
	})
	return out, err
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
