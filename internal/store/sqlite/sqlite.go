// Package sqlite is the embedded store: one SQLite file in WAL mode, a single
// writer connection (so write transactions never contend) and a pool of
// read-only connections. Migrations are embedded and applied on Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/roomsd/roomsd/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements store.Store on SQLite.
type Store struct {
	queries
	writer *sql.DB
	reader *sql.DB
	// versions reads the database's version for the list cache (when
	// on) and the pager.
	versions *pageCache
}

var _ store.Store = (*Store)(nil)

// Option tunes Open.
type Option func(*options)

type options struct {
	noListCache bool
	noWALIndex  bool // tests: the cache asks PRAGMA data_version instead
	failWALMap  bool // tests: the wal-index file opens but does not map
	log         *slog.Logger
}

// WithoutListCache turns off the room-list cache, so that every ListRooms
// runs its query. Benchmarks of the query path use it.
func WithoutListCache() Option { return func(o *options) { o.noListCache = true } }

// WithLogger sets where the store reports what it could not set up as
// planned; by default it stays quiet.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	pragmas := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	writer, err := sql.Open("sqlite", base+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	reader, err := sql.Open("sqlite", base+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One connection more than the queries use: the list cache keeps one.
	n := max(4, runtime.GOMAXPROCS(0)*2) + 1
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	stmts, err := prepareReads(ctx, reader)
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, err
	}
	// The page cache's connection and wal-index tell the database's
	// version, which the pager needs whether or not list pages are
	// cached.
	versions, err := newPageCache(ctx, reader, !o.noWALIndex, o.failWALMap, o.log)
	if err != nil {
		for _, st := range stmts {
			st.Close()
		}
		reader.Close()
		writer.Close()
		return nil, err
	}
	s := &Store{writer: writer, reader: reader, versions: versions}
	s.queries = queries{r: reader, w: writer, stmts: stmts, pager: newPager(versions)}
	if !o.noListCache {
		s.queries.cache = versions
	}
	return s, nil
}

// Close closes both connection pools. The WAL is checkpointed by SQLite
// when the last connection closes.
func (s *Store) Close() error {
	var errs []error
	errs = append(errs, s.versions.close())
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, s.reader.Close(), s.writer.Close())
	// Last: closing the wal-index file drops this process's locks on it,
	// which SQLite holds until its connections are closed.
	errs = append(errs, s.versions.closeSHM())
	return errors.Join(errs...)
}

// InTx runs fn in a BEGIN IMMEDIATE transaction on the writer connection.
func (s *Store) InTx(ctx context.Context, fn func(store.Queries) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(queries{r: tx, w: tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// APIKeyHashes implements store.Store.
func (s *Store) APIKeyHashes(ctx context.Context) ([][]byte, error) {
	return collect(ctx, s.reader, "api keys", func(sc scanner, _ ...any) ([]byte, error) {
		var h []byte
		err := sc.Scan(&h)
		return h, err
	}, `SELECT hash FROM api_keys ORDER BY created_at`)
}

// InsertAPIKeyHash implements store.Store.
func (s *Store) InsertAPIKeyHash(ctx context.Context, hash []byte, at time.Time) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO api_keys (hash, created_at) VALUES (?, ?)`, hash, micros(at))
	if err != nil {
		return fmt.Errorf("sqlite: insert api key: %w", err)
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
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
			return fmt.Errorf("sqlite: migration %s: bad version prefix", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&done); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		if done > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixMicro()); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
	}
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// Ready implements store.Store.
func (s *Store) Ready(ctx context.Context) error {
	var applied int
	if err := s.reader.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return wrap("ready", err)
	}
	latest, err := latestMigration()
	if err != nil {
		return err
	}
	if applied < latest {
		return fmt.Errorf("sqlite: the database is at migration %d; this build needs %d", applied, latest)
	}
	return nil
}

// latestMigration is the version of the newest embedded migration.
func latestMigration() (int, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("sqlite: no migrations embedded: %v", err)
	}
	sort.Strings(names)
	return strconv.Atoi(strings.SplitN(strings.TrimPrefix(names[len(names)-1], "migrations/"), "_", 2)[0])
}

// Backup writes a consistent copy of the database at path to a new file,
// to, while servers may be using it (VACUUM INTO: one read transaction,
// so the copy is the database as of one moment, compacted). to must not
// exist. It creates no database: a missing path is an error.
func Backup(ctx context.Context, path, to string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlite: backup of %s: %w", path, err)
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("sqlite: backup to %s: the file exists; give a new file", to)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("sqlite: backup of %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, to); err != nil {
		return fmt.Errorf("sqlite: backup of %s to %s: %w", path, to, err)
	}
	return nil
}
