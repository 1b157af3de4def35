package sqlite

import "database/sql"

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
func (s *Store) ListCacheReadsWALIndex() bool { return s.cache != nil && s.cache.wal != nil }

// ListCacheReads is how many pages the list cache has had read for it.
func (s *Store) ListCacheReads() int64 { return s.cache.reads.Load() }
