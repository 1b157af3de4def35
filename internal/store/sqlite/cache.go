package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/roomsd/roomsd/internal/store"
)

// The list cache holds at most maxCachedEntries entries and, in them,
// maxCachedItems rooms, sessions and participants (a few tens of MB);
// past either, new entries are not kept until the next change to the
// database empties the cache.
const (
	maxCachedEntries = 1024
	maxCachedItems   = 100_000
)

// dbVersion identifies one committed state of the database: the
// wal-index header (walindex_unix.go) or, where that is not mapped, the
// value of PRAGMA data_version in its first two words.
type dbVersion [walHeaderWords]uint32

// walHeaderWords is the size of one copy of the wal-index header: 48
// bytes.
const walHeaderWords = 12

// pageCache keeps recent ListRooms results, and the sessions and
// participants that include_sessions loads for them, for as long as the
// database is unchanged. Any commit, by our writer or by another process
// using the same file, empties it. It learns of commits from the wal-index header,
// read from memory on every lookup; if that cannot be mapped it asks
// PRAGMA data_version, on a connection of its own that never writes,
// instead. A result is stored under the version read before its query
// ran, so it is never older than the version it is filed under; and it
// is read once per version, by the first request to miss, while the
// others wait for it.
type pageCache struct {
	wal *walIndex
	// shm is the wal-index file that wal maps. It is closed only after
	// all of the store's connections (closeSHM; see openSHM for why).
	shm *os.File
	// conn holds the cache's own read connection open: while it is open,
	// SQLite keeps the wal-index in place (it is reset only when the
	// last connection to the file opens it afresh). Without a mapped
	// wal-index, stmt asks it PRAGMA data_version, under mu.
	conn *sql.Conn
	stmt *sql.Stmt

	reads atomic.Int64 // database reads made by cached calls, for tests

	mu     sync.Mutex
	closed bool
	// version is the database version the entries were read at; while
	// there are none it may be anything.
	version dbVersion
	entries map[any]*flight
	items   int // rooms, sessions and participants held in entries
	// maxItems is maxCachedItems, but for tests.
	maxItems int
}

// pageKey names a ListRooms result. Its time ranges compare with ==, so
// the same instant given in two locations only costs a second read.
type pageKey struct {
	created, updated store.TimeRange
	named            bool
	name             string
	page             store.Page
}

// idsKey names a byIDs result (sessions by rooms, participants by
// sessions): its op and the ids joined with commas.
type idsKey struct{ op, ids string }

func newPageCache(ctx context.Context, db *sql.DB, mapWAL, failMap bool, log *slog.Logger) (*pageCache, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cache connection: %w", err)
	}
	stmt, err := conn.PrepareContext(ctx, `PRAGMA data_version`)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite: cache connection: %w", err)
	}
	c := &pageCache{conn: conn, stmt: stmt, entries: map[any]*flight{}, maxItems: maxCachedItems}
	// A read makes the connection open the wal-index before it is mapped.
	if _, err := c.dataVersion(ctx); err != nil {
		c.close()
		return nil, err
	}
	// SQLite's own name for the file, symbolic links resolved as SQLite
	// resolves them, so that the wal-index mapped is the one it uses.
	var file string
	if err := conn.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		c.close()
		return nil, wrap("database file name", err)
	}
	if !mapWAL {
		return c, nil
	}
	// Nothing below fails the cache: without a mapping it asks
	// data_version instead.
	if c.shm, err = openSHM(file); err == nil {
		if failMap {
			err = errors.New("mapping failed on purpose (test)")
		} else {
			c.wal, err = mapWALIndex(c.shm)
		}
	}
	if err != nil {
		log.Warn("room-list cache: asking SQLite for the data version on every list instead of reading the wal-index",
			"err", err)
	}
	return c, nil
}

// close unmaps the wal-index under mu, so that no lookup reads it after,
// and releases the cache's connection. The wal-index file stays open
// until closeSHM.
func (c *pageCache) close() error {
	c.mu.Lock()
	c.closed = true
	if c.wal != nil {
		c.wal.unmap()
		c.wal = nil
	}
	c.mu.Unlock()
	c.stmt.Close()
	return c.conn.Close()
}

