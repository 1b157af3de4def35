package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

// maxCachedPages bounds the room-list cache; past it, new pages are not
// kept until the next change to the database empties the cache.
const maxCachedPages = 512

// pageCache keeps recent ListRooms results for as long as the database
// is unchanged. It asks SQLite's PRAGMA data_version, on a connection of
// its own that never writes, whether any other connection (our writer, or
// another process using the same file) has committed since; any commit
// empties the cache. A result is stored under the version read before its
// query ran, so it is never older than the version it is filed under.
type pageCache struct {
	mu      sync.Mutex
	conn    *sql.Conn
	stmt    *sql.Stmt
	version int64
	entries map[pageKey]pageResult
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

func newPageCache(ctx context.Context, db *sql.DB) (*pageCache, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cache connection: %w", err)
	}
	stmt, err := conn.PrepareContext(ctx, `PRAGMA data_version`)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite: cache connection: %w", err)
	}
	return &pageCache{conn: conn, stmt: stmt, version: -1, entries: map[pageKey]pageResult{}}, nil
}

func (c *pageCache) close() error {
	c.stmt.Close()
	return c.conn.Close()
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

// get returns the cached result for k if the database has not changed
// since it was stored, and the current version either way.
func (c *pageCache) get(ctx context.Context, k pageKey) (pageResult, int64, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var v int64
	if err := c.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		return pageResult{}, 0, false, wrap("data version", err)
	}
	if v != c.version {
		c.version = v
		clear(c.entries)
	}
	r, ok := c.entries[k]
	return r, v, ok, nil
}

// put stores r, read at version v or later, unless the database has
// moved on since v.
func (c *pageCache) put(v int64, k pageKey, r pageResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v == c.version && len(c.entries) < maxCachedPages {
		c.entries[k] = r
	}
}
