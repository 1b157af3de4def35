// Package seed fills a roomsd SQLite database with synthetic rooms, sessions
// and participants for benchmarks and load tests. It writes with plain SQL
// in large transactions, bypassing the store, so a million rooms take
// seconds rather than hours. The data is deterministic for a given size.
//
// It is test tooling: nothing in the server imports it.
package seed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// Shape of the generated data.
var (
	// Start is the created_at of the oldest room.
	Start = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	// Span is the period over which rooms' created_at values are spread.
	Span = 3 * 365 * 24 * time.Hour
)

const (
	// SessionEvery: every SessionEvery-th room has two sessions with two
	// participants each.
	SessionEvery = 5
)

// Name is the unique_name of room i (0 is the oldest).
func Name(i int) string { return fmt.Sprintf("room-%08d", i) }

// Stats counts what Rooms wrote.
type Stats struct {
	Rooms, Sessions, Participants int
	Elapsed                       time.Duration
}

// Rooms creates (or migrates) the database at path through sqlite.Open and
// adds n rooms to it. The database must hold no rooms yet.
func Rooms(ctx context.Context, path string, n int) (Stats, error) {
	start := time.Now()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return Stats{}, err
	}
	if err := st.Close(); err != nil {
		return Stats{}, err
	}
	// A private connection with durability off: a crash mid-seed just means
	// seeding again.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)&_pragma=cache_size(-65536)")
	if err != nil {
		return Stats{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	var have int
	if err := db.QueryRowContext(ctx, `SELECT n FROM room_count`).Scan(&have); err != nil {
		return Stats{}, fmt.Errorf("seed: %w", err)
	}
	if have != 0 {
		return Stats{}, fmt.Errorf("seed: %s already holds %d rooms", path, have)
	}

	stats := Stats{Rooms: n}
	rng := rand.New(rand.NewPCG(uint64(n), 0x726f6f6d7364))
	const chunk = 50_000 // rooms per transaction
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		if err := insertChunk(ctx, db, rng, lo, hi, n, &stats); err != nil {
			return stats, err
		}
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return stats, fmt.Errorf("seed: checkpoint: %w", err)
	}
	stats.Elapsed = time.Since(start)
	return stats, nil
}

func insertChunk(ctx context.Context, db *sql.DB, rng *rand.Rand, lo, hi, n int, stats *Stats) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	roomIns, err := newBatch(ctx, tx, `INSERT INTO rooms (id, unique_name, max_participants, enable_recording,
		webhook_event_url, webhook_event_failover_url, webhook_timeout_secs, created_at, updated_at) VALUES `, 9)
	if err != nil {
		return err
	}
	sessIns, err := newBatch(ctx, tx, `INSERT INTO room_sessions (id, room_id, active, created_at, updated_at, ended_at) VALUES `, 6)
	if err != nil {
		return err
	}
	partIns, err := newBatch(ctx, tx, `INSERT INTO room_participants (id, session_id, context, joined_at, updated_at, left_at) VALUES `, 6)
	if err != nil {
		return err
	}
	step := Span.Microseconds() / int64(n)
	base := Start.UnixMicro()
	const (
		sec  = int64(time.Second / time.Microsecond)
		hour = 3600 * sec
	)
	for i := lo; i < hi; i++ {
		created := base + int64(i)*step + rng.Int64N(max(step, 1))
		updated := created + rng.Int64N(24*hour)
		var url, timeout any
		if i%2 == 0 {
			// Loopback's discard port: a seeded database must never make
			// roomsd reach outside the machine, even if events are sent.
			url = fmt.Sprintf("http://127.0.0.1:9/rooms/%d", i)
			timeout = 10
		}
		roomID := uuid7(rng, created)
		if err := roomIns.add(roomID, Name(i), 2+i%49, i%3 == 0, url, "", timeout, created, updated); err != nil {
			return err
		}
		if i%SessionEvery != 0 {
			continue
		}
		for k := range 2 {
			sCreated := created + int64(k+1)*hour
			// Every seeded session has ended: a server opening the file
			// would otherwise end them all at start-up, with their events.
			end := sCreated + 30*60*sec
			sessID := uuid7(rng, sCreated)
			if err := sessIns.add(sessID, roomID, false, sCreated, end, end); err != nil {
				return err
			}
			stats.Sessions++
			for j := range 2 {
				joined := sCreated + int64(j)*5*sec
				if err := partIns.add(uuid7(rng, joined), sessID, fmt.Sprintf("user-%d", j), joined, end, end); err != nil {
					return err
				}
				stats.Participants++
			}
		}
	}
	if err := errors.Join(roomIns.flush(), sessIns.flush(), partIns.flush()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed: commit: %w", err)
	}
	return nil
}

// batch inserts rows through one prepared multi-row INSERT.
type batch struct {
	ctx    context.Context
	tx     *sql.Tx
	prefix string
	cols   int
	full   *sql.Stmt
	args   []any
}

const rowsPerInsert = 200

func newBatch(ctx context.Context, tx *sql.Tx, prefix string, cols int) (*batch, error) {
	b := &batch{ctx: ctx, tx: tx, prefix: prefix, cols: cols, args: make([]any, 0, rowsPerInsert*cols)}
	stmt, err := tx.PrepareContext(ctx, b.sql(rowsPerInsert))
	if err != nil {
		return nil, fmt.Errorf("seed: prepare: %w", err)
	}
	b.full = stmt
	return b, nil
}

func (b *batch) sql(rows int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", b.cols), ",") + ")"
	return b.prefix + strings.TrimSuffix(strings.Repeat(row+",", rows), ",")
}

func (b *batch) add(vals ...any) error {
	b.args = append(b.args, vals...)
	if len(b.args) < rowsPerInsert*b.cols {
		return nil
	}
	_, err := b.full.ExecContext(b.ctx, b.args...)
	b.args = b.args[:0]
	if err != nil {
		return fmt.Errorf("seed: insert: %w", err)
	}
	return nil
}

func (b *batch) flush() error {
	defer b.full.Close()
	if len(b.args) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(b.ctx, b.sql(len(b.args)/b.cols), b.args...)
	b.args = b.args[:0]
	if err != nil {
		return fmt.Errorf("seed: insert: %w", err)
	}
	return nil
}

// uuid7 returns a version 7 UUID whose time prefix is the given instant,
// as roomsd itself would have minted it then.
func uuid7(rng *rand.Rand, micros int64) string {
	var u uuid.UUID
	ms := uint64(micros / 1000)
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	r1, r2 := rng.Uint64(), rng.Uint64()
	u[6], u[7] = byte(r1), byte(r1>>8)
	for i := range 8 {
		u[8+i] = byte(r2 >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}
