// Package postgres is the server store: one PostgreSQL database reached
// through a pgx connection pool, for deployments that run several roomsd
// processes against one database or want a database server of their own.
// It implements store.Store with the semantics of the SQLite store, down to
// the bytes of every time it returns. Migrations are embedded and applied on
// Open, under an advisory lock.
//
// Transactions run at READ COMMITTED and serialize on row locks, not on
// SQLite's single writer; see InTx and locks.go.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// defaultMaxConns is the least size of the connection pool when the URL
// does not set pool_max_conns.
const defaultMaxConns = 16

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements store.Store on PostgreSQL.
type Store struct {
	queries
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database that url names (a postgres:// or
// postgresql:// URL, with any of pgx's parameters: sslmode, search_path,
// pool_max_conns, pool_min_conns, pool_max_conn_lifetime,
// pool_max_conn_idle_time and the others) and migrates it. The pool holds
// up to pool_max_conns connections; by default the larger of 16 and four
// per CPU.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message never repeats the password it failed to parse.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns=") {
		// pgx's own default, the larger of 4 and the number of CPUs, is
		// tight for a server whose transactions hold their connection
		// while they wait for a room's lock.
		cfg.MaxConns = int32(max(defaultMaxConns, 4*runtime.GOMAXPROCS(0)))
	}
	if err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool}
	s.queries = queries{db: pool, pager: newPager()}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// InTx runs fn in one READ COMMITTED transaction. It commits when fn
// returns nil and rolls back otherwise.
//
// READ COMMITTED, not SERIALIZABLE: a serializable transaction may fail
// at commit and must then be run again, and the callers' closures are not
// written to be run twice (they append to their callers' variables as they
// go). Instead, reads that decide a write take row locks (see locks.go):
// the transactions of one room run one after another, as every write
// transaction does on SQLite, and those of different rooms side by side.
// Each statement sees what was committed before it started, so a
// transaction that waited for a lock reads the state its predecessor
// left.
func (s *Store) InTx(ctx context.Context, fn func(store.Queries) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// After a commit this does nothing. On a cancelled ctx pgx closes the
	// connection instead, which ends the transaction too; so does a panic
	// in fn.
	defer tx.Rollback(ctx)
	if err := fn(queries{db: tx, tx: &txLocks{}}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// APIKeyHashes implements store.Store.
func (s *Store) APIKeyHashes(ctx context.Context) ([][]byte, error) {
	return collect(ctx, s.pool, "api keys", func(sc scanner, _ ...any) ([]byte, error) {
		var h []byte
		err := sc.Scan(&h)
		return h, err
	}, `SELECT hash FROM api_keys ORDER BY created_at`)
}

// InsertAPIKeyHash implements store.Store.
func (s *Store) InsertAPIKeyHash(ctx context.Context, hash []byte, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (hash, created_at) VALUES ($1, $2)`, hash, micros(at))
	return wrap("insert api key", err)
}

// SigningKeySeed implements store.Store.
func (s *Store) SigningKeySeed(ctx context.Context, purpose string) ([]byte, error) {
	var seed []byte
	err := s.pool.QueryRow(ctx, `SELECT seed FROM signing_keys WHERE purpose = $1 ORDER BY created_at, kid LIMIT 1`, purpose).Scan(&seed)
	if err != nil {
		return nil, wrap("signing key", err)
	}
	return seed, nil
}

// InsertSigningKeySeed implements store.Store.
func (s *Store) InsertSigningKeySeed(ctx context.Context, purpose, kid string, seed []byte, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (kid, seed, created_at, purpose) VALUES ($1, $2, $3, $4)`,
		kid, seed, micros(at), purpose)
	return wrap("insert signing key", err)
}

// migrationLock is the key of the session advisory lock held while
// migrating: processes that start at once take turns, and each finds the
// migrations its predecessor applied. It is the same in every schema of a
// database, so schemas migrate one at a time, which costs nothing.
const migrationLock int64 = 0x726f6f6d73640001 // "roomsd", then 1

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, in order of their version, each in a transaction of
// its own. It runs on a connection of its own, closed when it is done, so
// that the advisory lock goes with it whatever happens on the way.
func migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cc.Copy())
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("postgres: migration %s: bad version prefix", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := applyMigration(ctx, conn, version, string(body)); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", base, err)
		}
	}
	_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrationLock)
	return err
}

func applyMigration(ctx context.Context, conn *pgx.Conn, version int, body string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	// Without arguments pgx sends the file as one simple query, which may
	// hold many statements.
	if _, err := tx.Exec(ctx, body); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMicro()
	return &v
}

func fromNullMicros(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromMicros(*v)
	return &t
}

// wrap maps a driver error to a store error; nil stays nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.ErrNotFound
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// uniqueViolation is the SQLSTATE of a unique constraint's violation.
const uniqueViolation = "23505"

// isTakenName reports whether err is the violation of unique_name's
// uniqueness.
func isTakenName(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == "rooms_unique_name_key"
}

func duplicateName() error {
	return &domain.ValidationError{Field: "unique_name", Kind: domain.KindDuplicate, Detail: "a room with this unique_name already exists"}
}

// Initialized reports whether the database that url names holds roomsd's
// tables (a server has started on it), without creating anything.
func Initialized(ctx context.Context, url string) (bool, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(ctx)
	var found bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&found); err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	return found, nil
}

// Ready implements store.Store.
func (s *Store) Ready(ctx context.Context) error {
	var applied int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return wrap("ready", err)
	}
	latest, err := latestMigration()
	if err != nil {
		return err
	}
	if applied < latest {
		return fmt.Errorf("postgres: the database is at migration %d; this build needs %d", applied, latest)
	}
	return nil
}

// latestMigration is the version of the newest embedded migration.
func latestMigration() (int, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("postgres: no migrations embedded: %v", err)
	}
	sort.Strings(names)
	return strconv.Atoi(strings.SplitN(strings.TrimPrefix(names[len(names)-1], "migrations/"), "_", 2)[0])
}
