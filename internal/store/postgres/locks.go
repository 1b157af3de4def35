package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Locking inside transactions.
//
// On SQLite every write transaction holds the database's one write lock
// from its first statement to its commit, so each read-modify-write in
// package rooms (a join checking the cap, a leave checking that the
// participant is still present, a session ended once, a recording
// finished once) sees no other transaction's writes half way. At READ
// COMMITTED, PostgreSQL would let two such transactions read the same
// state and both act on it: two joins over the cap, two "left" events for
// one participant, a session ended twice.
//
// So inside a transaction the store takes the lock of the room the
// transaction works on, SELECT … FOR UPDATE on the room's row, before the
// first read that decides a write: LockRoom does so explicitly, and so
// does the first read of that room's active session, of one of its
// sessions or participants, or of one of its recordings or compositions.
// The lock is held to the end of the transaction. Transactions of one
// room therefore run one after another, each statement seeing what the
// previous one committed; transactions of different rooms run side by
// side.
//
// A transaction takes one room lock at most: once it holds one, rows of
// other rooms it reads (a validation, say, of an id that names another
// room's participant) are read without locks. Every transaction of
// package rooms works on one room, and with one lock each no two
// transactions can wait for each other's rooms.
//
// Recordings and compositions outlive their rooms, so their reads also
// lock their own row: jobs of a deleted room's media are serialized all
// the same. Writes take only the row locks PostgreSQL takes for them.
type txLocks struct {
	room string // the room whose lock the transaction holds; "" for none
}

func (t *txLocks) hold(room string) {
	if t.room == "" {
		t.room = room
	}
}

// Statements that find the room a row belongs to, from the row's id ($1).
const (
	theRoom         = `SELECT $1::text`
	sessionRoom     = `SELECT room_id FROM room_sessions WHERE id = $1`
	participantRoom = `SELECT s.room_id FROM room_participants p JOIN room_sessions s ON s.id = p.session_id WHERE p.id = $1`
	recordingRoom   = `SELECT room_id FROM room_recordings WHERE id = $1`
	compositionRoom = `SELECT room_id FROM room_compositions WHERE id = $1`
)

// lockRoomOf, inside a transaction that holds no room lock yet, locks the
// room that the row with this id belongs to, as found by lookup (one of
// the statements above). Nothing is locked when the row or its room does
// not exist; the read that follows then finds what there is.
func (q queries) lockRoomOf(ctx context.Context, lookup, id string) error {
	if q.tx == nil || q.tx.room != "" {
		return nil
	}
	var room string
	err := q.db.QueryRow(ctx, `SELECT id FROM rooms WHERE id = (`+lookup+`) FOR UPDATE`, id).Scan(&room)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return wrap("lock room", err)
	}
	q.tx.hold(room)
	return nil
}

// getLocked reads a recording or a composition by id from table: outside
// transactions plainly; inside, after locking its room, it also locks the
// row, unless the row belongs to a room other than the one the
// transaction holds (then it reads it plainly).
func getLocked[T any](ctx context.Context, q queries, op, table, columns, lookup, id string,
	scan func(scanner, ...any) (T, error)) (T, error) {
	plain := `SELECT ` + columns + ` FROM ` + table + ` WHERE id = $1`
	if q.tx == nil {
		v, err := scan(q.db.QueryRow(ctx, plain, id))
		return v, wrap(op, err)
	}
	if err := q.lockRoomOf(ctx, lookup, id); err != nil {
		var zero T
		return zero, err
	}
	v, err := scan(q.db.QueryRow(ctx, plain+` AND ($2::text = '' OR room_id = $2::text) FOR UPDATE`, id, q.tx.room))
	if errors.Is(err, pgx.ErrNoRows) && q.tx.room != "" {
		v, err = scan(q.db.QueryRow(ctx, plain, id))
	}
	return v, wrap(op, err)
}
