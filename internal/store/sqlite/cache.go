package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// maxCachedPages bounds the room-list cache; past it, new pages are not
// kept until the next change to the database empties the cache.
const maxCachedPages = 512

// dbVersion identifies one committed state of the database: the
// wal-index header (walindex_unix.go) or, where that is not mapped, the
// value of PRAGMA data_version in its first two words.
type dbVersion [walHeaderWords]uint32

// walHeaderWords is the size of one copy of the wal-index header: 48
// bytes.
const walHeaderWords = 12

// pageCache keeps recent ListRooms results for as long as the database is
// unchanged. Any commit, by our writer or by another process using the
// same file, empties it. It learns of commits from the wal-index header,
// read from memory on every lookup; if that cannot be mapped it asks
// PRAGMA data_version, on a connection of its own that never writes,
// instead. A result is stored under the version read before its query
// ran, so it is never older than the version it is filed under; and it
// is read once per version, by the first request to miss, while the
// others wait for it.
type pageCache struct {
	wal *walIndex
	// conn holds the cache's own read connection open: while it is open,
	// SQLite keeps the wal-index in place (it is reset only when the
	// last connection to the file opens it afresh). Without a mapped
	// wal-index, stmt asks it PRAGMA data_version, under mu.
	conn *sql.Conn
	stmt *sql.Stmt

	reads atomic.Int64 // pages read for the cache, for tests

	mu      sync.Mutex
	closed  bool
	version dbVersion
	valid   bool // version has been read at least once
	entries map[pageKey]*flight
}

type pageKey struct {
	createdFrom, createdUntil int64
	updatedFrom, updatedUntil int64
	named                     bool
	name                      string
	number, size              int
}

type pageResult struct {
	rooms []domain.Room
	total int
}

func newPageCache(ctx context.Context, db *sql.DB, path string, mapWAL bool, log *slog.Logger) (*pageCache, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cache connection: %w", err)
	}
	stmt, err := conn.PrepareContext(ctx, `PRAGMA data_version`)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite: cache connection: %w", err)
	}
	c := &pageCache{conn: conn, stmt: stmt, entries: map[pageKey]*flight{}}
	// A read makes the connection open the wal-index before it is mapped.
	if _, err := c.dataVersion(ctx); err != nil {
		c.close()
		return nil, err
	}
	if !mapWAL {
		return c, nil
	}
	if c.wal, err = openWALIndex(path); err != nil {
		log.Warn("room-list cache: asking SQLite for the data version on every list instead of reading the wal-index",
			"err", err)
	}
	return c, nil
}

// close unmaps the wal-index under mu, so that no lookup reads it after,
// and closes the connection.
func (c *pageCache) close() error {
	c.mu.Lock()
	c.closed = true
	if c.wal != nil {
		c.wal.close()
		c.wal = nil
	}
	c.mu.Unlock()
	c.stmt.Close()
	return c.conn.Close()
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
	k := pageKey{number: p.Number, size: p.Size}
	unix := func(r store.TimeRange) (int64, int64) {
		var from, until int64
		if !r.From.IsZero() {
			from = r.From.UnixMicro()
		}
		if !r.Until.IsZero() {
			until = r.Until.UnixMicro()
		}
		return from, until
	}
	k.createdFrom, k.createdUntil = unix(f.CreatedAt)
	k.updatedFrom, k.updatedUntil = unix(f.UpdatedAt)
	if f.UniqueName != nil {
		k.named, k.name = true, *f.UniqueName
	}
	return k
}

// lookup is what get found for a key.
type lookup struct {
	result pageResult
	hit    bool
	// fill, when not nil, makes the caller the one that reads this page
	// for everyone asking at this version: it must pass the result (or
	// its error) to fill, which wakes the callers waiting for it.
	fill func(pageResult, error)
}

// flight is one page at one version: being read by one caller, then read.
type flight struct {
	done   chan struct{}
	result pageResult
	err    error
}

// get returns the cached result for k if the database has not changed
// since it was stored. When it has not been read at this version yet, the
// first caller is told to read it (lookup.fill) and callers arriving in
// the meantime wait for that read instead of repeating it, so a commit
// costs one query per page however many requests are in flight. Neither
// happens while a commit is being published (the wal-index header is
// midway through a rewrite): then the caller reads the page alone and
// nothing is stored.
func (c *pageCache) get(ctx context.Context, k pageKey) (lookup, error) {
	var v dbVersion
	c.mu.Lock()
	// The version is read under mu, so that versions seen by successive
	// holders of mu follow the order of commits, and none is read after
	// close.
	if c.closed {
		c.mu.Unlock()
		return lookup{}, errClosed
	}
	if c.wal != nil {
		var stable bool
		if v, stable = c.wal.version(); !stable {
			c.mu.Unlock()
			return lookup{}, nil
		}
	} else {
		var err error
		if v, err = c.dataVersion(ctx); err != nil {
			c.mu.Unlock()
			return lookup{}, err
		}
	}
	if !c.valid || v != c.version {
		c.version, c.valid = v, true
		clear(c.entries)
	}
	f, ok := c.entries[k]
	if !ok {
		if len(c.entries) >= maxCachedPages {
			c.mu.Unlock()
			return lookup{}, nil
		}
		f = &flight{done: make(chan struct{})}
		c.entries[k] = f
		c.mu.Unlock()
		return lookup{fill: func(r pageResult, err error) { c.land(v, k, f, r, err) }}, nil
	}
	c.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return lookup{}, ctx.Err()
	}
	if f.err != nil {
		// The reader failed (its request may have been cancelled); read
		// for ourselves.
		return lookup{}, nil
	}
	return lookup{result: f.result, hit: true}, nil
}

// land completes f, read at version v or later, and wakes its waiters. A
// failed read is forgotten, so that the next caller tries again.
func (c *pageCache) land(v dbVersion, k pageKey, f *flight, r pageResult, err error) {
	c.reads.Add(1)
	f.result, f.err = r, err
	close(f.done)
	if err != nil {
		c.mu.Lock()
		if c.valid && v == c.version && c.entries[k] == f {
			delete(c.entries, k)
		}
		c.mu.Unlock()
	}
}
