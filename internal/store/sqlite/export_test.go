package sqlite

import (
	"database/sql"

	"github.com/roomsd/roomsd/internal/store"
)

// Hooks for the external tests of this package (plan_test.go).

// ListRoomsSQL is listRoomsSQL: the exact statements ListRooms runs.
var ListRoomsSQL = listRoomsSQL

// ReadDB is the read-only connection pool the store queries through.
func (s *Store) ReadDB() *sql.DB { return s.reader }

// More statement texts, for the plan test.
var (
	SessionsByRoomsSQL        = sessionsByRoomsSQL
	ParticipantsBySessionsSQL = participantsBySessionsSQL
)

const RoomByIDSQL = roomByIDSQL

// WithoutWALIndex makes the list cache ask PRAGMA data_version, as it does
// where the wal-index cannot be mapped.
func WithoutWALIndex() Option { return func(o *options) { o.noWALIndex = true } }

// ListCacheReadsWALIndex reports whether the list cache learns of commits
// from the mapped wal-index header.
func (s *Store) ListCacheReadsWALIndex() bool {
	if s.cache == nil {
		return false
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.wal != nil
}

// FailWALIndexMapping opens the wal-index file but fails to map it, so the
// cache asks PRAGMA data_version.
func FailWALIndexMapping() Option { return func(o *options) { o.failWALMap = true } }

// WriteDB is the writer connection pool.
func (s *Store) WriteDB() *sql.DB { return s.writer }

// ListCacheReads is how many database reads the cached calls have made.
func (s *Store) ListCacheReads() int64 { return s.cache.reads.Load() }

// LimitListCacheItems lowers the cache's bound on rooms, sessions and
// participants held.
func (s *Store) LimitListCacheItems(n int) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	s.cache.maxItems = n
}

// SeekArgs are the filter arguments of ListRooms's seek statements.
func SeekArgs(f store.RoomFilter) []any { return roomsListing(f).seekArgs }