// closeSHM closes the wal-index file. Call it only once every connection
// of the store is closed.
func (c *pageCache) closeSHM() error {
	if c.shm == nil {
		return nil
	}
	return c.shm.Close()
}

var errClosed = errors.New("sqlite: the store is closed")

func (c *pageCache) dataVersion(ctx context.Context) (dbVersion, error) {
	var v int64
	if err := c.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		return dbVersion{}, wrap("data version", err)
	}
	return dbVersion{uint32(v), uint32(v >> 32)}, nil
}

func keyOf(f store.RoomFilter, p store.Page) pageKey {
	k := pageKey{created: f.CreatedAt, updated: f.UpdatedAt, page: p}
	if f.UniqueName != nil {
		k.named, k.name = true, *f.UniqueName
	}
	return k
}

// flight is one entry at one version: being read by one caller, then
// read.
type flight struct {
	done  chan struct{}
	list  any // a []T
	total int
	err   error
}

// cached returns what read returns (a list and, for a page of rooms, the
// total) for key k (a pageKey or idsKey), from the cache if the database
// has not changed since it was read; with no cache (inside transactions,
// or WithoutListCache) it just reads. When k has not been read at this
// version yet, the first caller reads it and callers arriving in the
// meantime wait for that read instead of repeating it, so a commit costs
// one query per entry however many requests are in flight. While a commit
// is being published (the wal-index header is midway through a rewrite)
// the caller reads alone and nothing is stored. Each caller gets its own
// copy of the list.
func cached[T any](ctx context.Context, c *pageCache, k any, read func() ([]T, int, error)) ([]T, int, error) {
	if c == nil {
		return read()
	}
	counted := func() ([]T, int, error) {
		c.reads.Add(1)
		return read()
	}
	f, v, leader, err := c.get(ctx, k)
	switch {
	case err != nil:
		return nil, 0, err
	case f == nil:
		return counted()
	case !leader:
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		if f.err != nil {
			// The reader failed (its request may have been cancelled);
			// read for ourselves.
			return counted()
		}
		return slices.Clone(f.list.([]T)), f.total, nil
	}
	// This caller reads for everyone waiting on f; they must hear the
	// outcome even if read panics.
	var (
		list  []T
		total int
	)
	err = errors.New("sqlite: a cached read did not return")
	defer func() {
		f.list, f.total, f.err = slices.Clone(list), total, err
		c.land(v, k, f, len(list))
	}()
	list, total, err = counted()
	return list, total, err
}

// get finds or starts the flight for k at the current version. It returns
// no flight when nothing may be cached (a commit is being published, or
// the cache is full) and leader when the caller must read k.
func (c *pageCache) get(ctx context.Context, k any) (f *flight, v dbVersion, leader bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The version is read under mu, so that versions seen by successive
	// holders of mu follow the order of commits, and none is read after
	// close.
	if c.closed {
		return nil, v, false, errClosed
	}
	if c.wal != nil {
		var stable bool
		if v, stable = c.wal.version(); !stable {
			return nil, v, false, nil
		}
	} else if v, err = c.dataVersion(ctx); err != nil {
		return nil, v, false, err
	}
	if v != c.version {
		c.version = v
		clear(c.entries)
		c.items = 0
	}
	if f, ok := c.entries[k]; ok {
		return f, v, false, nil
	}
	if len(c.entries) >= maxCachedEntries {
		return nil, v, false, nil
	}
	f = &flight{done: make(chan struct{})}
	c.entries[k] = f
	return f, v, true, nil
}

// currentVersion reads the database's version; stable is false while a
// commit is being published.
func (c *pageCache) currentVersion(ctx context.Context) (v dbVersion, stable bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return v, false, errClosed
	}
	if c.wal != nil {
		v, stable = c.wal.version()
		return v, stable, nil
	}
	v, err = c.dataVersion(ctx)
	return v, err == nil, err
}

// land wakes the waiters of f, read at version v or later and holding
// items rooms, sessions or participants, and keeps or forgets it. A failed
// read is forgotten, so that the next caller tries again.
func (c *pageCache) land(v dbVersion, k any, f *flight, items int) {
	close(f.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != c.version || c.entries[k] != f {
		return // the cache has been emptied meanwhile
	}
	if f.err != nil || c.items+items > c.maxItems {
		delete(c.entries, k)
		return
	}
	c.items += items
}
